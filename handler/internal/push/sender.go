package push

import (
	"context"
	"fmt"
)

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
