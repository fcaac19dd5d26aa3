package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/azurite"
	"switchboard/handler/internal/httpapi"
)

func TestMain(m *testing.M) { azurite.Main(m) }

type row struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

var tableSeq atomic.Int32

func newTable(t *testing.T) (*Store, *Table) {
	t.Helper()
	s, err := New(Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Table(fmt.Sprintf("test%d", tableSeq.Add(1)))
}

func TestCRUDAndTypedErrors(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	var got row
	if _, err := tb.Get(ctx, "p", "r", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get from a table not created yet: %v", err)
	}
	etag, err := tb.Insert(ctx, "p", "r", row{Name: "a", Count: 1})
	if err != nil || etag == "" {
		t.Fatalf("insert: %v %q", err, etag)
	}
	if _, err := tb.Insert(ctx, "p", "r", row{Name: "b"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate insert: %v", err)
	}
	var re *azcore.ResponseError
	if _, err := tb.Insert(ctx, "p", "r", row{}); !errors.As(err, &re) || re.StatusCode != 409 {
		t.Fatalf("typed error must keep the response error: %v", err)
	}
	got2 := row{}
	etag2, err := tb.Get(ctx, "p", "r", &got2)
	if err != nil || got2 != (row{Name: "a", Count: 1}) || etag2 != etag {
		t.Fatalf("get: %v %+v %q", err, got2, etag2)
	}
	etag3, err := tb.Replace(ctx, "p", "r", row{Name: "c", Count: 2}, etag)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Replace(ctx, "p", "r", row{Name: "stale"}, etag); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale replace: %v", err)
	}
	if err := tb.Delete(ctx, "p", "r", etag); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := tb.Delete(ctx, "p", "r", etag3); err != nil {
		t.Fatal(err)
	}
	if err := tb.Delete(ctx, "p", "r", azcore.ETagAny); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete absent: %v", err)
	}
	if _, err := tb.Replace(ctx, "p", "r", row{}, azcore.ETagAny); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replace absent: %v", err)
	}
	if _, err := tb.Upsert(ctx, "p", "r", row{Name: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Upsert(ctx, "p", "r", row{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Get(ctx, "p", "r", &got); err != nil || got.Name != "v" {
		t.Fatalf("after upsert: %v %+v", err, got)
	}
}

func TestForbiddenKeyCharactersRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	var every strings.Builder // every character Table Storage forbids, plus the escape character
	for r := rune(0); r <= 0x9F; r++ {
		if r <= 0x1F || r >= 0x7F || strings.ContainsRune(`/\#?%`, r) {
			every.WriteRune(r)
		}
	}
	keys := []string{every.String(), "a/b", `c\d`, "e#f", "g?h", "tab\tnew\nline", "del\x7f\u0085", "pct%41", "quote'd", "ünï", "%", "'", string([]byte{0xff, 0xfe})}
	// Unescaped, the service refuses such a key: the escaping is what makes it work.
	raw, _ := json.Marshal(map[string]string{"PartitionKey": "a/b", "RowKey": "r"})
	if _, err := tb.Upsert(ctx, "warm", "up", row{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.client.AddEntity(ctx, raw, nil); err == nil {
		t.Fatal("the service accepted a raw key with /")
	}
	for _, k := range keys {
		if _, err := tb.Insert(ctx, k, k, row{Name: fmt.Sprintf("%q", k)}); err != nil {
			t.Fatalf("insert %q: %v", k, err)
		}
		var got row
		if _, err := tb.Get(ctx, k, k, &got); err != nil || got.Name != fmt.Sprintf("%q", k) {
			t.Fatalf("get %q: %v %+v", k, err, got)
		}
		var rks []string
		err := tb.QueryPartition(ctx, k, func(rk string, decode func(any) error) error {
			rks = append(rks, rk)
			return nil
		})
		if err != nil || len(rks) != 1 || rks[0] != k {
			t.Fatalf("query %q: %v %q", k, err, rks)
		}
	}
}

func TestKeyLimits(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	if _, err := tb.Insert(ctx, strings.Repeat("k", MaxKeyLength), "r", row{}); err != nil {
		t.Fatalf("a key of exactly %d characters: %v", MaxKeyLength, err)
	}
	for _, k := range []string{strings.Repeat("k", MaxKeyLength+1), strings.Repeat("/", 171), ""} {
		if _, err := tb.Insert(ctx, k, "r", row{}); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("key of %d bytes: %v", len(k), err)
		}
		if p := asProblem(ProblemFor(ErrInvalidKey)); p.Status != 400 {
			t.Fatal(p)
		}
	}
}

func TestQueryPartitionPagesAndOrder(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	if err := tb.QueryPartition(ctx, "none", func(string, func(any) error) error { return errors.New("no rows expected") }); err != nil {
		t.Fatalf("query of a missing table: %v", err)
	}
	const n = 1050 // more than one page (1000)
	for start := 0; start < n; start += MaxBatch {
		var ops []Op
		for i := start; i < min(n, start+MaxBatch); i++ {
			ops = append(ops, InsertOp(fmt.Sprintf("%04d", i), row{Count: i}))
		}
		if err := tb.Batch(ctx, "big", ops...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.Insert(ctx, "other", "x", row{}); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := tb.QueryPartition(ctx, "big", func(rk string, decode func(any) error) error {
		var r row
		if err := decode(&r); err != nil {
			return err
		}
		if rk != fmt.Sprintf("%04d", i) || r.Count != i {
			return fmt.Errorf("row %d: %s %+v", i, rk, r)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("query: %v after %d rows", err, i)
	}
}

func TestBatch(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	ops := make([]Op, MaxBatch+1)
	for i := range ops {
		ops[i] = InsertOp(fmt.Sprint(i), row{})
	}
	if err := tb.Batch(ctx, "p", ops...); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("101 ops: %v", err)
	}
	if err := tb.Batch(ctx, "p", ops[:MaxBatch]...); err != nil {
		t.Fatalf("100 ops: %v", err)
	}
	// One conflicting op fails the whole batch, names the op, and applies nothing.
	err := tb.Batch(ctx, "p", InsertOp("new-1", row{}), InsertOp("5", row{}), InsertOp("new-2", row{}))
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrConflict) || be.Index != 1 {
		t.Fatalf("conflicting batch: %v (%+v)", err, be)
	}
	var r row
	if _, err := tb.Get(ctx, "p", "new-1", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed batch left a row behind: %v", err)
	}
	if err := tb.Batch(ctx, "p", DeleteOp("1", azcore.ETagAny), UpsertOp("2", row{Name: "x"}), DeleteOp("3", "W/\"datetime'2000-01-01T00%3A00%3A00Z'\"")); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale delete in batch: %v", err)
	}
	if err := tb.Batch(ctx, "p", InsertOp("x", row{}), InsertOp("x", row{})); err == nil {
		t.Fatal("a batch touching one row twice was sent")
	}
}

func TestTableCreatedOnceUnderConcurrentFirstUse(t *testing.T) {
	ctx := context.Background()
	var creates atomic.Int32
	s := countingStore(t, func(r *http.Request) {
		if isCreateTable(r) {
			creates.Add(1)
		}
	})
	tb := s.Table(fmt.Sprintf("concurrent%d", tableSeq.Add(1)))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tb.Insert(ctx, "p", fmt.Sprint(i), row{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := creates.Load(); n != 1 {
		t.Fatalf("%d create-table requests for 16 concurrent first writes, want 1", n)
	}
	if _, err := tb.Upsert(ctx, "p", "later", row{}); err != nil {
		t.Fatal(err)
	}
	if n := creates.Load(); n != 1 {
		t.Fatal("an existing table was created again")
	}

	// Another process (another Store) finds the table there: 409 is fine.
	other, _ := New(Config{ConnectionString: azurite.Shared(t).ConnectionString()})
	if _, err := other.Table(tb.Name()).Insert(ctx, "p", "from-other", row{}); err != nil {
		t.Fatalf("second process: %v", err)
	}
}

func TestTableCreationFailureIsRetriedByTheNextWrite(t *testing.T) {
	ctx := context.Background()
	var failed atomic.Bool
	fail := policyFunc(func(req *policy.Request) (*http.Response, error) {
		if isCreateTable(req.Raw()) && failed.CompareAndSwap(false, true) {
			return nil, errors.New("injected network failure")
		}
		return req.Next()
	})
	s, err := New(Config{ConnectionString: azurite.Shared(t).ConnectionString(), ClientOptions: &aztables.ClientOptions{
		ClientOptions: policy.ClientOptions{PerRetryPolicies: []policy.Policy{fail}, Retry: policy.RetryOptions{MaxRetries: -1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tb := s.Table(fmt.Sprintf("retry%d", tableSeq.Add(1)))
	if _, err := tb.Insert(ctx, "p", "r", row{}); err == nil {
		t.Fatal("insert succeeded although the table could not be created")
	} else if p := asProblem(ProblemFor(err)); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("unreachable storage maps to %d, want 503", p.Status)
	}
	if _, err := tb.Insert(ctx, "p", "r", row{}); err != nil {
		t.Fatalf("the next write did not retry the creation: %v", err)
	}
}

func TestTableDeletedFromOutsideIsRecreated(t *testing.T) {
	ctx := context.Background()
	s, tb := newTable(t)
	if _, err := tb.Insert(ctx, "p", "r", row{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.DeleteTable(ctx, tb.Name(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(ctx, "p", "r", row{Name: "again"}); err != nil {
		t.Fatalf("insert after the table was deleted: %v", err)
	}
}

// TestCountingTransactions shows how a benchmark counts billed storage
// transactions: a per-call policy in ClientOptions sees every request.
func TestCountingTransactions(t *testing.T) {
	ctx := context.Background()
	var n atomic.Int32
	s := countingStore(t, func(*http.Request) { n.Add(1) })
	tb := s.Table(fmt.Sprintf("count%d", tableSeq.Add(1)))
	steps := []struct {
		name string
		do   func() error
		want int32
	}{
		{"first insert creates the table", func() error { _, err := tb.Insert(ctx, "p", "a", row{}); return err }, 2},
		{"second insert", func() error { _, err := tb.Insert(ctx, "p", "b", row{}); return err }, 1},
		{"get", func() error { _, err := tb.Get(ctx, "p", "a", &row{}); return err }, 1},
		{"batch of 3", func() error {
			return tb.Batch(ctx, "p", UpsertOp("c", row{}), DeleteOp("a", azcore.ETagAny), DeleteOp("b", azcore.ETagAny))
		}, 1},
		{"refused batch", func() error {
			if err := tb.Batch(ctx, "p", make([]Op, MaxBatch+1)...); !errors.Is(err, ErrBatchTooLarge) {
				return fmt.Errorf("got %v", err)
			}
			return nil
		}, 0},
	}
	for _, st := range steps {
		before := n.Load()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := n.Load() - before; got != st.want {
			t.Errorf("%s: %d requests, want %d", st.name, got, st.want)
		}
	}
}

func countingStore(t *testing.T, count func(*http.Request)) *Store {
	t.Helper()
	counter := policy.ClientOptions{PerCallPolicies: []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
		count(req.Raw())
		return req.Next()
	})}}
	s, err := New(Config{ConnectionString: azurite.Shared(t).ConnectionString(), ClientOptions: &aztables.ClientOptions{ClientOptions: counter}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func isCreateTable(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Tables")
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

func TestPing(t *testing.T) {
	s, _ := newTable(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on a port we just released: storage is unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/devstoreaccount1"
	ln.Close()
	down, err := New(Config{
		ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azurite.AccountKey + ";TableEndpoint=" + dead,
		ClientOptions:    &aztables.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = down.Ping(context.Background())
	if err == nil {
		t.Fatal("ping of unreachable storage succeeded")
	}
	if p := asProblem(ProblemFor(err)); p.Status != http.StatusServiceUnavailable || p.RetryAfter == 0 {
		t.Fatalf("unreachable storage: %d (retry after %d), want 503 with Retry-After", p.Status, p.RetryAfter)
	}
}

// TestNewEndpoints checks which endpoint each configuration reaches,
// without a network: the transport records the first request and fails it.
func TestNewEndpoints(t *testing.T) {
	key := azurite.AccountKey
	tests := []struct {
		name string
		cfg  Config
		want string // the URL of a list-tables request; "" means New fails
	}{
		{"development storage", Config{ConnectionString: "UseDevelopmentStorage=true"}, "http://127.0.0.1:10002/devstoreaccount1/Tables"},
		{"development storage, any case, trailing ;", Config{ConnectionString: " usedevelopmentstorage=TRUE; "}, "http://127.0.0.1:10002/devstoreaccount1/Tables"},
		{"development storage false", Config{ConnectionString: "UseDevelopmentStorage=false"}, ""},
		{"development storage with proxy", Config{ConnectionString: "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1:1"}, ""},
		{"explicit Azurite", Config{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key + ";TableEndpoint=http://localhost:4567/devstoreaccount1;"}, "http://localhost:4567/devstoreaccount1/Tables"},
		{"Azure account", Config{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key + ";EndpointSuffix=core.windows.net"}, "https://acct.table.core.windows.net/Tables"},
		{"Azure account, default protocol", Config{ConnectionString: "AccountName=acct;AccountKey=" + key}, "https://acct.table.core.windows.net/Tables"},
		{"plain http to Azure", Config{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=" + key}, ""},
		{"plain http table endpoint elsewhere", Config{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + key + ";TableEndpoint=http://example.com/a"}, ""},
		{"managed identity", Config{TableEndpoint: "https://acct.table.core.windows.net/", Credential: fakeCredential{}}, "https://acct.table.core.windows.net/Tables"},
		{"managed identity, loopback http", Config{TableEndpoint: "http://127.0.0.1:10002/devstoreaccount1", Credential: fakeCredential{}}, ""},
		{"managed identity over http", Config{TableEndpoint: "http://acct.table.core.windows.net", Credential: fakeCredential{}}, ""},
		{"endpoint without credential", Config{TableEndpoint: "https://acct.table.core.windows.net"}, ""},
		{"bad prefix", Config{ConnectionString: "UseDevelopmentStorage=true", Prefix: "sb-"}, ""},
		{"nothing", Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			tt.cfg.ClientOptions = &aztables.ClientOptions{ClientOptions: policy.ClientOptions{
				Retry: policy.RetryOptions{MaxRetries: -1},
				Transport: transportFunc(func(r *http.Request) (*http.Response, error) {
					got = r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
					return nil, errors.New("recorded")
				}),
			}}
			s, err := New(tt.cfg)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("New accepted %+v", tt.cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Ping(context.Background())
			if got != tt.want {
				t.Fatalf("request to %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientOptionsDefaults(t *testing.T) {
	mine := &aztables.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 7}}}
	got := clientOptions(mine)
	if got.Retry.MaxRetries != 7 || got.Retry.TryTimeout != 10*time.Second {
		t.Fatalf("retry options %+v", got.Retry)
	}
	if mine.Retry.TryTimeout != 0 {
		t.Fatal("the caller's options were modified")
	}
	if d := clientOptions(nil).Retry; d.MaxRetries != 3 || d.TryTimeout != 10*time.Second {
		t.Fatalf("defaults %+v", d)
	}
}

type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestScanReadsEveryPartition(t *testing.T) {
	ctx := context.Background()
	_, tb := newTable(t)
	if err := tb.Scan(ctx, func(string, string, func(any) error) error { return errors.New("no rows expected") }); err != nil {
		t.Fatalf("scan of a missing table: %v", err)
	}
	want := map[string]int{}
	for i, pk := range []string{"a/1", "b#2", "c"} {
		for j := range 3 {
			rk := fmt.Sprintf("r?%d", j)
			if _, err := tb.Insert(ctx, pk, rk, row{Count: i*10 + j}); err != nil {
				t.Fatal(err)
			}
			want[pk+"|"+rk] = i*10 + j
		}
	}
	got := map[string]int{}
	err := tb.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		var r row
		if err := decode(&r); err != nil {
			return err
		}
		got[pk+"|"+rk] = r.Count
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan: %v\ngot  %v\nwant %v", err, got, want)
	}
}

func TestProblemFor(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{nil, 0},
		{fmt.Errorf("get: %w", &storeError{ErrNotFound, errors.New("x")}), 404},
		{&storeError{ErrConflict, errors.New("x")}, 409},
		{&BatchError{Index: 2, Err: &storeError{ErrPreconditionFailed, errors.New("x")}}, 412},
		{fmt.Errorf("%w: too long", ErrInvalidKey), 400},
		{&azcore.ResponseError{StatusCode: 403, ErrorCode: "AuthorizationFailure"}, 502},
		{&azcore.ResponseError{StatusCode: 503, ErrorCode: "ServerBusy"}, 503},
		{context.DeadlineExceeded, 503},
	}
	for _, tt := range tests {
		if tt.err == nil {
			if err := ProblemFor(nil); err != nil {
				t.Errorf("ProblemFor(nil) = %#v, want an untyped nil error", err)
			}
			continue
		}
		p := asProblem(ProblemFor(tt.err))
		if p.Status != tt.status {
			t.Errorf("ProblemFor(%v) = %d, want %d", tt.err, p.Status, tt.status)
		}
	}
}

func TestEscapeKey(t *testing.T) {
	for in, want := range map[string]string{
		"alice":      "alice",
		"a/b":        "a%2Fb",
		`a\b`:        "a%5Cb",
		"a#b?c":      "a%23b%3Fc",
		"100%":       "100%25",
		"x\x00y":     "x%00y",
		"\u0085":     "%C2%85",
		"ünï":        "ünï",
		"8:acs:r_id": "8:acs:r_id",
	} {
		if got := EscapeKey(in); got != want {
			t.Errorf("EscapeKey(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := UnescapeKey("bad%zz"); err == nil {
		t.Error("malformed escape accepted")
	}
}

func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"a/b", "%", "\x7f", "ünï", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeKey(s)
		for _, r := range e {
			if r != '%' && forbidden(r) {
				t.Fatalf("EscapeKey(%q) = %q keeps forbidden %q", s, e, r)
			}
		}
		back, err := UnescapeKey(e)
		if err != nil || back != s {
			t.Fatalf("round trip %q -> %q -> %q (%v)", s, e, back, err)
		}
	})
}

// asProblem unwraps the problem ProblemFor returns (nil for nil).
func asProblem(err error) *httpapi.Problem {
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return p
	}
	return nil
}
