package acsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Token lifetime bounds and default of the ACS identity API.
const (
	MinTokenMinutes     = 60
	MaxTokenMinutes     = 1440
	DefaultTokenMinutes = 1440
)

// Scopes lists the token scopes ACS accepts.
var Scopes = []string{"chat", "voip", "chat.join", "chat.join.limited", "voip.join"}

// identity is one ACS user; deleted ones stay as tombstones so their tokens fail.
type identity struct {
	revision int
	deleted  bool
}

type accessToken struct {
	Token     string `json:"token"`
	ExpiresOn string `json:"expiresOn"`
}

func (e *Emulator) routeIdentity() {
	e.api.HandleFunc("POST /identities", e.operation("CreateIdentity", e.createIdentity))
	e.api.HandleFunc("POST /identities/{id}/:issueAccessToken", e.operation("IssueAccessToken", e.issueAccessToken))
	e.api.HandleFunc("POST /identities/{id}/:revokeAccessTokens", e.operation("RevokeAccessTokens", e.revokeAccessTokens))
	e.api.HandleFunc("DELETE /identities/{id}", e.operation("DeleteIdentity", e.deleteIdentity))
}

// IdentityCount is the number of identities that exist (created, not deleted).
func (e *Emulator) IdentityCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, id := range e.identities {
		if !id.deleted {
			n++
		}
	}
	return n
}

func (e *Emulator) createIdentity(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CreateTokenWithScopes []string `json:"createTokenWithScopes"`
		ExpiresInMinutes      *int     `json:"expiresInMinutes"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	minutes, ok := tokenMinutes(w, req.ExpiresInMinutes)
	if !ok || (len(req.CreateTokenWithScopes) > 0 && !validScopes(w, req.CreateTokenWithScopes)) {
		return
	}
	id := "8:acs:" + e.resourceID + "_" + uuid.NewString()
	ident := &identity{}
	resp := map[string]any{"identity": map[string]string{"id": id}}
	e.mu.Lock()
	if len(req.CreateTokenWithScopes) > 0 {
		if wait, ok := e.takeIssuance(); !ok {
			e.mu.Unlock()
			writeIssuanceThrottled(w, wait)
			return
		}
	}
	e.identities[id] = ident
	var tok accessToken
	var err error
	if len(req.CreateTokenWithScopes) > 0 {
		tok, err = e.newAccessToken(id, ident, req.CreateTokenWithScopes, minutes)
		resp["accessToken"] = tok
	}
	e.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (e *Emulator) issueAccessToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Scopes           []string `json:"scopes"`
		ExpiresInMinutes *int     `json:"expiresInMinutes"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if len(req.Scopes) == 0 {
		writeError(w, http.StatusBadRequest, "ValidationError", "scopes is required and must not be empty")
		return
	}
	minutes, ok := tokenMinutes(w, req.ExpiresInMinutes)
	if !ok || !validScopes(w, req.Scopes) {
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	ident, found := e.liveIdentity(id)
	var tok accessToken
	var err error
	wait, fits := time.Duration(0), true
	if found {
		if wait, fits = e.takeIssuance(); fits {
			tok, err = e.newAccessToken(id, ident, req.Scopes, minutes)
		}
	}
	e.mu.Unlock()
	switch {
	case !fits:
		writeIssuanceThrottled(w, wait)
	case !found:
		writeNotFound(w, id)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
	default:
		writeJSON(w, http.StatusOK, tok)
	}
}

func (e *Emulator) revokeAccessTokens(w http.ResponseWriter, r *http.Request) {
	e.changeIdentity(w, r, func(ident *identity) { ident.revision++ })
}

func (e *Emulator) deleteIdentity(w http.ResponseWriter, r *http.Request) {
	// A tombstone with a bumped revision: its tokens fail and its id answers 404.
	e.changeIdentity(w, r, func(ident *identity) { ident.deleted, ident.revision = true, ident.revision+1 })
}

// changeIdentity applies change to the live identity named in the path and answers 204, or 404.
func (e *Emulator) changeIdentity(w http.ResponseWriter, r *http.Request, change func(*identity)) {
	id := r.PathValue("id")
	e.mu.Lock()
	ident, found := e.liveIdentity(id)
	if found {
		change(ident)
	}
	e.mu.Unlock()
	if !found {
		writeNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// liveIdentity finds an identity that was created and not deleted; the caller holds e.mu.
func (e *Emulator) liveIdentity(id string) (*identity, bool) {
	ident, ok := e.identities[id]
	if !ok || ident.deleted {
		return nil, false
	}
	return ident, true
}

// newAccessToken issues a token in the API's shape; the caller holds e.mu.
func (e *Emulator) newAccessToken(id string, ident *identity, scopes []string, minutes int) (accessToken, error) {
	tok, exp, err := e.issueToken(id, ident, slices.Compact(slices.Sorted(slices.Values(scopes))), minutes)
	if err != nil {
		return accessToken{}, err
	}
	return accessToken{Token: tok, ExpiresOn: exp.Format(time.RFC3339)}, nil
}

func writeNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "IdentityNotFound", fmt.Sprintf("identity %q does not exist", id))
}

// decodeBody decodes an optional JSON body strictly, answering 415/400 itself.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, _ := io.ReadAll(r.Body) // already buffered by authenticate
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "the request body must be application/json")
		return false
	}
	return decodeStrict(w, body, dst, "ValidationError")
}

// decodeStrict decodes one JSON value with no unknown fields, answering 400
// with ACS's error code for the API (code) itself.
func decodeStrict(w http.ResponseWriter, body []byte, dst any, code string) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		writeError(w, http.StatusBadRequest, code, "the request body is not valid: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, code, "the request body has data after its JSON value")
		return false
	}
	return true
}

func tokenMinutes(w http.ResponseWriter, m *int) (int, bool) {
	if m == nil {
		return DefaultTokenMinutes, true
	}
	if *m < MinTokenMinutes || *m > MaxTokenMinutes {
		writeError(w, http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("expiresInMinutes must be within [%d, %d], not %d", MinTokenMinutes, MaxTokenMinutes, *m))
		return 0, false
	}
	return *m, true
}

func validScopes(w http.ResponseWriter, scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			writeError(w, http.StatusBadRequest, "ValidationError",
				fmt.Sprintf("scope %q is not one of %s", s, strings.Join(Scopes, ", ")))
			return false
		}
	}
	return true
}

// DeleteIdentity deletes identity id as the API would (its tokens fail and
// it can no longer be added anywhere), for tests that need ACS to refuse a
// user Switchboard still maps. It reports whether the identity was live.
func (e *Emulator) DeleteIdentity(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ident, ok := e.liveIdentity(id)
	if ok {
		ident.deleted, ident.revision = true, ident.revision+1
	}
	return ok
}
