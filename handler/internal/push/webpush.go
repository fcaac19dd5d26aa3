package push

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// WebPushConfig holds the VAPID identity.
type WebPushConfig struct {
	PublicKey, PrivateKey string // base64url
	Subject               string // mailto: or https:
	// HTTPClient overrides the client (nil: a client with a 10 s timeout).
	HTTPClient *http.Client
}

// WebPushSender sends encrypted (aes128gcm) Web Push messages with VAPID.
type WebPushSender struct {
	cfg WebPushConfig
}

// NewWebPushSender validates nothing over the network.
func NewWebPushSender(cfg WebPushConfig) (*WebPushSender, error) {
	if cfg.PublicKey == "" || cfg.PrivateKey == "" || cfg.Subject == "" {
		return nil, errors.New("web push needs a VAPID public key, private key and subject")
	}
	// A mismatched pair would be refused by every push service, push after push.
	priv, err := decodeB64URL(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("WEBPUSH_VAPID_PRIVATE_KEY is not base64url: %w", err)
	}
	key, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("WEBPUSH_VAPID_PRIVATE_KEY is not a P-256 private key: %w", err)
	}
	if pub, err := decodeB64URL(cfg.PublicKey); err != nil || !bytes.Equal(pub, key.PublicKey().Bytes()) {
		return nil, errors.New("WEBPUSH_VAPID_PUBLIC_KEY is not the public half of WEBPUSH_VAPID_PRIVATE_KEY")
	}
	if !strings.HasPrefix(cfg.Subject, "mailto:") && !strings.HasPrefix(cfg.Subject, "https://") {
		return nil, fmt.Errorf("WEBPUSH_SUBJECT must be a mailto: or https: URI, not %q", cfg.Subject)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &WebPushSender{cfg: cfg}, nil
}

// Send encrypts n for the subscription and posts it with a 30 s TTL and high urgency.
func (s *WebPushSender) Send(ctx context.Context, d Device, n Notification) error {
	if d.Subscription == nil {
		return &SendError{Provider: WebPush, Err: errors.New("device has no subscription")}
	}
	body, err := JSONBody(n, WebPushLimit)
	if err != nil {
		return &SendError{Provider: WebPush, Err: err}
	}
	sub := &webpush.Subscription{Endpoint: d.Subscription.Endpoint, Keys: webpush.Keys{P256dh: d.Subscription.Keys.P256dh, Auth: d.Subscription.Keys.Auth}}
	resp, err := webpush.SendNotificationWithContext(ctx, body, sub, &webpush.Options{
		HTTPClient: s.cfg.HTTPClient,
		// webpush-go v1.4.0 prefixes "mailto:" to any subject not starting
		// "https:"; WEBPUSH_SUBJECT is a full mailto: URI (RFC 8292).
		Subscriber:      strings.TrimPrefix(s.cfg.Subject, "mailto:"),
		TTL:             30,
		Urgency:         webpush.UrgencyHigh,
		VAPIDPublicKey:  s.cfg.PublicKey,
		VAPIDPrivateKey: s.cfg.PrivateKey,
	})
	if err != nil {
		// Only a failed exchange is worth retrying; a key webpush-go cannot
		// use (encryption, VAPID signing) fails the same way every time.
		var ue *url.Error
		transient := errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
		return &SendError{Provider: WebPush, Transient: transient, Err: fmt.Errorf("web push: %w", err)}
	}
	defer resp.Body.Close()
	// 404 and 410: the subscription expired or was unsubscribed.
	return classify(WebPush, resp, http.StatusNotFound, http.StatusGone)
}
