package acsemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// The issuance limit is set through the control route, counts tokens
// issued with a new identity and for one (not identities created without
// a token), answers 429 with ACS's Retry-After, and slides with the clock.
func TestIssuanceLimit(t *testing.T) {
	clk := &testClock{now: time.Now()}
	e := start(t, Options{Now: clk.Now})
	control := func(method, body string) int {
		req, _ := http.NewRequest(method, e.Endpoint()+"emulator/limits", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, bad := range []string{`{}`, `{"issuance":{"count":-1,"windowSeconds":30}}`, `{"issuance":{"count":3,"windowSeconds":0}}`, `{"issuance":{"count":3,"windowSeconds":30},"x":1}`} {
		if st := control(http.MethodPost, bad); st != 400 {
			t.Errorf("limits %s = %d, want 400", bad, st)
		}
	}
	if st := control(http.MethodPost, `{"issuance":{"count":3,"windowSeconds":30}}`); st != 204 {
		t.Fatalf("POST /emulator/limits = %d", st)
	}
	withToken := signed{method: http.MethodPost, target: create, body: `{"createTokenWithScopes":["voip"]}`}
	status, _, body := withToken.do(t, e)
	if status != 201 {
		t.Fatalf("create with token: %d %s", status, body)
	}
	var created struct{ Identity struct{ ID string } }
	_ = json.Unmarshal(body, &created)
	issue := signed{method: http.MethodPost, target: "/identities/" + strings.ReplaceAll(created.Identity.ID, ":", "%3A") + "/:issueAccessToken?api-version=2023-10-01", body: `{"scopes":["voip"]}`}
	if st, _, b := (signed{method: http.MethodPost, target: create}).do(t, e); st != 201 {
		t.Fatalf("create without a token is not an issuance and fits: %d %s", st, b)
	}
	clk.Add(10 * time.Second)
	for i := range 2 {
		if st, _, b := issue.do(t, e); st != 200 {
			t.Fatalf("issuance %d of 3: %d %s", i+2, st, b)
		}
	}
	// The fourth within 30 s is refused until the first (at 0 s) leaves the window.
	clk.Add(5 * time.Second)
	st, h, b := issue.do(t, e)
	if st != 429 || errorCode(t, b) != "TooManyRequests" || h.Get("Retry-After") != "15" {
		t.Fatalf("over the limit: %d Retry-After=%q %s", st, h.Get("Retry-After"), b)
	}
	if st, h, _ := withToken.do(t, e); st != 429 || h.Get("Retry-After") != "15" {
		t.Fatalf("create with token over the limit: %d %q", st, h.Get("Retry-After"))
	}
	clk.Add(15 * time.Second)
	if st, _, b := issue.do(t, e); st != 200 {
		t.Fatalf("after the first left the window: %d %s", st, b)
	}
	if st, h, _ := issue.do(t, e); st != 429 || h.Get("Retry-After") != "10" {
		t.Fatalf("the window slides: %d Retry-After=%q, want 429 after 10", st, h.Get("Retry-After"))
	}
	if e.Issued() != 4 || e.Throttled() != 3 {
		t.Fatalf("issued %d throttled %d, want 4 and 3", e.Issued(), e.Throttled())
	}
	if st := control(http.MethodDelete, ""); st != 204 {
		t.Fatalf("DELETE /emulator/limits = %d", st)
	}
	for range 5 {
		if st, _, b := issue.do(t, e); st != 200 {
			t.Fatalf("without a limit: %d %s", st, b)
		}
	}
	resp, err := http.Get(e.Endpoint() + "emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct{ Issued, Throttled int }
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if stats.Issued != 9 || stats.Throttled != 3 {
		t.Errorf("stats = %+v", stats)
	}
}
