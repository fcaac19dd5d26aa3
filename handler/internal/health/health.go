// Package health answers GET /api/health: the process is alive, and (for
// callers it trusts) the state of each dependency this deployment is
// configured with.
package health

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"switchboard/handler/internal/httpapi"
)

// CheckTimeout bounds each dependency check, so health answers quickly even
// when a dependency hangs.
const CheckTimeout = 3 * time.Second

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Handler runs the named checks in parallel.
type Handler struct {
	checks  map[string]Check
	version string
	details func(*http.Request) bool
}

// NewHandler returns a health handler; version is reported as is. It shows
// dependency details to nobody until DetailsFor says who may see them.
func NewHandler(version string, checks map[string]Check) *Handler {
	return &Handler{checks: checks, version: version}
}

// DetailsFor lets the callers allowed report true for see each dependency's
// state; a failing check's detail can name endpoints and hosts, so everyone
// else gets only the status and the version. It returns h.
func (h *Handler) DetailsFor(allowed func(*http.Request) bool) *Handler {
	h.details = allowed
	return h
}

// Response is the body of GET /api/health.
type Response struct {
	Status       string                `json:"status"` // "ok" or "degraded"
	Version      string                `json:"version"`
	Dependencies map[string]Dependency `json:"dependencies,omitempty"` // for callers DetailsFor allows

}

// Dependency is one dependency's state.
type Dependency struct {
	Status     string  `json:"status"` // "ok", "failing" or "not-configured"
	Detail     string  `json:"detail,omitempty"`
	DurationMS float64 `json:"durationMs"`
}

// ServeHTTP always answers 200 while the process is alive (liveness); the
// status says whether a dependency is failing, and the body says which only
// to callers DetailsFor allows.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := h.Run(r.Context())
	if h.details == nil || !h.details(r) {
		resp.Dependencies = nil
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

// Run runs every check, each bounded by CheckTimeout.
func (h *Handler) Run(ctx context.Context) Response {
	resp := Response{Status: "ok", Version: h.version, Dependencies: map[string]Dependency{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	names := make([]string, 0, len(h.checks))
	for name := range h.checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		check := h.checks[name]
		if check == nil {
			mu.Lock()
			resp.Dependencies[name] = Dependency{Status: "not-configured"}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			start := time.Now()
			err := check(cctx)
			d := Dependency{Status: "ok", DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				d.Status, d.Detail = "failing", err.Error()
			}
			mu.Lock()
			resp.Dependencies[name] = d
			if err != nil {
				resp.Status = "degraded"
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return resp
}
