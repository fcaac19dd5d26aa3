package devices

import (
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
)

const requestTimeout = 15 * time.Second

// Routes registers the device routes behind authentication; every PUT
// spends one of quota.DeviceRegistrations.
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits *quota.Limiter) {
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request, userID string) error) {
		rt.Handle(pattern, authn.UserHandler(requestTimeout, f))
	}
	handle("PUT /api/devices/{deviceId}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		var d push.Device
		if err := httpapi.DecodeJSON(r, &d, false); err != nil {
			return err
		}
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.DeviceRegistrations, N: 1}); err != nil {
			return err
		}
		reg, created, err := s.Register(r.Context(), userID, r.PathValue("deviceId"), d)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		httpapi.WriteJSON(w, status, reg)
		return nil
	})
	handle("GET /api/devices", func(w http.ResponseWriter, r *http.Request, userID string) error {
		list, err := s.List(r.Context(), userID)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
		return nil
	})
	handle("DELETE /api/devices/{deviceId}", func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := s.Delete(r.Context(), userID, r.PathValue("deviceId")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
