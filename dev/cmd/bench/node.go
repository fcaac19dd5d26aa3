package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// nodeReference measures dev/bench/token-server.mjs the same way.
func nodeReference(ctx context.Context, e *env, repo string, starts, n int, r *report) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node is not on PATH: the reference needs Node.js")
	}
	script := filepath.Join(repo, "dev", "bench", "token-server.mjs")
	dir := filepath.Join(repo, "dev")
	vars := []string{"ACS_CONNECTION_STRING=" + e.acs.ConnectionString()}
	progress(fmt.Sprintf("node reference: %d starts", starts))

	// A known user, as for Switchboard's cold start.
	var created struct {
		ACSUserID string `json:"acsUserId"`
	}
	p, err := startProc(node, []string{script}, dir, vars)
	if err != nil {
		return err
	}
	if _, err := waitFor(ctx, time.Now(), "GET", p.base+"/health", "", 200, 30*time.Second); err != nil {
		p.stop()
		return err
	}
	resp, err := client.Do(mustReq(ctx, "POST", p.base+"/token", ""))
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
	}
	p.stop()
	if err != nil {
		return err
	}
	var cold []time.Duration
	var rss []int64
	for range starts {
		t0 := time.Now()
		p, err := startProc(node, []string{script}, dir, vars)
		if err != nil {
			return err
		}
		d, err := waitFor(ctx, t0, "POST", p.base+"/token?user="+created.ACSUserID, "", 200, 30*time.Second)
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

	p, err = startProc(node, []string{script}, dir, vars)
	if err != nil {
		return err
	}
	defer p.stop()
	url := p.base + "/token?user=" + created.ACSUserID
	if _, err := waitFor(ctx, time.Now(), "POST", url, "", 200, 30*time.Second); err != nil {
		return err
	}
	progress("node reference: token latency at concurrency 8")
	lat, wall, err := load(ctx, n, 8, func(int) error { return expect(do(ctx, "POST", url, "", "")) })
	if err != nil {
		return err
	}
	r.nodeTokens = summarize(lat, wall)
	r.nodeOver = summarize(minus(lat, acsLatency), wall)
	return nil
}
