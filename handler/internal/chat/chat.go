// Package chat gives spaces and calls an ACS Chat thread each, created by
// Switchboard's own chat identity (Chat takes only ACS user tokens), and
// keeps thread participants in step with who may be there: accepted space
// members, a call's creator and invitees. It records whom it added, so an
// erased user is removed from every such thread, reconciles threads with
// their members on the housekeeping timer, and pushes chat messages to
// offline readers' devices from ChatMessageReceived events.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Tables: threads (PK thread key "space:<id>" or "call:<id>"; RK "thread",
// or "p:<userId>" for each participant Switchboard added) and members (PK
// user id, RK thread key), the reverse index erase reads.
const (
	ThreadsTable = "chatthreads"
	MembersTable = "chatmembers"
	threadRow    = "thread"
	partPrefix   = "p:"
)

// creatingWait is how long a creation may take before another request takes
// it over, and how long readers wait for one.
const creatingWait = 10 * time.Second

// Participant states: added, or refused by Chat (retried by housekeeping).
const (
	stateAdded   = "added"
	stateRefused = "refused"
)

// Chat is what the service needs from the ACS Chat API.
type Chat interface {
	CreateChatThread(ctx context.Context, opts acs.CreateChatThreadOptions) (acs.ChatThread, []acs.InvalidParticipant, error)
	DeleteChatThread(ctx context.Context, threadID string) error
	AddChatParticipants(ctx context.Context, threadID string, participants []acs.ChatParticipant) ([]acs.InvalidParticipant, error)
	RemoveChatParticipant(ctx context.Context, threadID, id string) error
	ListChatParticipants(ctx context.Context, threadID string) ([]acs.ChatParticipant, error)
}

// Limiter spends a quota once per operation (quota.Limiter).
type Limiter interface {
	TakeOnce(ctx context.Context, op string, s quota.Subject, costs ...quota.Cost) (bool, error)
}

// Pusher fans a notification out to a user's devices once per key.
type Pusher interface {
	FanOut(ctx context.Context, key, acsID string, n push.Notification) (fanout.Result, error)
}

// Thread names a thread by what it belongs to.
type Thread struct {
	// Key is "space:<id>" or "call:<id>".
	Key   string
	Topic string
	// HistoryFrom is what members added later see history from (the space's
	// or call's creation).
	HistoryFrom time.Time
}

// Member is someone who belongs in a thread; without an ACS id they cannot
// be added yet.
type Member struct {
	UserID      string
	ACSUserID   string
	DisplayName string
}

// Source says who belongs in the threads of one kind (spaces, calls), for
// housekeeping; store.ErrNotFound means the owner is gone.
type Source func(ctx context.Context, id string) (Thread, []Member, error)

// Options configure the service.
type Options struct {
	// PushPreview puts the first 100 characters of a message in its push (CHAT_PUSH_PREVIEW).
	PushPreview bool
}

// Service manages threads.
type Service struct {
	threads, members *store.Table
	identity         *Identity
	chat             Chat
	pusher           Pusher
	limits           Limiter
	opts             Options
	sources          map[string]Source
	now              func() time.Time
	// skipped counts messages whose pushes were skipped, the sender being
	// over quota.ChatPushes (since start, on this instance).
	skipped atomic.Int64
}

// NewService wires the service; message pushes spend limits.
func NewService(st *store.Store, identity *Identity, chat Chat, pusher Pusher, limits Limiter, opts Options) *Service {
	return &Service{threads: st.Table(ThreadsTable), members: st.Table(MembersTable), identity: identity, chat: chat,
		pusher: pusher, limits: limits, opts: opts, sources: map[string]Source{}, now: time.Now}
}

// AddSource registers who belongs in the threads keyed "<kind>:<id>".
func (s *Service) AddSource(kind string, src Source) { s.sources[kind] = src }

type threadState struct {
	RequestID   string    `json:"requestId"`
	ThreadID    string    `json:"threadId,omitempty"`
	Topic       string    `json:"topic"`
	HistoryFrom time.Time `json:"historyFrom"`
	CreatedAt   time.Time `json:"createdAt"`
	// Attempt is when the current creator started; zero when nobody is creating.
	Attempt time.Time `json:"attempt,omitzero"`
}

type participant struct {
	ACSUserID string    `json:"acsUserId"`
	State     string    `json:"state"`
	At        time.Time `json:"at"`
	Detail    string    `json:"detail,omitempty"`
}

type memberRow struct {
	AddedAt time.Time `json:"addedAt"`
}

type loaded struct {
	thread *threadState
	etag   azcore.ETag
	parts  map[string]participant
}

func (s *Service) load(ctx context.Context, key string) (*loaded, error) {
	l := &loaded{parts: map[string]participant{}}
	err := s.threads.QueryPartition(ctx, key, func(rk string, decode func(any) error) error {
		switch {
		case rk == threadRow:
			var row struct {
				threadState
				ETag azcore.ETag `json:"odata.etag"`
			}
			if err := decode(&row); err != nil {
				return err
			}
			l.thread, l.etag = &row.threadState, row.ETag
		case strings.HasPrefix(rk, partPrefix):
			var p participant
			if err := decode(&p); err != nil {
				return err
			}
			l.parts[strings.TrimPrefix(rk, partPrefix)] = p
		}
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	return l, nil
}

// Sync makes th's thread hold exactly members (those with an ACS id) plus
// the service identity, creating it first when create is set, and returns
// its id ("" when it has none and create is not set). Only the difference
// from what was recorded costs ACS calls. A participant Chat refuses is
// logged and left to housekeeping; the rest proceed. The id is returned
// even when updating participants failed.
func (s *Service) Sync(ctx context.Context, th Thread, members []Member, create bool) (string, error) {
	l, err := s.load(ctx, th.Key)
	if err != nil {
		return "", err
	}
	if l.thread == nil || l.thread.ThreadID == "" {
		if !create {
			return "", nil
		}
		if err := s.ensureThread(ctx, th, l); err != nil {
			return "", err
		}
	}
	return l.thread.ThreadID, s.apply(ctx, th, l, members, false)
}

// ensureThread creates the thread of th once. The thread row, with a fresh
// repeatability request id, is inserted first: its inserter creates the
// thread while concurrent readers wait for the id to appear. Whoever creates
// sends that same repeatability-request-id, so a retry, or a takeover after
// a creator went quiet, gets the same thread from Chat instead of a second.
func (s *Service) ensureThread(ctx context.Context, th Thread, l *loaded) error {
	deadline := s.now().Add(creatingWait)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		now := s.now().UTC()
		switch {
		case l.thread == nil:
			st := threadState{RequestID: uuid.NewString(), Topic: th.Topic, HistoryFrom: th.HistoryFrom.UTC(), CreatedAt: now, Attempt: now}
			etag, err := s.threads.Insert(ctx, th.Key, threadRow, st)
			if err == nil {
				l.thread, l.etag = &st, etag
				return s.createThread(ctx, th, l)
			}
			if !errors.Is(err, store.ErrConflict) {
				return store.ProblemFor(err)
			}
		case l.thread.ThreadID != "":
			return nil
		case !l.thread.Attempt.IsZero() && now.Sub(l.thread.Attempt) < creatingWait && now.Before(deadline):
			// Another request is creating it: wait for its id.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		default:
			// Nobody is creating it (a failed or abandoned attempt): take over.
			claim := *l.thread
			claim.Attempt = now
			etag, err := s.threads.Replace(ctx, th.Key, threadRow, claim, l.etag)
			if err == nil {
				l.thread, l.etag = &claim, etag
				return s.createThread(ctx, th, l)
			}
			if !errors.Is(err, store.ErrPreconditionFailed) && !errors.Is(err, store.ErrNotFound) {
				return store.ProblemFor(err)
			}
		}
		fresh, err := s.load(ctx, th.Key)
		if err != nil {
			return err
		}
		*l = *fresh
	}
}

// createThread asks Chat for the thread of a row we hold the attempt of,
// and records its id; a failed attempt is released so the next request
// tries at once rather than waiting for us.
func (s *Service) createThread(ctx context.Context, th Thread, l *loaded) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), creatingWait)
	defer cancel()
	self, err := s.identity.ID(ctx)
	if err == nil {
		topic := l.thread.Topic
		if topic == "" {
			topic = "Switchboard"
		}
		var created acs.ChatThread
		created, _, err = s.chat.CreateChatThread(ctx, acs.CreateChatThreadOptions{
			Topic:                  topic,
			Participants:           []acs.ChatParticipant{{ID: self, DisplayName: "Switchboard"}},
			Metadata:               map[string]string{"switchboard": th.Key},
			RepeatabilityRequestID: l.thread.RequestID,
		})
		if err == nil {
			l.thread.ThreadID = created.ID
		} else {
			err = acsProblem(err)
		}
	}
	if err != nil {
		// Release our attempt, unless someone took over meanwhile.
		l.thread.Attempt = time.Time{}
		_, _ = s.threads.Replace(ctx, th.Key, threadRow, *l.thread, l.etag)
		return err
	}
	// Unconditional: whoever else wrote meanwhile used the same request id, so the same thread.
	etag, werr := s.threads.Replace(ctx, th.Key, threadRow, *l.thread, azcore.ETagAny)
	if werr != nil {
		return store.ProblemFor(werr)
	}
	l.etag = etag
	httpapi.Logger(ctx).Info("created chat thread", "key", th.Key, "threadId", l.thread.ThreadID)
	return nil
}

// apply adds and removes participants so the recorded ones match members.
// With retryRefused (housekeeping) participants Chat refused before are tried again.
func (s *Service) apply(ctx context.Context, th Thread, l *loaded, members []Member, retryRefused bool) error {
	log := httpapi.Logger(ctx).With("key", th.Key, "threadId", l.thread.ThreadID)
	want := map[string]Member{}
	for _, m := range members {
		if m.ACSUserID != "" {
			want[m.UserID] = m
		}
	}
	var add []Member
	for uid, m := range want {
		p, ok := l.parts[uid]
		if !ok || p.ACSUserID != m.ACSUserID || (retryRefused && p.State == stateRefused) {
			add = append(add, m)
		}
	}
	slices.SortFunc(add, func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) })
	var errs []error
	if err := s.add(ctx, th, l, add, log); err != nil {
		errs = append(errs, err)
	}
	for uid, p := range l.parts {
		if m, ok := want[uid]; ok && m.ACSUserID == p.ACSUserID {
			continue
		}
		if err := s.remove(ctx, th.Key, l.thread.ThreadID, uid, p); err != nil {
			log.Warn("could not remove a chat participant; housekeeping retries", "userId", uid, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// add adds members in batches, recording each before the call (the reverse
// row, so erase finds them) and the outcome after.
func (s *Service) add(ctx context.Context, th Thread, l *loaded, add []Member, log *slog.Logger) error {
	history := l.thread.HistoryFrom
	if history.IsZero() {
		history = th.HistoryFrom
	}
	for len(add) > 0 {
		batch := add[:min(len(add), acs.MaxChatBatch)]
		add = add[len(batch):]
		ps := make([]acs.ChatParticipant, 0, len(batch))
		for _, m := range batch {
			if _, err := s.members.Upsert(ctx, m.UserID, th.Key, memberRow{AddedAt: s.now().UTC()}); err != nil {
				return store.ProblemFor(err)
			}
			ps = append(ps, acs.ChatParticipant{ID: m.ACSUserID, DisplayName: m.DisplayName, ShareHistoryTime: history})
		}
		invalid, err := s.chat.AddChatParticipants(ctx, l.thread.ThreadID, ps)
		if err != nil {
			return acsProblem(err)
		}
		refused := map[string]acs.InvalidParticipant{}
		for _, ip := range invalid {
			refused[ip.ID] = ip
		}
		for _, m := range batch {
			p := participant{ACSUserID: m.ACSUserID, State: stateAdded, At: s.now().UTC()}
			if ip, ok := refused[m.ACSUserID]; ok {
				p.State, p.Detail = stateRefused, ip.Code+" "+ip.Message
				log.Warn("Chat refused a participant; housekeeping retries", "userId", m.UserID, "acsUserId", m.ACSUserID, "code", ip.Code, "message", ip.Message)
			}
			if _, err := s.threads.Upsert(ctx, th.Key, partPrefix+m.UserID, p); err != nil {
				return store.ProblemFor(err)
			}
			l.parts[m.UserID] = p
		}
	}
	return nil
}

// remove takes one participant out of the thread and forgets them there.
func (s *Service) remove(ctx context.Context, key, threadID, userID string, p participant) error {
	if err := s.chat.RemoveChatParticipant(ctx, threadID, p.ACSUserID); err != nil && !acs.IsNotFound(err) {
		return acsProblem(err)
	}
	if err := s.threads.Delete(ctx, key, partPrefix+userID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	if err := s.members.Delete(ctx, userID, key, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	return nil
}

// Remove takes userID out of key's thread, if Switchboard added them there.
func (s *Service) Remove(ctx context.Context, key, userID string) error {
	l, err := s.load(ctx, key)
	if err != nil {
		return err
	}
	p, ok := l.parts[userID]
	if !ok {
		return nil
	}
	if l.thread == nil || l.thread.ThreadID == "" {
		return nil
	}
	return s.remove(ctx, key, l.thread.ThreadID, userID, p)
}

// EraseUser removes an erased user from every thread Switchboard added them
// to (an identity.Eraser).
func (s *Service) EraseUser(ctx context.Context, userID, _ string) error {
	var keys []string
	err := s.members.QueryPartition(ctx, userID, func(key string, _ func(any) error) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrInvalidKey) {
		return store.ProblemFor(err)
	}
	for _, key := range keys {
		if err := s.Remove(ctx, key, userID); err != nil {
			return err
		}
		// A reverse row whose participant row went already.
		if err := s.members.Delete(ctx, userID, key, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
	}
	return nil
}

// Reconcile is the housekeeping pass: every thread's participants, as Chat
// lists them, are made to match its owner's members (refused ones are
// tried again), and the threads of owners that are gone are deleted. It
// returns how many threads it checked.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	var keys []string
	err := s.threads.Scan(ctx, func(pk, rk string, _ func(any) error) error {
		if rk == threadRow {
			keys = append(keys, pk)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, key := range keys {
		if err := s.reconcile(ctx, key); err != nil {
			errs = append(errs, fmt.Errorf("thread %s: %w", key, err))
		}
	}
	return len(keys), errors.Join(errs...)
}

func (s *Service) reconcile(ctx context.Context, key string) error {
	kind, id, _ := strings.Cut(key, ":")
	src, ok := s.sources[kind]
	if !ok {
		return nil
	}
	th, members, err := src(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.forget(ctx, key)
	}
	if err != nil {
		return err
	}
	th.Key = key
	l, err := s.load(ctx, key)
	if err != nil || l.thread == nil {
		return err
	}
	if l.thread.ThreadID == "" {
		if err := s.ensureThread(ctx, th, l); err != nil {
			return err
		}
	}
	// What Chat holds is the truth: participants we did not record (a lost
	// write) are recorded so apply removes them when they do not belong.
	listed, err := s.chat.ListChatParticipants(ctx, l.thread.ThreadID)
	if statusOf(err) == http.StatusForbidden || acs.IsNotFound(err) {
		// Someone removed Switchboard from the thread, or deleted it: it is
		// out of our care. Forget it; the next read makes a new one.
		httpapi.Logger(ctx).Warn("chat thread no longer reachable by Switchboard; a new one will be made", "key", key, "threadId", l.thread.ThreadID, "err", err)
		l.thread.ThreadID = ""
		return s.forgetRows(ctx, key, l)
	}
	if err != nil {
		return acsProblem(err)
	}
	self, err := s.identity.ID(ctx)
	if err != nil {
		return err
	}
	byACS := map[string]string{}
	for uid, p := range l.parts {
		byACS[p.ACSUserID] = uid
	}
	in := map[string]bool{}
	for _, p := range listed {
		in[p.ID] = true
		if _, known := byACS[p.ID]; !known && p.ID != self {
			// Someone Switchboard did not add (or whose record was lost): no member is keyed by it.
			if err := s.chat.RemoveChatParticipant(ctx, l.thread.ThreadID, p.ID); err != nil && !acs.IsNotFound(err) {
				return acsProblem(err)
			}
		}
	}
	for uid, p := range l.parts {
		if !in[p.ACSUserID] && p.State == stateAdded {
			p.State = stateRefused // recorded but not there: add again
			l.parts[uid] = p
		}
	}
	return s.apply(ctx, th, l, members, true)
}

// statusOf is the HTTP status of an ACS answer, or 0.
func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// forget deletes the thread of an owner that is gone, with its rows.
func (s *Service) forget(ctx context.Context, key string) error {
	l, err := s.load(ctx, key)
	if err != nil || l.thread == nil {
		return err
	}
	if l.thread.ThreadID != "" {
		if err := s.chat.DeleteChatThread(ctx, l.thread.ThreadID); err != nil && !acs.IsNotFound(err) && statusOf(err) != http.StatusForbidden {
			return acsProblem(err)
		}
	}
	return s.forgetRows(ctx, key, l)
}

// forgetRows deletes what Switchboard recorded about a thread.
func (s *Service) forgetRows(ctx context.Context, key string, l *loaded) error {
	for uid := range l.parts {
		if err := s.members.Delete(ctx, uid, key, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
		if err := s.threads.Delete(ctx, key, partPrefix+uid, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
	}
	if err := s.threads.Delete(ctx, key, threadRow, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	return nil
}
