package guests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Events registers the SMS event handlers (they arrive through callevents
// and /api/events).
func (s *Service) Events(d *events.Dispatcher) {
	d.Handle(acs.EventSMSDeliveryReportReceived, s.deliveryReport)
	d.Handle(acs.EventSMSReceived, s.received)
}

// smsEvent holds both SMS events' data. encoding/json matches keys without
// regard to case, so ACS's PascalCase and camelCase examples both decode.
type smsEvent struct {
	MessageID             string `json:"messageId"`
	From                  string `json:"from"`
	To                    string `json:"to"`
	Message               string `json:"message"`
	DeliveryStatus        string `json:"deliveryStatus"`
	DeliveryStatusDetails string `json:"deliveryStatusDetails"`
	Tag                   string `json:"tag"`
}

// normalize gives a number in an event its + (ACS's examples send both).
func normalize(n string) string {
	n = strings.TrimSpace(n)
	if n != "" && !strings.HasPrefix(n, "+") && strings.IndexFunc(n, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return "+" + n
	}
	return n
}

// deliveryReport moves an invitation's text to delivered or failed. The tag
// names the call; reports of texts that are not invitations are dropped.
func (s *Service) deliveryReport(ctx context.Context, ev events.Event) error {
	var d smsEvent
	if err := ev.DecodeData(&d); err != nil {
		return err
	}
	callID, ok := strings.CutPrefix(d.Tag, callPrefix)
	if !ok || d.MessageID == "" {
		httpapi.Logger(ctx).Info("delivery report of a text that is not an invitation; dropped", "eventId", ev.ID)
		return nil
	}
	state, reason := SMSFailed, d.DeliveryStatusDetails
	if strings.EqualFold(d.DeliveryStatus, "Delivered") {
		state, reason = SMSDelivered, ""
	}
	err := s.update(ctx, callID, normalize(d.To), func(g *guestRow) bool {
		if g.MessageID != "" && g.MessageID != d.MessageID {
			return false
		}
		g.MessageID, g.SMS, g.SMSReason = d.MessageID, state, reason
		return true
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return nil // the guest is gone (the call ended and was swept)
	}
	return err
}

// Keywords carriers and ACS recognise (CTIA), case and punctuation aside.
var (
	stopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
	startWords = []string{"START", "UNSTOP", "YES", "OPTIN"}
	helpWords  = []string{"HELP", "INFO"}
)

func keyword(msg string) string {
	return strings.ToUpper(strings.TrimFunc(msg, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
}

// maxForwarded bounds a reply in a push payload.
const maxForwarded = 500

// received handles a text to our number: a keyword updates the number's
// opt-out record (whoever sends it: a number we texted may have been swept
// already); any other text from a guest of a live call is pushed to the
// call's creator; other texts are acknowledged and dropped.
func (s *Service) received(ctx context.Context, ev events.Event) error {
	var d smsEvent
	if err := ev.DecodeData(&d); err != nil {
		return err
	}
	from := normalize(d.From)
	if !acs.IsE164(from) {
		httpapi.Logger(ctx).Info("text from a sender that is not a phone number; dropped", "eventId", ev.ID)
		return nil
	}
	switch w := keyword(d.Message); {
	case slices.Contains(stopWords, w):
		_, err := s.table.Upsert(ctx, phonePrefix+from, optOutRow, optOut{At: s.now().UTC(), Keyword: w})
		return err
	case slices.Contains(startWords, w):
		if err := s.table.Delete(ctx, phonePrefix+from, optOutRow, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	case slices.Contains(helpWords, w):
		// ACS (short codes) and carriers (toll-free) answer HELP themselves.
		httpapi.Logger(ctx).Info("HELP from a guest number; acknowledged", "eventId", ev.ID)
		return nil
	}
	var callIDs []string
	err := s.table.QueryPartition(ctx, phonePrefix+from, func(rk string, decode func(any) error) error {
		if id, ok := strings.CutPrefix(rk, callPrefix); ok {
			callIDs = append(callIDs, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	message := d.Message
	if r := []rune(message); len(r) > maxForwarded {
		message = string(r[:maxForwarded])
	}
	var errs []error
	for _, callID := range callIDs {
		if err := s.forward(ctx, ev.ID, callID, from, message); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// forward pushes a guest's reply to the creator of a live call, once per
// device however often Event Grid delivers the text. Each text spends one
// of quota.GuestReplies for that guest number in that call, so a guest who
// keeps texting cannot keep the creator's phone ringing: over it the text
// is dropped (logged once) and the event acknowledged.
func (s *Service) forward(ctx context.Context, eventID, callID, from, message string) error {
	info, err := s.calls.InfoAny(ctx, callID)
	if err != nil || s.ended(info) {
		return nil // an ended or swept call: nobody to tell
	}
	var g guestRow
	if _, err := s.table.Get(ctx, callPrefix+callID, from, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	creator, err := s.users.Profile(ctx, info.Creator)
	if err != nil || creator.ACSUserID == "" {
		return nil // the creator erased themselves
	}
	key := "guest-" + eventID + "-" + callID
	first, err := s.limits.TakeOnce(ctx, key, quota.Other("guest-reply:"+callID+":"+from),
		quota.Cost{Quota: quota.GuestReplies, N: 1})
	if quota.IsRateLimited(err) {
		if first {
			httpapi.Logger(ctx).Warn("guest text not pushed: the guest is over the guest-replies quota", "eventId", eventID, "callId", callID)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("guest-replies quota: %w", err)
	}
	n := push.Notification{Type: "guestMessage", EventID: key, CalleeID: creator.ACSUserID, Data: map[string]string{
		"callId": callID, "phoneNumber": from, "displayName": g.DisplayName, "message": message,
	}}
	if _, err := s.push.FanOut(ctx, key, creator.ACSUserID, n); err != nil {
		return fmt.Errorf("guest message push: %w", err)
	}
	return nil
}
