package quota

import (
	"testing"
	"time"
)

// t0 is the start of a minute, an hour and a day.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func TestWindowMovesWithTheClock(t *testing.T) {
	start := t0.Unix()
	w := window{start: start, count: 7, prev: 3}
	tests := []struct {
		name string
		now  time.Time
		want window
	}{
		{"same window", t0.Add(59 * time.Second), w},
		{"next window: this count becomes the previous one", t0.Add(60 * time.Second), window{start: start + 60, prev: 7}},
		{"a window later: nothing counts", t0.Add(120 * time.Second), window{start: start + 120}},
		{"long after", t0.Add(48 * time.Hour), window{start: start + 48*3600}},
		{"a clock behind the row's writer keeps the row", t0.Add(-30 * time.Second), w},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, at := w.at(tt.now, time.Minute)
			if got != tt.want {
				t.Fatalf("at(%s) = %+v, want %+v", tt.now.Sub(t0), got, tt.want)
			}
			if at.Before(tt.now) || at.Before(time.Unix(got.start, 0)) {
				t.Fatalf("effective time %s is before now or the window start", at.Sub(t0))
			}
		})
	}
}

func TestWindowAdmitsAndRetryAfter(t *testing.T) {
	start := t0.Unix()
	tests := []struct {
		name      string
		w         window
		elapsed   time.Duration // into the window
		n, limit  int
		admit     bool
		wantRetry int // seconds, when refused
	}{
		{"empty", window{start: start}, 0, 1, 20, true, 0},
		{"the 20th fits", window{start: start, count: 19}, 10 * time.Second, 1, 20, true, 0},
		// Frees 3 s into the next window, when 20*(1-g) + 1 <= 20.
		{"the 21st within the minute", window{start: start, count: 20}, 10 * time.Second, 1, 20, false, 53},
		{"the 21st right at the start", window{start: start, count: 20}, 0, 1, 20, false, 63},
		// Previous window full, half slid out: 10 counts, 10 more fit.
		{"half of a full previous window", window{start: start, prev: 20}, 30 * time.Second, 10, 20, true, 0},
		// 11 fit once 55% of the previous window slid out, 3 s from now.
		{"one more than fits", window{start: start, prev: 20}, 30 * time.Second, 11, 20, false, 3},
		{"straddling a boundary: 10 before, 10 after", window{start: start, count: 10, prev: 10}, time.Second, 1, 20, false, 5},
		{"a whole quota at once", window{start: start}, 0, 20, 20, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.elapsed)
			if got := tt.w.admits(tt.n, tt.limit, now, time.Minute); got != tt.admit {
				t.Fatalf("admits = %v, want %v (estimate %.2f)", got, tt.admit, tt.w.estimate(now, time.Minute))
			}
			if tt.admit {
				return
			}
			wait := tt.w.retryAfter(tt.n, tt.limit, now, time.Minute)
			if got := retrySeconds(wait); got != tt.wantRetry {
				t.Fatalf("retry after %d s (%s), want %d s", got, wait, tt.wantRetry)
			}
			// At the moment it frees, it fits; a second before, it does not.
			later, at := tt.w.at(now.Add(wait), time.Minute)
			if !later.admits(tt.n, tt.limit, at, time.Minute) {
				t.Fatalf("still refused after the %s Retry-After promised", wait)
			}
			earlier, at := tt.w.at(now.Add(wait-time.Second), time.Minute)
			if earlier.admits(tt.n, tt.limit, at, time.Minute) {
				t.Fatalf("admitted a second before the %s Retry-After promised: the wait is too long", wait)
			}
		})
	}
}

func TestRetrySecondsIsAtLeastOne(t *testing.T) {
	for d, want := range map[time.Duration]int{-time.Second: 1, 0: 1, time.Millisecond: 1, 1200 * time.Millisecond: 2, 53 * time.Second: 53} {
		if got := retrySeconds(d); got != want {
			t.Errorf("retrySeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestWindowEncoding(t *testing.T) {
	w := window{start: t0.Unix(), count: 3, prev: 12}
	got, err := parseWindow(w.String())
	if err != nil || got != w {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{"", "1:2", "a:1:2", "1:-1:0", "1:2:3:4", "1:2:x"} {
		if _, err := parseWindow(bad); err == nil {
			t.Errorf("parseWindow(%q) accepted it", bad)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	f.Add("1772323200:3:12")
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := parseWindow(s)
		if err != nil {
			return
		}
		again, err := parseWindow(w.String())
		if err != nil || again != w {
			t.Fatalf("%q -> %+v does not round-trip: %+v %v", s, w, again, err)
		}
	})
}
