package pushemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// serveNH is POST /<hub>/messages/?api-version=2020-06&direct=true.
func (e *Emulators) serveNH(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "only direct send (POST) is emulated", http.StatusMethodNotAllowed)
		return
	}
	hub, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if hub != e.opts.Hub {
		http.Error(w, "unknown notification hub "+hub, http.StatusNotFound)
		return
	}
	if rest != "messages/" && rest != "messages" {
		http.Error(w, "only /messages/ is emulated", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		http.Error(w, "api-version is required", http.StatusBadRequest)
		return
	}
	if err := e.checkSAS(r.Header.Get("Authorization")); err != "" {
		http.Error(w, err, http.StatusUnauthorized)
		return
	}
	if q.Get("direct") != "true" {
		http.Error(w, "only direct sends are emulated (direct=true)", http.StatusBadRequest)
		return
	}
	format := r.Header.Get("ServiceBusNotification-Format")
	handle := r.Header.Get("ServiceBusNotification-DeviceHandle")
	if handle == "" {
		http.Error(w, "ServiceBusNotification-DeviceHandle is required for a direct send", http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		http.Error(w, "Content-Type must be application/json;charset=utf-8, not "+ct, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		http.Error(w, "the notification body must be JSON", http.StatusBadRequest)
		return
	}
	limit := 4096
	headers := map[string]string{"format": format}
	switch format {
	case "apple":
		for _, h := range []string{"apns-push-type", "apns-priority", "apns-topic", "apns-expiration"} {
			if v := r.Header.Get(h); v != "" {
				headers[h] = v
			}
		}
		if headers["apns-push-type"] == "voip" {
			limit = 5120
			if !strings.HasSuffix(headers["apns-topic"], ".voip") {
				http.Error(w, "a VoIP push needs apns-topic <bundle id>.voip", http.StatusBadRequest)
				return
			}
		}
		var v struct {
			APS json.RawMessage `json:"aps"`
		}
		if json.Unmarshal(body, &v) != nil || v.APS == nil {
			http.Error(w, "an apple payload needs an aps dictionary", http.StatusBadRequest)
			return
		}
	case "fcmv1":
		var v struct {
			Message *struct {
				Token string            `json:"token"`
				Data  map[string]string `json:"data"`
			} `json:"message"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Message == nil {
			http.Error(w, "an fcmv1 payload is {\"message\":{...}} with string data values", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "ServiceBusNotification-Format must be apple or fcmv1 here, not "+format, http.StatusBadRequest)
		return
	}
	if len(body) > limit {
		http.Error(w, "the notification payload exceeds "+strconv.Itoa(limit)+" bytes", http.StatusRequestEntityTooLarge)
		return
	}
	if !e.gate(w, handle) {
		return
	}
	e.record(Delivery{Provider: map[string]string{"apple": "apns", "fcmv1": "fcm"}[format], Device: handle, Headers: headers, Body: body})
	id := uuid.NewString()
	w.Header().Set("Location", e.nhURL+e.opts.Hub+"/messages/"+id+"?api-version=2020-06")
	w.Header().Set("TrackingId", uuid.NewString())
	w.Header().Set("x-ms-correlation-request-id", uuid.NewString())
	w.WriteHeader(http.StatusCreated)
}

// checkSAS verifies a SharedAccessSignature the way Service Bus does; it
// returns what is wrong, or "".
func (e *Emulators) checkSAS(h string) string {
	const prefix = "SharedAccessSignature "
	if !strings.HasPrefix(h, prefix) {
		return "Authorization must be a SharedAccessSignature"
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(h[len(prefix):], "&") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	sr, sig, se, skn := fields["sr"], fields["sig"], fields["se"], fields["skn"]
	if sr == "" || sig == "" || se == "" || skn == "" {
		return "the SAS token needs sr, sig, se and skn"
	}
	if name, _ := url.QueryUnescape(skn); name != e.opts.KeyName {
		return "unknown SAS key name " + skn
	}
	exp, err := strconv.ParseInt(se, 10, 64)
	if err != nil || time.Unix(exp, 0).Before(time.Now()) {
		return "the SAS token has expired"
	}
	resource, err := url.QueryUnescape(sr)
	if err != nil || !strings.HasPrefix(strings.ToLower(resource), strings.ToLower(e.nhURL)) {
		return "the SAS token is for another resource: " + resource
	}
	mac := hmac.New(sha256.New, []byte(e.opts.Key))
	mac.Write([]byte(sr + "\n" + se))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	got, err := url.QueryUnescape(sig)
	if err != nil || !hmac.Equal([]byte(want), []byte(got)) {
		return "the SAS signature does not match"
	}
	return ""
}
