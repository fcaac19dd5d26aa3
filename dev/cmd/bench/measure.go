package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// stats summarises a set of durations.
type stats struct {
	n             int
	p50, p90, p99 time.Duration
	total         time.Duration // wall time of the run, for throughput
}

func summarize(ds []time.Duration, wall time.Duration) stats {
	s := stats{n: len(ds), total: wall}
	if len(ds) == 0 {
		return s
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	s.p50, s.p90, s.p99 = percentile(sorted, 0.50), percentile(sorted, 0.90), percentile(sorted, 0.99)
	return s
}

// percentile of sorted values, nearest-rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s stats) perSecond() float64 {
	if s.total <= 0 {
		return 0
	}
	return float64(s.n) / s.total.Seconds()
}

// load runs n calls of f over c workers and returns each call's latency.
func load(ctx context.Context, n, c int, f func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("request %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

// minus subtracts a fixed upstream latency from each measurement.
func minus(ds []time.Duration, d time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, x := range ds {
		out[i] = x - d
	}
	return out
}
