package acsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ACS's service limit for the identity API: "Issue access token | 30 | 1000"
// (1000 tokens per 30 s per resource). The emulator enforces a limit only
// when asked (SetIssuanceLimit), scaled down so a test or benchmark hits it.
const (
	ACSIssuanceLimit  = 1000
	ACSIssuanceWindow = 30 * time.Second
)

// issuanceState counts the tokens the resource issued, and limits them.
type issuanceState struct {
	limit     int
	window    time.Duration
	recent    []time.Time // issuance times within the window, oldest first
	issued    int
	throttled int
}

// SetIssuanceLimit makes the resource issue at most n tokens (with a new
// identity or for one) per sliding window; more answer 429 TooManyRequests
// with Retry-After saying when the oldest issuance leaves the window, as
// ACS does. n = 0 removes the limit.
func (e *Emulator) SetIssuanceLimit(n int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.issuance.limit, e.issuance.window, e.issuance.recent = n, window, nil
}

// Issued is how many tokens the resource has issued; Throttled how many
// issuances the limit refused.
func (e *Emulator) Issued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issuance.issued
}

// Throttled is how many token issuances the limit refused with 429.
func (e *Emulator) Throttled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issuance.throttled
}

// takeIssuance records one issuance, or returns how long until one fits;
// the caller holds e.mu.
func (e *Emulator) takeIssuance() (time.Duration, bool) {
	s := &e.issuance
	now := e.opts.Now()
	if s.limit > 0 {
		i := 0
		for i < len(s.recent) && !s.recent[i].After(now.Add(-s.window)) {
			i++
		}
		s.recent = s.recent[i:]
		if len(s.recent) >= s.limit {
			s.throttled++
			return s.recent[0].Add(s.window).Sub(now), false
		}
		s.recent = append(s.recent, now)
	}
	s.issued++
	return 0, true
}

// writeIssuanceThrottled answers 429 as ACS does when a limit is reached.
func writeIssuanceThrottled(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	writeError(w, http.StatusTooManyRequests, "TooManyRequests",
		fmt.Sprintf("the resource's token issuance limit is reached; retry after %s", wait.Round(time.Millisecond)))
}

// LimitsRequest is the body of POST /emulator/limits.
type LimitsRequest struct {
	Issuance *struct {
		Count         int `json:"count"`
		WindowSeconds int `json:"windowSeconds"`
	} `json:"issuance"`
}

func (e *Emulator) routeLimits() {
	e.control.HandleFunc("POST /emulator/limits", func(w http.ResponseWriter, r *http.Request) {
		var req LimitsRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Issuance == nil || req.Issuance.Count < 0 || req.Issuance.WindowSeconds < 1 {
			writeError(w, http.StatusBadRequest, "ValidationError", `body must be {"issuance":{"count":N,"windowSeconds":S}} with N >= 0 (0: no limit) and S >= 1`)
			return
		}
		e.SetIssuanceLimit(req.Issuance.Count, time.Duration(req.Issuance.WindowSeconds)*time.Second)
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("DELETE /emulator/limits", func(w http.ResponseWriter, r *http.Request) {
		e.SetIssuanceLimit(0, 0)
		w.WriteHeader(http.StatusNoContent)
	})
}
