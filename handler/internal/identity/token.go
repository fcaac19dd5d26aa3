package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// TokenRequest is the optional body of POST /api/token.
type TokenRequest struct {
	Scopes           []string `json:"scopes"`
	ExpiresInMinutes *int     `json:"expiresInMinutes"`
}

// TokenResponse is what a client app needs to call ACS.
type TokenResponse struct {
	ACSUserID string    `json:"acsUserId"`
	Token     string    `json:"token"`
	ExpiresOn time.Time `json:"expiresOn"`
}

// TokenGrant is a validated request: the scopes and lifetime to issue.
type TokenGrant struct {
	Scopes  []string
	Minutes int
}

// Grant validates a token request against the deployment's allowed scopes.
func (s *Service) Grant(req TokenRequest) (TokenGrant, error) {
	g := TokenGrant{Scopes: s.opts.DefaultScopes, Minutes: DefaultTokenMinutes}
	if req.Scopes != nil {
		if len(req.Scopes) == 0 {
			return g, fieldProblem("scopes", "must name at least one scope, or be left out for the default ("+strings.Join(s.opts.DefaultScopes, ", ")+")")
		}
		g.Scopes = nil
		for _, sc := range req.Scopes {
			if !slices.Contains(s.opts.AllowedScopes, sc) {
				return g, fieldProblem("scopes", fmt.Sprintf("scope %q is not allowed here; allowed: %s", sc, strings.Join(s.opts.AllowedScopes, ", ")))
			}
			if !slices.Contains(g.Scopes, sc) {
				g.Scopes = append(g.Scopes, sc)
			}
		}
	}
	if req.ExpiresInMinutes != nil {
		m := *req.ExpiresInMinutes
		if m < MinTokenMinutes || m > MaxTokenMinutes {
			return g, fieldProblem("expiresInMinutes", fmt.Sprintf("must be a whole number from %d to %d, not %d", MinTokenMinutes, MaxTokenMinutes, m))
		}
		g.Minutes = m
	}
	return g, nil
}

func fieldProblem(field, detail string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, field+": "+detail)
	p.Errors = []httpapi.FieldError{{Field: field, Detail: detail}}
	return p
}

// errRetry means the profile changed under us; read it again.
var errRetry = errors.New("profile changed; read it again")

// IssueToken issues an ACS token for userID, creating the user's ACS identity
// on first use. A known user costs one Table read and one ACS call, or with
// the token cache (cache.go) one Table read while the cached token has half
// its life left. Many concurrent first requests create exactly one
// identity: the first to insert a reservation row creates it, the others
// wait for it to become active.
func (s *Service) IssueToken(ctx context.Context, userID, displayName string, g TokenGrant) (TokenResponse, error) {
	deadline := s.opts.Now().Add(waitTimeout)
	var cached cacheRead
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		var p profile
		var etag azcore.ETag
		var err error
		etag, cached, err = s.readUser(ctx, userID, g, &p)
		switch {
		case err == nil && p.State == stateActive && s.sealer != nil:
			resp, waitForIt, err := s.issueCached(ctx, userID, displayName, p, etag, cached, g)
			if errors.Is(err, errRetry) {
				continue
			}
			if !waitForIt {
				return resp, err
			}
			// Another request is issuing this user's replacement token: wait for it.

		case err == nil && p.State == stateActive:
			tok, err := s.acs.IssueToken(ctx, p.ACSUserID, g.Scopes, g.Minutes)
			if err != nil {
				return TokenResponse{}, acsError(err)
			}
			s.refreshDisplayName(ctx, userID, p, etag, displayName)
			return TokenResponse{ACSUserID: p.ACSUserID, Token: tok.Token, ExpiresOn: tok.ExpiresOn}, nil

		case err == nil && p.State == stateReserved && s.opts.Now().Before(p.ThrottledUntil):
			// ACS throttled this user's creation: answer with what is left of
			// ACS's wait rather than waiting or asking ACS again.
			return TokenResponse{}, throttled(p.ThrottledUntil.Sub(s.opts.Now()))

		case err == nil && p.State == stateReserved && (!p.ThrottledUntil.IsZero() || s.opts.Now().Sub(p.ReservedAt) > staleAfter):
			// The creator died or gave up without releasing, or ACS's wait is over: take over.
			etag, err = s.users.Replace(ctx, userID, profileRow, s.reservation(), etag)
			if errors.Is(err, store.ErrPreconditionFailed) {
				continue
			}
			if err != nil {
				return TokenResponse{}, storeError(err)
			}
			resp, err := s.create(ctx, userID, displayName, etag, g)
			if errors.Is(err, errRetry) {
				continue
			}
			return resp, err

		case err == nil && p.State == stateReserved:
			// Another request is creating this user's identity: wait for it.

		case errors.Is(err, store.ErrNotFound):
			etag, err = s.users.Insert(ctx, userID, profileRow, s.reservation())
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return TokenResponse{}, storeError(err)
			}
			resp, err := s.create(ctx, userID, displayName, etag, g)
			if errors.Is(err, errRetry) {
				continue
			}
			return resp, err

		default:
			return TokenResponse{}, storeError(err)
		}

		if s.opts.Now().After(deadline) {
			if p.State == stateActive && s.sealer != nil {
				return s.waitedTooLong(userID, p, cached, g)
			}
			p := httpapi.NewProblem(http.StatusServiceUnavailable, "identity-being-created",
				"this user's ACS identity is still being created; retry shortly")
			p.RetryAfter = 1
			return TokenResponse{}, p
		}
		select {
		case <-ctx.Done():
			return TokenResponse{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (s *Service) reservation() profile {
	return profile{State: stateReserved, ReservedAt: s.opts.Now().UTC(), Reservation: uuid.NewString()}
}

// create makes the ACS identity for a reservation we hold (reservedETag) and
// records it: first the reverse row (so an identity is never left without a
// record), then the profile, conditional on our reservation still standing.
// On any failure the new identity is deleted and the reservation released,
// so the next request starts clean.
func (s *Service) create(ctx context.Context, userID, displayName string, reservedETag azcore.ETag, g TokenGrant) (TokenResponse, error) {
	// A client that hangs up must not abort this half-way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	log := httpapi.Logger(ctx)

	res, err := s.acs.CreateIdentity(ctx, &acs.CreateIdentityOptions{Scopes: g.Scopes, ExpiresInMinutes: g.Minutes})
	if err != nil {
		if wait := acs.RetryAfter(err); acs.IsThrottled(err) && wait > 0 {
			s.holdThrottled(ctx, userID, reservedETag, wait)
		} else {
			s.release(ctx, userID, reservedETag)
		}
		return TokenResponse{}, acsError(err)
	}
	if res.Token == nil {
		s.abandon(ctx, userID, res.ID, reservedETag, false)
		return TokenResponse{}, acsError(fmt.Errorf("ACS created identity %s without the token asked for", res.ID))
	}
	if _, err := s.users.Upsert(ctx, res.ID, reverseRow, reverse{UserID: userID}); err != nil {
		s.abandon(ctx, userID, res.ID, reservedETag, false)
		return TokenResponse{}, storeError(err)
	}
	// Cached before the profile turns active, so that requests waiting for
	// this identity find the token rather than each issuing one.
	s.cacheFirstToken(ctx, userID, res.ID, *res.Token, g)
	active := profile{State: stateActive, ACSUserID: res.ID, DisplayName: displayName, CreatedAt: s.opts.Now().UTC()}
	if _, err := s.users.Replace(ctx, userID, profileRow, active, reservedETag); err != nil {
		if errors.Is(err, store.ErrPreconditionFailed) {
			// Our reservation went stale and another request took over: its identity wins.
			s.abandon(ctx, userID, res.ID, "", true)
			return TokenResponse{}, errRetry
		}
		s.abandon(ctx, userID, res.ID, reservedETag, true)
		return TokenResponse{}, storeError(err)
	}
	log.Info("created ACS identity", "acsUserId", res.ID)
	return TokenResponse{ACSUserID: res.ID, Token: res.Token.Token, ExpiresOn: res.Token.ExpiresOn}, nil
}

// release deletes our reservation so the next request can try again.
func (s *Service) release(ctx context.Context, userID string, reservedETag azcore.ETag) {
	if err := s.users.Delete(ctx, userID, profileRow, reservedETag); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrPreconditionFailed) {
		// The reservation goes stale and is taken over later.
		httpapi.Logger(ctx).Warn("could not release identity reservation", "err", err)
	}
}

// holdThrottled keeps our reservation, marked with the end of ACS's wait, so
// that requests waiting for this user (and those arriving meanwhile) answer
// acs-throttled with the rest of that wait instead of calling ACS again; the
// first request after it takes the reservation over.
func (s *Service) holdThrottled(ctx context.Context, userID string, reservedETag azcore.ETag, wait time.Duration) {
	r := s.reservation()
	r.ThrottledUntil = r.ReservedAt.Add(wait)
	if _, err := s.users.Replace(ctx, userID, profileRow, r, reservedETag); err != nil {
		s.release(ctx, userID, reservedETag)
	}
}

// abandon deletes an ACS identity we created but could not map, its reverse
// row, and our reservation (when reservedETag is set). If the identity cannot
// be deleted, its reverse row stays as the record of it.
func (s *Service) abandon(ctx context.Context, userID, acsUserID string, reservedETag azcore.ETag, reverseWritten bool) {
	log := httpapi.Logger(ctx)
	if err := s.acs.DeleteIdentity(ctx, acsUserID); err != nil && !acs.IsNotFound(err) {
		log.Error("orphaned ACS identity: created but not mapped, and could not be deleted", "acsUserId", acsUserID, "userId", userID, "err", err)
	} else if reverseWritten {
		if err := s.users.Delete(ctx, acsUserID, reverseRow, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("could not delete reverse row of abandoned identity", "acsUserId", acsUserID, "err", err)
		}
	}
	if reservedETag != "" {
		s.release(ctx, userID, reservedETag)
	}
}

// refreshDisplayName keeps the stored name in step with the token's `name`
// claim. It writes only when the name changed, and a lost race is harmless.
func (s *Service) refreshDisplayName(ctx context.Context, userID string, p profile, etag azcore.ETag, name string) {
	if name == "" || name == p.DisplayName {
		return
	}
	p.DisplayName = name
	if _, err := s.users.Replace(ctx, userID, profileRow, p, etag); err != nil && !errors.Is(err, store.ErrPreconditionFailed) {
		httpapi.Logger(ctx).Warn("could not update display name", "err", err)
	}
}
