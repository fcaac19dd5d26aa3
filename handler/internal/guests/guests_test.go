package guests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/spaces"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

const (
	from    = "+18005550100"
	dana    = "+14255550123"
	erin    = "+14255550124"
	joinURL = "https://app.example.com/join?code={code}"
)

var prefixSeq atomic.Int32

// pushes records what the fan-out was asked to push (delivery to devices,
// once per device, is the fan-out's own, tested there and end to end).
type pushes struct {
	mu   sync.Mutex
	sent []push.Notification
}

func (p *pushes) FanOut(_ context.Context, _, acsID string, n push.Notification) (fanout.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, n)
	return fanout.Result{}, nil
}

func (p *pushes) all() []push.Notification {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]push.Notification(nil), p.sent...)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type fixture struct {
	s        *Service
	emu      *acsemu.Emulator
	cls      *calls.Service
	ids      *identity.Service
	pushes   *pushes
	dispatch *events.Dispatcher
	clk      *clock
	alice    identity.User
}

func setup(t *testing.T, mutate func(*Config, *quota.Limits)) *fixture {
	t.Helper()
	// One clock for the service, its quotas and the emulator (whose SMS
	// rate-limit windows are per minute).
	clk := &clock{now: time.Now().UTC()}
	emu, err := acsemu.Start(acsemu.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	client, err := acs.NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: "gst" + time.Now().Format("150405") + string(rune('a'+prefixSeq.Add(1)%26))})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(st, client, identity.Options{AllowedScopes: []string{"voip"}, DefaultScopes: []string{"voip"}})
	p := &pushes{}
	cls := calls.NewService(st, ids, spaces.NewService(st, ids), p, nil, client, calls.Options{})
	limits := quota.Every(1000, quota.Limits{quota.GuestExchangeSources: SourceExchangesPerMinute, quota.GuestCodeExchanges: CodeExchangesPerHour})
	cfg := Config{From: from, Template: "{inviter} invited you to a call: {link}", JoinURL: joinURL, Allowed: []string{"+1425555"}, Blocked: []string{"+14255559"}, MaxGuests: 10}
	if mutate != nil {
		mutate(&cfg, &limits)
	}
	lim, err := quota.New(st, quota.Config{User: limits, Service: limits, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(st, cfg, cls, ids, client, client.SMS(""), p, lim)
	s.now = clk.Now
	cls.UseGuests(s)
	d := events.NewDispatcher()
	s.Events(d)
	emu.SetEventSink(func(ctx context.Context, batch []byte) error {
		evs, err := events.Parse(batch)
		if err != nil {
			return err
		}
		return d.Dispatch(ctx, evs)
	}, false)
	if _, err := ids.IssueToken(t.Context(), "alice", "Alice", identity.TokenGrant{Scopes: []string{"voip"}, Minutes: 60}); err != nil {
		t.Fatal(err)
	}
	alice, err := ids.Profile(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{s: s, emu: emu, cls: cls, ids: ids, pushes: p, dispatch: d, clk: clk, alice: alice}
}

func (f *fixture) call(t *testing.T, kind string) string {
	t.Helper()
	c, err := f.cls.Create(t.Context(), "alice", false, calls.CreateRequest{Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) invite(t *testing.T, callID, phone string) (calls.Call, bool) {
	t.Helper()
	c, created, err := f.s.Invite(t.Context(), "alice", false, callID, InviteRequest{PhoneNumber: phone, DisplayName: "Dana"})
	if err != nil {
		t.Fatalf("invite %s: %v", phone, err)
	}
	return c, created
}

var codeInText = regexp.MustCompile(`code=([A-Za-z0-9_-]{22})`)

// codeOf reads the join code from the last text to phone.
func (f *fixture) codeOf(t *testing.T, phone string) string {
	t.Helper()
	msgs := f.emu.SMSMessagesTo(phone)
	if len(msgs) == 0 {
		t.Fatalf("no text to %s", phone)
	}
	m := codeInText.FindStringSubmatch(msgs[len(msgs)-1].Message)
	if m == nil {
		t.Fatalf("text %q holds no join code", msgs[len(msgs)-1].Message)
	}
	return m[1]
}

func wantProblem(t *testing.T, err error, status int, code string) *httpapi.Problem {
	t.Helper()
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != status || p.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	return p
}

func TestInvitationIsOneTextAndItsCodeIsTheGuestsToken(t *testing.T) {
	f := setup(t, nil)
	id := f.call(t, calls.KindRoom)
	c, created := f.invite(t, id, dana)
	if !created || len(c.Guests) != 1 || c.Guests[0].SMS != SMSSent || c.Guests[0].PhoneNumber != dana || c.Guests[0].DisplayName != "Dana" {
		t.Fatalf("invite = created %v, guests %+v; want one guest, sms sent", created, c.Guests)
	}
	guestID := c.Guests[0].ACSUserID
	msgs := f.emu.SMSMessagesTo(dana)
	if len(msgs) != 1 || msgs[0].From != from || !msgs[0].DeliveryReport {
		t.Fatalf("texts = %+v, want one from %s with a delivery report", msgs, from)
	}
	if !regexp.MustCompile(`^Alice invited you to a call: https://app\.example\.com/join\?code=[A-Za-z0-9_-]{22}$`).MatchString(msgs[0].Message) {
		t.Fatalf("text %q", msgs[0].Message)
	}

	// The same invitation again: the existing guest, no second text.
	c2, created := f.invite(t, id, dana)
	if created || len(c2.Guests) != 1 || c2.Guests[0].ACSUserID != guestID || len(f.emu.SMSMessagesTo(dana)) != 1 {
		t.Fatalf("second invite: created %v, guests %+v, texts %d", created, c2.Guests, len(f.emu.SMSMessagesTo(dana)))
	}

	// The guest is an Attendee of the room.
	rooms := f.emu.Rooms()
	if len(rooms) != 1 || rooms[0].ID != c.RoomID || rooms[0].Participants[guestID] != "Attendee" {
		t.Fatalf("rooms = %+v, want the guest %s as Attendee of %s", rooms, guestID, c.RoomID)
	}

	code := f.codeOf(t, dana)
	for range 2 {
		tok, err := f.s.Exchange(t.Context(), "192.0.2.1", code)
		if err != nil {
			t.Fatal(err)
		}
		if tok.ACSUserID != guestID || tok.CallID != id || tok.RoomID != c.RoomID || tok.DisplayName != "Dana" {
			t.Fatalf("token = %+v", tok)
		}
		claims, err := f.emu.Verify(tok.Token)
		if err != nil || claims.ID != guestID || len(claims.Scopes) != 1 || claims.Scopes[0] != "voip" {
			t.Fatalf("token claims %+v, %v; want voip for %s only", claims, err, guestID)
		}
		if tok.ExpiresOn.After(c.ValidUntil.Add(time.Minute)) {
			t.Fatalf("token expires %v, after the room (%v)", tok.ExpiresOn, c.ValidUntil)
		}
	}

	// Only the creator sees guests.
	got, err := f.cls.Get(t.Context(), "alice", id)
	if err != nil || len(got.Guests) != 1 {
		t.Fatalf("GET by creator: %+v, %v", got.Guests, err)
	}
}

func TestRefusedNumbersAndCallsSendNothing(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	group := f.call(t, calls.KindGroup)
	if _, err := f.s.table.Upsert(t.Context(), phonePrefix+erin, optOutRow, optOut{At: time.Now(), Keyword: "STOP"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, call, phone string
		status            int
		code              string
	}{
		{"not E.164", room, "4255550123", http.StatusBadRequest, httpapi.CodeInvalidRequest},
		{"local format", room, "+1 425 555 0123", http.StatusBadRequest, httpapi.CodeInvalidRequest},
		{"outside the allowed prefixes", room, "+442071234567", http.StatusForbidden, CodeSMSNotAllowed},
		{"blocked prefix", room, "+14255559999", http.StatusForbidden, CodeSMSNotAllowed},
		{"opted out", room, erin, http.StatusConflict, CodeOptedOut},
		{"group call", group, dana, http.StatusBadRequest, httpapi.CodeInvalidRequest},
		{"no such call", "6d0f9a52-0000-4000-8000-000000000000", dana, http.StatusNotFound, "call-not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := f.s.Invite(t.Context(), "alice", false, c.call, InviteRequest{PhoneNumber: c.phone})
			wantProblem(t, err, c.status, c.code)
		})
	}
	if n := f.emu.Requests("SendSMS"); n != 0 {
		t.Fatalf("%d texts sent for refused invitations", n)
	}
	if _, _, err := f.s.Invite(t.Context(), "bob", false, room, InviteRequest{PhoneNumber: dana}); err == nil {
		t.Fatal("someone other than the creator invited a guest")
	}
}

func TestNoSMSWithoutAllowedPrefixes(t *testing.T) {
	f := setup(t, func(c *Config, _ *quota.Limits) { c.Allowed = nil })
	_, _, err := f.s.Invite(t.Context(), "alice", false, f.call(t, calls.KindRoom), InviteRequest{PhoneNumber: dana})
	wantProblem(t, err, http.StatusForbidden, CodeSMSNotAllowed)
}

func TestNotConfiguredNamesTheSetting(t *testing.T) {
	f := setup(t, func(c *Config, _ *quota.Limits) { c.From = "" })
	_, _, err := f.s.Invite(t.Context(), "alice", false, f.call(t, calls.KindRoom), InviteRequest{PhoneNumber: dana})
	p := wantProblem(t, err, http.StatusNotImplemented, httpapi.CodeNotConfigured)
	if !regexp.MustCompile(`ACS_SMS_FROM`).MatchString(p.Detail) {
		t.Fatalf("detail %q does not name ACS_SMS_FROM", p.Detail)
	}
	_, err = f.s.Exchange(t.Context(), "192.0.2.1", "x")
	wantProblem(t, err, http.StatusNotImplemented, httpapi.CodeNotConfigured)
}

func TestGuestLimitAndSMSQuota(t *testing.T) {
	f := setup(t, func(c *Config, l *quota.Limits) { c.MaxGuests = 1; (*l)[quota.SMS] = 2 })
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)
	_, _, err := f.s.Invite(t.Context(), "alice", false, room, InviteRequest{PhoneNumber: erin})
	wantProblem(t, err, http.StatusConflict, CodeTooMany)
	f.invite(t, f.call(t, calls.KindRoom), erin)
	_, _, err = f.s.Invite(t.Context(), "alice", false, f.call(t, calls.KindRoom), InviteRequest{PhoneNumber: "+14255550125"})
	if p := wantProblem(t, err, http.StatusTooManyRequests, quota.CodeRateLimited); p.Quota != string(quota.SMS) {
		t.Fatalf("quota %q, want sms", p.Quota)
	}
	if n := len(f.emu.SMSMessages()); n != 2 {
		t.Fatalf("%d texts, want 2", n)
	}
}

// Every code that is not a live one gets the same answer, and guessing is
// rate-limited per source.
func TestCodesAreNoOracle(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)
	code := f.codeOf(t, dana)
	var first *httpapi.Problem
	for i, guess := range []string{"", "short", "AAAAAAAAAAAAAAAAAAAAAA", code[:21] + "x", "'; DROP TABLE guests --"} {
		_, err := f.s.Exchange(t.Context(), "192.0.2.7", guess)
		p := wantProblem(t, err, http.StatusNotFound, CodeCodeNotFound)
		if i == 0 {
			first = p
		} else if p.Detail != first.Detail || p.Title != first.Title || p.Type != first.Type {
			t.Fatalf("guess %q answered %+v, unlike %+v", guess, p, first)
		}
	}
	// The source that guessed 5 times may guess 15 more this minute.
	for range SourceExchangesPerMinute - 5 {
		_, err := f.s.Exchange(t.Context(), "192.0.2.7", "AAAAAAAAAAAAAAAAAAAAAB")
		wantProblem(t, err, http.StatusNotFound, CodeCodeNotFound)
	}
	_, err := f.s.Exchange(t.Context(), "192.0.2.7", "AAAAAAAAAAAAAAAAAAAAAC")
	wantProblem(t, err, http.StatusTooManyRequests, quota.CodeRateLimited)
	// An expired code (past the room's validUntil) answers the same.
	f.clk.Add(25 * time.Hour)
	_, err = f.s.Exchange(t.Context(), "192.0.2.8", code)
	if p := wantProblem(t, err, http.StatusNotFound, CodeCodeNotFound); p.Detail != first.Detail {
		t.Fatalf("expired code answered %q", p.Detail)
	}
}

func TestCodeRateLimitedPerCode(t *testing.T) {
	f := setup(t, func(_ *Config, l *quota.Limits) { (*l)[quota.GuestCodeExchanges] = 2 })
	f.invite(t, f.call(t, calls.KindRoom), dana)
	code := f.codeOf(t, dana)
	for i := range 2 {
		if _, err := f.s.Exchange(t.Context(), "192.0.2."+string(rune('1'+i)), code); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.s.Exchange(t.Context(), "192.0.2.9", code)
	if p := wantProblem(t, err, http.StatusTooManyRequests, quota.CodeRateLimited); p.Quota != string(quota.GuestCodeExchanges) {
		t.Fatalf("quota %q", p.Quota)
	}
}

func TestDeliveryReportsMoveTheGuest(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	f.emu.FailSMSDeliveryTo(erin, "Sender blocked for given recipient.")
	f.invite(t, room, dana)
	c, _ := f.invite(t, room, erin)
	for _, g := range c.Guests {
		if g.SMS != SMSSent {
			t.Fatalf("before the reports: %+v", c.Guests)
		}
	}
	if err := f.emu.DeliverSMSEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := f.cls.Get(t.Context(), "alice", room)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{dana: {SMSDelivered, ""}, erin: {SMSFailed, "Sender blocked for given recipient."}}
	for _, g := range got.Guests {
		if w := want[g.PhoneNumber]; g.SMS != w[0] || g.SMSReason != w[1] {
			t.Errorf("guest %s: sms %q (%q), want %q (%q)", g.PhoneNumber, g.SMS, g.SMSReason, w[0], w[1])
		}
	}
	// Redelivered reports change nothing; a PascalCase report reads the same.
	ev := `[{"id":"r1","eventType":"Microsoft.Communication.SMSDeliveryReportReceived","subject":"/phonenumber/18005550100","eventTime":"2026-12-01T10:00:00Z","data":{"MessageId":"Outgoing_other","From":"18005550100","To":"14255550123","DeliveryStatus":"Failed","DeliveryStatusDetails":"late","Tag":"call:` + room + `"}}]`
	evs, err := events.Parse([]byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dispatch.Dispatch(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	got, _ = f.cls.Get(t.Context(), "alice", room)
	for _, g := range got.Guests {
		if g.PhoneNumber == dana && g.SMS != SMSDelivered {
			t.Fatalf("a report of another message moved dana to %q", g.SMS)
		}
	}
}

func TestSTOPStopsLaterTextsAndRepliesReachTheCreator(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)

	if _, err := f.emu.ReceiveSMS(t.Context(), dana, from, "running late"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.emu.ReceiveSMS(t.Context(), "+14255550199", from, "who is this?"); err != nil {
		t.Fatal(err)
	}
	var got []push.Notification
	for _, n := range f.pushes.all() {
		if n.Type == "guestMessage" {
			got = append(got, n)
		}
	}
	if len(got) != 1 || got[0].CalleeID != f.alice.ACSUserID || got[0].Data["message"] != "running late" || got[0].Data["phoneNumber"] != dana || got[0].Data["callId"] != room {
		t.Fatalf("guest message pushes = %+v, want one to alice", got)
	}

	if _, err := f.emu.ReceiveSMS(t.Context(), dana, from, " Stop. "); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.s.Invite(t.Context(), "alice", false, f.call(t, calls.KindRoom), InviteRequest{PhoneNumber: dana})
	wantProblem(t, err, http.StatusConflict, CodeOptedOut)
	if n := len(f.emu.SMSMessagesTo(dana)); n != 1 {
		t.Fatalf("%d texts to dana after STOP, want the first only", n)
	}
	if len(f.pushes.all()) != len(got)+countInvitations(f.pushes.all()) {
		t.Fatalf("STOP was forwarded: %+v", f.pushes.all())
	}
	if _, err := f.emu.ReceiveSMS(t.Context(), dana, from, "UNSTOP"); err != nil {
		t.Fatal(err)
	}
	f.invite(t, f.call(t, calls.KindRoom), dana)
	if n := len(f.emu.SMSMessagesTo(dana)); n != 2 {
		t.Fatalf("%d texts to dana after UNSTOP, want 2", n)
	}
}

// A guest's texts to the creator are bounded per guest and call
// (quota.GuestReplies); a redelivered text spends nothing more, and another
// guest of the call is unaffected.
func TestGuestRepliesAreQuotaPerGuestAndCall(t *testing.T) {
	f := setup(t, func(_ *Config, l *quota.Limits) { (*l)[quota.GuestReplies] = 2 })
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)
	f.invite(t, room, erin)
	replies := func() map[string]int {
		out := map[string]int{}
		for _, n := range f.pushes.all() {
			if n.Type == "guestMessage" {
				out[n.Data["phoneNumber"]+" "+n.Data["message"]]++
			}
		}
		return out
	}
	text := events.Event{ID: "sms-1", Type: acs.EventSMSReceived,
		Data: []byte(`{"messageId":"Incoming_1","from":"` + dana + `","to":"` + from + `","message":"one"}`)}
	for range 3 { // Event Grid delivering the same text again
		if err := f.dispatch.Dispatch(t.Context(), []events.Event{text}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"two", "three", "four"} {
		if _, err := f.emu.ReceiveSMS(t.Context(), dana, from, m); err != nil {
			t.Fatalf("a text over the quota failed the event: %v", err)
		}
	}
	if _, err := f.emu.ReceiveSMS(t.Context(), erin, from, "hello"); err != nil {
		t.Fatal(err)
	}
	got := replies()
	if got[dana+" one"] == 0 || got[dana+" two"] == 0 || got[dana+" three"] != 0 || got[dana+" four"] != 0 || got[erin+" hello"] == 0 {
		t.Fatalf("pushed %v; want dana's first two texts (the first redelivered), then nothing, and erin's", got)
	}
}

func countInvitations(ns []push.Notification) int {
	n := 0
	for _, x := range ns {
		if x.Type != "guestMessage" {
			n++
		}
	}
	return n
}

// ACS throttling beyond the client's retry budget leaves the guest queued;
// the sweep sends it, and it is still one text.
func TestThrottledTextIsQueuedThenSentOnce(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	f.emu.SetSMSRateLimit(1)
	f.invite(t, room, dana) // spends the minute's one message
	c, created := f.invite(t, room, erin)
	if !created {
		t.Fatal("erin was not created")
	}
	var erinState string
	for _, g := range c.Guests {
		if g.PhoneNumber == erin {
			erinState = g.SMS
		}
	}
	if erinState != SMSQueued || len(f.emu.SMSMessagesTo(erin)) != 0 {
		t.Fatalf("throttled guest: sms %q, %d texts; want queued, none", erinState, len(f.emu.SMSMessagesTo(erin)))
	}
	f.emu.SetSMSRateLimit(0)
	if _, resent, err := f.s.Sweep(t.Context()); err != nil || resent != 1 {
		t.Fatalf("sweep: resent %d, %v", resent, err)
	}
	if _, resent, err := f.s.Sweep(t.Context()); err != nil || resent != 0 {
		t.Fatalf("second sweep: resent %d, %v", resent, err)
	}
	got, _ := f.cls.Get(t.Context(), "alice", room)
	for _, g := range got.Guests {
		if g.SMS != SMSSent {
			t.Fatalf("after the sweep: %+v", got.Guests)
		}
	}
	if n := len(f.emu.SMSMessagesTo(erin)); n != 1 {
		t.Fatalf("%d texts to erin, want 1", n)
	}
}

func TestEndedCallCodesAnswerGoneAndAreSwept(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	c, _ := f.invite(t, room, dana)
	code := f.codeOf(t, dana)
	if err := f.cls.End(t.Context(), "alice", room); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Exchange(t.Context(), "192.0.2.1", code)
	wantProblem(t, err, http.StatusGone, CodeCallEnded)
	_, _, err = f.s.Invite(t.Context(), "alice", false, room, InviteRequest{PhoneNumber: erin})
	wantProblem(t, err, http.StatusConflict, CodeCallEnded)
	before := f.emu.IdentityCount()
	deleted, _, err := f.s.Sweep(t.Context())
	if err != nil || deleted != 1 {
		t.Fatalf("sweep deleted %d, %v", deleted, err)
	}
	if f.emu.IdentityCount() != before-1 {
		t.Fatalf("identities %d -> %d, want the guest's (%s) deleted", before, f.emu.IdentityCount(), c.Guests[0].ACSUserID)
	}
	_, err = f.s.Exchange(t.Context(), "192.0.2.1", code)
	wantProblem(t, err, http.StatusNotFound, CodeCodeNotFound)
}

func TestEventNumbersAndKeywords(t *testing.T) {
	for in, want := range map[string]string{"15555555555": "+15555555555", "+15555555555": "+15555555555", " 1425 ": "+1425", "Contoso": "Contoso", "": ""} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"stop": "STOP", " Stop! ": "STOP", "UNSTOP": "UNSTOP", "stop please": "STOP PLEASE", "": ""} {
		if got := keyword(in); got != want {
			t.Errorf("keyword(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSMSEventData(f *testing.F) {
	f.Add(`{"MessageId":"Incoming_1","From":"15555555555","To":"+18005550100","Message":"STOP"}`)
	f.Add(`{"messageId":"Outgoing_1","to":"+14255550123","deliveryStatus":"Delivered","tag":"call:x"}`)
	f.Fuzz(func(t *testing.T, data string) {
		evs, err := events.Parse([]byte(`{"id":"e","eventType":"x","data":` + data + `}`))
		if err != nil {
			return
		}
		var d smsEvent
		if evs[0].DecodeData(&d) != nil {
			return
		}
		n := normalize(d.From)
		if d.From != "" && n == "" {
			t.Fatalf("normalize(%q) lost the number", d.From)
		}
		_ = keyword(d.Message)
	})
}

// recorder wraps the SMS client: it keeps every text asked for, sent or
// not, and can lose the answers to the next lose sends ACS accepts (the
// text went out; we hear a timeout).
type recorder struct {
	next  Sender
	mu    sync.Mutex
	texts []string
	lose  int
}

func (r *recorder) Send(ctx context.Context, opts acs.SendSMSOptions) ([]acs.SMSResult, error) {
	r.mu.Lock()
	r.texts = append(r.texts, opts.Message)
	r.mu.Unlock()
	res, err := r.next.Send(ctx, opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lose > 0 && err == nil && res[0].Successful {
		r.lose--
		return nil, fmt.Errorf("reading the answer: %w", context.DeadlineExceeded)
	}
	return res, err
}

func (r *recorder) codes(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for _, m := range r.texts {
		c := codeInText.FindStringSubmatch(m)
		if c == nil {
			t.Fatalf("text %q holds no join code", m)
		}
		out = append(out, c[1])
	}
	return out
}

func (f *fixture) record() *recorder {
	r := &recorder{next: f.s.sms}
	f.s.sms = r
	return r
}

// codeShaped are the runs of code characters in stored text.
var codeShaped = regexp.MustCompile(`[A-Za-z0-9_-]+`)

var sourceSeq atomic.Int32

// noCodeAtRest checks every entity of the guests table: none holds any of
// the codes texted or tried, and no code-shaped string in it is accepted by
// the exchange.
func (f *fixture) noCodeAtRest(t *testing.T, codes []string) {
	t.Helper()
	var values []string
	var collect func(v any)
	collect = func(v any) {
		switch x := v.(type) {
		case string:
			values = append(values, x)
		case map[string]any:
			for k, e := range x {
				values = append(values, k)
				collect(e)
			}
		case []any:
			for _, e := range x {
				collect(e)
			}
		}
	}
	rows := 0
	err := f.s.table.Scan(t.Context(), func(pk, rk string, decode func(any) error) error {
		var m map[string]any
		if err := decode(&m); err != nil {
			return err
		}
		rows++
		values = append(values, pk, rk)
		collect(m)
		return nil
	})
	if err != nil || rows == 0 {
		t.Fatalf("scan: %d rows, %v", rows, err)
	}
	for _, v := range values {
		for _, c := range codes {
			if strings.Contains(v, c) {
				t.Fatalf("the join code %s is stored: %q", c, v)
			}
		}
		for _, run := range codeShaped.FindAllString(v, -1) {
			if len(run) != 22 {
				continue
			}
			source := fmt.Sprintf("198.51.100.%d", sourceSeq.Add(1)%250)
			if _, err := f.s.Exchange(t.Context(), source, run); err == nil {
				t.Fatalf("the stored %q is a join code the exchange accepts", run)
			}
		}
	}
}

func (f *fixture) guest(t *testing.T, callID, phone string) guestRow {
	t.Helper()
	var g guestRow
	if _, err := f.s.table.Get(t.Context(), callPrefix+callID, phone, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// A text ACS throttles is queued without its body: no code is at rest,
// and the retry texts a new code that works.
func TestQueuedTextKeepsNoCodeAtRest(t *testing.T) {
	f := setup(t, nil)
	rec := f.record()
	room := f.call(t, calls.KindRoom)
	f.emu.SetSMSRateLimit(1)
	f.invite(t, room, dana) // spends the minute's one message
	f.invite(t, room, erin)
	if g := f.guest(t, room, erin); g.SMS != SMSQueued {
		t.Fatalf("erin: sms %q, want queued", g.SMS)
	}
	f.noCodeAtRest(t, rec.codes(t))
	// A repeated invitation while ACS still throttles: queued, still no
	// code at rest, and no live code (ACS said "not sent" to both).
	f.invite(t, room, erin)
	if g := f.guest(t, room, erin); g.SMS != SMSQueued || len(g.hashes()) != 0 {
		t.Fatalf("erin after a second throttled send: sms %q, %d live codes; want queued, 0", g.SMS, len(g.hashes()))
	}
	f.noCodeAtRest(t, rec.codes(t))

	f.emu.SetSMSRateLimit(0)
	if _, resent, err := f.s.Sweep(t.Context()); err != nil || resent != 1 {
		t.Fatalf("sweep: resent %d, %v", resent, err)
	}
	if n := len(f.emu.SMSMessagesTo(erin)); n != 1 {
		t.Fatalf("%d texts to erin, want 1", n)
	}
	g := f.guest(t, room, erin)
	tok, err := f.s.Exchange(t.Context(), "192.0.2.7", f.codeOf(t, erin))
	if err != nil || tok.ACSUserID != g.ACSUserID || g.SMS != SMSSent {
		t.Fatalf("exchange of the texted code: %+v, %v (guest %+v)", tok, err, g)
	}
	f.noCodeAtRest(t, rec.codes(t))
}

// ACS accepts the first send but its answer is lost: the guest stays
// queued and the retry is a new text (a new code, so its own
// repeatability id and first-sent: ACS would refuse a different body under
// the first id, 400 within its tracking window and 412 after). The guest
// may get two texts: both codes work.
func TestLostAnswerKeepsTheTextedCodeValid(t *testing.T) {
	for _, later := range []time.Duration{0, RepeatWindow + time.Minute} {
		t.Run(later.String(), func(t *testing.T) {
			f := setup(t, nil)
			rec := f.record()
			rec.lose = 1
			room := f.call(t, calls.KindRoom)
			f.invite(t, room, erin)
			if g := f.guest(t, room, erin); g.SMS != SMSQueued || len(f.emu.SMSMessagesTo(erin)) != 1 {
				t.Fatalf("erin: sms %q, %d texts; want queued (answer lost), 1 text", g.SMS, len(f.emu.SMSMessagesTo(erin)))
			}
			texted := f.codeOf(t, erin)
			f.noCodeAtRest(t, rec.codes(t))
			f.clk.Add(later)
			if _, resent, err := f.s.Sweep(t.Context()); err != nil || resent != 1 {
				t.Fatalf("sweep: resent %d, %v", resent, err)
			}
			codes := rec.codes(t)
			if len(codes) != 2 || codes[0] != texted || codes[1] == texted {
				t.Fatalf("sends %v; want the texted code, then a new one", codes)
			}
			texts := f.emu.SMSMessagesTo(erin)
			g := f.guest(t, room, erin)
			if g.SMS != SMSSent || len(texts) != 2 || g.MessageID != texts[1].ID {
				t.Fatalf("after the retry: guest %+v, texts %+v; want sent, the second text", g, texts)
			}
			for i, c := range []string{texted, f.codeOf(t, erin)} {
				tok, err := f.s.Exchange(t.Context(), fmt.Sprintf("192.0.2.%d", 8+i), c)
				if err != nil || tok.ACSUserID != g.ACSUserID {
					t.Fatalf("exchange of text %d's code: %+v, %v", i+1, tok, err)
				}
			}
			f.noCodeAtRest(t, codes)
		})
	}
}

// A lost answer, then many retries ACS throttles: each throttled attempt
// is surely not sent, so its code goes at once and the bound on live codes
// never evicts the code of the text the guest may have.
func TestThrottledRetriesKeepTheLostAnswersCode(t *testing.T) {
	f := setup(t, nil)
	rec := f.record()
	rec.lose = 1
	room := f.call(t, calls.KindRoom)
	f.emu.SetSMSRateLimit(1)
	f.invite(t, room, erin) // spends the minute's one message
	texted := f.codeOf(t, erin)
	for range maxCodes + 3 {
		f.invite(t, room, erin)
	}
	g := f.guest(t, room, erin)
	if g.SMS != SMSQueued || len(g.hashes()) != 1 || len(f.emu.SMSMessagesTo(erin)) != 1 || len(rec.codes(t)) != maxCodes+4 {
		t.Fatalf("erin: sms %q, %d live codes, %d texts; want queued, 1, 1", g.SMS, len(g.hashes()), len(f.emu.SMSMessagesTo(erin)))
	}
	if tok, err := f.s.Exchange(t.Context(), "192.0.2.10", texted); err != nil || tok.ACSUserID != g.ACSUserID {
		t.Fatalf("exchange of the code erin got: %+v, %v", tok, err)
	}
}

// Retries whose answers are all lost keep at most maxCodes live codes
// (the oldest code rows go); the sweep of the ended call deletes them all.
func TestRetriedTextKeepsBoundedCodes(t *testing.T) {
	f := setup(t, nil)
	rec := f.record()
	rec.lose = maxCodes + 3
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)
	rec.lose = maxCodes + 3
	for range maxCodes + 3 {
		f.invite(t, room, erin)
	}
	codeRows := func() int {
		n := 0
		err := f.s.table.Scan(t.Context(), func(pk, _ string, decode func(any) error) error {
			var e codeEntry
			if strings.HasPrefix(pk, codePrefix) && decode(&e) == nil && e.Phone == erin {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if g := f.guest(t, room, erin); len(g.hashes()) != maxCodes || codeRows() != maxCodes || g.SMS != SMSQueued {
		t.Fatalf("erin: sms %q, %d live codes, %d code rows; want queued, %d", g.SMS, len(g.hashes()), codeRows(), maxCodes)
	}
	if err := f.cls.End(t.Context(), "alice", room); err != nil {
		t.Fatal(err)
	}
	if deleted, _, err := f.s.Sweep(t.Context()); err != nil || deleted != 2 || codeRows() != 0 {
		t.Fatalf("sweep: deleted %d, %v, %d code rows left", deleted, err, codeRows())
	}
}

// Code rows nothing else deletes (a crash between the code row and the
// guest row, a failed delete, a resend racing the sweep) are swept: those
// their guest does not list (past the grace a resend in flight needs),
// expired ones, and those of calls that ended or are gone, so no call id
// and number stay at rest past the call.
func TestOrphanedCodeRowsAreSwept(t *testing.T) {
	f := setup(t, nil)
	room := f.call(t, calls.KindRoom)
	f.invite(t, room, dana)
	code := f.codeOf(t, dana)
	now := f.clk.Now()
	put := func(hash, callID string, created, expires time.Time) {
		t.Helper()
		if _, err := f.s.table.Upsert(t.Context(), codePrefix+hash, codeRow, codeEntry{CallID: callID, Phone: dana, CodeHash: hash, CreatedAt: created, Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(time.Hour)
	put("orphan-old", room, now.Add(-codeOrphanGrace-time.Minute), later)
	put("orphan-fresh", room, now, later)
	put("orphan-gone", "no-such-call", now, later)
	put("orphan-expired", room, now, now.Add(-time.Second))
	put("orphan-legacy", room, time.Time{}, time.Time{})
	rows := func() []string {
		var out []string
		err := f.s.table.Scan(t.Context(), func(pk, _ string, _ func(any) error) error {
			if h, ok := strings.CutPrefix(pk, codePrefix); ok {
				out = append(out, h)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	if _, _, err := f.s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"orphan-fresh", f.guest(t, room, dana).CodeHash}
	slices.Sort(want)
	if got := rows(); !slices.Equal(got, want) {
		t.Fatalf("code rows after the sweep %v, want %v (the fresh orphan and dana's code)", got, want)
	}
	if _, err := f.s.Exchange(t.Context(), "192.0.2.20", code); err != nil {
		t.Fatalf("dana's code after the sweep: %v", err)
	}
	// Past the grace the fresh orphan goes too; once the call ends, every code row.
	f.clk.Add(codeOrphanGrace)
	if _, _, err := f.s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rows(); len(got) != 1 {
		t.Fatalf("code rows %v, want dana's only", got)
	}
	put("orphan-late", room, f.clk.Now(), later)
	if err := f.cls.End(t.Context(), "alice", room); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rows(); len(got) != 0 {
		t.Fatalf("code rows %v after the call ended, want none", got)
	}
}
