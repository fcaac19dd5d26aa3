package guests

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

const requestTimeout = 25 * time.Second

// Routes registers POST /api/calls/{id}/guests (the call's creator, signed
// in) and POST /api/guest/token (anonymous: the join code is the credential).
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service) {
	rt.Handle("POST /api/calls/{id}/guests", authn.UserHandler(requestTimeout, func(w http.ResponseWriter, r *http.Request, userID string) error {
		if !s.Configured() {
			return notConfigured()
		}
		var req InviteRequest
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		p, _ := auth.FromContext(r.Context())
		c, created, err := s.Invite(r.Context(), userID, p != nil && p.Service, r.PathValue("id"), req)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		httpapi.WriteJSON(w, status, c)
		return nil
	}))
	rt.Handle("POST /api/guest/token", httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !s.Configured() {
			return notConfigured()
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		var req struct {
			Code string `json:"code"`
		}
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		tok, err := s.Exchange(r.Context(), Source(r), req.Code)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		httpapi.WriteJSON(w, http.StatusOK, tok)
		return nil
	}))
}

// Source is the client address a request came from: the last hop of
// X-Forwarded-For (the App Service front end appends the address it saw;
// earlier entries are the client's own claims), else the peer address.
func Source(r *http.Request) string {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		parts := strings.Split(xff[len(xff)-1], ",")
		if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
			if host, _, err := net.SplitHostPort(last); err == nil {
				return host
			}
			return last
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
