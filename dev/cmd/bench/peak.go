package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The peak scenario: ACS's 1000 issuances per 30 s scaled down ten times,
// and the morning app-open wave scaled with it.
const (
	peakLimit  = 100
	peakWindow = 30 * time.Second
	peakRate   = 200 // requests per second
)

// peakRow is one run of the peak scenario.
type peakRow struct {
	cache             bool
	users             int
	duration          time.Duration // planned
	took              time.Duration // from the first request to the last answer
	sent, served      int
	throttled, failed int // throttled: 429, or 503 acs-throttled, as clients see them
	issued, refused   int // at ACS: tokens issued, issuances the limit refused
	tables            map[string]int
	failures          map[string]int // other failures, by status and problem code (or transport error)
	cpu               time.Duration
	lat               stats
}

func (p peakRow) tablePerRequest() float64 {
	n := 0
	for _, v := range p.tables {
		n += v
	}
	if p.sent == 0 {
		return 0
	}
	return float64(n) / float64(p.sent)
}

// peak: users who each got a token earlier (a warm-up with no limit), then
// peakRate requests per second spread across them for a while, with the
// emulator limiting issuance to peakLimit per peakWindow; cache on, then off.
func peak(ctx context.Context, e *env, bin string, r *report) error {
	users, duration := 1000, 60*time.Second
	if *quick {
		users, duration = 200, 15*time.Second
	}
	toks := make([]string, users)
	for i := range toks {
		toks[i] = e.token(fmt.Sprintf("bench-peak-%04d", i))
	}
	progress(fmt.Sprintf("peak: warm-up, %d users get a token (no limit)", users))
	p, err := startProc(bin, nil, "", e.cacheVars())
	if err != nil {
		return err
	}
	if _, err := waitFor(ctx, time.Now(), "GET", p.base+"/api/health", "", 200, 20*time.Second); err != nil {
		p.stop()
		return err
	}
	_, _, err = load(ctx, users, 8, func(i int) error { return expect(do(ctx, "POST", p.base+"/api/token", toks[i], "")) })
	p.stop()
	if err != nil {
		return fmt.Errorf("peak warm-up: %w", err)
	}
	for _, cache := range []bool{true, false} {
		vars := e.vars
		if cache {
			vars = e.cacheVars()
		}
		progress(fmt.Sprintf("peak: %s at %d/s across %d users, cache on: %v", duration, peakRate, users, cache))
		row, err := peakRun(ctx, e, bin, vars, toks, duration)
		if err != nil {
			return err
		}
		row.cache = cache
		r.peaks = append(r.peaks, row)
	}
	return nil
}

func peakRun(ctx context.Context, e *env, bin string, vars, toks []string, duration time.Duration) (peakRow, error) {
	p, err := startProc(bin, nil, "", vars)
	if err != nil {
		return peakRow{}, err
	}
	defer p.stop()
	if _, err := waitFor(ctx, time.Now(), "GET", p.base+"/api/health", "", 200, 20*time.Second); err != nil {
		return peakRow{}, err
	}
	e.acs.SetIssuanceLimit(peakLimit, peakWindow)
	defer e.acs.SetIssuanceLimit(0, 0)
	row := peakRow{users: len(toks), duration: duration, failures: map[string]int{}}
	e.tables.reset()
	issued, refused := e.acs.Issued(), e.acs.Throttled()
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	cpu, err := p.cpuOver(func() error {
		var wg sync.WaitGroup
		inflight := make(chan struct{}, 512)
		interval := time.Second / peakRate
		start := time.Now()
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= duration {
				break
			}
			time.Sleep(time.Until(at))
			inflight <- struct{}{}
			wg.Add(1)
			go func(tok string) {
				defer wg.Done()
				defer func() { <-inflight }()
				t := time.Now()
				status, code, err := doCode(ctx, p.base+"/api/token", tok)
				d := time.Since(t)
				mu.Lock()
				defer mu.Unlock()
				row.sent++
				lat = append(lat, d)
				switch {
				case err != nil:
					row.failed++
					row.failures["no answer within the client's 30 s"]++
					if firstErr == nil {
						firstErr = err
					}
				case status == http.StatusOK:
					row.served++
				case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable && code == "acs-throttled":
					row.throttled++
				default:
					row.failed++
					row.failures[strings.TrimSpace(fmt.Sprintf("%d %s", status, code))]++
				}
			}(toks[i%len(toks)])
		}
		wg.Wait()
		row.took = time.Since(start)
		return nil
	})
	if err != nil {
		return peakRow{}, err
	}
	row.cpu = cpu
	row.lat = summarize(lat, duration)
	row.issued, row.refused = e.acs.Issued()-issued, e.acs.Throttled()-refused
	row.tables = e.tables.reset()
	if firstErr != nil && row.served == 0 {
		return row, fmt.Errorf("peak: %w", firstErr)
	}
	return row, nil
}

// doCode sends POST url with a bearer token and returns the status and,
// for a problem answer, its code.
func doCode(ctx context.Context, url, token string) (int, string, error) {
	resp, err := client.Do(mustReq(ctx, "POST", url, token))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	if resp.StatusCode != http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.NewDecoder(resp.Body).Decode(&body)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
	return resp.StatusCode, body.Code, nil
}
