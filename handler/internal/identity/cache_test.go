package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/store"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 32)
	keyC = bytes.Repeat([]byte{0xc3}, 32)
)

var cacheSeq atomic.Int32

// cacheEnv is one ACS emulator, one table prefix and one clock that every
// service built from it shares, as instances of one app do.
type cacheEnv struct {
	t      *testing.T
	emu    *acsemu.Emulator
	client *acs.Client
	st     *store.Store
	clk    *clock
}

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	emu, err := acsemu.Start(acsemu.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	client, err := acs.NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "tc" + time.Now().Format("150405") + strings.Repeat("x", int(cacheSeq.Add(1)))
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return &cacheEnv{t: t, emu: emu, client: client, st: st, clk: clk}
}

// service is one instance with the given keys (nil: no cache).
func (e *cacheEnv) service(current, previous []byte) *Service {
	return NewService(e.st, e.client, Options{AllowedScopes: []string{"voip", "chat"}, DefaultScopes: []string{"voip"},
		TokenCacheKey: current, TokenCacheKeyPrevious: previous, Now: e.clk.Now})
}

// issuances counts the tokens ACS issued: created with an identity or for one.
func (e *cacheEnv) issuances() int {
	return e.emu.Requests("CreateIdentity") + e.emu.Requests("IssueAccessToken")
}

func (e *cacheEnv) token(s *Service, user string, g TokenGrant) TokenResponse {
	e.t.Helper()
	tok, err := s.IssueToken(e.t.Context(), user, "", g)
	if err != nil {
		e.t.Fatalf("token for %s: %v", user, err)
	}
	if _, err := e.emu.Verify(tok.Token); err != nil {
		e.t.Fatalf("token for %s does not verify: %v", user, err)
	}
	return tok
}

// cacheRows returns the raw cache rows of a user's partition.
func (e *cacheEnv) cacheRows(user string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	err := e.st.Table(UsersTable).QueryPartition(e.t.Context(), user, func(rk string, decode func(any) error) error {
		if strings.HasPrefix(rk, tokenRowPrefix) {
			var raw map[string]any
			if err := decode(&raw); err != nil {
				return err
			}
			b, _ := json.Marshal(raw)
			out[rk] = string(b)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

var voip60 = TokenGrant{Scopes: []string{"voip"}, Minutes: 60}

// One issuance per half-lifetime, not one per request; past half its life a
// token is replaced, once.
func TestCachedTokenReusedUntilHalfItsLife(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	first := e.token(s, "ann", voip60) // creates the identity with a token: cached
	for range 5 {
		if got := e.token(s, "ann", voip60); got != first {
			t.Fatalf("request within the first half-life got another token: %+v vs %+v", got, first)
		}
	}
	e.clk.Add(30 * time.Minute) // exactly half left: still reused
	if got := e.token(s, "ann", voip60); got.Token != first.Token {
		t.Fatal("a token with half its lifetime left was not reused")
	}
	if n := e.issuances(); n != 1 {
		t.Fatalf("ACS issued %d tokens within the first half-life, want 1", n)
	}
	e.clk.Add(time.Second) // less than half left: replaced
	second := e.token(s, "ann", voip60)
	if second.Token == first.Token {
		t.Fatalf("a token with less than half its life left was served again: %+v", second)
	}
	if got := e.token(s, "ann", voip60); got.Token != second.Token {
		t.Fatal("the replacement is not what the next request gets")
	}
	if n := e.issuances(); n != 2 {
		t.Fatalf("ACS issued %d tokens, want 2", n)
	}

	// Another scope set, or another lifetime, is not served the voip token.
	chat := e.token(s, "ann", TokenGrant{Scopes: []string{"voip", "chat"}, Minutes: 60})
	if c, _ := e.emu.Verify(chat.Token); strings.Join(c.Scopes, ",") != "chat,voip" {
		t.Fatalf("scopes %v, want chat,voip", c.Scopes)
	}
	long := e.token(s, "ann", TokenGrant{Scopes: []string{"voip"}, Minutes: 1440})
	if long.Token == second.Token || long.ExpiresOn.Sub(e.clk.Now()) < 23*time.Hour {
		t.Fatalf("a 24 h request was served the 1 h token: %+v", long)
	}
	if got := e.token(s, "ann", TokenGrant{Scopes: []string{"chat", "voip", "chat"}, Minutes: 60}); got.Token != chat.Token {
		t.Fatal("the same scope set in another order is not the same cache row")
	}
}

// Concurrent requests for one user on one instance issue one token.
func TestBurstIssuesOneToken(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	e.token(s, "bob", voip60)
	if err := s.Revoke(t.Context(), "bob"); err != nil { // known user, nothing cached
		t.Fatal(err)
	}
	before := e.issuances()
	var wg sync.WaitGroup
	tokens := make([]string, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.IssueToken(t.Context(), "bob", "", voip60)
			tokens[i], errs[i] = tok.Token, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if tokens[i] != tokens[0] {
			t.Fatalf("request %d got another token", i)
		}
	}
	if n := e.issuances() - before; n != 1 {
		t.Fatalf("a burst of 20 issued %d tokens, want 1", n)
	}
}

// After a rotation (the old key moved to TOKEN_CACHE_KEY_PREVIOUS) cached
// tokens are still served; under a key that is neither, the row is dropped
// cleanly and a fresh token issued.
func TestCacheKeyRotation(t *testing.T) {
	e := newCacheEnv(t)
	old := e.service(keyA, nil)
	first := e.token(old, "cy", voip60)

	rotated := e.service(keyB, keyA)
	if got := e.token(rotated, "cy", voip60); got.Token != first.Token {
		t.Fatal("after the rotation the token sealed with the previous key was not served")
	}
	if n := e.issuances(); n != 1 {
		t.Fatalf("ACS issued %d tokens, want 1", n)
	}

	stranger := e.service(keyC, nil)
	fresh := e.token(stranger, "cy", voip60)
	if fresh.Token == first.Token {
		t.Fatal("a key that is neither served the cached token")
	}
	if n := e.issuances(); n != 2 {
		t.Fatalf("ACS issued %d tokens, want 2 (one fresh one for the unknown key)", n)
	}
	// The fresh token replaced the row, sealed with keyC, so keyC now reuses it
	// and keyA (retired) gets a fresh one rather than an error.
	if got := e.token(stranger, "cy", voip60); got.Token != fresh.Token {
		t.Fatal("the fresh token was not cached under the new key")
	}
	if got := e.token(old, "cy", voip60); got.Token == fresh.Token {
		t.Fatal("a retired key opened a row sealed with another key")
	}
}

// The row does not hold the token in clear, and a row copied to another
// user (or another scope set) does not open there.
func TestCacheRowIsBoundToItsUser(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	dan := e.token(s, "dan", voip60)
	eve := e.token(s, "eve", voip60)
	rows := e.cacheRows("dan")
	raw, ok := rows[tokenRowKey([]string{"voip"})]
	if !ok || len(rows) != 1 {
		t.Fatalf("dan's cache rows: %v", rows)
	}
	parts := strings.Split(dan.Token, ".")
	for _, p := range parts {
		if strings.Contains(raw, p) {
			t.Fatalf("the cache row holds part of the token in clear: %s", raw)
		}
	}

	// Copy dan's row over eve's: eve must not be served dan's token.
	var row cachedToken
	users := e.st.Table(UsersTable)
	if _, err := users.Get(t.Context(), "dan", tokenRowKey([]string{"voip"}), &row); err != nil {
		t.Fatal(err)
	}
	if _, err := users.Upsert(t.Context(), "eve", tokenRowKey([]string{"voip"}), row); err != nil {
		t.Fatal(err)
	}
	got := e.token(s, "eve", voip60)
	if got.Token == dan.Token || got.Token == eve.Token {
		t.Fatalf("eve was served a copied row's token, or her replaced one")
	}
	if c, _ := e.emu.Verify(got.Token); c.ID != eve.ACSUserID {
		t.Fatalf("eve's token is for %s, want %s", c.ID, eve.ACSUserID)
	}
	// And under another scope set's key.
	if _, err := users.Upsert(t.Context(), "dan", tokenRowKey([]string{"chat", "voip"}), row); err != nil {
		t.Fatal(err)
	}
	if got := e.token(s, "dan", TokenGrant{Scopes: []string{"voip", "chat"}, Minutes: 60}); got.Token == dan.Token {
		t.Fatal("a row copied to another scope set was served")
	}
}

// When ACS throttles a replacement, a cached token that is still valid
// answers instead of the 429, and nobody asks ACS again during its wait.
func TestThrottledReplacementServesCachedToken(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	first := e.token(s, "fay", voip60)
	e.clk.Add(40 * time.Minute) // past half its life, 20 minutes left
	e.emu.FailNext(100, http.StatusTooManyRequests, 7*time.Second)
	if got := e.token(s, "fay", voip60); got.Token != first.Token {
		t.Fatal("under a 429 the still-valid cached token was not served")
	}
	if n := e.emu.Requests("IssueAccessToken"); n != 1 {
		t.Fatalf("ACS saw %d IssueAccessToken requests, want 1", n)
	}
	e.clk.Add(3 * time.Second)
	if got := e.token(s, "fay", voip60); got.Token != first.Token {
		t.Fatal("within ACS's wait the cached token was not served")
	}
	if n := e.emu.Requests("IssueAccessToken"); n != 1 {
		t.Fatalf("ACS was asked again during its own wait: %d requests", n)
	}
	// After the wait, ACS is asked again; throttled again with no valid
	// token left, the client gets ACS's wait.
	e.clk.Add(20 * time.Minute) // expired
	_, err := s.IssueToken(t.Context(), "fay", "", voip60)
	wantThrottled(t, err, 7)
	e.clk.Add(2 * time.Second)
	_, err = s.IssueToken(t.Context(), "fay", "", voip60)
	wantThrottled(t, err, 5)
	if n := e.emu.Requests("IssueAccessToken"); n != 2 {
		t.Fatalf("ACS saw %d IssueAccessToken requests, want 2", n)
	}
	e.emu.ResetFaults()
	e.clk.Add(5 * time.Second)
	if got := e.token(s, "fay", voip60); got.Token == first.Token {
		t.Fatal("after the wait an expired token was served")
	}
}

// Revoke and erase leave no cache row, and the revoked token is not served.
func TestRevokeAndEraseDropTheCache(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	first := e.token(s, "gus", voip60)
	e.token(s, "gus", TokenGrant{Scopes: []string{"chat"}, Minutes: 60})
	if n := len(e.cacheRows("gus")); n != 2 {
		t.Fatalf("%d cache rows, want 2", n)
	}
	if err := s.Revoke(t.Context(), "gus"); err != nil {
		t.Fatal(err)
	}
	if rows := e.cacheRows("gus"); len(rows) != 0 {
		t.Fatalf("revoke left cache rows %v", rows)
	}
	if _, err := e.emu.Verify(first.Token); err == nil {
		t.Fatal("revoke did not revoke the token at ACS")
	}
	second := e.token(s, "gus", voip60)
	if second.Token == first.Token {
		t.Fatal("the revoked token was served")
	}
	if err := s.Revoke(t.Context(), "nobody"); err != nil {
		t.Fatalf("revoking a user without an identity: %v", err)
	}

	if err := s.Erase(t.Context(), "gus"); err != nil {
		t.Fatal(err)
	}
	if rows := e.cacheRows("gus"); len(rows) != 0 {
		t.Fatalf("erase left cache rows %v", rows)
	}
	// Erase drops rows even on an instance without a key.
	e.token(s, "hal", voip60)
	if err := e.service(nil, nil).Erase(t.Context(), "hal"); err != nil {
		t.Fatal(err)
	}
	if rows := e.cacheRows("hal"); len(rows) != 0 {
		t.Fatalf("erase without a key left cache rows %v", rows)
	}
}

// Without TOKEN_CACHE_KEY nothing is cached: every request is an issuance.
func TestNoKeyNoCache(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(nil, nil)
	a := e.token(s, "ivy", voip60)
	e.clk.Add(time.Second)
	b := e.token(s, "ivy", voip60)
	if a.Token == b.Token || e.issuances() != 2 {
		t.Fatalf("without a key: same token %v, %d issuances", a.Token == b.Token, e.issuances())
	}
	if rows := e.cacheRows("ivy"); len(rows) != 0 {
		t.Fatalf("without a key a cache row was written: %v", rows)
	}
}

// A request that waited out another's claim is answered, not left hanging.
func TestStaleClaimIsTakenOver(t *testing.T) {
	e := newCacheEnv(t)
	s := e.service(keyA, nil)
	e.token(s, "jo", voip60)
	if err := s.Revoke(t.Context(), "jo"); err != nil {
		t.Fatal(err)
	}
	// A claim left by an instance that died mid-issue.
	users := e.st.Table(UsersTable)
	if _, err := users.Insert(t.Context(), "jo", tokenRowKey([]string{"voip"}), cachedToken{IssuingSince: e.clk.Now().Add(-claimStale)}); err != nil {
		t.Fatal(err)
	}
	before := e.issuances()
	e.token(s, "jo", voip60)
	if n := e.issuances() - before; n != 1 {
		t.Fatalf("%d issuances after a stale claim, want 1", n)
	}
}

func TestSealer(t *testing.T) {
	s, err := newTokenSealer(keyA, keyB)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	base := cachedToken{Minutes: 60, ExpiresOn: exp}
	s.seal("u1", "token:voip", "8:acs:1", "the-token", &base)
	if got, err := s.open("u1", "token:voip", "8:acs:1", base); err != nil || got != "the-token" {
		t.Fatalf("open: %q %v", got, err)
	}
	old, _ := newTokenSealer(keyB, nil)
	oldRow := cachedToken{Minutes: 60, ExpiresOn: exp}
	old.seal("u1", "token:voip", "8:acs:1", "old-token", &oldRow)
	if got, err := s.open("u1", "token:voip", "8:acs:1", oldRow); err != nil || got != "old-token" {
		t.Fatalf("open with the previous key: %q %v", got, err)
	}
	cases := []struct {
		name            string
		user, rk, acsID string
		edit            func(c *cachedToken)
		sealer          *tokenSealer
	}{
		{"another user", "u2", "token:voip", "8:acs:1", nil, s},
		{"another scope set", "u1", "token:chat,voip", "8:acs:1", nil, s},
		{"another ACS identity", "u1", "token:voip", "8:acs:2", nil, s},
		{"expiry moved", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.ExpiresOn = c.ExpiresOn.Add(time.Hour) }, s},
		{"lifetime changed", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.Minutes = 1440 }, s},
		{"ciphertext flipped", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.Sealed = flip(c.Sealed) }, s},
		{"not base64", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.Sealed = "%%%" }, s},
		{"truncated", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.Sealed = "AAAA" }, s},
		{"no key id", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.KeyID = "" }, s},
		{"key id of the other key", "u1", "token:voip", "8:acs:1", func(c *cachedToken) { c.KeyID = keyID(keyB) }, s},
		{"unknown key", "u1", "token:voip", "8:acs:1", nil, old},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.edit != nil {
				tc.edit(&c)
			}
			if got, err := tc.sealer.open(tc.user, tc.rk, tc.acsID, c); !errors.Is(err, errCacheKey) {
				t.Fatalf("opened: %q %v", got, err)
			}
		})
	}
	if none, err := newTokenSealer(nil, nil); none != nil || err != nil {
		t.Fatalf("no key: %v %v", none, err)
	}
	if _, err := newTokenSealer(make([]byte, 16), nil); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}

func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestCachedTokenRules(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	row := func(minutes int, left time.Duration) cachedToken {
		return cachedToken{Sealed: "x", Minutes: minutes, ExpiresOn: now.Add(left)}
	}
	cases := []struct {
		name               string
		c                  cachedToken
		minutes            int
		reusable, servable bool
	}{
		{"fresh", row(60, 60*time.Minute), 60, true, true},
		{"exactly half", row(60, 30*time.Minute), 60, true, true},
		{"just under half", row(60, 30*time.Minute-time.Second), 60, false, true},
		{"a minute left", row(60, time.Minute), 60, false, true},
		{"under a minute", row(60, 59*time.Second), 60, false, false},
		{"expired", row(60, -time.Minute), 60, false, false},
		{"longer than asked", row(1440, 1400*time.Minute), 60, false, false},
		{"shorter than asked", row(60, 60*time.Minute), 1440, false, true},
		{"claim only", cachedToken{IssuingSince: now}, 60, false, false},
	}
	for _, tc := range cases {
		if got := tc.c.reusable(now, tc.minutes); got != tc.reusable {
			t.Errorf("%s: reusable = %v", tc.name, got)
		}
		if got := tc.c.servable(now, tc.minutes); got != tc.servable {
			t.Errorf("%s: servable = %v", tc.name, got)
		}
	}
	claim := cachedToken{IssuingSince: now.Add(-claimStale + time.Second)}
	if !claim.claimed(now) || claim.claimed(now.Add(time.Second)) || (cachedToken{}).claimed(now) {
		t.Error("a claim stands for claimStale, then may be taken over")
	}
	if tokenRowKey([]string{"voip", "chat", "voip"}) != "token:chat,voip" {
		t.Errorf("row key %q", tokenRowKey([]string{"voip", "chat", "voip"}))
	}
}
