package relay

import (
	"fmt"
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

// requestTimeout bounds one request (the Limit hook may read Table Storage).
const requestTimeout = 10 * time.Second

// Request is the optional body of POST /api/relay.
type Request struct {
	// TTLMinutes is a pointer so that 0 is refused rather than taken as "default".
	TTLMinutes *int `json:"ttlMinutes"`
}

// Routes registers POST /api/relay for authenticated users (a service
// caller names the user in X-On-Behalf-Of).
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service) {
	rt.Handle("POST /api/relay", authn.UserHandler(requestTimeout, s.handleRelay))
}

func (s *Service) handleRelay(w http.ResponseWriter, r *http.Request, userID string) error {
	if !s.Configured() {
		return httpapi.NotConfigured("TURN relay credentials", "TURN_URLS")
	}
	var req Request
	if err := httpapi.DecodeJSON(r, &req, true); err != nil {
		return err
	}
	ttl, err := s.TTL(req)
	if err != nil {
		return err
	}
	p, _ := auth.FromContext(r.Context())
	c, err := s.Issue(r.Context(), userID, p != nil && p.Service, ttl)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
	return nil
}

// TTL validates a request's lifetime: whole minutes from 1 to MaxTTL;
// none asked means MaxTTL.
func (s *Service) TTL(req Request) (time.Duration, error) {
	if req.TTLMinutes == nil {
		return s.maxTTL, nil
	}
	max := int(s.maxTTL / time.Minute)
	if m := *req.TTLMinutes; m < 1 || m > max {
		detail := fmt.Sprintf("must be a whole number of minutes from 1 to %d, not %d", max, m)
		p := httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, "ttlMinutes: "+detail)
		p.Errors = []httpapi.FieldError{{Field: "ttlMinutes", Detail: detail}}
		return 0, p
	}
	return time.Duration(*req.TTLMinutes) * time.Minute, nil
}
