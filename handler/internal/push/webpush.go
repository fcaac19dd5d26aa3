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

	"switchboard/handler/internal/egress"
)

// WebPushConfig holds the VAPID identity.
type WebPushConfig struct {
	PublicKey, PrivateKey string // base64url
	Subject               string // mailto: or https:
	// AllowedHosts are the push services an endpoint may be on (WEBPUSH_ALLOWED_HOSTS).
	AllowedHosts egress.HostList
	// Guard is the egress rule pushes are sent under (nil: the strict rule
	// with the system resolver).
	Guard *egress.Guard
}

// WebPushSender sends encrypted (aes128gcm) Web Push messages with VAPID.
type WebPushSender struct {
	cfg    WebPushConfig
	client *http.Client
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
	if cfg.Guard == nil {
		cfg.Guard = egress.New(nil)
	}
	return &WebPushSender{cfg: cfg, client: cfg.Guard.Client(10 * time.Second)}, nil
}

// CheckEndpoint applies the egress rule to a subscription endpoint: on an
// allowed push service first, so no other name is even looked up.
func (s *WebPushSender) CheckEndpoint(ctx context.Context, endpoint string) error {
	u, err := s.allowed(endpoint)
	if err != nil {
		return err
	}
	return s.cfg.Guard.CheckHost(ctx, u)
}

func (s *WebPushSender) allowed(endpoint string) (*url.URL, error) {
	u, err := s.cfg.Guard.ParseURL(endpoint)
	if err != nil {
		return nil, err
	}
	if !s.cfg.AllowedHosts.Allows(u.Hostname()) {
		return nil, &egress.Error{Reason: "host " + u.Hostname() + " is not a push service in WEBPUSH_ALLOWED_HOSTS"}
	}
	return u, nil
}

// Send encrypts n for the subscription and posts it with a 30 s TTL and high urgency.
func (s *WebPushSender) Send(ctx context.Context, d Device, n Notification) error {
	if d.Subscription == nil {
		return &SendError{Provider: WebPush, Err: errors.New("device has no subscription")}
	}
	// Stored before the list or the rule changed: the push service may no longer be one we allow.
	if _, err := s.allowed(d.Subscription.Endpoint); err != nil {
		return &SendError{Provider: WebPush, Err: fmt.Errorf("web push: %w", err)}
	}
	body, err := JSONBody(n, WebPushLimit)
	if err != nil {
		return &SendError{Provider: WebPush, Err: err}
	}
	sub := &webpush.Subscription{Endpoint: d.Subscription.Endpoint, Keys: webpush.Keys{P256dh: d.Subscription.Keys.P256dh, Auth: d.Subscription.Keys.Auth}}
	resp, err := webpush.SendNotificationWithContext(ctx, body, sub, &webpush.Options{
		HTTPClient: s.client,
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
		// A refused target stays refused.
		var ue *url.Error
		transient := (errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && !errors.Is(err, egress.ErrRefused)
		return &SendError{Provider: WebPush, Transient: transient, Err: fmt.Errorf("web push: %w", err)}
	}
	defer resp.Body.Close()
	// 404 and 410: the subscription expired or was unsubscribed.
	return classify(WebPush, resp, http.StatusNotFound, http.StatusGone)
}
