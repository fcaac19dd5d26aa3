package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

func (e *env) token(user string) string {
	tok, err := e.issuer.MintUser(user, "", 2*time.Hour, nil)
	if err != nil {
		panic(err)
	}
	return tok
}

// coldStart: exec -> first 200 from /api/health, and exec -> first 200 from
// POST /api/token for a known user; RSS after start and after 10k requests.
func coldStart(ctx context.Context, e *env, bin string, starts int, r *report) error {
	progress(fmt.Sprintf("cold start: %d starts", 2*starts))
	tok := e.token("bench-known")
	// Make the user known first.
	p, err := startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	if _, err := waitFor(ctx, time.Now(), "POST", p.base+"/api/token", tok, 200, 20*time.Second); err != nil {
		p.stop()
		return err
	}
	p.stop()

	var health, token []time.Duration
	var rss []int64
	for range starts {
		t0 := time.Now()
		p, err := startProc(bin, nil, "", e.vars)
		if err != nil {
			return err
		}
		d, err := waitFor(ctx, t0, "GET", p.base+"/api/health", "", 200, 20*time.Second)
		p.stop()
		if err != nil {
			return err
		}
		health = append(health, d)

		t0 = time.Now()
		p, err = startProc(bin, nil, "", e.vars)
		if err != nil {
			return err
		}
		d, err = waitFor(ctx, t0, "POST", p.base+"/api/token", tok, 200, 20*time.Second)
		if err != nil {
			p.stop()
			return err
		}
		token = append(token, d)
		rss = append(rss, p.rssKB())
		p.stop()
	}
	slices.Sort(rss)
	r.coldHealth, r.coldToken, r.rssStart = summarize(health, 0), summarize(token, 0), rss[len(rss)/2]

	p, err = startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	defer p.stop()
	if _, err := waitFor(ctx, time.Now(), "POST", p.base+"/api/token", tok, 200, 20*time.Second); err != nil {
		return err
	}
	n := 10000
	if *quick {
		n = 2000
	}
	progress(fmt.Sprintf("memory: %d token requests", n))
	if _, _, err := load(ctx, n, 64, func(int) error { return expect(do(ctx, "POST", p.base+"/api/token", tok, "")) }); err != nil {
		return err
	}
	r.rssAfter, r.rssRequests = p.rssKB(), n
	return nil
}

func expect(status int, err error) error {
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d", status)
	}
	return nil
}

// tokenLatency: known and new users at concurrency 1, 8 and 64.
func tokenLatency(ctx context.Context, e *env, bin string, n int, r *report) error {
	p, err := startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	defer p.stop()
	known := e.token("bench-latency-known")
	if _, err := waitFor(ctx, time.Now(), "POST", p.base+"/api/token", known, 200, 20*time.Second); err != nil {
		return err
	}
	for _, c := range []int{1, 8, 64} {
		progress(fmt.Sprintf("token latency: concurrency %d", c))
		lat, wall, err := load(ctx, n, c, func(int) error { return expect(do(ctx, "POST", p.base+"/api/token", known, "")) })
		if err != nil {
			return err
		}
		r.tokens = append(r.tokens, tokenRow{kind: "known user", c: c, lat: summarize(lat, wall), over: summarize(minus(lat, acsLatency), wall)})

		fresh := make([]string, n)
		for i := range fresh {
			fresh[i] = e.token("bench-new-" + uuid.NewString())
		}
		lat, wall, err = load(ctx, n, c, func(i int) error { return expect(do(ctx, "POST", p.base+"/api/token", fresh[i], "")) })
		if err != nil {
			return err
		}
		r.tokens = append(r.tokens, tokenRow{kind: "new user", c: c, lat: summarize(lat, wall), over: summarize(minus(lat, acsLatency), wall)})
	}
	return nil
}

// incomingCall is an IncomingCall envelope for the callevents function, as the host sends it.
func incomingCall(id, callee string) string {
	ev, _ := json.Marshal(map[string]any{
		"id": id, "topic": "/acs", "subject": "call", "eventType": "Microsoft.Communication.IncomingCall",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "1.0",
		"data": map[string]any{
			"to":           map[string]any{"kind": "communicationUser", "rawId": callee, "communicationUser": map[string]any{"id": callee}},
			"from":         map[string]any{"kind": "communicationUser", "rawId": "8:acs:caller", "communicationUser": map[string]any{"id": "8:acs:caller"}},
			"serverCallId": "bench", "incomingCallContext": strings.Repeat("c", 1500), "callerDisplayName": "Bench",
		},
	})
	env, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": string(ev)}, "Metadata": map[string]any{}})
	return string(env)
}

// devicesFor gives a new user n webhook devices on the push emulator.
func devicesFor(ctx context.Context, e *env, base string, n int) (string, error) {
	user := "bench-fan-" + uuid.NewString()
	tok := e.token(user)
	var me struct {
		ACSUserID string `json:"acsUserId"`
	}
	resp, err := client.Do(mustReq(ctx, "POST", base+"/api/token", tok))
	if err != nil {
		return "", err
	}
	err = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	for i := range n {
		id, hookURL := e.push.NewWebhook()
		req, err := http.NewRequestWithContext(ctx, "PUT", fmt.Sprintf("%s/api/devices/d%03d", base, i), strings.NewReader(`{"provider":"webhook","url":"`+hookURL+`"}`))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		var reg struct{ Secret string }
		_ = json.NewDecoder(resp.Body).Decode(&reg)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return "", fmt.Errorf("register device: %d", resp.StatusCode)
		}
		e.push.SetSecret(id, reg.Secret)
	}
	return me.ACSUserID, nil
}

// fanOut: one IncomingCall to a callee with 1, 10 and 100 devices, providers at 50 ms.
func fanOut(ctx context.Context, e *env, bin string, r *report) error {
	p, err := startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	defer p.stop()
	if _, err := waitFor(ctx, time.Now(), "GET", p.base+"/api/health", "", 200, 20*time.Second); err != nil {
		return err
	}
	for _, n := range []int{1, 10, 100} {
		progress(fmt.Sprintf("fan-out: %d devices", n))
		callee, err := devicesFor(ctx, e, p.base, n)
		if err != nil {
			return err
		}
		var ds, tables, batches []time.Duration
		for range 5 {
			e.tables.reset()
			t := time.Now()
			if err := expect(do(ctx, "POST", p.base+"/callevents", "", incomingCall(uuid.NewString(), callee))); err != nil {
				return err
			}
			ds = append(ds, time.Since(t))
			all, b := e.tables.spentSince()
			tables, batches = append(tables, all), append(batches, b)
		}
		r.fan = append(r.fan, fanRow{devices: n, lat: summarize(ds, 0), tables: summarize(tables, 0), batches: summarize(batches, 0)})
	}
	// Sustained: events for a 10-device callee at concurrency 8.
	callee, err := devicesFor(ctx, e, p.base, 10)
	if err != nil {
		return err
	}
	events := 200
	if *quick {
		events = 50
	}
	lat, wall, err := load(ctx, events, 8, func(int) error {
		return expect(do(ctx, "POST", p.base+"/callevents", "", incomingCall(uuid.NewString(), callee)))
	})
	if err != nil {
		return err
	}
	r.fanSustained = summarize(lat, wall)
	return nil
}

// cost counts Table Storage transactions and ACS calls per operation, and
// what the quota check adds to each limited operation.
func cost(ctx context.Context, e *env, bin string, r *report) error {
	progress("cost per operation")
	p, err := startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	defer p.stop()
	// A second instance on the same storage, as a scaled-out app has.
	p2, err := startProc(bin, nil, "", e.vars)
	if err != nil {
		return err
	}
	defer p2.stop()
	// And an instance with the token cache on.
	p3, err := startProc(bin, nil, "", e.cacheVars())
	if err != nil {
		return err
	}
	defer p3.stop()
	known := e.token("bench-cost-known")
	if _, err := waitFor(ctx, time.Now(), "POST", p.base+"/api/token", known, 200, 20*time.Second); err != nil {
		return err
	}
	cachedUser := e.token("bench-cost-cached")
	if _, err := waitFor(ctx, time.Now(), "POST", p3.base+"/api/token", cachedUser, 200, 20*time.Second); err != nil {
		return err
	}
	if _, err := waitFor(ctx, time.Now(), "GET", p2.base+"/api/health", "", 200, 20*time.Second); err != nil {
		return err
	}
	callee, err := devicesFor(ctx, e, p.base, 10)
	if err != nil {
		return err
	}
	// Three users who are each other's contacts, with ACS identities.
	users := []string{"bench-cost-a-" + uuid.NewString(), "bench-cost-b-" + uuid.NewString(), "bench-cost-c-" + uuid.NewString()}
	toks := make([]string, len(users))
	for i, u := range users {
		toks[i] = e.token(u)
		if err := expect(do(ctx, "POST", p.base+"/api/token", toks[i], "")); err != nil {
			return fmt.Errorf("cost setup: %w", err)
		}
	}
	for i := range users {
		for j := range users {
			if i != j {
				if err := expect(do(ctx, "PUT", p.base+"/api/contacts/"+users[j], toks[i], "")); err != nil {
					return fmt.Errorf("cost setup: contacts: %w", err)
				}
			}
		}
	}
	_, hookURL := e.push.NewWebhook()
	device := `{"provider":"webhook","url":"` + hookURL + `"}`
	if err := expectCreated(doJSON(ctx, "PUT", p.base+"/api/devices/d000", toks[0], device, &struct{}{})); err != nil {
		return fmt.Errorf("cost setup: device: %w", err)
	}
	var callID string
	measure := func(name string, f func() error) error {
		e.tables.reset()
		before := e.acs.RequestCounts()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		after := e.acs.RequestCounts()
		acsCalls := 0
		for k, v := range after {
			acsCalls += v - before[k]
		}
		r.costs = append(r.costs, costRow{op: name, tables: e.tables.reset(), acs: acsCalls})
		return nil
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"token, known user", func() error { return expect(do(ctx, "POST", p.base+"/api/token", known, "")) }},
		{"token, new user", func() error {
			return expect(do(ctx, "POST", p.base+"/api/token", e.token("bench-cost-"+uuid.NewString()), ""))
		}},
		{"token, known user, cache on, token cached", func() error { return expect(do(ctx, "POST", p3.base+"/api/token", cachedUser, "")) }},
		{"token, known user, first on another instance", func() error { return expect(do(ctx, "POST", p2.base+"/api/token", known, "")) }},
		{"token, known user, after another instance spent", func() error { return expect(do(ctx, "POST", p.base+"/api/token", known, "")) }},
		{"contacts list", func() error { return expect(do(ctx, "GET", p.base+"/api/contacts", known, "")) }},
		{"device registration (refresh)", func() error {
			return expect(doJSON(ctx, "PUT", p.base+"/api/devices/d000", toks[0], device, &struct{}{}))
		}},
		{"group call, 1 invitee", func() error {
			var c struct{ ID string }
			err := expectCreated(doJSON(ctx, "POST", p.base+"/api/calls", toks[0], `{"kind":"group","invitees":["`+users[1]+`"]}`, &c))
			callID = c.ID
			return err
		}},
		{"invite 1 more to the call", func() error {
			return expect(doJSON(ctx, "POST", p.base+"/api/calls/"+callID+"/invites", toks[0], `{"invitees":["`+users[2]+`"]}`, &struct{}{}))
		}},
		{"fan-out, 10 devices", func() error {
			return expect(do(ctx, "POST", p.base+"/callevents", "", incomingCall(uuid.NewString(), callee)))
		}},
	}
	for _, s := range steps {
		if err := measure(s.name, s.f); err != nil {
			return err
		}
	}
	return nil
}

// doJSON sends a JSON body and decodes a JSON answer into v.
func doJSON(ctx context.Context, method, url, token, body string, v any) (int, error) {
	req := mustReq(ctx, method, url, token)
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode, nil
}

func expectCreated(status int, err error) error {
	if err == nil && status != http.StatusCreated {
		return fmt.Errorf("status %d", status)
	}
	return err
}
