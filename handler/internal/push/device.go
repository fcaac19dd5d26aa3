// Package push delivers notifications to devices: Notification Hubs direct
// send (APNs VoIP, FCM v1), Web Push (VAPID, aes128gcm) and signed webhooks.
// It owns the device model, provider payloads within provider size limits,
// and one error classification: gone (prune the device), transient (retry
// later) or permanent.
package push

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"switchboard/handler/internal/egress"
	"switchboard/handler/internal/httpapi"
)

// Providers.
const (
	APNs    = "apns"
	FCM     = "fcm"
	WebPush = "webpush"
	Webhook = "webhook"
)

// Device is one registered device of a user.
type Device struct {
	ID       string `json:"-"`
	Provider string `json:"provider"`
	// Handle is the APNs device token (hex) or the FCM registration token.
	Handle string `json:"handle,omitempty"`
	// VoIP marks an APNs PushKit (VoIP) token.
	VoIP         bool                 `json:"voip,omitempty"`
	Subscription *WebPushSubscription `json:"subscription,omitempty"`
	URL          string               `json:"url,omitempty"`
	// Secret keys the webhook signature; set by the service, never by the client.
	Secret string `json:"-"`
}

// WebPushSubscription is a browser's PushSubscription.toJSON().
type WebPushSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
	ExpirationTime *int64 `json:"expirationTime,omitempty"`
}

var fcmTokenRE = regexp.MustCompile(`^[A-Za-z0-9_:\-.]+$`)

// Validate checks a registration for its provider; the problem lists every
// invalid field.
func (d Device) Validate() error {
	var errs []httpapi.FieldError
	bad := func(field, detail string) { errs = append(errs, httpapi.FieldError{Field: field, Detail: detail}) }
	switch d.Provider {
	case APNs:
		if n := len(d.Handle); n < 64 || n > 200 || n%2 != 0 {
			bad("handle", "an APNs device token is 64 to 200 hex digits")
		} else if _, err := hex.DecodeString(d.Handle); err != nil {
			bad("handle", "an APNs device token is hex digits")
		}
		if d.Subscription != nil || d.URL != "" {
			bad("provider", "apns takes only handle and voip")
		}
	case FCM:
		if d.Handle == "" || len(d.Handle) > 4096 || !fcmTokenRE.MatchString(d.Handle) {
			bad("handle", "an FCM registration token is 1 to 4096 characters of letters, digits and _:-.")
		}
		if d.VoIP || d.Subscription != nil || d.URL != "" {
			bad("provider", "fcm takes only handle")
		}
	case WebPush:
		s := d.Subscription
		if s == nil {
			bad("subscription", "a Web Push registration needs the browser's PushSubscription")
			break
		}
		if err := checkURL(s.Endpoint); err != nil {
			bad("subscription.endpoint", err.Error())
		}
		// A point off the curve would fail encryption on every push.
		if k, err := decodeB64URL(s.Keys.P256dh); err != nil || len(k) != 65 || k[0] != 4 {
			bad("subscription.keys.p256dh", "must be an uncompressed P-256 public key (65 bytes, base64url)")
		} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
			bad("subscription.keys.p256dh", "is not a point on the P-256 curve")
		}
		if k, err := decodeB64URL(s.Keys.Auth); err != nil || len(k) != 16 {
			bad("subscription.keys.auth", "must be 16 bytes, base64url")
		}
		if d.Handle != "" || d.VoIP || d.URL != "" {
			bad("provider", "webpush takes only subscription")
		}
	case Webhook:
		if err := checkURL(d.URL); err != nil {
			bad("url", err.Error())
		}
		if d.Handle != "" || d.VoIP || d.Subscription != nil {
			bad("provider", "webhook takes only url")
		}
	default:
		bad("provider", "must be one of apns, fcm, webpush, webhook")
	}
	if len(errs) == 0 {
		return nil
	}
	p := httpapi.NewProblem(http.StatusBadRequest, "invalid-device", "the device registration is invalid: "+errs[0].Field+": "+errs[0].Detail)
	p.Errors = errs
	return p
}

type urlError string

func (e urlError) Error() string { return string(e) }

// checkURL checks only that raw is a URL; where it may point is the egress
// rule's to say (Senders.CheckTarget), with its own problem code.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || len(raw) > egress.MaxURLLength {
		return urlError("must be an absolute URL of at most 2048 characters")
	}
	return nil
}

func decodeB64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
