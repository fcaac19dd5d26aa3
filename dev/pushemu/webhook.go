package pushemu

import (
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"switchboard/handler/webhooksig"
)

// NewWebhook registers a webhook receiver; its URL goes in the device
// registration, and the secret Switchboard returns is bound to it with SetSecret.
func (e *Emulators) NewWebhook() (id, url string) {
	id = uuid.NewString()
	e.mu.Lock()
	e.hooks[id] = ""
	e.mu.Unlock()
	return id, e.webURL + "/webhook/" + id
}

// SetSecret tells the sink the signing secret for webhook id.
func (e *Emulators) SetSecret(id, secret string) {
	e.mu.Lock()
	e.hooks[id] = secret
	e.mu.Unlock()
}

func (e *Emulators) serveWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	secret, ok := e.hooks[id]
	e.mu.Unlock()
	if !ok {
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhooksig.Verify(secret, r.Header.Get(webhooksig.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if !e.gate(w, id) {
		return
	}
	e.record(Delivery{Provider: "webhook", Device: id, Headers: map[string]string{"event-id": r.Header.Get(webhooksig.EventIDHeader)}, Body: body})
	w.WriteHeader(http.StatusNoContent)
}
