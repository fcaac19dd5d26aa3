package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"switchboard/handler/internal/egress"
	"switchboard/handler/internal/httpapi"
)

// CodeURLNotAllowed is the problem code of a device URL the egress rule refuses.
const CodeURLNotAllowed = "url-not-allowed"

// Senders routes a device to its provider's sender; a nil sender is a
// provider this deployment has not configured.
type Senders struct {
	NotificationHub *NotificationHub
	WebPush         *WebPushSender
	Webhook         *WebhookSender
}

// Send delivers n to d.
func (s *Senders) Send(ctx context.Context, d Device, n Notification) error {
	switch d.Provider {
	case APNs, FCM:
		if s.NotificationHub == nil {
			return &SendError{Provider: d.Provider, Err: fmt.Errorf("%w: set NOTIFICATION_HUB_CONNECTION_STRING and NOTIFICATION_HUB_NAME", ErrProviderNotConfigured)}
		}
		return s.NotificationHub.Send(ctx, d, n)
	case WebPush:
		if s.WebPush == nil {
			return &SendError{Provider: d.Provider, Err: fmt.Errorf("%w: set the WEBPUSH_VAPID_* settings", ErrProviderNotConfigured)}
		}
		return s.WebPush.Send(ctx, d, n)
	case Webhook:
		if s.Webhook == nil {
			return &SendError{Provider: d.Provider, Err: fmt.Errorf("%w: no webhook sender", ErrProviderNotConfigured)}
		}
		return s.Webhook.Send(ctx, d, n)
	}
	return &SendError{Provider: d.Provider, Err: fmt.Errorf("unknown provider %q", d.Provider)}
}

// Configured reports whether devices of provider can be sent to here, and
// if not, which setting enables it.
func (s *Senders) Configured(provider string) (bool, string) {
	switch provider {
	case APNs, FCM:
		return s.NotificationHub != nil, "NOTIFICATION_HUB_CONNECTION_STRING and NOTIFICATION_HUB_NAME"
	case WebPush:
		return s.WebPush != nil, "WEBPUSH_VAPID_PUBLIC_KEY, WEBPUSH_VAPID_PRIVATE_KEY and WEBPUSH_SUBJECT"
	}
	return true, ""
}

// CheckTarget applies the egress rule to the URL of a device being
// registered (webhook URL, Web Push endpoint): 400 url-not-allowed when it
// is refused, 503 when its host cannot be looked up just now. Call it
// after Validate; other providers have no URL and pass.
func (s *Senders) CheckTarget(ctx context.Context, d Device) error {
	var field string
	var err error
	switch {
	case d.Provider == Webhook && s.Webhook != nil:
		field, err = "url", s.Webhook.CheckURL(ctx, d.URL)
	case d.Provider == WebPush && s.WebPush != nil && d.Subscription != nil:
		field, err = "subscription.endpoint", s.WebPush.CheckEndpoint(ctx, d.Subscription.Endpoint)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, egress.ErrRefused):
		p := httpapi.NewProblem(http.StatusBadRequest, CodeURLNotAllowed, "the device's URL is not allowed: "+field+": "+err.Error())
		p.Errors = []httpapi.FieldError{{Field: field, Detail: err.Error()}}
		return p
	default:
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable, "the device's URL could not be checked just now; retry").WithCause(err)
		p.RetryAfter = 5
		return p
	}
}
