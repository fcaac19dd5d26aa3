package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// issueTimeout bounds a claimed replacement (ACS call and cache write),
// apart from the client's request, so a claim never outlives claimStale.
const issueTimeout = 10 * time.Second

// cacheRead is the cache row for one scope set as read with the profile.
type cacheRead struct {
	row    cachedToken
	etag   azcore.ETag
	exists bool
}

// readUser reads the profile and, with the cache on, the cache row for g's
// scope set in the same query: one Table transaction either way.
func (s *Service) readUser(ctx context.Context, userID string, g TokenGrant, p *profile) (azcore.ETag, cacheRead, error) {
	if s.sealer == nil {
		etag, err := s.users.Get(ctx, userID, profileRow, p)
		return etag, cacheRead{}, err
	}
	rk := tokenRowKey(g.Scopes)
	rows, err := s.users.GetRows(ctx, userID, profileRow, rk)
	if err != nil {
		return "", cacheRead{}, err
	}
	var c cacheRead
	if r, ok := rows[rk]; ok {
		if err := r.Decode(&c.row); err != nil {
			// An unreadable row is replaced like one that does not open.
			httpapi.Logger(ctx).Warn("token cache row does not decode; replacing it", "err", err)
			c.row = cachedToken{}
		}
		c.etag, c.exists = r.ETag, true
	}
	r, ok := rows[profileRow]
	if !ok {
		return "", c, store.ErrNotFound
	}
	if err := r.Decode(p); err != nil {
		return "", c, err
	}
	return r.ETag, c, nil
}

// issueCached answers a known user's token request through the cache:
// the cached token while it has half its life left; otherwise one request
// claims the row (ETag-conditional), issues, and replaces the token, while
// the others wait for it (waitForIt). When ACS throttles, a token that is
// still valid answers instead of the 429. errRetry: the row changed under us.
func (s *Service) issueCached(ctx context.Context, userID, displayName string, p profile, etag azcore.ETag, c cacheRead, g TokenGrant) (resp TokenResponse, waitForIt bool, err error) {
	now := s.opts.Now()
	rk := tokenRowKey(g.Scopes)
	token := s.openCached(ctx, userID, rk, p.ACSUserID, &c.row)
	answer := func(tok string, exp time.Time) TokenResponse {
		return TokenResponse{ACSUserID: p.ACSUserID, Token: tok, ExpiresOn: exp}
	}
	switch {
	case token != "" && c.row.reusable(now, g.Minutes):
		s.refreshDisplayName(ctx, userID, p, etag, displayName)
		return answer(token, c.row.ExpiresOn), false, nil
	case now.Before(c.row.ThrottledUntil):
		// ACS asked us to wait: do not ask it again for this row until then.
		if token != "" && c.row.servable(now, g.Minutes) {
			return answer(token, c.row.ExpiresOn), false, nil
		}
		return TokenResponse{}, false, throttled(c.row.ThrottledUntil.Sub(now))
	case c.row.claimed(now):
		return TokenResponse{}, true, nil
	}

	// Claim the row, keeping the old token (if it opened) for a 429.
	claim := c.row
	claim.IssuingSince, claim.ThrottledUntil = now.UTC(), time.Time{}
	var claimETag azcore.ETag
	if c.exists {
		claimETag, err = s.users.Replace(ctx, userID, rk, claim, c.etag)
	} else {
		claimETag, err = s.users.Insert(ctx, userID, rk, claim)
	}
	if errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, false, errRetry
	}
	if err != nil {
		return TokenResponse{}, false, storeError(err)
	}

	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), issueTimeout)
	defer cancel()
	tok, err := s.acs.IssueToken(ictx, p.ACSUserID, g.Scopes, g.Minutes)
	if err != nil {
		claim.IssuingSince = time.Time{}
		if wait := acs.RetryAfter(err); acs.IsThrottled(err) && wait > 0 {
			claim.ThrottledUntil = now.UTC().Add(wait)
		}
		// Release the claim (or mark ACS's wait); a lost race is harmless.
		if _, werr := s.users.Replace(ictx, userID, rk, claim, claimETag); werr != nil && !lostRace(werr) {
			httpapi.Logger(ctx).Warn("could not release token cache claim", "err", werr)
		}
		if acs.IsThrottled(err) && token != "" && claim.servable(now, g.Minutes) {
			return answer(token, claim.ExpiresOn), false, nil
		}
		return TokenResponse{}, false, acsError(err)
	}
	row := cachedToken{Minutes: g.Minutes, ExpiresOn: tok.ExpiresOn.UTC()}
	s.sealer.seal(userID, rk, p.ACSUserID, tok.Token, &row)
	// Conditional on our claim: if a revoke dropped the row meanwhile, the
	// token (issued before the revoke) is not cached.
	if _, err := s.users.Replace(ictx, userID, rk, row, claimETag); err != nil && !lostRace(err) {
		httpapi.Logger(ctx).Warn("could not cache ACS token", "err", err)
	}
	s.refreshDisplayName(ctx, userID, p, etag, displayName)
	return answer(tok.Token, tok.ExpiresOn), false, nil
}

// waitedTooLong answers a request that waited waitTimeout for another's
// replacement: with the old token if it is still good for a while, else 503.
func (s *Service) waitedTooLong(userID string, p profile, c cacheRead, g TokenGrant) (TokenResponse, error) {
	rk := tokenRowKey(g.Scopes)
	if token := s.openCached(context.Background(), userID, rk, p.ACSUserID, &c.row); token != "" && c.row.servable(s.opts.Now(), g.Minutes) {
		return TokenResponse{ACSUserID: p.ACSUserID, Token: token, ExpiresOn: c.row.ExpiresOn}, nil
	}
	pr := httpapi.NewProblem(http.StatusServiceUnavailable, "token-being-issued",
		"another request is issuing this user's ACS token; retry shortly")
	pr.RetryAfter = 1
	return TokenResponse{}, pr
}

// openCached returns the row's token, or "" (clearing row.Sealed) when
// there is none or it does not open: sealed with a key that is neither
// TOKEN_CACHE_KEY nor TOKEN_CACHE_KEY_PREVIOUS, edited, or copied from
// another user or scope set. Such a row is simply replaced.
func (s *Service) openCached(ctx context.Context, userID, rk, acsUserID string, row *cachedToken) string {
	if row.Sealed == "" {
		return ""
	}
	token, err := s.sealer.open(userID, rk, acsUserID, *row)
	if err != nil {
		httpapi.Logger(ctx).Info("dropping a cached token that does not open", "keyId", row.KeyID, "err", err)
		row.Sealed, row.KeyID = "", ""
		return ""
	}
	return token
}

// cacheFirstToken caches the token a new identity was created with.
func (s *Service) cacheFirstToken(ctx context.Context, userID, acsUserID string, tok acs.AccessToken, g TokenGrant) {
	if s.sealer == nil {
		return
	}
	rk := tokenRowKey(g.Scopes)
	row := cachedToken{Minutes: g.Minutes, ExpiresOn: tok.ExpiresOn.UTC()}
	s.sealer.seal(userID, rk, acsUserID, tok.Token, &row)
	if _, err := s.users.Upsert(ctx, userID, rk, row); err != nil {
		httpapi.Logger(ctx).Warn("could not cache the first ACS token", "err", err)
	}
}

// dropCache deletes every cached token of userID (all scope sets). It runs
// whether or not this instance has a key, so erase and revoke leave no row.
func (s *Service) dropCache(ctx context.Context, userID string) error {
	var rks []string
	err := s.users.QueryPartition(ctx, userID, func(rk string, _ func(any) error) error {
		if strings.HasPrefix(rk, tokenRowPrefix) {
			rks = append(rks, rk)
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	for _, rk := range rks {
		if err := s.users.Delete(ctx, userID, rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeError(err)
		}
	}
	return nil
}

// Revoke revokes every ACS token of userID, then drops the cached ones.
// Dropping after revoking is what makes it safe against a concurrent
// replacement: a token issued before the revoke is either in the row the
// drop deletes, or its conditional write finds its claim gone. A user with
// no ACS identity has nothing to revoke.
func (s *Service) Revoke(ctx context.Context, userID string) error {
	var p profile
	if _, err := s.users.Get(ctx, userID, profileRow, &p); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	if p.ACSUserID != "" {
		if err := s.acs.RevokeTokens(ctx, p.ACSUserID); err != nil && !acs.IsNotFound(err) {
			return acsError(err)
		}
	}
	return s.dropCache(ctx, userID)
}

// lostRace reports a conditional write that found the row changed or gone.
func lostRace(err error) bool {
	return errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrNotFound)
}
