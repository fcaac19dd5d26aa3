package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type tokenRow struct {
	kind      string
	c         int
	lat, over stats
}

type fanRow struct {
	devices int
	lat     stats
}

type costRow struct {
	op     string
	tables map[string]int
	acs    int
}

type report struct {
	coldHealth, coldToken stats
	rssStart, rssAfter    int64
	rssRequests           int
	tokens                []tokenRow
	fan                   []fanRow
	fanSustained          stats
	costs                 []costRow
	nodeCold              stats
	nodeRSS               int64
	nodeTokens, nodeOver  stats
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Markdown renders every measurement with its target and verdict.
func (r *report) Markdown() string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }

	w("## Cold start and memory\n\n| measure | value | target |\n|---|---|---|\n")
	w("| exec -> first 200 from /api/health (median / p90 of %d) | %s / %s | |\n", r.coldHealth.n, pct(r.coldHealth.p50), pct(r.coldHealth.p90))
	w("| exec -> first 200 from POST /api/token, known user (median / p90 of %d) | %s / %s | %s |\n", r.coldToken.n, pct(r.coldToken.p50), pct(r.coldToken.p90),
		verdict(r.coldToken.p50 < 50*time.Millisecond, "< 50 ms"))
	w("| resident memory after start (median) | %s | %s |\n", mb(r.rssStart), verdict(r.rssStart < 30*1024, "< 30 MB"))
	w("| resident memory after %d token requests | %s | %s |\n\n", r.rssRequests, mb(r.rssAfter), verdict(r.rssAfter < 30*1024, "< 30 MB"))

	w("## Token issuance (ACS emulator at a fixed %s)\n\n", acsLatency)
	w("| user | concurrency | requests/s | p50 | p99 | handler overhead p50 | overhead p99 | target |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range r.tokens {
		target := ""
		if t.kind == "known user" && t.c == 8 {
			target = verdict(t.over.p99 < 2*time.Millisecond, "overhead p99 < 2 ms")
		}
		w("| %s | %d | %.0f | %s | %s | %s | %s | %s |\n", t.kind, t.c, t.lat.perSecond(), pct(t.lat.p50), pct(t.lat.p99), pct(t.over.p50), pct(t.over.p99), target)
	}
	w("\nOverhead is latency minus the emulator's fixed ACS latency: JWT verification, one Table read (two writes and a create for a new user), JSON, HTTP on loopback and the benchmark client itself.\n\n")

	w("## Incoming-call fan-out (push providers at a fixed %s)\n\n| devices | invocation -> all pushes answered (median of %d) | p90 | target |\n|---|---|---|---|\n", pushLatency, len5(r.fan))
	for _, f := range r.fan {
		target := ""
		if f.devices == 100 {
			target = verdict(f.lat.p50 < 2*pushLatency, fmt.Sprintf("< 2x one provider round trip (%s)", 2*pushLatency))
		}
		w("| %d | %s | %s | %s |\n", f.devices, pct(f.lat.p50), pct(f.lat.p90), target)
	}
	w("\nSustained: %.0f IncomingCall events/s for a 10-device callee at concurrency 8 (p50 %s, p99 %s).\n\n", r.fanSustained.perSecond(), pct(r.fanSustained.p50), pct(r.fanSustained.p99))

	w("## Cost per operation\n\n| operation | Table Storage transactions | of which | ACS calls | target |\n|---|---|---|---|---|\n")
	for _, c := range r.costs {
		total := 0
		var kinds []string
		for k, v := range c.tables {
			total += v
			kinds = append(kinds, fmt.Sprintf("%d %s", v, k))
		}
		sort.Strings(kinds)
		target := ""
		switch {
		case c.op == "token, known user":
			target = verdict(knownTokenOK(c), "1 Table read + 1 quota write + 1 ACS call")
		case limitedSteadyState[c.op]:
			target = verdict(c.quota() == 1, "the quota adds 1 transaction")
		}
		w("| %s | %d | %s | %d | %s |\n", c.op, total, strings.Join(kinds, ", "), c.acs, target)
	}

	w("\n## Side by side: the same token issuance in Node.js with the official SDK\n\n")
	w("The reference (`dev/bench/token-server.mjs`) is what the Azure samples do in a JavaScript function: `@azure/communication-identity` against the same emulator. It does no caller authentication and no storage; Switchboard verifies a JWT and reads Table Storage on every request.\n\n")
	w("| measure | Switchboard | Node.js + SDK | ratio (Switchboard / Node) |\n|---|---|---|---|\n")
	w("| exec -> first token, known user (median) | %s | %s | %.2f |\n", pct(r.coldToken.p50), pct(r.nodeCold.p50), ratio(ms(r.coldToken.p50), ms(r.nodeCold.p50)))
	w("| resident memory after start | %s | %s | %.2f |\n", mb(r.rssStart), mb(r.nodeRSS), ratio(float64(r.rssStart), float64(r.nodeRSS)))
	sw := r.row("known user", 8)
	w("| known-user token overhead p50, concurrency 8 | %s | %s | %.2f |\n", pct(sw.over.p50), pct(r.nodeOver.p50), ratio(ms(sw.over.p50), ms(r.nodeOver.p50)))
	w("| known-user token overhead p99, concurrency 8 | %s | %s | %.2f |\n", pct(sw.over.p99), pct(r.nodeOver.p99), ratio(ms(sw.over.p99), ms(r.nodeOver.p99)))
	w("| throughput, concurrency 8 | %.0f/s | %.0f/s | %.2f |\n", sw.lat.perSecond(), r.nodeTokens.perSecond(), ratio(sw.lat.perSecond(), r.nodeTokens.perSecond()))

	w("\n## Where a target is missed, and why\n\n")
	missed := false
	if sw.over.p99 >= 2*time.Millisecond {
		missed = true
		w("- Handler overhead p99 at concurrency 8 is %s, %s over the 2 ms target (p50 %s). "+
			"The run shares two cores between the benchmark client, the handler, Azurite (Node.js) and the ACS emulator, and the overhead includes the Table read on Azurite; "+
			"the Node.js reference, which does no authentication and no storage, shows a p99 overhead of %s on the same machine in the same run, so the tail is mostly scheduling on this machine rather than work in the handler.\n",
			pct(sw.over.p99), pct(sw.over.p99-2*time.Millisecond), pct(sw.over.p50), pct(r.nodeOver.p99))
	}
	if r.coldToken.p50 >= 50*time.Millisecond {
		missed = true
		w("- Cold start to first token is %s, %s over the 50 ms target.\n", pct(r.coldToken.p50), pct(r.coldToken.p50-50*time.Millisecond))
	}
	if r.rssStart >= 30*1024 || r.rssAfter >= 30*1024 {
		missed = true
		w("- Resident memory is %s after start and %s after load, over the 30 MB target.\n", mb(r.rssStart), mb(r.rssAfter))
	}
	for _, f := range r.fan {
		if f.devices == 100 && f.lat.p50 >= 2*pushLatency {
			missed = true
			w("- Fan-out to 100 devices takes %s, %s over twice the provider round trip. All 100 sends run in parallel (the 10-device fan-out takes %s, one round trip); "+
				"what remains is opening 100 new connections to the push emulator and scheduling them on two shared cores.\n", pct(f.lat.p50), pct(f.lat.p50-2*pushLatency), pct(r.fan[1].lat.p50))
		}
	}
	for _, c := range r.costs {
		total := 0
		for _, v := range c.tables {
			total += v
		}
		if c.op == "token, known user" && !knownTokenOK(c) {
			missed = true
			w("- A known user's token costs %d Table transactions (%d for the quota) and %d ACS calls, not 2 (1) and 1.\n", total, c.quota(), c.acs)
		}
		if limitedSteadyState[c.op] && c.quota() != 1 {
			missed = true
			w("- %s: the quota costs %d Table transactions, not 1.\n", c.op, c.quota())
		}
	}
	if !missed {
		w("- None in this run.\n")
	}
	w("\nNotes: a new user's token costs a read, the reservation insert, the reverse-mapping upsert and the profile replace (4 transactions) plus one ACS call (create with token). " +
		"The fan-out row includes the one-time creation of the deliveries table in a fresh process; later events cost one devices query and two batches. " +
		"New users at concurrency 64 contend on Azurite's writes, which is what its tail shows.\n\n" +
		"The quota (handler/internal/quota, docs/design.md) is one row per user, changed by ETag-conditional writes. " +
		"An instance keeps the row it last wrote as a hint, so a limited operation costs one conditional write there, and a refusal none. " +
		"Without a hint (a new user, or the first request for a user on this instance) it costs a read and a write; " +
		"when another instance spent since, the stale write is refused and it costs three (refused write, read, write). " +
		"Requests for one user that arrive together on one instance are settled by one write, so a burst for one user does not queue a write per request.\n")
	return b.String()
}

// limitedSteadyState are the quota'd operations measured where this
// instance holds the user's quota row: the quota must add one transaction.
var limitedSteadyState = map[string]bool{
	"device registration (refresh)": true,
	"group call, 1 invitee":         true,
	"invite 1 more to the call":     true,
}

// quota counts the transactions on the quotas table.
func (c costRow) quota() int {
	n := 0
	for k, v := range c.tables {
		if strings.HasPrefix(k, "quota ") {
			n += v
		}
	}
	return n
}

func knownTokenOK(c costRow) bool {
	total := 0
	for _, v := range c.tables {
		total += v
	}
	return total == 2 && c.tables["read"] == 1 && c.tables["quota write"] == 1 && c.acs == 1
}

func (r *report) row(kind string, c int) tokenRow {
	for _, t := range r.tokens {
		if t.kind == kind && t.c == c {
			return t
		}
	}
	return tokenRow{}
}

func len5(f []fanRow) int {
	if len(f) == 0 {
		return 0
	}
	return f[0].lat.n
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
