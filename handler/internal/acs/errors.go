package acs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// IsNotFound reports whether ACS answered 404 (e.g. an unknown or deleted identity).
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsAuthFailure reports whether ACS refused our credential (401/403): the
// access key or managed identity is wrong, not something a retry fixes.
func IsAuthFailure(err error) bool {
	s := statusOf(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// IsThrottled reports whether ACS still answered 429 after the retries.
func IsThrottled(err error) bool { return statusOf(err) == http.StatusTooManyRequests }

// RetryAfter is how long ACS asked us to wait (Retry-After, retry-after-ms or
// x-ms-retry-after-ms on a throttled or unavailable answer), or 0.
func RetryAfter(err error) time.Duration {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return 0
	}
	return retryAfter(re.RawResponse.Header)
}

// RetryAfterSeconds is RetryAfter in whole seconds for our own Retry-After
// header: rounded up, so a client never comes back before ACS asked, and at
// least 1.
func RetryAfterSeconds(err error) int { return WholeSeconds(RetryAfter(err)) }

// WholeSeconds rounds d up to whole seconds, at least 1.
func WholeSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func retryAfter(h http.Header) time.Duration {
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(h.Get(name)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := h.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := time.Until(at); d > 0 {
			return d
		}
	}
	return 0
}

// IsUnavailable reports whether ACS could not serve the call: a 5xx answer,
// a timeout, or a connection that was refused or dropped. The caller's own
// cancellation is not unavailability.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if s := statusOf(err); s != 0 {
		return s >= 500 || s == http.StatusRequestTimeout
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}
