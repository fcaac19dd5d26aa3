// Command bench is `make bench`: it runs the real handler binary against
// Azurite and the emulators and prints one table of measured figures: cold
// start, memory, token latency and handler overhead, fan-out time, Table
// Storage transactions and ACS calls per operation, CPU per token request
// beside a like-for-like Node.js reference (jose, @azure/data-tables,
// @azure/communication-identity) in the same run, and a morning peak under
// the ACS issuance limit with the token cache on and off.
// It is a program, not a timed test: it reports, it does not assert.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"switchboard/dev/appdir"
)

var (
	quick   = flag.Bool("quick", false, "fewer starts and requests (a rough run in about a minute)")
	docPath = flag.String("doc", "", "also write the results as markdown to this file (e.g. docs/benchmarks.md)")
	only    = flag.String("only", "", "run only these sections, comma-separated (cold,token,fanout,cost,nodecold,side,peak): for working on one; not with -doc")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	repo, err := appdir.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "handler")
	progress("building the handler")
	if err := appdir.Build(ctx, repo, bin, appdir.Options{}); err != nil {
		return err
	}
	env, err := startEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()

	if *only != "" && *docPath != "" {
		return fmt.Errorf("-only writes a partial report: not with -doc")
	}
	r := &report{}
	starts, requests := 20, 2000
	if *quick {
		starts, requests = 5, 300
	}
	if err := section("cold", func() error { return coldStart(ctx, env, bin, starts, r) }); err != nil {
		return err
	}
	if err := section("token", func() error { return tokenLatency(ctx, env, bin, requests, r) }); err != nil {
		return err
	}
	if err := section("fanout", func() error { return fanOut(ctx, env, bin, r) }); err != nil {
		return err
	}
	if err := section("cost", func() error { return cost(ctx, env, bin, r) }); err != nil {
		return err
	}
	if err := section("nodecold", func() error { return nodeColdStart(ctx, env, repo, starts, r) }); err != nil {
		return err
	}
	if err := section("side", func() error { return sideBySide(ctx, env, bin, repo, requests, r) }); err != nil {
		return err
	}
	if err := section("peak", func() error { return peak(ctx, env, bin, r) }); err != nil {
		return err
	}
	out := r.Markdown()
	fmt.Print(out)
	if *docPath != "" {
		if err := writeDoc(*docPath, out); err != nil {
			return err
		}
		progress("wrote " + *docPath)
	}
	return nil
}

// section runs f unless -only leaves it out.
func section(name string, f func() error) error {
	if *only != "" && !slices.Contains(strings.Split(*only, ","), name) {
		return nil
	}
	return f()
}

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench:", msg) }

func writeDoc(path, results string) error {
	doc := `# Benchmarks

Measured by ` + "`make bench`" + ` (` + "`go run ./dev/cmd/bench -doc docs/benchmarks.md`" + `), which
builds the handler, starts Azurite, the local OIDC issuer, the ACS emulator and
the push emulators, and drives the real binary directly on its port (the
Functions host would add one proxy hop). ACS answers after a fixed 20 ms and
push providers after a fixed 50 ms, so Switchboard's own share is visible.
These machines are shared and noisy: compare ratios within one run, not
absolute numbers across runs. CPU per request (user+system time of each
server process, from /proc, over the measured requests) is what two shared
cores distort least; latency tails there are mostly scheduling. Sections
run with the token cache off unless they say otherwise. Reproduce with ` + "`make bench`" + ` (add
` + "`-quick`" + ` via ` + "`go run ./dev/cmd/bench -quick`" + ` for a rough run).

` + results
	return os.WriteFile(path, []byte(doc), 0o644)
}

// discard keeps child process output out of the table.
var discard io.Writer = io.Discard

func since(t time.Time) time.Duration { return time.Since(t) }

func pct(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func verdict(ok bool, detail string) string {
	if ok {
		return "PASS " + detail
	}
	return "MISS " + detail
}
