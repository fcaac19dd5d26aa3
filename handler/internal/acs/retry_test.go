package acs

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"switchboard/dev/acsemu"
)

// ACS asking for a longer wait than we retry within is answered at once,
// after one attempt, with ACS's own Retry-After (the issue: ACS said 7 s and
// a client was held 21 s).
func TestThrottlingBeyondTheRetryWaitIsNotRetried(t *testing.T) {
	for _, wait := range []time.Duration{7 * time.Second, DefaultMaxRetryWait + time.Second} {
		t.Run(wait.String(), func(t *testing.T) {
			emu := startEmulator(t, acsemu.Options{})
			c, err := NewClientFromConnectionString(emu.ConnectionString(), nil)
			if err != nil {
				t.Fatal(err)
			}
			emu.FailNext(100, http.StatusTooManyRequests, wait)
			_, err = c.CreateIdentity(t.Context(), nil)
			if !IsThrottled(err) {
				t.Fatalf("err = %v, want throttled", err)
			}
			if got := RetryAfterSeconds(err); got != int(wait/time.Second) {
				t.Errorf("RetryAfterSeconds = %d, want ACS's %d", got, int(wait/time.Second))
			}
			if n := emu.Requests("CreateIdentity"); n != 1 {
				t.Errorf("emulator saw %d CreateIdentity requests, want 1 (no retry)", n)
			}
			emu.ResetFaults()
			id, err := c.CreateIdentity(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			emu.FailNext(100, http.StatusTooManyRequests, wait)
			if _, err := c.IssueToken(t.Context(), id.ID, []string{ScopeVoIP}, 60); !IsThrottled(err) || RetryAfterSeconds(err) != int(wait/time.Second) {
				t.Errorf("IssueToken: %v", err)
			}
			if n := emu.Requests("IssueAccessToken"); n != 1 {
				t.Errorf("emulator saw %d IssueAccessToken requests, want 1", n)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	resp := func(status int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	cases := []struct {
		name  string
		spent time.Duration
		resp  *http.Response
		err   error
		want  bool
	}{
		{"429 early", 0, resp(429, "1"), nil, true},
		{"429 whose wait ends at the budget", 4 * time.Second, resp(429, "1"), nil, true},
		{"429 whose wait ends after the budget", 4500 * time.Millisecond, resp(429, "1"), nil, false},
		{"429 asking longer than the budget", 0, resp(429, "7"), nil, false},
		{"429 without Retry-After", 4 * time.Second, resp(429, ""), nil, true},
		{"503 in budget", time.Second, resp(503, ""), nil, true},
		{"503 past budget", 5 * time.Second, resp(503, ""), nil, false},
		{"400 never", 0, resp(400, ""), nil, false},
		{"404 never", 0, resp(404, ""), nil, false},
		{"transport error in budget", time.Second, nil, errors.New("connection reset"), true},
		{"transport error past budget", 5 * time.Second, nil, errors.New("connection reset"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := start.Add(tc.spent)
			b := retryBudget{retry: policy.RetryOptions{StatusCodes: retriedStatuses}, budget: 5 * time.Second, now: func() time.Time { return now }}
			if got := b.shouldRetry(start)(tc.resp, tc.err); got != tc.want {
				t.Errorf("shouldRetry = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWholeSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 6500 * time.Millisecond: 7, 7 * time.Second: 7} {
		if got := WholeSeconds(d); got != want {
			t.Errorf("WholeSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
