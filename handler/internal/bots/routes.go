package bots

import (
	"context"
	"net/http"
	"strings"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

const requestTimeout = 25 * time.Second

// Routes registers the bot routes: service callers only (AUTH_SERVICE_ROLE);
// end users get 403.
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service) {
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		rt.Handle(pattern, authn.Require(httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if p, ok := auth.FromContext(r.Context()); !ok || !p.Service {
				return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "bots are managed by service callers only")
			}
			if err := s.configured(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
			defer cancel()
			return f(w, r.WithContext(ctx))
		})))
	}
	handle("PUT /api/bots/{botId}", func(w http.ResponseWriter, r *http.Request) error {
		var c Config
		if err := httpapi.DecodeJSON(r, &c, false); err != nil {
			return err
		}
		b, created, err := s.Put(r.Context(), r.PathValue("botId"), c)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "/api/bots/"+b.ID)
		}
		httpapi.WriteJSON(w, status, b)
		return nil
	})
	handle("GET /api/bots/{botId}", func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.Get(r.Context(), r.PathValue("botId"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, b)
		return nil
	})
	handle("DELETE /api/bots/{botId}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.Delete(r.Context(), r.PathValue("botId")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	handle("GET /api/bots", func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.List(r.Context())
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
		return nil
	})
	handle("GET /api/bots/{botId}/calls", func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.Calls(r.Context(), r.PathValue("botId"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
		return nil
	})
}

// configured answers 501 naming the setting a bot cannot answer calls without.
func (s *Service) configured() error {
	switch {
	case s.opts.PublicBaseURL == "":
		return httpapi.NotConfigured("bots (Call Automation callbacks)", "PUBLIC_BASE_URL")
	case s.opts.Callbacks == nil:
		return httpapi.NotConfigured("bots (verifying Call Automation callbacks)", "ACS_RESOURCE_ID")
	}
	return nil
}

// CallbackRoute registers POST /api/botcallbacks/{botId}/{callId}: no user
// token; the per-call secret and ACS's signature authenticate it.
func CallbackRoute(rt *httpapi.Router, s *Service) {
	rt.Handle("POST /api/botcallbacks/{botId}/{callId}", httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := s.Callback(ctx, r.WithContext(ctx), r.PathValue("botId"), strings.TrimSpace(r.PathValue("callId"))); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}))
}
