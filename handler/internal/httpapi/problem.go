// Package httpapi owns the shape of Switchboard's HTTP surface: RFC 9457
// problem responses with stable codes, JSON request decoding with size and
// type checks, and a router whose 404 and 405 answers are problems too.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// ProblemTypePrefix prefixes every problem's code to form its RFC 9457 type URI.
const ProblemTypePrefix = "urn:switchboard:problem:"

// Problem is an RFC 9457 problem detail. Code is the stable, machine-readable
// name of the problem; clients switch on it, never on Detail.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	// Errors lists individual invalid inputs when there is more than one.
	Errors []FieldError `json:"errors,omitempty"`
	// Quota names the quota a 429 rate-limited answer is about.
	Quota string `json:"quota,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header `json:"-"`
	// cause is the internal error behind the problem; logged, never sent.
	cause error
}

// FieldError names one invalid input.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// NewProblem builds a problem with the standard title for status.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   ProblemTypePrefix + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

// Problemf is NewProblem with a formatted detail.
func Problemf(status int, code, format string, args ...any) *Problem {
	return NewProblem(status, code, fmt.Sprintf(format, args...))
}

// WithCause records the internal error behind p (logged, not sent).
func (p *Problem) WithCause(err error) *Problem { p.cause = err; return p }

// WithHeader adds a response header to p.
func (p *Problem) WithHeader(key, value string) *Problem {
	if p.Header == nil {
		p.Header = http.Header{}
	}
	p.Header.Add(key, value)
	return p
}

func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%s (%d): %s: %v", p.Code, p.Status, p.Detail, p.cause)
	}
	return fmt.Sprintf("%s (%d): %s", p.Code, p.Status, p.Detail)
}

func (p *Problem) Unwrap() error { return p.cause }

// Stable problem codes shared across capabilities. Capabilities add their own.
const (
	CodeNotFound             = "not-found"
	CodeMethodNotAllowed     = "method-not-allowed"
	CodeInvalidJSON          = "invalid-json"
	CodeUnknownField         = "unknown-field"
	CodeInvalidRequest       = "invalid-request"
	CodeUnsupportedMediaType = "unsupported-media-type"
	CodeBodyTooLarge         = "body-too-large"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeConflict             = "conflict"
	CodePreconditionFailed   = "precondition-failed"
	CodeNotConfigured        = "not-configured"
	CodeUpstreamUnavailable  = "upstream-unavailable"
	CodeUpstreamFailed       = "upstream-failed"
	CodeInternal             = "internal"
)

// NotConfigured is the 501 answer of an optional capability whose setting is absent.
func NotConfigured(capability, setting string) *Problem {
	return Problemf(http.StatusNotImplemented, CodeNotConfigured,
		"%s is not configured on this deployment: set %s to enable it", capability, setting)
}

// WriteProblem sends p as application/problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	h := w.Header()
	for k, vs := range p.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteError sends err as a problem: a *Problem anywhere in its chain is sent
// as is; anything else is logged and answered 500 without internal detail.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		if p.Status >= 500 {
			Logger(r.Context()).Error("request failed", "code", p.Code, "status", p.Status, "err", err)
		}
		WriteProblem(w, r, p)
		return
	}
	Logger(r.Context()).Error("unexpected error", "err", err)
	WriteProblem(w, r, NewProblem(http.StatusInternalServerError, CodeInternal,
		"an unexpected error occurred; retry later, and report it if it persists"))
}

// WriteJSON sends v as application/json with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Logger returns the request-scoped logger put there by the router, or the default.
func Logger(ctx interface{ Value(any) any }) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

type loggerKey struct{}
