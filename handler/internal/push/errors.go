package push

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// SendError classifies a failed delivery.
type SendError struct {
	Provider   string
	Status     int  // the provider's HTTP status, 0 if none
	Gone       bool // the device handle is no longer valid: delete the device
	Transient  bool // try again later
	RetryAfter time.Duration
	Err        error
}

func (e *SendError) Error() string {
	kind := "permanent"
	switch {
	case e.Gone:
		kind = "gone"
	case e.Transient:
		kind = "transient"
	}
	return fmt.Sprintf("%s push failed (%s, status %d): %v", e.Provider, kind, e.Status, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// IsGone reports a device to prune.
func IsGone(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Gone
}

// IsTransient reports a delivery worth trying again later. Errors that are
// not classified (timeouts, refused connections) are transient.
func IsTransient(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Transient
	}
	return err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrProviderNotConfigured)
}

// ErrProviderNotConfigured means the deployment has no credentials for a provider.
var ErrProviderNotConfigured = errors.New("push provider not configured")

// classify turns a provider's HTTP answer into a SendError (nil for success).
func classify(provider string, resp *http.Response, gone ...int) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &SendError{Provider: provider, Status: resp.StatusCode, Err: errors.New(resp.Status)}
	for _, g := range gone {
		if resp.StatusCode == g {
			se.Gone = true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		se.Transient = true
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			se.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return se
}
