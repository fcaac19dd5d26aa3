package calls

import (
	"context"
	"errors"
	"strings"

	"switchboard/handler/internal/chat"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/store"
)

// Chat keeps a call's own thread in step with its creator and invitees (the
// chat package does); nil means chat is off.
type Chat interface {
	Sync(ctx context.Context, th chat.Thread, members []chat.Member, create bool) (string, error)
}

// SetChat lets calls ask for a chat thread ("chat": true).
func (s *Service) SetChat(c Chat) { s.chat = c }

// ChatKind is the kind of a call's thread key ("call:<id>").
const ChatKind = "call"

// chatOf is who belongs in a call's thread: the creator, the invited app
// users and the SMS guests (dialled phones cannot chat, and a bot has no
// use for chat: space threads leave bots out too).
func (s *Service) chatOf(ctx context.Context, id string, c call, invs map[string]invitee) (chat.Thread, []chat.Member, error) {
	th := chat.Thread{Key: ChatKind + ":" + id, Topic: c.Subject, HistoryFrom: c.CreatedAt}
	if th.Topic == "" {
		th.Topic = "Call"
	}
	creator, err := s.users.Profile(ctx, c.Creator)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return th, nil, err
	}
	members := []chat.Member{{UserID: c.Creator, ACSUserID: creator.ACSUserID, DisplayName: creator.DisplayName}}
	for uid, v := range invs {
		if !strings.HasPrefix(uid, "4:") && !identity.IsBotParty(uid) {
			members = append(members, chat.Member{UserID: uid, ACSUserID: v.ACSUserID})
		}
	}
	if s.guests != nil {
		guests, err := s.guests.Guests(ctx, id)
		if err != nil {
			return th, nil, err
		}
		for _, g := range guests {
			// A guest is no app user: its member key is its own ACS id.
			members = append(members, chat.Member{UserID: "guest:" + g.ACSUserID, ACSUserID: g.ACSUserID, DisplayName: g.DisplayName})
		}
	}
	return th, members, nil
}

// withThread syncs a chat call's thread, creating it on first use, and
// returns its id; a failure is logged (the next read or housekeeping retries).
func (s *Service) withThread(ctx context.Context, id string, c call, invs map[string]invitee) string {
	if s.chat == nil || !c.Chat {
		return ""
	}
	th, members, err := s.chatOf(ctx, id, c, invs)
	if err == nil {
		var tid string
		tid, err = s.chat.Sync(ctx, th, members, true)
		if err == nil {
			return tid
		}
		httpapi.Logger(ctx).Warn("call chat thread not in step with its invitees; housekeeping retries", "callId", id, "err", err)
		return tid
	}
	httpapi.Logger(ctx).Warn("call chat thread not updated; housekeeping retries", "callId", id, "err", err)
	return ""
}

// ThreadSource is a chat.Source: who belongs in a call's thread.
func (s *Service) ThreadSource(ctx context.Context, id string) (chat.Thread, []chat.Member, error) {
	c, _, invs, _, err := s.load(ctx, id)
	if err != nil {
		var p *httpapi.Problem
		if errors.As(err, &p) && p.Code == "call-not-found" {
			return chat.Thread{}, nil, store.ErrNotFound
		}
		return chat.Thread{}, nil, err
	}
	if !c.Chat {
		return chat.Thread{}, nil, store.ErrNotFound
	}
	return s.chatOf(ctx, id, c, invs)
}
