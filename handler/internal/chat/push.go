package chat

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"switchboard/handler/internal/events"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
)

// PreviewChars is how much of a message its push shows.
const PreviewChars = 100

// MessageReceived handles Microsoft.Communication.ChatMessageReceived, which
// ACS raises once per recipient: the recipient's devices get a chatMessage
// push, once per device per message however often the event is delivered
// (the fan-out's claims are keyed by message and recipient). iOS devices
// get an alert push, never a VoIP one. Messages the service identity sends
// push nothing; an unknown recipient has no devices and gets nothing.
//
// Each message spends one of the sender's quota.ChatPushes, once however
// many recipients' events it raises (quota.Limiter.TakeOnce). Over the
// quota, the message (already in the thread) pushes nobody: logged once,
// counted, and the event acknowledged, since a redelivery would be refused
// the same way.
func (s *Service) MessageReceived(ctx context.Context, ev events.Event) error {
	log := httpapi.Logger(ctx).With("eventId", ev.ID)
	var data azsystemevents.ACSChatMessageReceivedEventData
	if err := ev.DecodeData(&data); err != nil {
		log.Error("malformed ChatMessageReceived event dropped", "err", err)
		return nil
	}
	recipient, sender := fanout.RawID(data.RecipientCommunicationIdentifier), fanout.RawID(data.SenderCommunicationIdentifier)
	threadID, messageID := deref(data.ThreadID), deref(data.MessageID)
	if recipient == "" || threadID == "" || messageID == "" {
		log.Info("ChatMessageReceived without recipient, thread or message id; nothing to push")
		return nil
	}
	if self, err := s.identity.ID(ctx); err != nil {
		return err
	} else if sender == self || recipient == self {
		return nil
	}
	first, err := s.limits.TakeOnce(ctx, "chat:"+threadID+":"+messageID, quota.Other("acs:"+sender),
		quota.Cost{Quota: quota.ChatPushes, N: 1})
	if quota.IsRateLimited(err) {
		if first {
			log.Warn("chat message pushes skipped: the sender is over the chat-pushes quota",
				"sender", sender, "threadId", threadID, "messageId", messageID, "skippedSinceStart", s.skipped.Add(1))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("chat-pushes quota: %w", err)
	}
	n := push.Notification{
		Type:     "chatMessage",
		EventID:  "chat-" + messageID + "-" + recipient,
		CalleeID: recipient,
		Data: map[string]string{
			"threadId":          threadID,
			"messageId":         messageID,
			"senderDisplayName": deref(data.SenderDisplayName),
		},
	}
	title := deref(data.SenderDisplayName)
	if title == "" {
		title = "New message"
	}
	n.Alert = &push.Alert{Title: title, Body: "New message"}
	if s.opts.PushPreview {
		preview := firstChars(deref(data.MessageBody), PreviewChars)
		n.Data["preview"] = preview
		if preview != "" {
			n.Alert.Body = preview
		}
	}
	_, err = s.pusher.FanOut(ctx, n.EventID, recipient, n)
	return err
}

// SkippedPushes is how many messages pushed nobody on this instance since
// start because their sender was over quota.ChatPushes.
func (s *Service) SkippedPushes() int64 { return s.skipped.Load() }

func firstChars(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
