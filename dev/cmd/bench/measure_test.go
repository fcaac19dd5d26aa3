package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := summarize(ds, time.Second)
	if s.p50 != 50*time.Millisecond || s.p90 != 90*time.Millisecond || s.p99 != 99*time.Millisecond || s.perSecond() != 100 {
		t.Fatalf("%+v", s)
	}
	if one := summarize([]time.Duration{7}, 0); one.p50 != 7 || one.p99 != 7 {
		t.Fatalf("%+v", one)
	}
}

func TestLoadRunsEveryRequestOnce(t *testing.T) {
	seen := make([]int, 50)
	lat, _, err := load(context.Background(), 50, 8, func(i int) error { seen[i]++; return nil })
	if err != nil || len(lat) != 50 {
		t.Fatal(err)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("request %d ran %d times", i, n)
		}
	}
}

func TestTableCounterBillsBatchesOnce(t *testing.T) {
	c := &tableCounter{counts: map[string]int{}}
	srv := httptest.NewServer(c.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	for _, r := range []struct{ method, path string }{
		{"GET", "/devstoreaccount1/users(PartitionKey='a',RowKey='profile')"},
		{"GET", "/devstoreaccount1/contacts()"},
		{"POST", "/devstoreaccount1/$batch"},
		{"POST", "/devstoreaccount1/Tables"},
		{"PUT", "/devstoreaccount1/users(PartitionKey='a',RowKey='b')"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := c.reset()
	want := map[string]int{"read": 1, "query": 1, "batch": 1, "create-table": 1, "write": 1}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("counts %v, want %v", got, want)
		}
	}
	if len(c.reset()) != 0 {
		t.Fatal("reset did not reset")
	}
}

func TestTableCounterSeparatesTheQuota(t *testing.T) {
	c := &tableCounter{counts: map[string]int{}}
	h := c.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, req := range []struct{ method, path string }{
		{"GET", "/devstoreaccount1/quotas(PartitionKey='u%3Aalice',RowKey='quota')"},
		{"PUT", "/devstoreaccount1/quotas(PartitionKey='u%3Aalice',RowKey='quota')"},
		{"POST", "/devstoreaccount1/quotas"},
		{"GET", "/devstoreaccount1/users(PartitionKey='alice',RowKey='profile')"},
		{"GET", "/devstoreaccount1/quotasold(PartitionKey='a',RowKey='b')"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	got := c.reset()
	if got["quota read"] != 1 || got["quota write"] != 2 || got["read"] != 2 || len(got) != 3 {
		t.Fatalf("counts %v", got)
	}
}
