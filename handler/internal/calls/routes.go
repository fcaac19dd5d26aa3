package calls

import (
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

const requestTimeout = 25 * time.Second

// Routes registers the call routes behind authentication.
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service) {
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request, userID string) error) {
		rt.Handle(pattern, authn.UserHandler(requestTimeout, f))
	}
	handle("POST /api/calls", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req CreateRequest
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
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

// isService reports whether the caller is a service (AUTH_SERVICE_ROLE).
func isService(r *http.Request) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Service
}
