package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// nodeServer starts dev/bench/token-server.mjs, the like-for-like reference:
// the same OIDC issuer, the same Table Storage (its own table) and the same
// ACS emulator as the handler.
func nodeServer(e *env, repo string) (*proc, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not on PATH: the reference needs Node.js")
	}
	return startProc(node, []string{filepath.Join(repo, "dev", "bench", "token-server.mjs")}, filepath.Join(repo, "dev"), []string{
		"ACS_CONNECTION_STRING=" + e.acs.ConnectionString(),
		"AUTH_ISSUER=" + e.issuer.URL(),
		"AUTH_AUDIENCE=" + e.audience(),
		"STORAGE_CONNECTION_STRING=" + e.storageConnectionString(),
		"NODE_USERS_TABLE=nodeusers",
	})
}

// nodeColdStart measures the reference's exec -> first token for a known
// user, and its resident memory, as coldStart does for the handler.
func nodeColdStart(ctx context.Context, e *env, repo string, starts int, r *report) error {
	progress(fmt.Sprintf("node reference: %d starts", starts))
	tok := e.token("bench-node-known")
	p, err := nodeServer(e, repo)
	if err != nil {
		return err
	}
	_, err = waitFor(ctx, time.Now(), "POST", p.base+"/api/token", tok, 200, 30*time.Second) // makes the user known
	p.stop()
	if err != nil {
		return err
	}
	var cold []time.Duration
	var rss []int64
	for range starts {
		t0 := time.Now()
		p, err := nodeServer(e, repo)
		if err != nil {
			return err
		}
		d, err := waitFor(ctx, t0, "POST", p.base+"/api/token", tok, 200, 30*time.Second)
		if err != nil {
			p.stop()
			return err
		}
		cold = append(cold, d)
		rss = append(rss, p.rssKB())
		p.stop()
	}
	slices.Sort(rss)
	r.nodeCold, r.nodeRSS = summarize(cold, 0), rss[len(rss)/2]
	return nil
}

// sideBySide measures the CPU each server process spends per known-user
// token request (user+system time from /proc over the measured requests),
// with latency and throughput, at concurrency 8: Switchboard with the token
// cache off (the same work as the reference: JWT, Table read, ACS call; plus
// its quota write), Switchboard with the cache on, and the Node.js
// reference. Two rounds, the second in reverse order, summed.
func sideBySide(ctx context.Context, e *env, bin, repo string, n int, r *report) error {
	servers := []struct {
		name  string
		user  string
		start func() (*proc, error)
	}{
		{sbCacheOff, "bench-sbs-off", func() (*proc, error) { return startProc(bin, nil, "", e.vars) }},
		{sbCacheOn, "bench-sbs-on", func() (*proc, error) { return startProc(bin, nil, "", e.cacheVars()) }},
		{nodeRef, "bench-sbs-node", func() (*proc, error) { return nodeServer(e, repo) }},
	}
	rows := make([]cpuRow, len(servers))
	for round, order := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		for _, i := range order {
			s := servers[i]
			progress(fmt.Sprintf("side by side, round %d: %s, %d requests at concurrency 8", round+1, s.name, n))
			p, err := s.start()
			if err != nil {
				return err
			}
			tok := e.token(s.user)
			url := p.base + "/api/token"
			if _, err := waitFor(ctx, time.Now(), "POST", url, tok, 200, 30*time.Second); err != nil {
				p.stop()
				return err
			}
			var lat []time.Duration
			var wall time.Duration
			cpu, err := p.cpuOver(func() error {
				var err error
				lat, wall, err = load(ctx, n, 8, func(int) error { return expect(do(ctx, "POST", url, tok, "")) })
				return err
			})
			p.stop()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			row := &rows[i]
			row.name = s.name
			row.cpu += cpu
			row.lat = append(row.lat, lat...)
			row.wall += wall
		}
	}
	r.cpu = rows
	return nil
}

const (
	sbCacheOff = "Switchboard, token cache off"
	sbCacheOn  = "Switchboard, token cache on"
	nodeRef    = "Node.js reference (jose + data-tables + communication-identity)"
)

// cpuRow is one server's side-by-side measurement, both rounds summed.
type cpuRow struct {
	name string
	cpu  time.Duration
	lat  []time.Duration
	wall time.Duration
}

func (c cpuRow) perRequest() time.Duration {
	if len(c.lat) == 0 {
		return 0
	}
	return c.cpu / time.Duration(len(c.lat))
}
