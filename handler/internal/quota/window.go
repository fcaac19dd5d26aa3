package quota

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// window is one quota's state in a subject's row: the start of the current
// fixed window, what was spent in it, and what was spent in the window
// before. The estimate weighs the previous window by the part of it that
// still overlaps a sliding window ending now (the "two fixed windows,
// weighted" approximation of a sliding window; docs/design.md).
type window struct {
	start int64 // unix seconds, a multiple of the window length
	count int   // spent in [start, start+length)
	prev  int   // spent in [start-length, start)
}

// at moves w to the fixed window that holds now. A row written by an
// instance whose clock runs ahead is never moved back: now is taken as at
// least the row's own window start, so a slow clock cannot reset a count.
func (w window) at(now time.Time, length time.Duration) (window, time.Time) {
	sec := int64(length / time.Second)
	start := now.Unix() - mod(now.Unix(), sec)
	switch {
	case w.start > start: // another instance's clock is ahead
		return w, time.Unix(w.start, 0)
	case w.start == start:
		return w, now
	case w.start == start-sec:
		return window{start: start, prev: w.count}, now
	default:
		return window{start: start}, now
	}
}

// estimate is what counts against the limit at now (w already moved there).
func (w window) estimate(now time.Time, length time.Duration) float64 {
	return float64(w.prev)*(1-w.elapsed(now, length)) + float64(w.count)
}

func (w window) elapsed(now time.Time, length time.Duration) float64 {
	f := float64(now.Sub(time.Unix(w.start, 0))) / float64(length)
	return math.Min(math.Max(f, 0), 1)
}

// admits reports whether n more fit under limit at now.
func (w window) admits(n, limit int, now time.Time, length time.Duration) bool {
	return w.estimate(now, length)+float64(n) <= float64(limit)+1e-9
}

// retryAfter is how long from now until n more would fit under limit, if
// nothing else is spent meanwhile (w already moved to now; n <= limit).
func (w window) retryAfter(n, limit int, now time.Time, length time.Duration) time.Duration {
	start := time.Unix(w.start, 0)
	var at time.Time
	if w.count+n <= limit {
		// Within this window, once enough of the previous one has slid out.
		f := 1 - float64(limit-w.count-n)/float64(w.prev)
		at = start.Add(time.Duration(f * float64(length)))
	} else {
		// In the next window, where this one's count is the weighted part.
		g := 1 - float64(limit-n)/float64(w.count)
		at = start.Add(length).Add(time.Duration(g * float64(length)))
	}
	return at.Sub(now)
}

// retrySeconds rounds a wait up to whole seconds, at least 1 (Retry-After).
func retrySeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}

// String encodes w as one entity property: "start:count:prev".
func (w window) String() string {
	return strconv.FormatInt(w.start, 10) + ":" + strconv.Itoa(w.count) + ":" + strconv.Itoa(w.prev)
}

func parseWindow(s string) (window, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return window{}, fmt.Errorf("quota window %q: want start:count:prev", s)
	}
	start, err1 := strconv.ParseInt(parts[0], 10, 64)
	count, err2 := strconv.Atoi(parts[1])
	prev, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || count < 0 || prev < 0 {
		return window{}, fmt.Errorf("quota window %q: want start:count:prev", s)
	}
	return window{start: start, count: count, prev: prev}, nil
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
