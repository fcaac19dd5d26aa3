package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

var (
	cacheKeyOld = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x11}, 32))
	cacheKeyNew = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x22}, 32))
	cacheKeyOdd = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x33}, 32))
)

// cacheStack is a stack with the token cache on and a second handler
// process (its own Functions host) sharing its Azurite and ACS resource.
func cacheStack(t *testing.T) (*stack.Stack, string) {
	t.Helper()
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs, Env: []string{
		"TOKEN_CACHE_KEY=" + cacheKeyOld, "QUOTA_TOKENS_PER_MINUTE=1000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, startHost(t, s, nil)
}

// startHost starts another handler process on s's storage and ACS, with
// extra settings (later ones win).
func startHost(t *testing.T, s *stack.Stack, extra []string) string {
	t.Helper()
	app, err := funchost.Load(s.AppDir)
	if err != nil {
		t.Fatal(err)
	}
	env := append(append([]string(nil), s.Env...), extra...)
	h, err := funchost.Start(context.Background(), app, funchost.Options{Env: env, Stdout: &logs, Stderr: &logs, ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h.URL()
}

// issuances is how many tokens the ACS emulator has issued.
func issuances(s *stack.Stack) int { return s.ACS.Issued() }

// cacheRows lists the token cache rows Table Storage holds for a user.
func cacheRows(t *testing.T, s *stack.Stack, userID string) []string {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(s.Azurite.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := "PartitionKey eq '" + userID + "'"
	pager := svc.NewClient("users").NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var rows []string
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var e struct{ RowKey string }
			_ = json.Unmarshal(raw, &e)
			if strings.HasPrefix(e.RowKey, "token:") {
				rows = append(rows, string(raw))
			}
		}
	}
	return rows
}

// burst sends n token requests for c at once, alternating between the two
// handler processes, and returns the tokens.
func burst(t *testing.T, c *client, bases [2]string, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.on(bases[i%2]).do("POST", "/api/token", "")
			if r.status != 200 {
				t.Errorf("request %d: %d %s", i, r.status, r.body)
				return
			}
			tokens[i] = r.json(t)["token"].(string)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return tokens
}

func allSame(t *testing.T, tokens []string) {
	t.Helper()
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("request %d got another token than request 0", i)
		}
	}
}

// Two handler processes sharing one Azurite: a burst of 20 requests for
// one user across both costs one issuance, for a new user (its identity is
// created with the token) and for a known one with nothing cached; the
// cached token is what the row holds, sealed, and later requests reuse it.
func TestTokenCacheAcrossInstances(t *testing.T) {
	s, second := cacheStack(t)
	bases := [2]string{s.URL(), second}
	kim := userClient(t, s, "cache-kim", "Kim")

	before := issuances(s)
	tokens := burst(t, kim, bases, 20)
	allSame(t, tokens)
	if n := issuances(s) - before; n != 1 {
		t.Fatalf("a new user's burst of 20 across two instances issued %d tokens, want 1", n)
	}
	if n := s.ACS.Requests("CreateIdentity"); n != 1 {
		t.Fatalf("%d identities created, want 1", n)
	}
	rows := cacheRows(t, s, "cache-kim")
	if len(rows) != 1 {
		t.Fatalf("cache rows %v, want one", rows)
	}
	for _, part := range strings.Split(tokens[0], ".") {
		if strings.Contains(rows[0], part) {
			t.Fatal("the cache row holds the token in clear")
		}
	}

	// Revoke through the other instance: the token is revoked, no row is left.
	kim.on(second).ok("POST", "/api/me/revoke", "", 204)
	if rows := cacheRows(t, s, "cache-kim"); len(rows) != 0 {
		t.Fatalf("revoke left cache rows: %v", rows)
	}
	if _, err := s.ACS.Verify(tokens[0]); err == nil {
		t.Fatal("the revoked token still verifies")
	}
	before = issuances(s)
	fresh := burst(t, kim, bases, 20)
	allSame(t, fresh)
	if fresh[0] == tokens[0] {
		t.Fatal("the revoked token was served")
	}
	if n := issuances(s) - before; n != 1 {
		t.Fatalf("a known user's burst of 20 across two instances issued %d tokens, want 1", n)
	}
	if _, err := s.ACS.Verify(fresh[0]); err != nil {
		t.Fatalf("the fresh token: %v", err)
	}

	// Under the issuance limit, cached users are still served; ACS's 429
	// reaches only a request that needs a new token.
	s.ACS.SetIssuanceLimit(1, time.Minute)
	t.Cleanup(func() { s.ACS.SetIssuanceLimit(0, 0) })
	userClient(t, s, "cache-lee", "").ok("POST", "/api/token", "", 200) // takes the one issuance
	for i := range 10 {
		if got := kim.on(bases[i%2]).ok("POST", "/api/token", "", 200)["token"]; got != fresh[0] {
			t.Fatal("under the limit a cached user was not served the cached token")
		}
	}
	userClient(t, s, "cache-max", "").do("POST", "/api/token", "").problem(t, 503, "acs-throttled")
	s.ACS.SetIssuanceLimit(0, 0)

	// Erase leaves no cache row either.
	kim.ok("DELETE", "/api/me", "", 204)
	if rows := cacheRows(t, s, "cache-kim"); len(rows) != 0 {
		t.Fatalf("erase left cache rows: %v", rows)
	}
}

// After a rotation (the old key in TOKEN_CACHE_KEY_PREVIOUS) an instance
// still serves tokens cached under the old key; an instance with a key that
// is neither issues a fresh token instead of failing.
func TestTokenCacheKeyRotation(t *testing.T) {
	s, _ := cacheStack(t)
	ned := userClient(t, s, "cache-ned", "")
	first := ned.ok("POST", "/api/token", "", 200)["token"]

	rotated := startHost(t, s, []string{"TOKEN_CACHE_KEY=" + cacheKeyNew, "TOKEN_CACHE_KEY_PREVIOUS=" + cacheKeyOld})
	before := issuances(s)
	if got := ned.on(rotated).ok("POST", "/api/token", "", 200)["token"]; got != first {
		t.Fatal("after the rotation the token cached under the previous key was not served")
	}
	if n := issuances(s) - before; n != 0 {
		t.Fatalf("the rotated instance issued %d tokens, want 0", n)
	}

	odd := startHost(t, s, []string{"TOKEN_CACHE_KEY=" + cacheKeyOdd})
	got := ned.on(odd).ok("POST", "/api/token", "", 200)["token"]
	if got == first {
		t.Fatal("an instance with an unknown key served the cached token")
	}
	if n := issuances(s) - before; n != 1 {
		t.Fatalf("the instance with an unknown key issued %d tokens, want 1", n)
	}
	if _, err := s.ACS.Verify(got.(string)); err != nil {
		t.Fatal(err)
	}
}
