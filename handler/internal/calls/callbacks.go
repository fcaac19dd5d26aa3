package calls

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/publish"
	"switchboard/handler/internal/store"
)

// CallbackAuth verifies the JWT ACS signs each Call Automation callback
// with. The OpenID configuration is read on first use (and again after a
// failure), so the handler starts without reaching ACS.
type CallbackAuth struct {
	configURL, audience string

	mu       sync.Mutex
	verifier *acs.CallbackVerifier
	lastErr  error
	lastTry  time.Time
}

// NewCallbackAuth verifies tokens for audience (ACS_RESOURCE_ID) against the
// OpenID configuration at configURL (ACS_CALLBACK_OIDC_CONFIG).
func NewCallbackAuth(configURL, audience string) *CallbackAuth {
	return &CallbackAuth{configURL: configURL, audience: audience}
}

func (a *CallbackAuth) get(ctx context.Context) (*acs.CallbackVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		return a.verifier, nil
	}
	if a.lastErr != nil && time.Since(a.lastTry) < 5*time.Second {
		return nil, a.lastErr
	}
	a.lastTry = time.Now()
	v, err := acs.NewCallbackVerifier(ctx, context.Background(), a.configURL, a.audience, nil)
	if err != nil {
		a.lastErr = err
		return nil, err
	}
	a.verifier, a.lastErr = v, nil
	return v, nil
}

// Verify checks the ACS-signed JWT of a callback request (a nil a answers
// 501: ACS_RESOURCE_ID is not set). Other capabilities with their own
// callback routes (bots) verify through it too.
func (a *CallbackAuth) Verify(ctx context.Context, r *http.Request) error {
	if a == nil {
		return httpapi.NotConfigured("Call Automation callbacks", "ACS_RESOURCE_ID")
	}
	v, err := a.get(ctx)
	if err != nil {
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable, "the ACS callback signing keys cannot be read now").WithCause(err)
		p.RetryAfter = 5
		return p
	}
	if err := v.VerifyRequest(r); err != nil {
		return httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, "the callback is not signed by Azure Communication Services for this resource").
			WithCause(err).WithHeader("WWW-Authenticate", `Bearer realm="switchboard-callbacks"`)
	}
	return nil
}

// Events verifies a callback's JWT (Verify) and reads its events; a body
// that is not a batch of Call Automation events is a 400 invalid-event.
func (a *CallbackAuth) Events(ctx context.Context, r *http.Request) ([]acs.CallbackEvent, error) {
	if err := a.Verify(ctx, r); err != nil {
		return nil, err
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return nil, err
	}
	evs, err := acs.ParseCallbackEvents(body)
	if err != nil {
		return nil, httpapi.NewProblem(http.StatusBadRequest, "invalid-event", err.Error())
	}
	return evs, nil
}

// NewCallbackSecret makes a per-call callback secret and the hash to keep of it.
func NewCallbackSecret() (secret, hash string) {
	secret = newSecret()
	return secret, hashSecret(secret)
}

// CallbackSecretMatches checks secret against a kept hash in constant time.
func CallbackSecretMatches(hash, secret string) bool {
	return hash != "" && subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(hash)) == 1
}

// Callback handles POST /api/callbacks/{id}?sig=<secret>: the per-call secret
// and the ACS-signed JWT must both check out before anything changes.
func (s *Service) Callback(ctx context.Context, r *http.Request, id string) error {
	// A missing call gets the answer a wrong secret gets: callbacks must
	// not tell which call ids exist.
	c, _, _, _, err := s.load(ctx, id)
	var prob *httpapi.Problem
	if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
		c, err = call{}, nil
	}
	if err != nil {
		return err
	}
	if !CallbackSecretMatches(c.SecretHash, r.URL.Query().Get("sig")) {
		return httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, "the callback's secret does not match its call")
	}
	evs, err := s.opts.Callbacks.Events(ctx, r)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Data.CallConnectionID != "" && c.CallConnectionID != "" && ev.Data.CallConnectionID != c.CallConnectionID {
			return httpapi.NewProblem(http.StatusBadRequest, "invalid-event", "the event is about another call connection")
		}
		if err := s.applyCallback(ctx, id, ev); err != nil {
			return store.ProblemFor(err)
		}
	}
	return nil
}

// applyCallback updates state and roster from one mid-call event. Every
// update is ordered by (event time, event id), so shuffled and repeated
// callbacks converge to the same roster.
func (s *Service) applyCallback(ctx context.Context, id string, ev acs.CallbackEvent) error {
	switch ev.Type {
	case acs.EventCallConnected:
		return s.setCallState(ctx, id, "active", ev.Time, ev.ID)
	case acs.EventCallDisconnected:
		return s.setCallState(ctx, id, "ended", ev.Time, ev.ID)
	case acs.EventParticipantsUpdated:
		present := map[string]bool{}
		for _, p := range ev.Data.Participants {
			raw := p.Identifier.Raw()
			if raw == "" {
				continue
			}
			present[raw] = true
			if err := s.applyParticipant(ctx, id, raw, "", "joined", ev.Time, ev.ID); err != nil {
				return err
			}
		}
		// Everyone this snapshot does not list has left, as of its time.
		_, _, _, parts, err := s.load(ctx, id)
		if err != nil {
			return err
		}
		for raw := range parts {
			if !present[raw] {
				if err := s.applyParticipant(ctx, id, raw, "", "left", ev.Time, ev.ID); err != nil {
					return err
				}
			}
		}
		return nil
	case acs.EventRecordingStateChanged:
		return s.RecordingStateChanged(ctx, id, ev)
	case acs.EventAddParticipantFailed:
		httpapi.Logger(ctx).Info("participant could not be added", "callId", id, "participant", participantOf(ev))
	}
	return nil
}

func participantOf(ev acs.CallbackEvent) string {
	if ev.Data.Participant == nil {
		return ""
	}
	return ev.Data.Participant.Raw()
}

// errChanging reports a row that kept changing under concurrent events.
var errChanging = errors.New("kept changing while applying an event")

func (s *Service) setCallState(ctx context.Context, id, state string, at time.Time, eventID string) error {
	for range 5 {
		var c call
		etag, err := s.calls.Get(ctx, id, callRow, &c)
		if err != nil {
			return err
		}
		if !later(at, eventID, c.StateAt, c.StateEvent) {
			return nil // an older or repeated event
		}
		changed := c.State != state
		c.State, c.StateAt, c.StateEvent = state, at, eventID
		_, err = s.calls.Replace(ctx, id, callRow, c, etag)
		if err == nil && changed && state == "ended" {
			s.pub.Publish(ctx, publish.CallEnded, "calls/"+id, map[string]any{"callId": id})
		}
		if !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return fmt.Errorf("call %s %w", id, errChanging)
}

// CallbackRoute registers POST /api/callbacks/{id}: no user token; the
// per-call secret and ACS's signature authenticate it.
func CallbackRoute(rt *httpapi.Router, s *Service) {
	rt.Handle("POST /api/callbacks/{id}", httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := s.Callback(ctx, r.WithContext(ctx), strings.TrimSpace(r.PathValue("id"))); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}))
}
