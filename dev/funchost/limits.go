package funchost

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// The host's front end is Kestrel; these are its defaults (KestrelServerLimits):
// headers within 30 s, idle keep-alive connections closed after 130 s, and a
// request body arriving at 240 bytes/s at least once a 5 s grace period is over.
const (
	DefaultRequestHeadersTimeout = 30 * time.Second
	DefaultKeepAliveTimeout      = 130 * time.Second
	DefaultMinBodyDataRate       = 240 // bytes per second
	DefaultMinBodyRateGrace      = 5 * time.Second
)

// FrontEndLimits are the front end's connection limits; zero fields get the defaults above.
type FrontEndLimits struct {
	RequestHeadersTimeout time.Duration
	KeepAliveTimeout      time.Duration
	MinBodyDataRate       int // bytes per second
	MinBodyRateGrace      time.Duration
}

func (l FrontEndLimits) withDefaults() FrontEndLimits {
	if l.RequestHeadersTimeout <= 0 {
		l.RequestHeadersTimeout = DefaultRequestHeadersTimeout
	}
	if l.KeepAliveTimeout <= 0 {
		l.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if l.MinBodyDataRate <= 0 {
		l.MinBodyDataRate = DefaultMinBodyDataRate
	}
	if l.MinBodyRateGrace <= 0 {
		l.MinBodyRateGrace = DefaultMinBodyRateGrace
	}
	return l
}

// errBodyTooSlow is a body read cut off by the minimum data rate.
var errBodyTooSlow = errors.New("funchost: request body arrived below the minimum data rate")

// minRateBody enforces the minimum body data rate the way Kestrel does: not
// during the grace period, then the body read so far must have arrived at
// the minimum rate since the first read. Each read gets the connection read
// deadline at which it would fall below that rate.
type minRateBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	limits  FrontEndLimits
	start   time.Time
	n       int64
	tooSlow atomic.Bool
	// deadline is the read deadline in force (UnixNano), 0 when none; read
	// from other goroutines, as the transport reads the body in its own.
	deadline atomic.Int64
	// capture, when set, keeps the body's first bytes for the journal.
	capture *capBuf
}

func (b *minRateBody) Read(p []byte) (int, error) {
	if b.start.IsZero() {
		b.start = time.Now()
	}
	allowed := time.Duration(b.n+1) * time.Second / time.Duration(b.limits.MinBodyDataRate)
	d := b.start.Add(max(b.limits.MinBodyRateGrace, allowed))
	b.deadline.Store(d.UnixNano())
	_ = b.rc.SetReadDeadline(d)
	n, err := b.body.Read(p)
	b.n += int64(n)
	if b.capture != nil && n > 0 {
		_, _ = b.capture.Write(p[:n])
	}
	if err == io.EOF {
		// The whole body is in: lift the deadline, so a long (streamed) answer is not cut.
		b.deadline.Store(0)
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	var ne interface{ Timeout() bool }
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		b.tooSlow.Store(true)
		return n, errBodyTooSlow
	}
	return n, err
}

func (b *minRateBody) Close() error { return b.body.Close() }

// expired reports whether the body fell below the minimum rate. A failed
// forward asks this rather than its error, which may be the request's
// cancellation (the server cancels it when the body read times out).
func (b *minRateBody) expired() bool {
	if b.tooSlow.Load() {
		return true
	}
	d := b.deadline.Load()
	return d != 0 && time.Now().UnixNano() >= d
}

// slowBodyAnswer answers a request whose body was too slow as Kestrel does:
// 408, and the connection is closed.
func slowBodyAnswer(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusRequestTimeout)
}
