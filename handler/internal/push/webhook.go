package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"switchboard/handler/internal/egress"
	"switchboard/handler/webhooksig"
)

// WebhookSender POSTs signed JSON to a registered URL, through the egress
// guard: the URL was an end user's to choose.
type WebhookSender struct {
	guard  *egress.Guard
	client *http.Client
}

// NewWebhookSender sends through guard's client with a 10 s timeout (nil
// guard: the strict rule with the system resolver).
func NewWebhookSender(guard *egress.Guard) *WebhookSender {
	if guard == nil {
		guard = egress.New(nil)
	}
	return &WebhookSender{guard: guard, client: guard.Client(10 * time.Second)}
}

// CheckURL applies the egress rule to a webhook URL being registered.
func (s *WebhookSender) CheckURL(ctx context.Context, raw string) error {
	_, err := s.guard.Check(ctx, raw)
	return err
}

// NewWebhookSecret makes a per-registration signing key.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Send posts n to the device's URL.
func (s *WebhookSender) Send(ctx context.Context, d Device, n Notification) error {
	if d.URL == "" || d.Secret == "" {
		return &SendError{Provider: Webhook, Err: errors.New("webhook device has no URL or secret")}
	}
	body, err := JSONBody(n, WebhookLimit)
	if err != nil {
		return &SendError{Provider: Webhook, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return &SendError{Provider: Webhook, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhook/1")
	req.Header.Set(webhooksig.EventIDHeader, n.EventID)
	req.Header.Set(webhooksig.SignatureHeader, webhooksig.Sign(d.Secret, time.Now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		// A refused target stays refused; retrying would only ask again.
		return &SendError{Provider: Webhook, Transient: !errors.Is(err, egress.ErrRefused), Err: fmt.Errorf("webhook post: %w", err)}
	}
	defer resp.Body.Close()
	return classify(Webhook, resp, http.StatusGone)
}
