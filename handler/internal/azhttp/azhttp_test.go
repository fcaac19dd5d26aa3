package azhttp

import (
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
)

// Requests in flight above azcore's 10 idle connections per host still find
// their connections again on the next round.
func TestIdleConnectionsAreKept(t *testing.T) {
	const n = 40
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}))
	defer srv.Close()
	c := &http.Client{Transport: newTransport()}
	var opened atomic.Int32
	round := func() {
		var wg sync.WaitGroup
		arrived.Add(n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
					if !i.Reused {
						opened.Add(1)
					}
				}}
				req, _ := http.NewRequest("GET", srv.URL, nil)
				resp, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), tr)))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}()
		}
		arrived.Wait() // all n in flight at once
		for range n {
			release <- struct{}{}
		}
		wg.Wait()
	}
	round()
	first := opened.Load()
	round()
	if again := opened.Load() - first; again != 0 {
		t.Fatalf("%d of %d connections opened again on the second round", again, n)
	}
}
