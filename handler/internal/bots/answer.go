package bots

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Steps of a bot call. Each ACS action the bot takes is one step with a
// sequence number, carried in the action's operationContext
// ("<callId>/<seq>/<step>"): an event acts only when it completes the
// current step, so replayed or out-of-order callbacks repeat nothing.
const (
	stepAnswer   = "answer"
	stepGreeting = "greeting"
	stepMenu     = "menu"
	stepPlay     = "play"
	stepTransfer = "transfer"
	stepConnect  = "connect" // the bot joins the space's call
	stepMove     = "move"    // the caller is moved from the bot's call into it
	stepGoodbye  = "goodbye"
	stepDone     = "done"
)

// Outcomes in the call log.
const (
	OutcomeTransferred    = "transferred"
	OutcomeTransferFailed = "transfer-failed"
	OutcomeHungUp         = "hung-up"
	OutcomeCallerLeft     = "caller-hung-up"
	OutcomeAnswerFailed   = "answer-failed"
	OutcomeActionFailed   = "action-failed"
	OutcomeMoved          = "moved"
	OutcomeMoveFailed     = "move-failed"
)

// answerInFlight is how long an answer attempt may still be under way (Event
// Grid gives a delivery 30 s): a redelivery within it waits rather than send
// a second, different answer.
const answerInFlight = 30 * time.Second

// errAnswerInFlight fails a redelivery while another answer attempt of the
// call may be under way; Event Grid delivers it again later.
var errAnswerInFlight = errors.New("bots: an answer of this call may still be under way; deliver again later")

// callRow is one bot call: the log entry and the state the callbacks advance.
type callRow struct {
	Caller           string    `json:"caller"`
	CallerName       string    `json:"callerDisplayName,omitempty"`
	To               string    `json:"to"`
	ServerCallID     string    `json:"serverCallId"`
	CorrelationID    string    `json:"correlationId,omitempty"`
	CallConnectionID string    `json:"callConnectionId,omitempty"`
	SecretHash       string    `json:"secretHash"`
	RepeatID         string    `json:"repeatId"`
	FirstSent        time.Time `json:"firstSent"`
	Answered         bool      `json:"answered"`
	// AnswerDone marks the latest answer attempt (RepeatID) as finished
	// without an answer (ACS 5xx/429 or a timeout): a redelivery may try
	// again. While an attempt may still be in flight (answerInFlight) a
	// redelivery waits: a second attempt is a different request (a fresh
	// callback secret), not a repeat ACS would merge.
	AnswerDone bool      `json:"answerDone,omitempty"`
	State      string    `json:"state"` // ringing, connected, ended
	Step       string    `json:"step"`
	Seq        int       `json:"seq"`
	Attempts   int       `json:"attempts"`
	Keys       string    `json:"keys"`
	Outcome    string    `json:"outcome,omitempty"`
	Target     string    `json:"target,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// JoinedCall is the Switchboard call a bot joined (join.go); Stay keeps it there.
	JoinedCall string `json:"joinedCall,omitempty"`
	Stay       bool   `json:"stay,omitempty"`
	// MoveConnectionID is the bot's connection to the space call a connect
	// action moves the caller into.
	MoveConnectionID string `json:"moveConnectionId,omitempty"`
}

func (c callRow) view(id string) Call {
	return Call{ID: id, Caller: c.Caller, CallerDisplayName: c.CallerName, To: c.To, State: c.State, Keys: splitKeys(c.Keys),
		Outcome: c.Outcome, Target: c.Target, JoinedCallID: c.JoinedCall, StartedAt: c.StartedAt, UpdatedAt: c.UpdatedAt}
}

type claimRow struct {
	BotID     string    `json:"botId"`
	CallID    string    `json:"callId"`
	ClaimedAt time.Time `json:"claimedAt,omitzero"`
}

// Call is a bot call as GET /api/bots/{botId}/calls shows it.
type Call struct {
	ID                string    `json:"id"`
	Caller            string    `json:"caller"`
	CallerDisplayName string    `json:"callerDisplayName,omitempty"`
	To                string    `json:"to"`
	State             string    `json:"state"`
	Keys              []string  `json:"keys"`
	Outcome           string    `json:"outcome,omitempty"`
	Target            string    `json:"target,omitempty"`
	JoinedCallID      string    `json:"joinedCallId,omitempty"`
	StartedAt         time.Time `json:"startedAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

// incomingCall is the part of IncomingCall's data that routing needs.
type incomingCall struct {
	To                  acs.CommunicationIdentifier `json:"to"`
	From                acs.CommunicationIdentifier `json:"from"`
	ServerCallID        string                      `json:"serverCallId"`
	CallerDisplayName   string                      `json:"callerDisplayName"`
	IncomingCallContext string                      `json:"incomingCallContext"`
	CorrelationID       string                      `json:"correlationId"`
}

// IncomingCall wraps the IncomingCall handler for app users (next, the push
// fan-out): a call to a bot's ACS id, or to a phone number mapped to a bot,
// is answered by the bot and never pushed.
func (s *Service) IncomingCall(next events.Handler) events.Handler {
	return func(ctx context.Context, ev events.Event) error {
		var in incomingCall
		if err := ev.DecodeData(&in); err != nil {
			return next(ctx, ev)
		}
		to := in.To.Raw()
		var key string
		switch {
		case in.To.PhoneNumber != nil || len(to) > 2 && to[:2] == "4:":
			key = "tel:" + to[2:]
		case to != "":
			key = "acs:" + to
		default:
			return next(ctx, ev)
		}
		var ix indexRow
		_, err := s.index.Get(ctx, key, botRow, &ix)
		switch {
		case errors.Is(err, store.ErrNotFound) && key[:4] == "tel:":
			s.logUnrouted(ctx, ev, in)
			return nil
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidKey):
			return next(ctx, ev)
		case err != nil:
			return err
		}
		return s.answer(ctx, ix.BotID, in)
	}
}

// logUnrouted logs an IncomingCall for a number no bot has, once per call
// however often Event Grid redelivers it; it is not answered.
func (s *Service) logUnrouted(ctx context.Context, ev events.Event, in incomingCall) {
	if _, err := s.claims.Insert(ctx, claimKey(in), "claim", claimRow{ClaimedAt: s.now().UTC()}); err == nil {
		httpapi.Logger(ctx).Warn("IncomingCall for a phone number no bot has: not answered", "eventId", ev.ID, "to", in.To.Raw(), "from", in.From.Raw())
	}
}

func claimKey(in incomingCall) string {
	id := in.ServerCallID
	if id == "" {
		id = in.CorrelationID
	}
	sum := sha256.Sum256([]byte(id))
	return "sc:" + hex.EncodeToString(sum[:])
}

// answer answers a call for a bot exactly once: the claim row names the
// bot call, and a resend of the answer carries the first attempt's
// repeatability pair, so ACS acts once even if we crashed in between.
func (s *Service) answer(ctx context.Context, botID string, in incomingCall) error {
	log := httpapi.Logger(ctx)
	if in.IncomingCallContext == "" || (in.ServerCallID == "" && in.CorrelationID == "") {
		log.Error("IncomingCall for a bot without a call context: dropped", "botId", botID)
		return nil
	}
	b, err := s.Get(ctx, botID)
	if err != nil {
		log.Warn("IncomingCall for a bot that is gone: not answered", "botId", botID, "err", err)
		return nil
	}
	if s.opts.PublicBaseURL == "" || s.opts.Callbacks == nil {
		log.Error("a bot cannot answer: PUBLIC_BASE_URL and ACS_RESOURCE_ID are needed", "botId", botID)
		return nil
	}
	// Anyone who can reach the bot's identity or number can call it, and an
	// answered call is billed: each spends one of quota.Rings for that
	// caller and bot (a redelivery after a failed answer counts again), and
	// one of the bot's own total (the service bucket of its party,
	// QUOTA_BOT_RINGS_PER_HOUR): caller numbers can be spoofed, so the
	// pair limit alone bounds nothing.
	subject, spend, err := fanout.RingSubject(ctx, s.opts.Callers, in.From.Raw(), in.To.Raw())
	if err != nil {
		return fmt.Errorf("rings quota: caller: %w", err)
	}
	if spend {
		err := s.limits.Take(ctx, subject, quota.Cost{Quota: quota.Rings, N: 1})
		if quota.IsRateLimited(err) {
			log.Warn("IncomingCall for a bot not answered: the caller is over the rings quota", "botId", botID, "caller", in.From.Raw())
			return nil
		}
		if err != nil {
			return fmt.Errorf("rings quota: %w", err)
		}
	}
	err = s.limits.Take(ctx, botSubject(botID), quota.Cost{Quota: quota.Rings, N: 1})
	if quota.IsRateLimited(err) {
		log.Warn("IncomingCall for a bot not answered: the bot is over its rings quota", "botId", botID, "caller", in.From.Raw())
		return nil
	}
	if err != nil {
		return fmt.Errorf("bot rings quota: %w", err)
	}
	claim := claimRow{BotID: botID, CallID: uuid.NewString(), ClaimedAt: s.now().UTC()}
	ck := claimKey(in)
	if _, err := s.claims.Insert(ctx, ck, "claim", claim); errors.Is(err, store.ErrConflict) {
		if _, err := s.claims.Get(ctx, ck, "claim", &claim); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	now := s.now().UTC()
	secret, hash := calls.NewCallbackSecret()
	c := callRow{Caller: in.From.Raw(), CallerName: in.CallerDisplayName, To: in.To.Raw(), ServerCallID: in.ServerCallID, CorrelationID: in.CorrelationID,
		SecretHash: hash, RepeatID: uuid.NewString(), FirstSent: now, State: "ringing", Step: stepAnswer, StartedAt: now, UpdatedAt: now}
	if _, err := s.calls.Insert(ctx, botID, claim.CallID, c); errors.Is(err, store.ErrConflict) {
		// A redelivery: answer again only if the first attempt did not get through.
		if _, err := s.calls.Get(ctx, botID, claim.CallID, &c); err != nil {
			return err
		}
		if c.Answered || c.Outcome != "" {
			return nil
		}
		if now.Sub(c.StartedAt) > 4*time.Minute {
			return s.update(ctx, botID, claim.CallID, func(c *callRow) bool { c.State, c.Outcome = "ended", OutcomeAnswerFailed; return true })
		}
		inFlight := func(r *callRow) bool { return !r.AnswerDone && now.Sub(r.FirstSent) < answerInFlight }
		if inFlight(&c) {
			return errAnswerInFlight // Event Grid redelivers
		}
		// A fresh secret (the first is not kept in clear), accepted beside
		// the first: ACS keeps the first callback URI if that answer got
		// through. Its body differs (the callback URI), so it is a request of
		// its own: a new repeatability id and first-sent (ACS refuses a
		// different body under a tracked id with 400, and a first-sent older
		// than 5 minutes with 412).
		secret, hash = calls.NewCallbackSecret()
		repeatID := uuid.NewString()
		busy := false
		if err := s.update(ctx, botID, claim.CallID, func(r *callRow) bool {
			// Another redelivery took over, or the call was answered, meanwhile.
			if busy = r.Answered || r.Outcome != "" || inFlight(r); busy {
				return false
			}
			r.SecretHash += "," + hash
			r.RepeatID, r.FirstSent, r.AnswerDone = repeatID, now, false
			return true
		}); err != nil {
			return err
		}
		if busy {
			return errAnswerInFlight
		}
		c.RepeatID, c.FirstSent = repeatID, now
	} else if err != nil {
		return err
	}
	cc, err := s.acs.AnswerCall(ctx, acs.AnswerCallOptions{
		IncomingCallContext:       in.IncomingCallContext,
		CallbackURI:               s.callbackURL(botID, claim.CallID, secret),
		OperationContext:          opContext(claim.CallID, 0, stepAnswer),
		CognitiveServicesEndpoint: s.cognitive(b.Config),
		RepeatabilityID:           c.RepeatID,
		FirstSent:                 c.FirstSent,
	})
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests {
		log.Warn("ACS refused to answer a bot call", "botId", botID, "callId", claim.CallID, "status", re.StatusCode, "code", re.ErrorCode)
		// A refused attempt does not end a call another attempt answered.
		mine := c.RepeatID
		return s.update(ctx, botID, claim.CallID, func(c *callRow) bool {
			if c.Answered || c.CallConnectionID != "" || c.RepeatID != mine {
				return false
			}
			c.State, c.Outcome = "ended", OutcomeAnswerFailed
			return true
		})
	}
	if err != nil {
		// This attempt is over: a redelivery may try again at once.
		mine := c.RepeatID
		_ = s.update(ctx, botID, claim.CallID, func(c *callRow) bool {
			if c.RepeatID != mine || c.Answered {
				return false
			}
			c.AnswerDone = true
			return true
		})
		return fmt.Errorf("answer bot call: %w", err) // Event Grid redelivers
	}
	log.Info("bot answered a call", "botId", botID, "callId", claim.CallID, "callConnectionId", cc.ID)
	return s.update(ctx, botID, claim.CallID, func(c *callRow) bool {
		c.Answered = true
		if c.CallConnectionID == "" {
			c.CallConnectionID = cc.ID
		}
		return true
	})
}

func (s *Service) cognitive(c Config) string {
	if c.CognitiveServicesEndpoint != "" {
		return c.CognitiveServicesEndpoint
	}
	return s.opts.CognitiveServicesEndpoint
}

func (s *Service) callbackURL(botID, callID, secret string) string {
	return s.opts.PublicBaseURL + "/api/botcallbacks/" + botID + "/" + callID + "?sig=" + url.QueryEscape(secret)
}

func opContext(callID string, seq int, step string) string {
	return fmt.Sprintf("%s/%d/%s", callID, seq, step)
}

// update applies f to a call row under its ETag, re-reading on a conflict;
// f returns false to write nothing.
func (s *Service) update(ctx context.Context, botID, callID string, f func(*callRow) bool) error {
	for range 8 {
		var c callRow
		etag, err := s.calls.Get(ctx, botID, callID, &c)
		if err != nil {
			return err
		}
		if !f(&c) {
			return nil
		}
		c.UpdatedAt = s.now().UTC()
		if _, err = s.calls.Replace(ctx, botID, callID, c, etag); !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return fmt.Errorf("bot call %s kept changing: %w", callID, store.ErrPreconditionFailed)
}

// Callback handles POST /api/botcallbacks/{botId}/{callId}?sig=<secret>:
// the per-call secret and ACS's JWT both check out before anything changes.
func (s *Service) Callback(ctx context.Context, r *http.Request, botID, callID string) error {
	var c callRow
	found := CheckID(botID) == nil && uuid.Validate(callID) == nil
	if found {
		if _, err := s.calls.Get(ctx, botID, callID, &c); errors.Is(err, store.ErrNotFound) {
			found = false
		} else if err != nil {
			return store.ProblemFor(err)
		}
	}
	// An unknown call gets the answer a wrong secret gets.
	if !found || !secretMatches(c.SecretHash, r.URL.Query().Get("sig")) {
		return httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, "the callback's secret does not match its call")
	}
	evs, err := s.opts.Callbacks.Events(ctx, r)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		// A connect action's connection reports here too: it is known once
		// ConnectCall answered or its CallConnected came, and expected while
		// the bot connects. A CallConnected of a connection the call moved
		// past (only a connect makes one with this call's secret) goes on
		// too: the bot hangs it up rather than staying in the space's call;
		// so does its CallDisconnected then, which changes nothing.
		other := ev.Data.CallConnectionID != "" && (ev.Data.CallConnectionID == c.MoveConnectionID || (c.MoveConnectionID == "" && c.Step == stepConnect) ||
			ev.Type == acs.EventCallConnected || ev.Type == acs.EventCallDisconnected)
		if c.CallConnectionID != "" && ev.Data.CallConnectionID != c.CallConnectionID && !other {
			return httpapi.NewProblem(http.StatusBadRequest, "invalid-event", "the event is about another call connection")
		}
		if ev.Type == acs.EventRecordingStateChanged && c.JoinedCall != "" && s.opts.Calls != nil {
			// The call is recorded through this bot's connection.
			if err := s.opts.Calls.RecordingStateChanged(ctx, c.JoinedCall, ev); err != nil {
				return store.ProblemFor(err)
			}
			continue
		}
		if err := s.apply(ctx, botID, callID, ev); err != nil {
			return store.ProblemFor(err)
		}
	}
	return nil
}

// action is what apply decided to ask ACS for after the state was written.
type action struct {
	kind     string // play, recognize, transfer, connect, move, hangup
	conn     string
	opCtx    string
	source   PlaySource
	caller   string
	transfer Transfer
	// connect: the group call and the callback URI of the new connection;
	// move: the connection moved into (into) and the bot's own (conn).
	groupCallID, callback, into string
	// leave is a connection the bot hangs up first (its connection to a space call).
	leave string
}

// apply advances a bot call by one event, then takes the one ACS action
// the new step needs. The write comes first: of two deliveries of one
// event, only the one whose write lands acts.
func (s *Service) apply(ctx context.Context, botID, callID string, ev acs.CallbackEvent) error {
	b, err := s.Get(ctx, botID)
	if err != nil {
		b = Bot{} // a deleted bot's calls still end cleanly
	}
	act, err := s.advance(ctx, b, botID, callID, ev)
	if err != nil || act == nil {
		return err
	}
	connID, err := s.act(ctx, b, *act)
	if err == nil {
		if act.kind == "connect" {
			return s.connected(ctx, botID, callID, *act, connID)
		}
		return nil
	}
	log := httpapi.Logger(ctx)
	log.Warn("bot action failed", "botId", botID, "callId", callID, "action", act.kind, "err", err)
	if fail, ok := failureOf(*act); ok {
		// The connect, move or transfer failed at once: as when it fails
		// later, the caller hears the goodbye (or is hung up) and the bot
		// leaves the space's call, rather than the caller waiting in silence.
		next, err := s.advance(ctx, b, botID, callID, fail)
		if err != nil || next == nil {
			return err
		}
		if _, err := s.act(ctx, b, *next); err == nil {
			return nil
		} else if next.kind != "hangup" {
			log.Warn("bot action failed: hanging up", "botId", botID, "callId", callID, "action", next.kind, "err", err)
			if _, err := s.act(ctx, b, action{kind: "hangup", conn: next.conn}); err != nil {
				log.Warn("bot hang-up failed", "botId", botID, "callId", callID, "err", err)
			}
		}
	}
	return s.update(ctx, botID, callID, func(c *callRow) bool {
		if c.Outcome != "" {
			return false
		}
		c.Outcome, c.Step = OutcomeActionFailed, stepDone
		return true
	})
}

// advance writes the transition ev makes and returns the action it needs.
func (s *Service) advance(ctx context.Context, b Bot, botID, callID string, ev acs.CallbackEvent) (*action, error) {
	var act *action
	err := s.update(ctx, botID, callID, func(c *callRow) bool {
		act = nil
		if c.CallConnectionID == "" {
			c.CallConnectionID = ev.Data.CallConnectionID
		}
		return s.transition(ctx, b, callID, c, ev, &act)
	})
	if err != nil {
		return nil, err
	}
	return act, nil
}

// botSubject is a bot's own quota bucket: the service bucket of its party
// id, which no request acts as (auth.ActingUser refuses the prefix).
func botSubject(botID string) quota.Subject {
	return quota.Subject{User: identity.BotParty(botID), Service: true}
}

// failureOf is the event a connect, move or transfer that failed at once
// (ACS refused it, or the bot is over its dials quota) stands for
// (ConnectFailed, MoveParticipantFailed, CallTransferFailed); other actions
// have none.
func failureOf(a action) (acs.CallbackEvent, bool) {
	switch a.kind {
	case "transfer":
		return acs.CallbackEvent{Type: acs.EventCallTransferFailed, Data: acs.CallEventData{CallConnectionID: a.conn, OperationContext: a.opCtx}}, true
	case "connect":
		return acs.CallbackEvent{Type: acs.EventConnectFailed, Data: acs.CallEventData{OperationContext: a.opCtx}}, true
	case "move":
		return acs.CallbackEvent{Type: acs.EventMoveParticipantFailed, Data: acs.CallEventData{CallConnectionID: a.into, OperationContext: a.opCtx}}, true
	}
	return acs.CallbackEvent{}, false
}

// connected records the connection a connect action made (ConnectCall's
// answer) as the call's MoveConnectionID, so the caller leaving before its
// CallConnected hangs it up. When the call has moved past that connect
// (the caller left, the connect failed) the bot hangs the connection up.
func (s *Service) connected(ctx context.Context, botID, callID string, a action, connID string) error {
	if connID == "" {
		return nil
	}
	stale := false
	err := s.update(ctx, botID, callID, func(c *callRow) bool {
		stale = false
		switch {
		case c.Outcome == "" && c.Step == stepConnect && a.opCtx == opContext(callID, c.Seq, stepConnect):
			if c.MoveConnectionID == connID {
				return false
			}
			c.MoveConnectionID = connID
			return true
		case c.Outcome == "" && c.Step == stepMove && c.MoveConnectionID == connID:
			return false // its CallConnected came first: the move is under way
		}
		stale = true
		return false
	})
	if err != nil {
		return err
	}
	if stale {
		httpapi.Logger(ctx).Info("a bot's connection to a space call is stale: hanging it up", "botId", botID, "callId", callID, "callConnectionId", connID)
		if _, err := s.act(ctx, Bot{}, action{kind: "hangup", conn: connID}); err != nil {
			return err
		}
	}
	return nil
}

// current reports whether ev completes the call's current step.
func current(callID string, c *callRow, ev acs.CallbackEvent, step string) bool {
	return c.Step == step && ev.Data.OperationContext == opContext(callID, c.Seq, step)
}

// transition is the bot's menu as a state machine; it sets *act to the
// ACS action the new state needs and reports whether anything changed.
func (s *Service) transition(ctx context.Context, b Bot, callID string, c *callRow, ev acs.CallbackEvent, act **action) bool {
	next := func(step string, a action) {
		c.Seq++
		c.Step = step
		a.conn, a.opCtx, a.caller = c.CallConnectionID, opContext(callID, c.Seq, step), c.Caller
		if c.JoinedCall != "" {
			a.caller = "" // a joined bot plays to everyone
		}
		*act = &a
	}
	greet := func() {
		if b.Greeting == nil {
			next(stepDone, action{kind: "hangup"})
			return
		}
		next(stepGreeting, action{kind: "play", source: *b.Greeting})
	}
	fallback := func() {
		c.Attempts++
		if c.Attempts <= b.Fallback.retries() {
			greet()
			return
		}
		if b.Fallback != nil && b.Fallback.Goodbye != nil {
			next(stepGoodbye, action{kind: "play", source: *b.Fallback.Goodbye})
			return
		}
		c.Outcome = OutcomeHungUp
		next(stepDone, action{kind: "hangup"})
	}
	// leaveSpace ends the bot's connection to a space call (if any) before the next action.
	leaveSpace := func() {
		if *act != nil && c.MoveConnectionID != "" {
			(*act).leave = c.MoveConnectionID
		}
	}
	moveFailed := func() {
		c.Outcome = OutcomeMoveFailed
		if b.Fallback != nil && b.Fallback.Goodbye != nil {
			next(stepGoodbye, action{kind: "play", source: *b.Fallback.Goodbye})
		} else {
			next(stepDone, action{kind: "hangup"})
		}
		leaveSpace()
	}
	switch ev.Type {
	case acs.EventCallConnected:
		if conn := ev.Data.CallConnectionID; conn != c.CallConnectionID {
			// A connection a connect action made.
			if current(callID, c, ev, stepConnect) && c.Outcome == "" && (c.MoveConnectionID == "" || c.MoveConnectionID == conn) {
				// The bot is in the space's call: move the caller there.
				c.MoveConnectionID = conn
				next(stepMove, action{kind: "move", into: conn})
				return true
			}
			if c.Step == stepMove && c.Outcome == "" && c.MoveConnectionID == conn {
				return false // a redelivery: the move is under way
			}
			// The call moved past it (the caller left, the connect failed
			// or timed out): the bot leaves rather than stay in the space's call.
			*act = &action{kind: "hangup", conn: conn}
			return false
		}
		if c.Step != stepAnswer {
			return false
		}
		c.State = "connected"
		greet()
	case acs.EventConnectFailed:
		if !current(callID, c, ev, stepConnect) {
			return false
		}
		moveFailed()
	case acs.EventMoveParticipantSucceeded:
		if !current(callID, c, ev, stepMove) {
			return false
		}
		// The caller is in the space's call: the bot leaves both calls.
		c.Outcome = OutcomeMoved
		next(stepDone, action{kind: "hangup"})
		leaveSpace()
	case acs.EventMoveParticipantFailed:
		if !current(callID, c, ev, stepMove) {
			return false
		}
		moveFailed()
	case acs.EventPlayCompleted, acs.EventPlayFailed:
		switch {
		case current(callID, c, ev, stepGreeting) && c.JoinedCall != "":
			if c.Stay {
				c.Step = stepDone
			} else {
				c.Outcome = OutcomeAnnounced
				next(stepDone, action{kind: "hangup"})
			}
		case current(callID, c, ev, stepGreeting):
			next(stepMenu, action{kind: "recognize"})
		case current(callID, c, ev, stepPlay):
			if key := lastKey(c.Keys); b.Menu[key].Then == "menu" {
				greet()
			} else {
				c.Outcome = OutcomeHungUp
				next(stepDone, action{kind: "hangup"})
			}
		case current(callID, c, ev, stepGoodbye):
			c.Outcome = OutcomeHungUp
			next(stepDone, action{kind: "hangup"})
		default:
			return false
		}
	case acs.EventRecognizeCompleted:
		if !current(callID, c, ev, stepMenu) {
			return false
		}
		keys, err := ev.DTMFTones()
		if err != nil || len(keys) == 0 {
			fallback()
			return true
		}
		key := keys[0]
		c.Keys = appendKey(c.Keys, key)
		a, ok := b.Menu[key]
		switch {
		case !ok:
			fallback()
		case a.Transfer != nil:
			next(stepTransfer, action{kind: "transfer", transfer: *a.Transfer})
			c.Target = transferTarget(*a.Transfer)
		case a.Connect != nil:
			group := s.spaceCall(ctx, a.Connect.SpaceID)
			if group == "" {
				// Nobody is there: as for a key the menu lacks, the menu replays.
				fallback()
				break
			}
			// The new connection's callbacks come here, with a secret of their own.
			secret, hash := calls.NewCallbackSecret()
			c.SecretHash += "," + hash
			c.Target = "space:" + a.Connect.SpaceID
			next(stepConnect, action{kind: "connect", groupCallID: group, callback: s.callbackURL(b.ID, callID, secret)})
		case a.Play != nil:
			next(stepPlay, action{kind: "play", source: *a.Play})
		default: // repeat
			greet()
		}
	case acs.EventRecognizeFailed:
		if !current(callID, c, ev, stepMenu) {
			return false
		}
		fallback()
	case acs.EventCallTransferAccepted:
		if !current(callID, c, ev, stepTransfer) {
			return false
		}
		c.Outcome, c.Step = OutcomeTransferred, stepDone
	case acs.EventCallTransferFailed:
		if !current(callID, c, ev, stepTransfer) {
			return false
		}
		c.Outcome = OutcomeTransferFailed
		if b.Fallback != nil && b.Fallback.Goodbye != nil {
			next(stepGoodbye, action{kind: "play", source: *b.Fallback.Goodbye})
		} else {
			next(stepDone, action{kind: "hangup"})
		}
	case acs.EventCallDisconnected:
		if conn := ev.Data.CallConnectionID; conn != "" && conn != c.CallConnectionID {
			// The bot's connection to the space call ended: before the move
			// completed, the move failed. Any other connection's end changes nothing.
			mine := conn == c.MoveConnectionID || (c.MoveConnectionID == "" && c.Step == stepConnect)
			if !mine || c.Outcome != "" || (c.Step != stepConnect && c.Step != stepMove) {
				return false
			}
			c.MoveConnectionID = ""
			moveFailed()
			return true
		}
		// Only the end of the caller's call (the bot's first connection) means the caller left.
		if c.State == "ended" {
			return false
		}
		switch {
		case c.Step == stepMove && c.Outcome == "":
			// The caller was moved out of the bot's call, which then ends;
			// this may come before MoveParticipantSucceeded, which then
			// matches no step. The bot leaves the space's call.
			c.Outcome = OutcomeMoved
			next(stepDone, action{kind: "hangup"})
			(*act).conn = c.MoveConnectionID
		case c.MoveConnectionID != "" && c.Outcome == "":
			// The caller left while the bot was connecting: it leaves the space call.
			next(stepDone, action{kind: "hangup"})
			(*act).conn = c.MoveConnectionID
		}
		c.State, c.Step = "ended", stepDone
		if c.Outcome == "" {
			c.Outcome = OutcomeCallerLeft
		}
	default:
		return false
	}
	return true
}

func transferTarget(t Transfer) string {
	if t.UserID != "" {
		return "user:" + t.UserID
	}
	return "tel:" + t.PhoneNumber
}

// spaceCall is the group call shared in a space now; "" when there is none
// (or it cannot be read now: the caller hears the menu again).
func (s *Service) spaceCall(ctx context.Context, spaceID string) string {
	if s.opts.Spaces == nil {
		return ""
	}
	group, err := s.opts.Spaces.CurrentCall(ctx, spaceID)
	if err != nil {
		httpapi.Logger(ctx).Warn("a bot's connect action found no space call", "spaceId", spaceID, "err", err)
		return ""
	}
	return group
}

// Mover is what a connect action needs from Call Automation.
type Mover interface {
	Connector
	MoveParticipants(ctx context.Context, callConnectionID string, opts acs.MoveParticipantsOptions) error
}

// act asks ACS for one action; a connect answers the new connection's id.
func (s *Service) act(ctx context.Context, b Bot, a action) (string, error) {
	if a.conn == "" {
		return "", errors.New("no call connection id yet")
	}
	if a.leave != "" {
		if err := s.acs.HangUp(ctx, a.leave); err != nil && !acs.IsNotFound(err) {
			httpapi.Logger(ctx).Warn("a bot did not leave a space call", "callConnectionId", a.leave, "err", err)
		}
	}
	switch a.kind {
	case "connect", "move":
		mv, ok := s.acs.(Mover)
		if !ok {
			return "", errors.New("this ACS client cannot move participants")
		}
		if a.kind == "connect" {
			cc, err := mv.ConnectCall(ctx, acs.ConnectOptions{Locator: acs.CallLocator{GroupCallID: a.groupCallID}, CallbackURI: a.callback,
				OperationContext: a.opCtx, CognitiveServicesEndpoint: s.cognitive(b.Config)})
			return cc.ID, err
		}
		caller, err := acs.ParseRawID(a.caller)
		if err != nil {
			return "", err
		}
		return "", mv.MoveParticipants(ctx, a.into, acs.MoveParticipantsOptions{Participants: []acs.CommunicationIdentifier{caller}, FromCall: a.conn, OperationContext: a.opCtx})
	case "play":
		var to []acs.CommunicationIdentifier
		if a.caller != "" {
			caller, err := acs.ParseRawID(a.caller)
			if err != nil {
				return "", err
			}
			to = append(to, caller)
		}
		return "", s.acs.Play(ctx, a.conn, acs.PlayOptions{Sources: []acs.PlaySource{a.source.acs()}, PlayTo: to, OperationContext: a.opCtx})
	case "recognize":
		caller, err := acs.ParseRawID(a.caller)
		if err != nil {
			return "", err
		}
		return "", s.acs.RecognizeDTMF(ctx, a.conn, acs.RecognizeDTMFOptions{Target: caller, MaxTones: 1, InitialSilenceTimeout: 10 * time.Second,
			InterToneTimeout: 2 * time.Second, OperationContext: a.opCtx})
	case "transfer":
		target := acs.PhoneIdentifier(a.transfer.PhoneNumber)
		if a.transfer.UserID == "" {
			// A transfer to a phone number is billed PSTN minutes: each
			// spends one of the bot's own dials (QUOTA_SERVICE_DIALS_PER_DAY),
			// whoever called.
			if err := s.limits.Take(ctx, botSubject(b.ID), quota.Cost{Quota: quota.Dials, N: 1}); err != nil {
				return "", fmt.Errorf("bot dials quota: %w", err)
			}
		}
		if a.transfer.UserID != "" {
			u, err := s.users.Profile(ctx, a.transfer.UserID)
			if err != nil {
				return "", fmt.Errorf("transfer target %s: %w", a.transfer.UserID, err)
			}
			target = acs.UserIdentifier(u.ACSUserID)
		}
		return "", s.acs.TransferToParticipant(ctx, a.conn, acs.TransferOptions{Target: target, SourceCallerID: s.opts.PSTNCallerID, OperationContext: a.opCtx})
	case "hangup":
		if err := s.acs.HangUp(ctx, a.conn); err != nil && !acs.IsNotFound(err) {
			return "", err
		}
	}
	return "", nil
}

func appendKey(keys, k string) string {
	if keys == "" {
		return k
	}
	return keys + "," + k
}

func lastKey(keys string) string {
	if keys == "" {
		return ""
	}
	return keys[len(keys)-1:]
}

func splitKeys(keys string) []string {
	out := []string{}
	for i := 0; i < len(keys); i += 2 {
		out = append(out, keys[i:i+1])
	}
	return out
}

// Calls returns a bot's recent calls, newest first (at most 100).
func (s *Service) Calls(ctx context.Context, botID string) ([]Call, error) {
	if _, err := s.Get(ctx, botID); err != nil {
		return nil, err
	}
	out := []Call{}
	err := s.calls.QueryPartition(ctx, botID, func(rk string, decode func(any) error) error {
		var c callRow
		if err := decode(&c); err != nil {
			return err
		}
		out = append(out, c.view(rk))
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	slices.SortFunc(out, func(a, b Call) int { return b.StartedAt.Compare(a.StartedAt) })
	if len(out) > 100 {
		out = out[:100]
	}
	return out, nil
}

// secretMatches checks secret against the comma-separated hashes a call accepts.
func secretMatches(hashes, secret string) bool {
	ok := false
	for _, h := range strings.Split(hashes, ",") {
		ok = calls.CallbackSecretMatches(h, secret) || ok
	}
	return ok
}
