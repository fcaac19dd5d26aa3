package acsemu

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// faultState is what the emulator currently does wrong on purpose.
type faultState struct {
	latency    time.Duration
	down       bool
	failCount  int
	failStatus int
	retryAfter time.Duration
}

// SetLatency delays every ACS request by d before it is served (0 disables);
// benchmarks use it to stand in for the network distance to Azure.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.latency = d
}

// FailNext answers the next n ACS operations with status (429, 500, 503...)
// and an ACS error body; a positive retryAfter is sent as Retry-After (whole
// seconds, rounded up).
func (e *Emulator) FailNext(n, status int, retryAfter time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.failCount, e.faults.failStatus, e.faults.retryAfter = n, status, retryAfter
}

// SetDown makes the emulator close every ACS connection without answering,
// as a dead or unreachable endpoint would.
func (e *Emulator) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.down = down
}

// ResetFaults clears every injected fault.
func (e *Emulator) ResetFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = faultState{}
}

// applyConnectionFaults sleeps the injected latency and drops the connection
// when down; it reports whether the request should still be served.
func (e *Emulator) applyConnectionFaults(w http.ResponseWriter, r *http.Request) bool {
	e.mu.Lock()
	latency, down := e.faults.latency, e.faults.down
	e.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	if !down {
		return true
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Not on a real connection (e.g. httptest.ResponseRecorder): the closest is a bare 503.
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	if conn, _, err := hj.Hijack(); err == nil {
		_ = conn.Close()
	}
	return false
}

// applyStatusFault answers with the injected failure status while any remain.
func (e *Emulator) applyStatusFault(w http.ResponseWriter) bool {
	e.mu.Lock()
	f := e.faults
	if f.failCount > 0 {
		e.faults.failCount--
	}
	e.mu.Unlock()
	if f.failCount <= 0 {
		return true
	}
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
	}
	code := "InternalServerError"
	switch f.failStatus {
	case http.StatusTooManyRequests:
		code = "TooManyRequests"
	case http.StatusServiceUnavailable:
		code = "ServiceUnavailable"
	}
	writeError(w, f.failStatus, code, fmt.Sprintf("injected fault: %d %s", f.failStatus, http.StatusText(f.failStatus)))
	return false
}
