package calls

import (
	"net/http"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

// TeamsRoutes registers PUT /api/spaces/{id}/meeting: the creator of a
// Teams call shares its meeting in a space (the space answers with it).
// Creating a meeting with a spaceId shares it there too.
func TeamsRoutes(rt *httpapi.Router, authn *auth.Authenticator, s *Service) {
	rt.Handle("PUT /api/spaces/{id}/meeting", authn.UserHandler(requestTimeout, func(w http.ResponseWriter, r *http.Request, userID string) error {
		var req struct {
			CallID string `json:"callId"`
		}
		if err := httpapi.DecodeJSON(r, &req, false); err != nil {
			return err
		}
		if req.CallID == "" {
			return fieldProblem("callId", "is required: the id of a Teams call (POST /api/calls with kind teams)")
		}
		sp, err := s.ShareMeeting(r.Context(), userID, r.PathValue("id"), req.CallID)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, sp)
		return nil
	}))
}
