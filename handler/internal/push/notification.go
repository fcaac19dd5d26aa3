package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Size limits of provider payloads.
const (
	APNsVoIPLimit = 5120
	APNsLimit     = 4096
	FCMLimit      = 4096
	// WebPushLimit leaves room in a 4096-byte aes128gcm record for its header and padding.
	WebPushLimit = 3993
	WebhookLimit = 64 << 10
)

// Notification is what a device is woken with.
type Notification struct {
	// Type is "incomingCall", "invitation" or "chatMessage".
	Type string `json:"type"`
	// EventID identifies the event being delivered (receivers de-duplicate on it).
	EventID string `json:"eventId"`
	// Incoming call: what the ACS calling SDKs need to accept it.
	IncomingCallContext string `json:"incomingCallContext,omitempty"`
	ServerCallID        string `json:"serverCallId,omitempty"`
	CallerID            string `json:"callerId,omitempty"`
	CalleeID            string `json:"calleeId,omitempty"`
	// Optional fields, dropped first (in this order) when a payload is too big.
	CallerDisplayName string `json:"callerDisplayName,omitempty"`
	CorrelationID     string `json:"correlationId,omitempty"`
	// Data carries other notification types' fields (an invitation's call id, kind, subject).
	Data map[string]string `json:"data,omitempty"`
	// Alert, when set, is something to show the user (a chat message): iOS
	// gets an alert push with it, and VoIP devices get nothing, since a VoIP
	// push not reported to CallKit gets the app killed.
	Alert *Alert `json:"-"`
}

// Alert is the visible part of an alert push.
type Alert struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// ErrTooLarge means a payload does not fit its provider even with every optional field dropped.
var ErrTooLarge = errors.New("notification too large for the provider")

// fit encodes n with enc, dropping optional fields until it fits limit. The
// incoming call context is never truncated.
func fit(n Notification, limit int, enc func(Notification) ([]byte, error)) ([]byte, error) {
	drops := []func(*Notification){
		func(n *Notification) { n.CallerDisplayName = "" },
		func(n *Notification) { n.CorrelationID = "" },
		func(n *Notification) { n.Data = without(n.Data, "subject") },
		func(n *Notification) { n.Data = without(n.Data, "preview") },
	}
	for i := 0; ; i++ {
		b, err := enc(n)
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			return b, nil
		}
		if i == len(drops) {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), limit)
		}
		drops[i](&n)
	}
}

// without copies data minus key: the caller's map is not ours to edit.
func without(data map[string]string, key string) map[string]string {
	if _, ok := data[key]; !ok {
		return data
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// APNsBody is the JSON an APNs (PushKit VoIP or alert) push carries.
func APNsBody(n Notification, voip bool) ([]byte, error) {
	limit := APNsLimit
	if voip {
		limit = APNsVoIPLimit
	}
	return fit(n, limit, func(n Notification) ([]byte, error) {
		aps := map[string]any{}
		switch {
		case n.Alert != nil && !voip:
			aps["alert"] = n.Alert
			aps["sound"] = "default"
		case !voip:
			aps["content-available"] = 1
		}
		return json.Marshal(struct {
			APS map[string]any `json:"aps"`
			Notification
		}{aps, n})
	})
}

// FCMBody is a Notification Hubs fcmv1 message: a high-priority data message
// (all data values are strings).
func FCMBody(n Notification) ([]byte, error) {
	return fit(n, FCMLimit, func(n Notification) ([]byte, error) {
		data := map[string]string{"type": n.Type, "eventId": n.EventID}
		set := func(k, v string) {
			if v != "" {
				data[k] = v
			}
		}
		set("incomingCallContext", n.IncomingCallContext)
		set("serverCallId", n.ServerCallID)
		set("callerId", n.CallerID)
		set("calleeId", n.CalleeID)
		set("callerDisplayName", n.CallerDisplayName)
		set("correlationId", n.CorrelationID)
		// FCM data is one flat map: other fields never overwrite the call's own.
		for k, v := range n.Data {
			if _, taken := data[k]; !taken {
				set(k, v)
			}
		}
		return json.Marshal(map[string]any{"message": map[string]any{
			"android": map[string]any{"priority": "high", "ttl": strconv.Itoa(30) + "s"},
			"data":    data,
		}})
	})
}

// JSONBody is the plain JSON of a notification, for Web Push and webhooks.
func JSONBody(n Notification, limit int) ([]byte, error) {
	return fit(n, limit, func(n Notification) ([]byte, error) { return json.Marshal(n) })
}
