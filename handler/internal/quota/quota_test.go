package quota

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/azurite"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

var prefixSeq atomic.Int32

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func limits(n int) Limits { return Every(n, nil) }

// instance is one handler process's Limiter on the shared table prefix,
// with a counter of the Table Storage requests it sends.
type instance struct {
	*Limiter
	requests atomic.Int32
}

func newInstance(t *testing.T, prefix string, cfg Config) *instance {
	t.Helper()
	in := &instance{}
	counter := policy.ClientOptions{PerCallPolicies: []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
		in.requests.Add(1)
		return req.Next()
	})}}
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: prefix,
		ClientOptions: &aztables.ClientOptions{ClientOptions: counter}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Limiter, err = New(st, cfg); err != nil {
		t.Fatal(err)
	}
	return in
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

func newPrefix() string { return fmt.Sprintf("q%d", prefixSeq.Add(1)) }

func defaults() (Limits, Limits) {
	user := Limits{Tokens: 20, Calls: 30, Invites: 100, Dials: 20, DeviceRegistrations: 50, Relay: 60, SMS: 20, GuestCodeExchanges: 30, GuestExchangeSources: 20,
		Spaces: 20, SpaceInvites: 200, CallAutomation: 30, Revocations: 20, ChatPushes: 600, GuestReplies: 30, Rings: 100, TeamsMeetings: 20}
	service := Limits{Tokens: 200, Calls: 300, Invites: 1000, Dials: 200, DeviceRegistrations: 500, Relay: 600, SMS: 200, GuestCodeExchanges: 30, GuestExchangeSources: 20,
		Spaces: 200, SpaceInvites: 2000, CallAutomation: 300, Revocations: 200, ChatPushes: 600, GuestReplies: 30, Rings: 100, TeamsMeetings: 200}
	return user, service
}

// rateLimited checks err is a 429 for quota q and returns its Retry-After.
func rateLimited(t *testing.T, err error, q Name) int {
	t.Helper()
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != http.StatusTooManyRequests || p.Code != CodeRateLimited || p.Quota != string(q) {
		t.Fatalf("want 429 rate-limited for %s, got %v", q, err)
	}
	if p.RetryAfter < 1 {
		t.Fatalf("Retry-After %d, want at least 1", p.RetryAfter)
	}
	return p.RetryAfter
}

func TestTokenQuotaTwentyPerMinute(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0.Add(10 * time.Second)}
	user, service := defaults()
	prefix := newPrefix()
	l := newInstance(t, prefix, Config{User: user, Service: service, Now: clk.Now})
	alice, bob := Subject{User: "alice"}, Subject{User: "bob"}
	for i := range 20 {
		if err := l.Take(ctx, alice, Cost{Tokens, 1}); err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
	}
	retry := rateLimited(t, l.Take(ctx, alice, Cost{Tokens, 1}), Tokens)
	if retry != 53 {
		t.Fatalf("Retry-After %d s, want 53 (3 s into the next minute)", retry)
	}
	if err := l.Take(ctx, bob, Cost{Tokens, 1}); err != nil {
		t.Fatalf("another user is affected: %v", err)
	}
	if err := l.Take(ctx, Subject{User: "alice", Service: true}, Cost{Tokens, 1}); err != nil {
		t.Fatalf("a service acting for alice has a bucket of its own: %v", err)
	}
	if err := l.Take(ctx, alice, Cost{Calls, 1}); err != nil {
		t.Fatalf("other quotas of alice are affected: %v", err)
	}
	// A subject that is no user has a key space of its own: a user whose id
	// happens to read like one (an IdP's sub may hold ':') shares nothing.
	if Other("app:teams").key() == (Subject{User: "app:teams"}).key() || Other("x").key() == Other("y").key() {
		t.Fatalf("Other shares keys: %q %q", Other("app:teams").key(), Other("x").key())
	}
	if err := l.Take(ctx, Subject{User: "app:teams"}, Cost{Tokens, 1}); err != nil {
		t.Fatalf("user app:teams: %v", err)
	}
	for i := range 20 {
		if err := l.Take(ctx, Other("alice"), Cost{Tokens, 1}); err != nil {
			t.Fatalf("Other(alice) token %d shares alice's spent bucket: %v", i+1, err)
		}
	}
	rateLimited(t, l.Take(ctx, Other("alice"), Cost{Tokens, 1}), Tokens)
	clk.Add(time.Duration(retry-1) * time.Second)
	rateLimited(t, l.Take(ctx, alice, Cost{Tokens, 1}), Tokens)
	clk.Add(time.Second)
	if err := l.Take(ctx, alice, Cost{Tokens, 1}); err != nil {
		t.Fatalf("still refused when Retry-After said it frees: %v", err)
	}
	// A fresh instance (no hint) sees the same stored counts.
	other := newInstance(t, prefix, Config{User: user, Service: service, Now: clk.Now})
	rateLimited(t, other.Take(ctx, alice, Cost{Tokens, 1}), Tokens)
}

func TestOneTransactionPerLimitedOperation(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	prefix := newPrefix()
	l := newInstance(t, prefix, Config{User: limits(5), Service: limits(50), Now: clk.Now})
	s := Subject{User: "carol"}
	steps := []struct {
		name string
		want int32
		ok   bool
	}{
		{"first: read (absent), create the table, insert", 3, true},
		{"second: one conditional replace", 1, true},
		{"third", 1, true},
		{"fourth", 1, true},
		{"fifth", 1, true},
		{"refused from the row this instance wrote: no request", 0, false},
	}
	for _, st := range steps {
		before := l.requests.Load()
		err := l.Take(ctx, s, Cost{Calls, 1})
		if (err == nil) != st.ok {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := l.requests.Load() - before; got != st.want {
			t.Errorf("%s: %d Table requests, want %d", st.name, got, st.want)
		}
	}
	// Another instance spent meanwhile: the stale ETag costs a re-read.
	other := newInstance(t, prefix, Config{User: limits(5), Service: limits(50), Now: clk.Now})
	if err := other.Take(ctx, Subject{User: "dave"}, Cost{Calls, 1}); err != nil {
		t.Fatal(err)
	}
	if err := other.Take(ctx, Subject{User: "dave"}, Cost{Calls, 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.Take(ctx, Subject{User: "dave"}, Cost{Calls, 1}); err != nil {
		t.Fatal(err)
	}
	before := other.requests.Load()
	if err := other.Take(ctx, Subject{User: "dave"}, Cost{Calls, 1}); err != nil {
		t.Fatal(err)
	}
	if got := other.requests.Load() - before; got != 3 {
		t.Errorf("after another instance wrote: %d requests, want 3 (refused replace, read, replace)", got)
	}
}

// An instance's copy of the row is a hint: spending on it after another
// instance spent the rest is refused, not admitted on stale counts.
func TestStaleHintIsNeverTrusted(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	prefix := newPrefix()
	cfg := Config{User: limits(3), Service: limits(30), Now: clk.Now}
	a, b := newInstance(t, prefix, cfg), newInstance(t, prefix, cfg)
	s := Subject{User: "judy"}
	if err := a.Take(ctx, s, Cost{Calls, 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.Take(ctx, s, Cost{Calls, 1}); err != nil {
			t.Fatal(err)
		}
	}
	rateLimited(t, a.Take(ctx, s, Cost{Calls, 1}), Calls)
	rateLimited(t, b.Take(ctx, s, Cost{Calls, 1}), Calls)
}

// A burst of 500 for one user, spread over two instances sharing one
// table, never admits more than the limit, and every admission is stored.
func TestBurstAcrossInstancesNeverExceedsTheLimit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0.Add(5 * time.Second)}
	prefix := newPrefix()
	cfg := Config{User: limits(20), Service: limits(200), Now: clk.Now}
	a, b := newInstance(t, prefix, cfg), newInstance(t, prefix, cfg)
	s := Subject{User: "burst"}
	var admitted, refused, other atomic.Int32
	var wg sync.WaitGroup
	for i := range 500 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Take(ctx, s, Cost{Tokens, 1})
			var p *httpapi.Problem
			switch {
			case err == nil:
				admitted.Add(1)
			case errors.As(err, &p) && p.Code == CodeRateLimited:
				refused.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n > 20 || n < 1 {
		t.Fatalf("%d of 500 admitted, want 1..20", n)
	}
	if admitted.Load()+refused.Load() != 500 {
		t.Fatalf("%d admitted + %d refused != 500", admitted.Load(), refused.Load())
	}
	_, r, err := a.read(ctx, s.key())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.window(Tokens).count; got != int(admitted.Load()) {
		t.Fatalf("the row counts %d, but %d were admitted", got, admitted.Load())
	}
	// One instance alone admits exactly the limit.
	solo := newInstance(t, newPrefix(), cfg)
	admitted.Store(0)
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if solo.Take(ctx, s, Cost{Tokens, 1}) == nil {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 20 {
		t.Fatalf("one instance admitted %d of 500, want exactly 20", admitted.Load())
	}
	// At most a read, the table creation and one write per batch that admits.
	if n := solo.requests.Load(); n > 22 {
		t.Errorf("one instance sent %d Table requests for a burst of 500 (requests arriving together share a write)", n)
	}
}

func TestAllOrNothing(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	user, service := defaults()
	l := newInstance(t, newPrefix(), Config{User: user, Service: service, Now: clk.Now})
	s := Subject{User: "erin"}
	if err := l.Take(ctx, s, Cost{Invites, 95}); err != nil {
		t.Fatal(err)
	}
	rateLimited(t, l.Take(ctx, s, Cost{Calls, 1}, Cost{Invites, 10}, Cost{Dials, 0}), Invites)
	_, r, err := l.read(ctx, s.key())
	if err != nil {
		t.Fatal(err)
	}
	if r.window(Calls).count != 0 || r.window(Invites).count != 95 {
		t.Fatalf("a refused request spent something: %+v", r.windows)
	}
	// More than a whole quota in one request can never fit.
	p := rateLimited(t, l.Take(ctx, Subject{User: "frank"}, Cost{Dials, 21}), Dials)
	if p != 86400 {
		t.Fatalf("Retry-After %d for a request larger than the quota", p)
	}
	// Nothing to spend costs nothing.
	before := l.requests.Load()
	if err := l.Take(ctx, Subject{User: "grace"}, Cost{Invites, 0}); err != nil || l.requests.Load() != before {
		t.Fatalf("an empty cost: %v, %d requests", err, l.requests.Load()-before)
	}
}

func TestServiceLimitsAreHigher(t *testing.T) {
	ctx := context.Background()
	l := newInstance(t, newPrefix(), Config{User: limits(1), Service: limits(3), Now: (&clock{now: t0}).Now})
	s := Subject{User: "heidi", Service: true}
	for i := range 3 {
		if err := l.Take(ctx, s, Cost{Dials, 1}); err != nil {
			t.Fatalf("service dial %d: %v", i+1, err)
		}
	}
	rateLimited(t, l.Take(ctx, s, Cost{Dials, 1}), Dials)
	if err := l.Take(ctx, Subject{User: "heidi"}, Cost{Dials, 1}); err != nil {
		t.Fatalf("the user's own bucket: %v", err)
	}
	rateLimited(t, l.Take(ctx, Subject{User: "heidi"}, Cost{Dials, 1}), Dials)
}

func TestStorageDownFailsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/devstoreaccount1"
	ln.Close()
	st, err := store.New(store.Config{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azurite.AccountKey + ";TableEndpoint=" + dead + ";",
		ClientOptions: &aztables.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(st, Config{User: limits(5), Service: limits(5)})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Take(context.Background(), Subject{User: "ivan"}, Cost{Tokens, 1})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || p.RetryAfter < 1 {
		t.Fatalf("want 503 with Retry-After when storage is down, got %v", err)
	}
}

func TestDeleteExpired(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	l := newInstance(t, newPrefix(), Config{User: limits(5), Service: limits(5), Now: clk.Now})
	if err := l.Take(ctx, Subject{User: "old"}, Cost{Tokens, 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.Take(ctx, Subject{User: "daily"}, Cost{Dials, 1}); err != nil {
		t.Fatal(err)
	}
	clk.Add(2*time.Minute + time.Second)
	if err := l.Take(ctx, Subject{User: "fresh"}, Cost{Tokens, 1}); err != nil {
		t.Fatal(err)
	}
	n, err := l.DeleteExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want only the row whose minute windows both passed", n, err)
	}
	for user, want := range map[string]bool{"old": false, "daily": true, "fresh": true} {
		etag, _, err := l.read(ctx, Subject{User: user}.key())
		if err != nil || (etag != "") != want {
			t.Errorf("%s: stored=%v, want %v (%v)", user, etag != "", want, err)
		}
	}
	// The deleted row's hint is stale; spending again still works.
	if err := l.Take(ctx, Subject{User: "old"}, Cost{Tokens, 1}); err != nil {
		t.Fatal(err)
	}
}

func TestNewNeedsEveryLimit(t *testing.T) {
	st, err := store.New(store.Config{ConnectionString: store.DevelopmentStorage})
	if err != nil {
		t.Fatal(err)
	}
	u := limits(1)
	delete(u, Dials)
	if _, err := New(st, Config{User: u, Service: limits(1)}); err == nil {
		t.Fatal("a missing limit was accepted")
	}
}
