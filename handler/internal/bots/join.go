package bots

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// A bot joins an existing group or room call (POST /api/calls/{id}/bots)
// with Call Automation connect, plays its greeting to everyone, and leaves
// or stays until the call ends. Its connection is the one the call is
// recorded through.

// OutcomeAnnounced is a joined bot that played its greeting and left.
const OutcomeAnnounced = "announced"

// Calls is what joining needs from the calls capability.
type Calls interface {
	Joinable(ctx context.Context, actor, id string) (calls.Joinable, error)
	AttachConnection(ctx context.Context, id, callConnectionID string) error
	RecordingStateChanged(ctx context.Context, id string, ev acs.CallbackEvent) error
}

// Connector is what joining needs from Call Automation.
type Connector interface {
	ConnectCall(ctx context.Context, opts acs.ConnectOptions) (acs.CallConnection, error)
}

// JoinRequest is the body of POST /api/calls/{id}/bots.
type JoinRequest struct {
	BotID string `json:"botId"`
	// Stay keeps the bot in the call after its greeting, until the call ends.
	Stay bool `json:"stay,omitempty"`
}

// Join connects a bot to a call the actor created.
func (s *Service) Join(ctx context.Context, actor, callID string, req JoinRequest) (Call, error) {
	if s.opts.Calls == nil {
		return Call{}, httpapi.NotConfigured("bots joining calls", "ACS_CONNECTION_STRING")
	}
	conn, ok := s.acs.(Connector)
	if !ok {
		return Call{}, httpapi.NotConfigured("bots joining calls", "ACS_CONNECTION_STRING")
	}
	if req.BotID == "" {
		return Call{}, fieldProblem("botId", "required")
	}
	j, err := s.opts.Calls.Joinable(ctx, actor, callID)
	if err != nil {
		return Call{}, err
	}
	b, err := s.Get(ctx, req.BotID)
	if err != nil {
		return Call{}, fieldProblem("botId", "no bot "+req.BotID)
	}
	now := s.now().UTC()
	id := uuid.NewString()
	secret, hash := calls.NewCallbackSecret()
	c := callRow{Caller: actor, To: "call:" + callID, JoinedCall: callID, Stay: req.Stay, SecretHash: hash,
		State: "ringing", Step: stepAnswer, StartedAt: now, UpdatedAt: now}
	if _, err := s.calls.Insert(ctx, b.ID, id, c); err != nil {
		return Call{}, store.ProblemFor(err)
	}
	cc, err := conn.ConnectCall(ctx, acs.ConnectOptions{Locator: j.Locator, CallbackURI: s.callbackURL(b.ID, id, secret),
		OperationContext: opContext(id, 0, stepAnswer), CognitiveServicesEndpoint: s.cognitive(b.Config)})
	if err != nil {
		_ = s.update(ctx, b.ID, id, func(c *callRow) bool { c.State, c.Outcome = "ended", OutcomeActionFailed; return true })
		return Call{}, calls.ACSProblem(err)
	}
	if err := s.update(ctx, b.ID, id, func(c *callRow) bool {
		c.Answered = true
		if c.CallConnectionID == "" {
			c.CallConnectionID = cc.ID
		}
		return true
	}); err != nil {
		return Call{}, store.ProblemFor(err)
	}
	if err := s.opts.Calls.AttachConnection(ctx, callID, cc.ID); err != nil {
		httpapi.Logger(ctx).Warn("bot connection not recorded on the call", "callId", callID, "err", err)
	}
	var row callRow
	if _, err := s.calls.Get(ctx, b.ID, id, &row); err != nil {
		return Call{}, store.ProblemFor(err)
	}
	return row.view(id), nil
}

// JoinRoute registers POST /api/calls/{id}/bots: the call's creator adds a
// bot, which spends one of quota.CallAutomation (a billed connection).
func JoinRoute(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits *quota.Limiter) {
	rt.Handle("POST /api/calls/{id}/bots", authn.UserHandler(requestTimeout, func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := s.configured(); err != nil {
			return err
		}
		var req JoinRequest
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.CallAutomation, N: 1}); err != nil {
			return err
		}
		c, err := s.Join(r.Context(), userID, r.PathValue("id"), req)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusCreated, c)
		return nil
	}))
}
