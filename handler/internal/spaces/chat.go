package spaces

import (
	"context"
	"errors"
	"net/http"

	"switchboard/handler/internal/chat"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/store"
)

// Chat keeps a space's thread in step with its accepted members (the chat
// package does); nil means chat is off.
type Chat interface {
	Sync(ctx context.Context, th chat.Thread, members []chat.Member, create bool) (string, error)
	Remove(ctx context.Context, key, userID string) error
}

// SetChat turns on a chat thread per space.
func (s *Service) SetChat(c Chat) { s.chat = c }

// ChatKind is the kind of a space's thread key ("space:<id>").
const ChatKind = "space"

func threadOf(p *partition) chat.Thread {
	return chat.Thread{Key: ChatKind + ":" + p.id, Topic: p.space.Name, HistoryFrom: p.space.CreatedAt}
}

func chatMembers(sp Space) []chat.Member {
	var out []chat.Member
	for _, m := range sp.Members {
		// Bots answer calls, not chat: they are not in the space's thread.
		if m.State == StateAccepted && !identity.IsBotParty(m.UserID) {
			out = append(out, chat.Member{UserID: m.UserID, ACSUserID: m.ACSUserID, DisplayName: m.DisplayName})
		}
	}
	return out
}

// withThread syncs the thread of a space view (creating it when create is
// set) and sets its id. A failure to update participants is logged, not
// fatal: the next change or housekeeping catches up.
func (s *Service) withThread(ctx context.Context, p *partition, sp *Space, create bool) {
	if s.chat == nil {
		return
	}
	id, err := s.chat.Sync(ctx, threadOf(p), chatMembers(*sp), create)
	if err != nil {
		httpapi.Logger(ctx).Warn("space chat thread not in step with its members; housekeeping retries", "spaceId", p.id, "err", err)
	}
	sp.ChatThreadID = id
}

// syncChat brings an existing thread in step after a membership change.
func (s *Service) syncChat(ctx context.Context, id string) {
	if s.chat == nil {
		return
	}
	p, err := s.load(ctx, id)
	if err == nil {
		var sp Space
		if sp, err = s.view(ctx, p); err == nil {
			s.withThread(ctx, p, &sp, false)
			return
		}
	}
	httpapi.Logger(ctx).Warn("space chat thread not updated; housekeeping retries", "spaceId", id, "err", err)
}

// removeFromChat takes a departing member out of the space's thread.
func (s *Service) removeFromChat(ctx context.Context, id, userID string) {
	if s.chat == nil {
		return
	}
	if err := s.chat.Remove(ctx, ChatKind+":"+id, userID); err != nil {
		httpapi.Logger(ctx).Warn("departed member still in the space's chat thread; housekeeping retries", "spaceId", id, "userId", userID, "err", err)
	}
}

// ThreadSource is a chat.Source: who belongs in a space's thread.
func (s *Service) ThreadSource(ctx context.Context, id string) (chat.Thread, []chat.Member, error) {
	p, err := s.load(ctx, id)
	var prob *httpapi.Problem
	if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
		return chat.Thread{}, nil, store.ErrNotFound
	}
	if err != nil {
		return chat.Thread{}, nil, err
	}
	sp, err := s.view(ctx, p)
	if err != nil {
		return chat.Thread{}, nil, err
	}
	return threadOf(p), chatMembers(sp), nil
}
