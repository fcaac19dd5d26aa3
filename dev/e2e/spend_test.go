package e2e

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

// dialClient is a user whose token holds the dial role (AUTH_PSTN_ROLE).
func dialClient(t *testing.T, s *stack.Stack, userID, name string) *client {
	t.Helper()
	tok, err := s.Issuer.MintUser(userID, name, time.Hour, map[string]any{"roles": []string{"Switchboard.Dial"}})
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: s.URL(), token: tok}
}

// spendStack is a stack with the default quotas and a second handler
// process (its own Functions host) sharing the same Table Storage, as two
// instances of a scaled-out app do.
func spendStack(t *testing.T) (*stack.Stack, string) {
	t.Helper()
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	app, err := funchost.Load(s.AppDir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := funchost.Start(context.Background(), app, funchost.Options{Env: s.Env, Stdout: &logs, Stderr: &logs, ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Close() })
	return s, second.URL()
}

// on returns a copy of c that calls the other handler process.
func (c *client) on(base string) *client {
	cp := *c
	cp.base = base
	return &cp
}

func acsRequests(s *stack.Stack) int {
	n := 0
	for _, v := range s.ACS.RequestCounts() {
		n += v
	}
	return n
}

func TestTokenQuotaAcrossTwoInstances(t *testing.T) {
	s, second := spendStack(t)
	alice := userClient(t, s, "quota-alice", "Alice")
	alice2 := alice.on(second)
	bob := userClient(t, s, "quota-bob", "Bob")

	for i := range 20 {
		c := alice
		if i%2 == 1 {
			c = alice2
		}
		c.ok("POST", "/api/token", "", 200)
	}
	before := acsRequests(s)
	for _, c := range []*client{alice, alice2} {
		p := c.do("POST", "/api/token", "").problem(t, 429, "rate-limited")
		if p["quota"] != "tokens" {
			t.Fatalf("the problem does not name the quota: %v", p)
		}
		retry, err := strconv.Atoi(c.do("POST", "/api/token", "").header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 120 {
			t.Fatalf("Retry-After %d (%v): want seconds until the quota frees", retry, err)
		}
	}
	if n := acsRequests(s) - before; n != 0 {
		t.Fatalf("%d ACS requests for refused token requests", n)
	}
	bob.ok("POST", "/api/token", "", 200)
	bob.on(second).ok("POST", "/api/token", "", 200)

	// A service caller acting for alice spends a bucket of its own.
	svcTok, err := s.Issuer.MintUser("quota-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: second, token: svcTok, hdr: map[string]string{"X-On-Behalf-Of": "quota-alice"}}
	svc.ok("POST", "/api/token", "", 200)

	// A burst for a new user over both processes admits at most the limit.
	burst := userClient(t, s, "quota-burst", "Burst")
	burst.ok("POST", "/api/token", "", 200) // creates the identity
	var admitted, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		c := burst
		if i%2 == 1 {
			c = burst.on(second)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r := c.do("POST", "/api/token", ""); r.status {
			case 200:
				admitted.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("burst: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() > 19 || admitted.Load()+refused.Load() != 100 {
		t.Fatalf("burst over two instances: %d admitted, %d refused; want at most 19 admitted", admitted.Load(), refused.Load())
	}
}

func TestPSTNPolicyPlacesNoCall(t *testing.T) {
	s, second := spendStack(t)
	plain := userClient(t, s, "pstn-plain", "Plain")
	dialler := dialClient(t, s, "pstn-dialler", "Dialler")
	plain.ok("POST", "/api/token", "", 200)
	dialler.ok("POST", "/api/token", "", 200)

	before := s.ACS.Requests("CreateCall")
	refusals := []struct {
		c       *client
		numbers string
		detail  []string
	}{
		{plain, `"+14255550100"`, []string{"role Switchboard.Dial"}},
		{dialler, `"+19005550100","+882355555555"`, []string{"+19005550100: blocked prefix +1900", "+882355555555: blocked prefix +882"}},
		{dialler, `"+33123456789"`, []string{"+33123456789: not under an allowed prefix"}},
		{dialler, `"+14255550100","+19765550100"`, []string{"+19765550100: blocked prefix +1976"}},
	}
	for _, rf := range refusals {
		for _, c := range []*client{rf.c, rf.c.on(second)} {
			p := c.do("POST", "/api/calls", `{"kind":"dial","phoneNumbers":[`+rf.numbers+`]}`).problem(t, 403, "pstn-not-allowed")
			for _, d := range rf.detail {
				if !strings.Contains(p["detail"].(string), d) {
					t.Errorf("detail %q does not say %q", p["detail"], d)
				}
			}
		}
	}
	if n := s.ACS.Requests("CreateCall") - before; n != 0 {
		t.Fatalf("%d Call Automation requests reached ACS for refused numbers", n)
	}
	// Allowed: a role holder dialling the allowed range.
	dialler.ok("POST", "/api/calls", `{"kind":"dial","phoneNumbers":["+14255550123"]}`, 201)
	if n := s.ACS.Requests("CreateCall") - before; n != 1 {
		t.Fatalf("%d CreateCall requests for one allowed dial call", n)
	}
}
