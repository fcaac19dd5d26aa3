package graphemu

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is what Graph accepts in aud.
const Audience = "https://graph.microsoft.com"

// RoleReadWrite is the application permission the meeting writes need.
const RoleReadWrite = "OnlineMeetings.ReadWrite.All"

// caller is a verified app-only token.
type caller struct {
	AppID string   `json:"appid"`
	Roles []string `json:"roles"`
	TID   string   `json:"tid"`
}

// authorize verifies the bearer token as Graph does, answering 401 for a
// token it cannot accept and 403 when the app lacks the permission.
func (e *Emulator) authorize(w http.ResponseWriter, r *http.Request, roles ...string) (caller, bool) {
	var c caller
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return c, false
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
		return c, false
	}
	var std jwt.Claims
	if err := parsed.Claims(e.tokens.PublicKey(), &std, &c); err != nil {
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure: invalid signature.")
		return c, false
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: e.tokens.Issuer(), AnyAudience: jwt.Audience{Audience}, Time: e.clock()}, 5*time.Minute); err != nil {
		msg := "Access token validation failure. Invalid audience."
		switch err {
		case jwt.ErrExpired:
			msg = "Lifetime validation failed, the token is expired."
		case jwt.ErrInvalidIssuer:
			msg = "Access token validation failure. Invalid issuer."
		}
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return c, false
	}
	if c.TID != e.tokens.TenantID() {
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.")
		return c, false
	}
	for _, role := range roles {
		if !slices.Contains(c.Roles, role) {
			graphError(w, r, http.StatusForbidden, "Forbidden", "Insufficient privileges to complete the operation. The app needs the application permission "+role+" with admin consent.")
			return c, false
		}
	}
	return c, true
}

// policyAllows reports whether an application access policy grants appID
// the organizer (Grant-CsApplicationAccessPolicy to the user, or -Global).
func (e *Emulator) policyAllows(appID, organizer string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.policies[appID]
	return ok && (p.global || p.users[organizer])
}
