package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/httpapi"
)

// Typed errors; match them with errors.Is. The *azcore.ResponseError behind
// one stays in the chain.
var (
	ErrNotFound           = errors.New("entity not found")
	ErrConflict           = errors.New("entity already exists")
	ErrPreconditionFailed = errors.New("entity changed since it was read")
)

// storeError joins a typed error with its cause.
type storeError struct {
	kind  error
	cause error
}

func (e *storeError) Error() string   { return fmt.Sprintf("%v: %v", e.kind, e.cause) }
func (e *storeError) Unwrap() []error { return []error{e.kind, e.cause} }

// classify maps an aztables error to our typed errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.StatusCode == http.StatusNotFound:
		return &storeError{ErrNotFound, err}
	case re.StatusCode == http.StatusConflict && re.ErrorCode != "TableBeingDeleted":
		return &storeError{ErrConflict, err}
	case re.StatusCode == http.StatusPreconditionFailed:
		return &storeError{ErrPreconditionFailed, err}
	}
	return err
}

func isTableNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "TableNotFound"
}

// ProblemFor maps a storage error to the problem a client gets: 404, 409,
// 412 and 400 for the typed errors; 502 when storage refuses our
// credential; 503 with Retry-After when storage is unavailable or slow.
// It returns nil for a nil error (an untyped nil, so callers can return it as is).
func ProblemFor(err error) error {
	if err == nil {
		return nil
	}
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return p
	}
	var re *azcore.ResponseError
	switch {
	case errors.Is(err, ErrInvalidKey):
		return httpapi.NewProblem(http.StatusBadRequest, "invalid-key", "an id is empty or too long to store (at most 512 characters once /, \\, #, ? and control characters are escaped)").WithCause(err)
	case errors.Is(err, ErrNotFound):
		return httpapi.NewProblem(http.StatusNotFound, httpapi.CodeNotFound, "not found").WithCause(err)
	case errors.Is(err, ErrConflict):
		return httpapi.NewProblem(http.StatusConflict, httpapi.CodeConflict, "it exists already").WithCause(err)
	case errors.Is(err, ErrPreconditionFailed):
		return httpapi.NewProblem(http.StatusPreconditionFailed, httpapi.CodePreconditionFailed, "it changed meanwhile; read it again and retry").WithCause(err)
	case errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		return httpapi.NewProblem(http.StatusBadGateway, "storage-credential-rejected",
			"Table Storage refused Switchboard's credential; check STORAGE_CONNECTION_STRING, or the managed identity's Storage Table Data Contributor role").WithCause(err)
	case errors.Is(err, context.Canceled):
		return httpapi.NewProblem(499, "request-canceled", "the request was canceled").WithCause(err)
	}
	p = httpapi.NewProblem(http.StatusServiceUnavailable, "storage-unavailable", "Table Storage is unavailable; retry shortly").WithCause(err)
	p.RetryAfter = 2
	return p
}
