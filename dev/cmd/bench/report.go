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
	// tables is the time Azurite took over the event's Table requests
	// (added up: the rings quota write overlaps the devices query), batches
	// that of the two batches (claim and record) alone; medians.
	tables, batches stats
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
	cpu                   []cpuRow
	peaks                 []peakRow
}

func (r *report) cpuRow(name string) cpuRow {
	for _, c := range r.cpu {
		if c.name == name {
			return c
		}
	}
	return cpuRow{}
}

// cpuRatio is Switchboard's CPU per request (cache off: the same work as
// the reference) over the reference's.
func (r *report) cpuRatio() float64 {
	return ratio(float64(r.cpuRow(sbCacheOff).perRequest()), float64(r.cpuRow(nodeRef).perRequest()))
}

// ok is the peak target with the cache on: no throttled answer reached a
// client, and ACS never had to refuse an issuance (demand stayed under the
// limit). Other failures are reported beside it.
func (p peakRow) ok() bool { return p.throttled == 0 && p.refused == 0 }

// failureList names the other failures, most frequent first.
func (p peakRow) failureList() string {
	var parts []string
	for k, v := range p.failures {
		parts = append(parts, fmt.Sprintf("%d x %s", v, k))
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] > parts[j] })
	return strings.Join(parts, ", ")
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

	w("## Incoming-call fan-out (push providers at a fixed %s)\n\n| devices | invocation -> all pushes answered (median of %d) | p90 | Table Storage time (median) | of it the claim and record batches | target |\n|---|---|---|---|---|---|\n", pushLatency, len5(r.fan))
	for _, f := range r.fan {
		target := ""
		if f.devices == 100 {
			target = verdict(f.lat.p50 < 2*pushLatency, fmt.Sprintf("< 2x one provider round trip (%s)", 2*pushLatency))
		}
		w("| %d | %s | %s | %s | %s | %s |\n", f.devices, pct(f.lat.p50), pct(f.lat.p90), pct(f.tables.p50), pct(f.batches.p50), target)
	}
	w("\nTable Storage time is how long Azurite (through the counting proxy) took over the event's Table requests, added up; " +
		"the rings quota write runs alongside the devices query, so the sum can exceed what the event waited for. " +
		"The sends go over one HTTP/2 connection to the push emulator, kept open between events.\n")
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
		case c.op == cachedTokenOp:
			target = verdict(cachedTokenOK(c), "1 Table query (profile and cache row) + 1 quota write, no ACS call")
		case limitedSteadyState[c.op]:
			target = verdict(c.quota() == 1, "the quota adds 1 transaction")
		}
		w("| %s | %d | %s | %d | %s |\n", c.op, total, strings.Join(kinds, ", "), c.acs, target)
	}

	w("\n## Like for like: Switchboard and a Node.js reference doing the same job\n\n")
	w("The reference (`dev/bench/token-server.mjs`) does what the ACS samples' trusted service does, in Node.js: verifies the caller's JWT with `jose` against the same local OIDC issuer (discovery + JWKS), reads the user's ACS id from the same Azurite with `@azure/data-tables`, and issues with `@azure/communication-identity` from the same ACS emulator. "+
		"Switchboard does that and also spends the user's token quota (one conditional Table write). Known users, concurrency 8, two rounds in alternated order (%d requests per server in all). "+
		"CPU is each server process's user+system time over the measured requests.\n\n", len(r.cpuRow(nodeRef).lat))
	w("| server | CPU per request | requests/s | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, c := range r.cpu {
		st := summarize(c.lat, c.wall)
		w("| %s | %.3f ms | %.0f | %s | %s |\n", c.name, float64(c.perRequest().Microseconds())/1000, st.perSecond(), pct(st.p50), pct(st.p99))
	}
	w("\n| measure | Switchboard | Node.js reference | ratio (Switchboard / Node) | target |\n|---|---|---|---|---|\n")
	off, on, node := r.cpuRow(sbCacheOff), r.cpuRow(sbCacheOn), r.cpuRow(nodeRef)
	w("| CPU per known-user token request, same work (cache off) | %.3f ms | %.3f ms | %.2f | %s |\n", ms(off.perRequest()), ms(node.perRequest()), r.cpuRatio(), verdict(r.cpuRatio() <= 1.0/3, "<= 1/3"))
	w("| CPU per known-user token request, cache on | %.3f ms | %.3f ms | %.2f | |\n", ms(on.perRequest()), ms(node.perRequest()), ratio(float64(on.perRequest()), float64(node.perRequest())))
	w("| exec -> first token, known user (median) | %s | %s | %.2f | |\n", pct(r.coldToken.p50), pct(r.nodeCold.p50), ratio(ms(r.coldToken.p50), ms(r.nodeCold.p50)))
	w("| resident memory after start | %s | %s | %.2f | |\n", mb(r.rssStart), mb(r.nodeRSS), ratio(float64(r.rssStart), float64(r.nodeRSS)))
	offSt, nodeSt := summarize(off.lat, off.wall), summarize(node.lat, node.wall)
	w("| throughput, concurrency 8 (cache off) | %.0f/s | %.0f/s | %.2f | |\n", offSt.perSecond(), nodeSt.perSecond(), ratio(offSt.perSecond(), nodeSt.perSecond()))

	w("\n## Morning peak under the ACS issuance limit\n\n")
	if len(r.peaks) > 0 {
		p0 := r.peaks[0]
		w("%d known users who each got a token earlier (a warm-up with no limit), then %s at %d requests/s spread across them, while the ACS emulator limits issuance to %d per %s (ACS's %d per %s, scaled down ten times). "+
			"Throttled answers are what clients see: 429, or 503 `acs-throttled` (Switchboard's answer to ACS's 429).\n\n",
			p0.users, p0.duration, peakRate, peakLimit, peakWindow, 1000, 30*time.Second)
	}
	w("| token cache | requests | run took | served | throttled answers | other failures | ACS issuances | refused by the limit | Table transactions per request | handler CPU per request | p50 | p99 | target |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.peaks {
		name, target := "off", ""
		if p.cache {
			name, target = "on", verdict(p.ok(), "0 throttled answers, issuances under the limit")
		}
		cpu := time.Duration(0)
		if p.sent > 0 {
			cpu = p.cpu / time.Duration(p.sent)
		}
		w("| %s | %d | %s | %d | %d | %d | %d | %d | %.2f | %.3f ms | %s | %s | %s |\n", name, p.sent, p.took.Round(time.Second), p.served, p.throttled, p.failed, p.issued, p.refused, p.tablePerRequest(), ms(cpu), pct(p.lat.p50), pct(p.lat.p99), target)
	}
	w("\n")
	for _, p := range r.peaks {
		if p.failed > 0 {
			name := "off"
			if p.cache {
				name = "on"
			}
			w("Other failures with the cache %s (%d of %d): %s. ", name, p.failed, p.sent, p.failureList())
		}
	}
	if len(r.peaks) > 0 {
		w("These are not ACS's limit: they are requests that waited out a timeout when this machine could not keep up with %d requests/s (the like-for-like section's throughput at concurrency 8 is the ceiling here; every request costs about two Azurite transactions on the same two cores). "+
			"The generator never has more than 512 requests in flight, so when the server falls behind the run lasts longer than planned and ACS's window admits more issuances in all.\n", peakRate)
	}
	w("\n## Where a target is missed, and why\n\n")
	missed := false
	sw := r.row("known user", 8)
	if sw.over.p99 >= 2*time.Millisecond {
		missed = true
		w("- Handler overhead p99 at concurrency 8 is %s, %s over the 2 ms target (p50 %s). "+
			"The run shares two cores between the benchmark client, the handler, Azurite (Node.js) and the ACS emulator, and the overhead includes the Table read and the quota write on Azurite; "+
			"the like-for-like Node.js reference shows a p99 of %s at the same concurrency in the same run, so the tail is mostly scheduling on this machine rather than work in the handler (CPU per request, above, is the figure that is not distorted).\n",
			pct(sw.over.p99), pct(sw.over.p99-2*time.Millisecond), pct(sw.over.p50), pct(summarize(r.cpuRow(nodeRef).lat, 0).p99))
	}
	if len(r.cpu) > 0 && r.cpuRatio() > 1.0/3 {
		missed = true
		w("- CPU per known-user token request with the cache off is %.2f of the Node.js reference's, over the 1/3 target. Switchboard's request also spends the quota (one more Table round trip, with its JSON and HTTP) that the reference does not. "+
			"A CPU profile of the handler under this load spreads the time thin: the Table client (aztables decodes each entity it reads into a map and encodes it again before the handler decodes it, and does the same to each entity it writes), "+
			"JWT verification (the RS256 signature check and go-oidc's parsing of the token), the ACS call, HTTP on loopback and the scheduler; garbage collection is a small share. "+
			"The idle connection pools were not the cost at concurrency 8 (azcore keeps 10 per host; the shared client now keeps 100, which matters above that). "+
			"None of the large shares is work the handler can drop (the design requires the verification and the quota write), and the ratio varies by several hundredths between runs on these shared cores.\n", r.cpuRatio())
	}
	for _, p := range r.peaks {
		if p.cache && !p.ok() {
			missed = true
			w("- In the peak with the cache on, %d throttled answers reached clients, and the limit refused %d issuances (%d issued).\n", p.throttled, p.refused, p.issued)
		}
	}
	if r.coldToken.p50 >= 50*time.Millisecond {
		missed = true
		w("- Cold start to first token is %s, %s over the 50 ms target; the process answers its first health check at %s, so the first token takes %s more, %s of it the emulator's fixed ACS latency. "+
			"Discovery and the key set are now fetched in the background as soon as the handler listens, so the first request does not wait for them unless it arrives first; "+
			"it still opens the connections to Azurite and (with TLS) to ACS, and as the first request for that user on a fresh instance it reads the quota row before writing it (three Table round trips before the ACS call).\n",
			pct(r.coldToken.p50), pct(r.coldToken.p50-50*time.Millisecond), pct(r.coldHealth.p50), pct(r.coldToken.p50-r.coldHealth.p50), pct(acsLatency))
	}
	if r.rssStart >= 30*1024 || r.rssAfter >= 30*1024 {
		missed = true
		w("- Resident memory is %s after start and %s after load, over the 30 MB target.\n", mb(r.rssStart), mb(r.rssAfter))
	}
	for _, f := range r.fan {
		if f.devices == 100 && f.lat.p50 >= 2*pushLatency {
			missed = true
			w("- Fan-out to 100 devices takes %s, %s over twice the provider round trip. All 100 sends run in parallel over one HTTP/2 connection that stays open between events (the 10-device fan-out takes %s, one round trip), "+
				"so connections are not what remains: Azurite took %s over the event's Table requests, %s of it for the two 100-entity batches that claim the devices before sending and record the outcome after (the claim is what makes a redelivered event ring each device once, so both stay in the path). "+
				"The rest is the provider round trip and 100 signed requests and their verification on two shared cores.\n",
				pct(f.lat.p50), pct(f.lat.p50-2*pushLatency), pct(r.fan[1].lat.p50), pct(f.tables.p50), pct(f.batches.p50))
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
		if c.op == cachedTokenOp && !cachedTokenOK(c) {
			missed = true
			w("- A cached token costs %d Table transactions (%d for the quota) and %d ACS calls, not 2 (1) and 0.\n", total, c.quota(), c.acs)
		}
		if limitedSteadyState[c.op] && c.quota() != 1 {
			missed = true
			w("- %s: the quota costs %d Table transactions, not 1.\n", c.op, c.quota())
		}
	}
	if !missed {
		w("- None in this run.\n")
	}
	w("\nWhat the handler does about these: the Azure clients (Table Storage, ACS, Notification Hubs) share one HTTP client that keeps up to 100 idle connections per host (azcore's default keeps 10, so above 10 requests in flight a busy instance reconnected, with a TLS handshake, to HTTP/1.1 Table Storage); " +
		"the egress-guarded client for webhooks and Web Push keeps 100 per host as well (the fan-out sends to up to 100 devices at once), with its dial-time checks unchanged; " +
		"an incoming call spends its ring while the callee's devices are read, and claims nothing until the ring is settled; " +
		"the identity provider's discovery document and key set are fetched in the background once the handler listens, and the OpenAPI document is converted to JSON on its first request rather than at start (parsing its YAML delayed every start and held several MB). " +
		"The benchmark's counting proxy in front of Azurite keeps its connections too (it kept 2), which every server here goes through.\n")
	w("\nNotes: a new user's token costs a read, the reservation insert, the reverse-mapping upsert and the profile replace (4 transactions) plus one ACS call (create with token). " +
		"The fan-out row includes the one-time creation of the deliveries table in a fresh process; later events cost one devices query and two batches, plus the ring: its quota write and the lookups that name the caller (the benchmark's caller is an ACS identity no user has, so three reads: user mapping, bots, the recorded app identities; an app user's ring costs one). " +
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

const cachedTokenOp = "token, known user, cache on, token cached"

func cachedTokenOK(c costRow) bool {
	total := 0
	for _, v := range c.tables {
		total += v
	}
	return total == 2 && c.tables["query"] == 1 && c.tables["quota write"] == 1 && c.acs == 0
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
