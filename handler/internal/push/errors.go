package push

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// Is lets errors.Is(err, ErrGone) find a gone device without knowing SendError.
func (e *SendError) Is(target error) bool { return target == ErrGone && e.Gone }

// ErrGone matches (errors.Is) a delivery whose device handle is no longer
// valid: the device registration should be deleted.
var ErrGone = errors.New("push handle gone")

// IsGone reports a device to prune.
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// RetryAfter is how long the provider asked us to wait before trying again (0: unsaid).
func RetryAfter(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
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
	// The provider's own words (NH answers an XML <Error><Detail>) help whoever reads the log.
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := resp.Status
	if d := strings.TrimSpace(string(detail)); d != "" {
		msg += ": " + d
	}
	se := &SendError{Provider: provider, Status: resp.StatusCode, Err: errors.New(msg)}
	for _, g := range gone {
		if resp.StatusCode == g {
			se.Gone = true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		se.Transient = true
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return se
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 32); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
