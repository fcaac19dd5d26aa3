package spaces

import (
	"context"
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
)

const requestTimeout = 15 * time.Second

// Routes registers the space routes behind authentication. Creating a
// space spends one of quota.Spaces (each space may later cost a chat
// thread) at the route; a new invitation spends one of quota.SpaceInvites,
// in the service.
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits *quota.Limiter) {
	// Charged by the service once the cheap checks passed and only for a
	// new invitation row (an idempotent re-PUT spends nothing).
	s.UseInviteQuota(func(ctx context.Context, actor string) error {
		return limits.Take(ctx, quota.SubjectOf(ctx, actor), quota.Cost{Quota: quota.SpaceInvites, N: 1})
	})
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request, userID string) error) {
		rt.Handle(pattern, authn.UserHandler(requestTimeout, f))
	}
	handle("POST /api/spaces", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req struct {
			Name string `json:"name"`
		}
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.Spaces, N: 1}); err != nil {
			return err
		}
		sp, err := s.Create(r.Context(), userID, req.Name)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/spaces/"+sp.ID)
		httpapi.WriteJSON(w, http.StatusCreated, sp)
		return nil
	})
	handle("GET /api/spaces", func(w http.ResponseWriter, r *http.Request, userID string) error {
		list, err := s.List(r.Context(), userID)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
		return nil
	})
	handle("GET /api/spaces/{id}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		sp, err := s.Get(r.Context(), userID, r.PathValue("id"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, sp)
		return nil
	})
	handle("PUT /api/spaces/{id}/members/{userId}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		if _, err := httpapi.ReadBody(r); err != nil {
			return err
		}
		p, _ := auth.FromContext(r.Context())
		m, err := s.PutMember(r.Context(), userID, p != nil && p.Service, r.PathValue("id"), r.PathValue("userId"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, m)
		return nil
	})
	handle("DELETE /api/spaces/{id}/members/{userId}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := s.RemoveMember(r.Context(), userID, r.PathValue("id"), r.PathValue("userId")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	handle("PUT /api/spaces/{id}/call", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req struct {
			GroupCallID string `json:"groupCallId"`
		}
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		sp, err := s.SetCall(r.Context(), userID, r.PathValue("id"), req.GroupCallID)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, sp)
		return nil
	})
}
