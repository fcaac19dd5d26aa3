package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// serviceSeq keeps services made in the same second on their own tables.
var serviceSeq atomic.Int64

// clock is a test clock the service and the test share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newThrottleService(t *testing.T) (*Service, *acsemu.Emulator, *clock) {
	t.Helper()
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	client, err := acs.NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: fmt.Sprintf("thr%s%d", time.Now().Format("150405"), serviceSeq.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC()}
	s := NewService(st, client, Options{AllowedScopes: []string{"voip"}, DefaultScopes: []string{"voip"}, Now: clk.Now})
	return s, emu, clk
}

// wantThrottled checks err is 503 acs-throttled with Retry-After seconds.
func wantThrottled(t *testing.T, err error, seconds int) {
	t.Helper()
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || p.Code != "acs-throttled" || p.RetryAfter != seconds {
		t.Fatalf("err = %v (Retry-After %v), want 503 acs-throttled with Retry-After %d", err, retryAfterOf(err), seconds)
	}
}

func retryAfterOf(err error) any {
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return p.RetryAfter
	}
	return nil
}

func TestThrottledFirstTokenAnswersWithACSWait(t *testing.T) {
	s, emu, clk := newThrottleService(t)
	ctx := t.Context()
	g := TokenGrant{Scopes: []string{"voip"}, Minutes: 60}

	// The issue: ACS said 7 s; we held the client 20 s and said 2.
	emu.FailNext(100, http.StatusTooManyRequests, 7*time.Second)
	_, err := s.IssueToken(ctx, "new-user", "", g)
	wantThrottled(t, err, 7)
	if n := emu.Requests("CreateIdentity"); n != 1 {
		t.Fatalf("ACS saw %d CreateIdentity requests, want 1", n)
	}
	// Within ACS's wait, the next request answers with the rest of it and
	// does not ask ACS again.
	clk.Add(2500 * time.Millisecond)
	_, err = s.IssueToken(ctx, "new-user", "", g)
	wantThrottled(t, err, 5)
	if n := emu.Requests("CreateIdentity"); n != 1 {
		t.Fatalf("ACS saw %d CreateIdentity requests during its own wait, want 1", n)
	}
	// After it, the next request creates the identity, once.
	emu.ResetFaults()
	clk.Add(5 * time.Second)
	before := emu.IdentityCount()
	tok, err := s.IssueToken(ctx, "new-user", "", g)
	if err != nil || tok.Token == "" {
		t.Fatalf("after the wait: %v", err)
	}
	if emu.IdentityCount()-before != 1 || emu.Requests("CreateIdentity") != 2 {
		t.Fatalf("identities +%d, CreateIdentity requests %d", emu.IdentityCount()-before, emu.Requests("CreateIdentity"))
	}

	// A known user: one attempt, ACS's Retry-After.
	emu.FailNext(100, http.StatusTooManyRequests, 7*time.Second)
	_, err = s.IssueToken(ctx, "new-user", "", g)
	wantThrottled(t, err, 7)
	if n := emu.Requests("IssueAccessToken"); n != 1 {
		t.Fatalf("ACS saw %d IssueAccessToken requests, want 1", n)
	}
}

// A request waiting for another's creation answers as soon as that creation
// is throttled, with ACS's wait, instead of waiting out its own timeout.
func TestWaiterAnswersWhenCreationIsThrottled(t *testing.T) {
	s, emu, _ := newThrottleService(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a guard only
	defer cancel()
	g := TokenGrant{Scopes: []string{"voip"}, Minutes: 60}
	etag, err := s.users.Insert(ctx, "waited-for", profileRow, s.reservation())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.IssueToken(ctx, "waited-for", "", g)
		done <- err
	}()
	s.holdThrottled(ctx, "waited-for", etag, 4*time.Second)
	wantThrottled(t, <-done, 4)
	if n := emu.Requests("CreateIdentity"); n != 0 {
		t.Fatalf("the waiter asked ACS %d times during ACS's wait", n)
	}
}
