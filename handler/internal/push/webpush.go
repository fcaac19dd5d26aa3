package push

import (
	"context"
	"errors"
	"net/http"
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
		HTTPClient:      s.cfg.HTTPClient,
		Subscriber:      s.cfg.Subject,
		TTL:             30,
		Urgency:         webpush.UrgencyHigh,
		VAPIDPublicKey:  s.cfg.PublicKey,
		VAPIDPrivateKey: s.cfg.PrivateKey,
	})
	if err != nil {
		return &SendError{Provider: WebPush, Transient: true, Err: err}
	}
	defer resp.Body.Close()
	// 404 and 410: the subscription expired or was unsubscribed.
	return classify(WebPush, resp, http.StatusNotFound, http.StatusGone)
}
