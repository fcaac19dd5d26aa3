package e2e

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

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

// TestSpendWithoutQuotaBefore covers the spending that had no quota: spaces
// and their invitations, Call Automation work, token revocations, and the
// pushes chat messages and guests' texts cause. Low limits keep it short.
func TestSpendWithoutQuotaBefore(t *testing.T) {
	ctx := context.Background()
	s, err := stack.Start(ctx, stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs, Env: []string{
		"QUOTA_SPACES_PER_HOUR=4", "QUOTA_SPACE_INVITES_PER_HOUR=3", "QUOTA_REVOCATIONS_PER_HOUR=2",
		"QUOTA_CALL_AUTOMATION_PER_HOUR=2", "QUOTA_CHAT_PUSHES_PER_HOUR=2", "QUOTA_GUEST_REPLIES_PER_HOUR=2",
		"QUOTA_RINGS_PER_HOUR=2", "QUOTA_TEAMS_MEETINGS_PER_DAY=1", "QUOTA_APP_TEAMS_MEETINGS_PER_DAY=2",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	overQuota := func(t *testing.T, r response, quota string) {
		t.Helper()
		if p := r.problem(t, 429, "rate-limited"); p["quota"] != quota {
			t.Fatalf("the problem names quota %v, want %s", p["quota"], quota)
		}
		if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 || retry > 2*86400 { // up to two windows (a day at most): the previous one still counts
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}

	t.Run("spaces", func(t *testing.T) {
		alice, bob := userClient(t, s, "sq-alice", "Alice"), userClient(t, s, "sq-bob", "Bob")
		for range 4 {
			alice.ok("POST", "/api/spaces", `{"name":"one of four"}`, 201)
		}
		overQuota(t, alice.do("POST", "/api/spaces", `{"name":"fifth"}`), "spaces")
		if n := len(alice.ok("GET", "/api/spaces", "", 200)["value"].([]any)); n != 4 {
			t.Fatalf("alice has %d spaces, want the 4 admitted", n)
		}
		bob.ok("POST", "/api/spaces", `{"name":"bob's"}`, 201)
	})

	t.Run("space invitations", func(t *testing.T) {
		owner := userClient(t, s, "si-owner", "Owner")
		path := "/api/spaces/" + owner.ok("POST", "/api/spaces", `{"name":"Invites"}`, 201)["id"].(string)
		for i := range 3 {
			owner.ok("PUT", path+"/members/si-"+strconv.Itoa(i), "", 200)
		}
		// An idempotent re-PUT writes no invitation: it spends nothing.
		owner.ok("PUT", path+"/members/si-2", "", 200)
		overQuota(t, owner.do("PUT", path+"/members/si-late", ""), "space-invites")
		late := userClient(t, s, "si-late", "Late")
		if n := len(late.ok("GET", "/api/spaces", "", 200)["value"].([]any)); n != 0 {
			t.Fatalf("a refused invitation is listed for its invitee (%d entries)", n)
		}
		// Accepting is not inviting: it spends nothing.
		userClient(t, s, "si-0", "Zero").ok("PUT", path+"/members/si-0", "", 200)
	})

	t.Run("revocations", func(t *testing.T) {
		u := userClient(t, s, "rq-user", "User")
		u.ok("POST", "/api/token", "", 200)
		u.ok("POST", "/api/me/revoke", "", 204)
		u.ok("POST", "/api/me/revoke", "", 204)
		before := s.ACS.Requests("RevokeAccessTokens")
		overQuota(t, u.do("POST", "/api/me/revoke", ""), "revocations")
		// Erasing deletes the identity (and the next token makes another): it
		// spends the same quota.
		beforeDelete := s.ACS.Requests("DeleteIdentity")
		overQuota(t, u.do("DELETE", "/api/me", ""), "revocations")
		if n := s.ACS.Requests("RevokeAccessTokens") - before + s.ACS.Requests("DeleteIdentity") - beforeDelete; n != 0 {
			t.Fatalf("%d ACS requests for refused requests", n)
		}
		if me := u.ok("GET", "/api/me", "", 200); me["acsUserId"] == "" {
			t.Fatal("a refused erasure erased the user")
		}
	})

	t.Run("teams meetings", func(t *testing.T) {
		u := userClient(t, s, "tm-user", "User")
		u.ok("POST", "/api/calls", `{"kind":"teams","subject":"the one"}`, 201)
		meetings := s.Graph.Requests("createOrGet")
		overQuota(t, u.do("POST", "/api/calls", `{"kind":"teams","subject":"one too many"}`), "teams-meetings")
		if n := s.Graph.Requests("createOrGet") - meetings; n != 0 {
			t.Fatalf("%d meetings created for a refused request", n)
		}
		u.ok("POST", "/api/calls", `{"kind":"group"}`, 201) // other kinds are not meetings
		// The app-wide bound (2 here): a second user's meeting fits, a
		// third user's does not, though each is within their own quota.
		userClient(t, s, "tm-second", "Second").ok("POST", "/api/calls", `{"kind":"teams","subject":"the app's second"}`, 201)
		meetings = s.Graph.Requests("createOrGet")
		overQuota(t, userClient(t, s, "tm-third", "Third").do("POST", "/api/calls", `{"kind":"teams","subject":"past the app's bound"}`), "teams-meetings")
		if n := s.Graph.Requests("createOrGet") - meetings; n != 0 {
			t.Fatalf("%d meetings created past the app-wide bound", n)
		}
	})

	t.Run("call automation", func(t *testing.T) {
		u := userClient(t, s, "ca-user", "User")
		u.ok("POST", "/api/token", "", 200)
		call := "/api/calls/" + u.ok("POST", "/api/calls", `{"kind":"group"}`, 201)["id"].(string)
		// Attempts count, as for every quota: two refused for want of a bot.
		u.do("POST", call+"/recording", "").problem(t, 409, "recording-needs-connection")
		u.do("POST", call+"/recording", "").problem(t, 409, "recording-needs-connection")
		before := s.ACS.Requests("CreateCall") + s.ACS.Requests("StartRecording")
		overQuota(t, u.do("POST", call+"/recording", ""), "call-automation")
		overQuota(t, u.do("POST", call+"/bots", `{"botId":"announcer"}`), "call-automation")
		if n := s.ACS.Requests("CreateCall") + s.ACS.Requests("StartRecording") - before; n != 0 {
			t.Fatalf("%d Call Automation requests for refused ones", n)
		}
	})

	t.Run("chat pushes", func(t *testing.T) {
		alice, bob, carol := newChatUser(t, s, "cq-alice", "Alice"), newChatUser(t, s, "cq-bob", "Bob"), newChatUser(t, s, "cq-carol", "Carol")
		path := "/api/spaces/" + alice.ok("POST", "/api/spaces", `{"name":"Chatty"}`, 201)["id"].(string)
		for _, m := range []*chatUser{bob, carol} {
			alice.ok("PUT", path+"/members/"+m.id, "", 200)
			m.ok("PUT", path+"/members/"+m.id, "", 200)
			m.ok("PUT", "/api/devices/"+m.id+"-pixel", `{"provider":"fcm","handle":"`+m.id+`-fcm"}`, 201)
		}
		thread := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
		before := len(s.ACS.ChatEvents())
		var ids []string
		for _, text := range []string{"one", "two", "three"} {
			ids = append(ids, alice.send(t, s, thread, text))
		}
		// Each message is one charge however many members it reaches: both
		// recipients get the first two, nobody the third, which is still in
		// the thread.
		for _, m := range []*chatUser{bob, carol} {
			if n := len(s.Push.Received(m.id + "-fcm")); n != 2 {
				t.Fatalf("%s got %d pushes, want the first two messages", m.id, n)
			}
		}
		if texts := bob.messages(t, s, thread); !slices.Contains(texts, "three") {
			t.Fatalf("the message over quota is not in the thread: %v", texts)
		}
		// Redelivering the refused message's event is acknowledged and
		// still pushes nothing; it was logged once.
		for _, ev := range s.ACS.ChatEvents()[before:] {
			if bytes.Contains(ev, []byte(ids[2])) {
				if err := s.Host.DeliverEventGrid(ctx, "callevents", ev); err != nil {
					t.Fatalf("a redelivered event over quota failed: %v", err)
				}
			}
		}
		if n := len(s.Push.Received(bob.id + "-fcm")); n != 2 {
			t.Fatalf("bob got %d pushes after the redelivery, want 2", n)
		}
		if n := strings.Count(logs.String(), `"messageId":"`+ids[2]+`"`+`,"skippedSinceStart"`); n != 1 {
			t.Fatalf("the skipped message was logged %d times, want once", n)
		}
		// Another sender is unaffected.
		bob.send(t, s, thread, "from bob")
		if n := len(s.Push.Received(carol.id + "-fcm")); n != 3 {
			t.Fatalf("carol got %d pushes, want bob's message too", n)
		}
	})

	t.Run("incoming-call pushes", func(t *testing.T) {
		bob := userClient(t, s, "rq-bob", "Bob")
		bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
		bob.ok("PUT", "/api/devices/rq-pixel", `{"provider":"fcm","handle":"rq-fcm"}`, 201)
		for range 3 {
			if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), bobID, "8:acs:pest")); err != nil {
				t.Fatalf("a ring over the quota failed its event: %v", err)
			}
		}
		if n := len(s.Push.Received("rq-fcm")); n != 2 {
			t.Fatalf("bob's phone was woken %d times by three rings from one caller, want 2", n)
		}
		if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), bobID, "8:acs:friend")); err != nil {
			t.Fatal(err)
		}
		if n := len(s.Push.Received("rq-fcm")); n != 3 {
			t.Fatalf("another caller's ring did not wake bob (%d pushes)", n)
		}
	})

	t.Run("guest replies", func(t *testing.T) {
		const dana = "+14255550150"
		alice := userClient(t, s, "gq-alice", "Alice")
		alice.ok("POST", "/api/token", "", 200)
		alice.ok("PUT", "/api/devices/gq-pixel", `{"provider":"fcm","handle":"gq-fcm"}`, 201)
		id := alice.ok("POST", "/api/calls", `{"kind":"room"}`, 201)["id"].(string)
		alice.ok("POST", "/api/calls/"+id+"/guests", `{"phoneNumber":"`+dana+`","displayName":"Dana"}`, 201)
		for _, text := range []string{"late", "very late", "still coming"} {
			if _, err := s.ACS.ReceiveSMS(ctx, dana, stack.SMSFrom, text); err != nil {
				t.Fatalf("a text over the quota failed its event: %v", err)
			}
		}
		replies := 0
		for _, d := range s.Push.Received("gq-fcm") {
			if bytes.Contains(d.Body, []byte("guestMessage")) {
				replies++
				if bytes.Contains(d.Body, []byte("still coming")) {
					t.Fatal("the text over the quota was pushed")
				}
			}
		}
		if replies != 2 {
			t.Fatalf("%d guest texts pushed, want 2", replies)
		}
	})
}
