package guests

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Token is the answer of POST /api/guest/token.
type Token struct {
	ACSUserID   string    `json:"acsUserId"`
	Token       string    `json:"token"`
	ExpiresOn   time.Time `json:"expiresOn"`
	CallID      string    `json:"callId"`
	RoomID      string    `json:"roomId"`
	DisplayName string    `json:"displayName,omitempty"`
}

// codeRE is the shape of a join code (newCode); others are not looked up.
var codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// Exchange trades a join code for a voip token of that guest's identity
// (voip and chat when the call has a chat thread, which its guests are in),
// lasting no longer than the room does (ACS's shortest token is 60
// minutes). Every attempt spends the source's and the code's exchange quota
// first; an unknown, malformed or expired code is one answer (404), so
// nothing tells a guess from a code that was real; a code of an ended call
// answers 410 call-ended.
func (s *Service) Exchange(ctx context.Context, source, code string) (Token, error) {
	if !s.Configured() {
		return Token{}, notConfigured()
	}
	hash := hashCode(code)
	if err := s.limits.Take(ctx, quota.Other("guest-source:"+source), quota.Cost{Quota: quota.GuestExchangeSources, N: 1}); err != nil {
		return Token{}, err
	}
	if err := s.limits.Take(ctx, quota.Other("guest-code:"+hash), quota.Cost{Quota: quota.GuestCodeExchanges, N: 1}); err != nil {
		return Token{}, err
	}
	if !codeRE.MatchString(code) {
		return Token{}, codeNotFound()
	}
	var entry codeEntry
	if _, err := s.table.Get(ctx, codePrefix+hash, codeRow, &entry); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Token{}, codeNotFound()
		}
		return Token{}, store.ProblemFor(err)
	}
	if !entry.Expires.IsZero() && !s.now().Before(entry.Expires) {
		return Token{}, codeNotFound()
	}
	var g guestRow
	if _, err := s.table.Get(ctx, callPrefix+entry.CallID, entry.Phone, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Token{}, codeNotFound()
		}
		return Token{}, store.ProblemFor(err)
	}
	if !g.hasCode(hash) {
		return Token{}, codeNotFound()
	}
	info, err := s.calls.InfoAny(ctx, entry.CallID)
	var p *httpapi.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound || err == nil && info.Ended {
		return Token{}, callEnded()
	}
	if err != nil {
		return Token{}, err
	}
	left := info.ValidUntil.Sub(s.now())
	if left <= 0 {
		return Token{}, codeNotFound()
	}
	minutes := min(max(int(left/time.Minute), acs.MinTokenMinutes), acs.MaxTokenMinutes)
	scopes := []string{acs.ScopeVoIP}
	if info.Chat {
		scopes = append(scopes, acs.ScopeChat) // the call's thread, which holds its guests
	}
	tok, err := s.acs.IssueToken(ctx, g.ACSUserID, scopes, minutes)
	if err != nil {
		return Token{}, acsError(err)
	}
	return Token{ACSUserID: g.ACSUserID, Token: tok.Token, ExpiresOn: tok.ExpiresOn, CallID: entry.CallID, RoomID: info.RoomID, DisplayName: g.DisplayName}, nil
}

func codeNotFound() *httpapi.Problem {
	return httpapi.NewProblem(http.StatusNotFound, CodeCodeNotFound, "no such join code, or it has expired")
}
