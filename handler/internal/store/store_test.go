package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/azurite"
)

var server *azurite.Server

func TestMain(m *testing.M) {
	var err error
	server, err = azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	server.Close()
	os.Exit(code)
}

type row struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

var tableSeq atomic.Int32

func newTable(t *testing.T) (*Store, *Table) {
	t.Helper()
	s, err := New(Config{ConnectionString: server.ConnectionString(), Prefix: "t"})
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
	keys := []string{"a/b", `c\d`, "e#f", "g?h", "tab\tnew\nline", "del\x7f\u0085", "pct%41", "quote'd", "ünï", "%", "'", string([]byte{0xff, 0xfe})}
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
		if p := ProblemFor(ErrInvalidKey); p.Status != 400 {
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
	counter := policy.ClientOptions{PerCallPolicies: []policy.Policy{countPolicy(func(r *http.Request) {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/Tables") {
			creates.Add(1)
		}
	})}}
	s, err := New(Config{ConnectionString: server.ConnectionString(), ClientOptions: &aztables.ClientOptions{ClientOptions: counter}})
	if err != nil {
		t.Fatal(err)
	}
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
	if n := creates.Load(); n < 1 || n > 16 {
		t.Fatalf("%d create-table requests", n)
	}
	before := creates.Load()
	if _, err := tb.Insert(ctx, "p", "later", row{}); err != nil {
		t.Fatal(err)
	}
	if creates.Load() != before {
		t.Fatal("an existing table was created again")
	}
}

type countPolicy func(*http.Request)

func (c countPolicy) Do(req *policy.Request) (*http.Response, error) {
	c(req.Raw())
	return req.Next()
}

func TestPingAndConfig(t *testing.T) {
	s, _ := newTable(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=" + azurite.AccountKey},
		{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + azurite.AccountKey + ";TableEndpoint=http://example.com/a"},
		{TableEndpoint: "https://a.table.core.windows.net"}, // no credential
		{},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
	if _, err := New(Config{ConnectionString: "UseDevelopmentStorage=true"}); err != nil {
		t.Errorf("UseDevelopmentStorage=true: %v", err)
	}
	if got := connectionStringEndpoint("UseDevelopmentStorage=true"); got == "" {
		t.Error("no endpoint")
	}
	if got := connectionStringEndpoint(DevelopmentStorage); got != "http://127.0.0.1:10002/devstoreaccount1" {
		t.Errorf("development storage endpoint %q", got)
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
