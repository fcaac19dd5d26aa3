package identity

import (
	"context"
	"net/http"
	"time"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
)

// requestTimeout bounds the upstream work of one client request.
const requestTimeout = 25 * time.Second

// Routes registers the identity routes, all behind caller authentication.
// Every token request spends one of quota.Tokens, and every revocation and
// erasure one of quota.Revocations, here at the route, so the quota bounds requests
// whatever the service answers them from.
func Routes(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits *quota.Limiter) {
	h := &handlers{s: s, limits: limits}
	route := func(pattern string, f func(http.ResponseWriter, *http.Request, caller) error) {
		rt.Handle(pattern, authn.Require(httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			c, err := callerOf(r)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
			defer cancel()
			return f(w, r.WithContext(ctx), c)
		})))
	}
	route("POST /api/token", h.token)
	route("GET /api/me", h.me)
	route("DELETE /api/me", h.eraseMe)
	route("POST /api/me/revoke", h.revokeMe)
	route("GET /api/contacts", h.listContacts)
	route("PUT /api/contacts/{userId}", h.addContact)
	route("DELETE /api/contacts/{userId}", h.removeContact)
	route("GET /api/contacts/requests", h.listRequests)
	route("GET /api/blocks", h.listBlocks)
	route("GET /api/blocks/{userId}", h.getBlock)
	route("PUT /api/blocks/{userId}", h.block)
	route("DELETE /api/blocks/{userId}", h.unblock)
	route("GET /api/users/{userId}", h.lookup)
}

type handlers struct {
	s      *Service
	limits *quota.Limiter
}

// caller is the authenticated principal and the user it acts as: itself, or
// for a service caller the user named by X-On-Behalf-Of.
type caller struct {
	principal *auth.Principal
	userID    string // empty for a service caller acting for nobody
	name      string
}

func callerOf(r *http.Request) (caller, error) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return caller{}, httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, "authentication is required")
	}
	userID, err := auth.ActingUser(r, p)
	if err != nil {
		return caller{}, err
	}
	c := caller{principal: p, userID: userID}
	if !p.Service {
		c.name = p.Name
	}
	return c, nil
}

// user returns the user the route acts for; a service caller must name one.
func (c caller) user() (string, error) {
	if c.userID == "" {
		return "", auth.OnBehalfOfRequired()
	}
	return c.userID, nil
}

func (h *handlers) token(w http.ResponseWriter, r *http.Request, c caller) error {
	var req TokenRequest
	if err := httpapi.DecodeJSON(r, &req, true); err != nil {
		return err
	}
	g, err := h.s.Grant(req)
	if err != nil {
		return err
	}
	userID, err := c.user()
	if err != nil {
		return err
	}
	if err := h.limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.Tokens, N: 1}); err != nil {
		return err
	}
	resp, err := h.s.IssueToken(r.Context(), userID, c.name, g)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// Me is the body of GET /api/me; ACSUserID is empty until the first token.
type Me struct {
	UserID      string `json:"userId"`
	ACSUserID   string `json:"acsUserId"`
	DisplayName string `json:"displayName,omitempty"`
}

func (h *handlers) me(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	me := Me{UserID: userID, DisplayName: c.name}
	u, err := h.s.Profile(r.Context(), userID)
	switch {
	case err == nil:
		me.ACSUserID = u.ACSUserID
		if me.DisplayName == "" {
			me.DisplayName = u.DisplayName
		}
	case isNotFound(err):
	default:
		return storeError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, me)
	return nil
}

func (h *handlers) eraseMe(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	// An erasure deletes the ACS identity (and the next token makes one):
	// it spends a revocation, so erasing and signing up again is bounded.
	if err := h.limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.Revocations, N: 1}); err != nil {
		return err
	}
	if err := h.s.Erase(r.Context(), userID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeMe revokes the caller's ACS tokens and drops the cached ones; the
// next POST /api/token issues a fresh one. 204, idempotent.
func (h *handlers) revokeMe(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	if _, err := httpapi.ReadBody(r); err != nil {
		return err
	}
	// Each revocation is one ACS call.
	if err := h.limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.Revocations, N: 1}); err != nil {
		return err
	}
	if err := h.s.Revoke(r.Context(), userID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handlers) listContacts(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	list, err := h.s.Contacts(r.Context(), userID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (h *handlers) addContact(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	if _, err := httpapi.ReadBody(r); err != nil {
		return err
	}
	add := h.s.AddContact
	if c.principal.Service && IsBotParty(r.PathValue("userId")) {
		add = h.s.AddBotContact // only a service makes a bot reachable
	}
	ct, err := add(r.Context(), userID, c.name, r.PathValue("userId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ct)
	return nil
}

func (h *handlers) listRequests(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	list, err := h.s.Requests(r.Context(), userID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (h *handlers) listBlocks(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	list, err := h.s.Blocks(r.Context(), userID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"value": list})
	return nil
}

func (h *handlers) getBlock(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	b, err := h.s.GetBlock(r.Context(), userID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (h *handlers) block(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	if _, err := httpapi.ReadBody(r); err != nil {
		return err
	}
	b, err := h.s.BlockUser(r.Context(), userID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (h *handlers) unblock(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	if err := h.s.UnblockUser(r.Context(), userID, r.PathValue("userId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handlers) removeContact(w http.ResponseWriter, r *http.Request, c caller) error {
	userID, err := c.user()
	if err != nil {
		return err
	}
	if err := h.s.RemoveContact(r.Context(), userID, r.PathValue("userId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handlers) lookup(w http.ResponseWriter, r *http.Request, c caller) error {
	u, err := h.s.Lookup(r.Context(), c.userID, c.principal.Service, r.PathValue("userId"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, u)
	return nil
}
