package calls

import (
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
)

const requestTimeout = 25 * time.Second

// Routes registers the call routes behind authentication. Creating a call
// and inviting spend quotas (quota.Calls, quota.Invites, quota.Dials), and
// phone numbers must pass the PSTN policy, before the service is asked. A
// Teams meeting also spends one of the app-wide bound (app, subject
// AppTeamsSubject: Graph allows 2000 meetings per organizer per month, and
// the app is one organizer), after the creator's own quotas, so a user over
// theirs cannot drain it; app may be nil (no app-wide bound).
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits, app *quota.Limiter) {
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request, userID string) error) {
		rt.Handle(pattern, authn.UserHandler(requestTimeout, f))
	}
	handle("POST /api/calls", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req CreateRequest
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		// Only dial calls take phone numbers; for other kinds Create says so (400).
		if req.Kind == KindDial {
			p, _ := auth.FromContext(r.Context())
			if err := s.opts.PSTN.Check(p, req.PhoneNumbers); err != nil {
				return err
			}
		}
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), createCosts(userID, req)...); err != nil {
			return err
		}
		if req.Kind == KindTeams && app != nil && s.teams != nil {
			if err := app.Take(r.Context(), AppTeamsSubject, quota.Cost{Quota: quota.TeamsMeetings, N: 1}); err != nil {
				return err
			}
		}
		c, err := s.Create(r.Context(), userID, isService(r), req)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/calls/"+c.ID)
		httpapi.WriteJSON(w, http.StatusCreated, c)
		return nil
	})
	handle("GET /api/calls/{id}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		c, err := s.Get(r.Context(), userID, r.PathValue("id"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, c)
		return nil
	})
	handle("POST /api/calls/{id}/invites", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req struct {
			Invitees []string `json:"invitees"`
		}
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		invites := quota.Cost{Quota: quota.Invites, N: countInvitees(userID, req.Invitees)}
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), invites); err != nil {
			return err
		}
		c, err := s.Invite(r.Context(), userID, isService(r), r.PathValue("id"), req.Invitees)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, c)
		return nil
	})
	handle("DELETE /api/calls/{id}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := s.End(r.Context(), userID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// AppTeamsSubject is the app-wide bucket of Teams meetings
// (QUOTA_APP_TEAMS_MEETINGS_PER_DAY), whoever creates them.
var AppTeamsSubject = quota.Other("app:teams")

// isService reports whether the caller is a service (AUTH_SERVICE_ROLE).
func isService(r *http.Request) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Service
}

// createCosts is what creating a call spends: one call, one invitation per
// invitee, for a dial call one dial per phone number (at least one: the
// Call Automation call itself), and for a Teams call one Teams meeting.
func createCosts(creator string, req CreateRequest) []quota.Cost {
	costs := []quota.Cost{{Quota: quota.Calls, N: 1}, {Quota: quota.Invites, N: countInvitees(creator, req.Invitees)}}
	switch req.Kind {
	case KindDial:
		costs = append(costs, quota.Cost{Quota: quota.Dials, N: max(1, len(req.PhoneNumbers))})
	case KindTeams:
		costs = append(costs, quota.Cost{Quota: quota.TeamsMeetings, N: 1})
	}
	return costs
}

// countInvitees counts distinct invitees other than the creator, as the
// service invites them.
func countInvitees(creator string, ids []string) int {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != creator {
			seen[id] = true
		}
	}
	return len(seen)
}
