package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"time"
)

// Router is a net/http ServeMux whose unmatched requests get problem answers
// (404, or 405 with Allow), with a request-scoped logger and panic recovery.
type Router struct {
	mux      *http.ServeMux
	log      *slog.Logger
	patterns []string
}

// NewRouter returns an empty router logging to log.
func NewRouter(log *slog.Logger) *Router {
	return &Router{mux: http.NewServeMux(), log: log}
}

// Handle registers h for a Go 1.22 method pattern such as "POST /api/token".
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

// HandleFunc registers f for a Go 1.22 method pattern.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.mux.HandleFunc(pattern, f)
	rt.patterns = append(rt.patterns, pattern)
}

// Patterns lists the patterns registered so far, in registration order: the
// OpenAPI tests compare them with the document.
func (rt *Router) Patterns() []string { return slices.Clone(rt.patterns) }

// ErrorHandlerFunc is a handler that returns its error instead of writing it.
type ErrorHandlerFunc func(http.ResponseWriter, *http.Request) error

func (f ErrorHandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		WriteError(w, r, err)
	}
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h, pattern := rt.mux.Handler(r)
	log := rt.log.With("method", r.Method, "path", r.URL.Path)
	if id := r.Header.Get("X-Azure-Functions-InvocationId"); id != "" {
		log = log.With("invocationId", id)
	}
	r = r.WithContext(context.WithValue(r.Context(), loggerKey{}, log))
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wrote {
				WriteProblem(sw, r, NewProblem(http.StatusInternalServerError, CodeInternal, "an unexpected error occurred"))
			}
		}
		log.Info("request", "status", sw.status, "pattern", pattern, "ms", float64(time.Since(start).Microseconds())/1000)
	}()
	if pattern == "" {
		rt.unmatched(sw, r, h)
		return
	}
	// mux.Handler does not fill in path values; ServeHTTP matches again and does.
	rt.mux.ServeHTTP(sw, r)
}

// unmatched runs the mux's own 404/405/redirect handler into a recorder and
// turns its 404 and 405 into problems, keeping the Allow header.
func (rt *Router) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		WriteProblem(w, r, Problemf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		p := Problemf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))
		WriteProblem(w, r, p.WithHeader("Allow", rec.header.Get("Allow")))
	default: // redirects to the canonical path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(s int) {
	if h.status == 0 {
		h.status = s
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
