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

	"switchboard/handler/webhooksig"
)

// WebhookSender POSTs signed JSON to a registered URL.
type WebhookSender struct {
	client *http.Client
}

// NewWebhookSender uses client (nil: a 10 s timeout client that does not follow redirects).
func NewWebhookSender(client *http.Client) *WebhookSender {
	if client == nil {
		client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &WebhookSender{client: client}
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
		return &SendError{Provider: Webhook, Transient: true, Err: fmt.Errorf("webhook post: %w", err)}
	}
	defer resp.Body.Close()
	return classify(Webhook, resp, http.StatusGone)
}
