package bots

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

var seq atomic.Int64

// fixture is a bots service on Azurite and the ACS emulator, with its
// callback route served on loopback, as the handler serves it.
type fixture struct {
	svc    *Service
	ids    *identity.Service
	emu    *acsemu.Emulator
	acs    *acs.Client
	base   string
	calls  chan struct{} // one value per callback the route handled
	other  atomic.Int32  // IncomingCalls passed on to the fan-out
	spaces *fakeSpaces
}

// fakeSpaces is spaces by id, each with its current group call ("" for none).
type fakeSpaces struct {
	mu    sync.Mutex
	calls map[string]string
}

func (s *fakeSpaces) CurrentCall(_ context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.calls[id]
	if !ok {
		return "", store.ErrNotFound
	}
	return g, nil
}

func (s *fakeSpaces) set(id, groupCallID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[id] = groupCallID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newLimitedFixture(t, nil, nil)
}

// newLimitedFixture limits quotas (1000 each otherwise): user for callers
// (rings per caller and bot), service for a bot's own bucket.
func newLimitedFixture(t *testing.T, user, service quota.Limits) *fixture {
	t.Helper()
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	client, err := acs.NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: fmt.Sprintf("bots%d", seq.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ids: identity.NewService(st, client, identity.Options{AllowedScopes: []string{"voip"}, DefaultScopes: []string{"voip"}}),
		emu: emu, acs: client, base: "http://" + ln.Addr().String(), calls: make(chan struct{}, 1000), spaces: &fakeSpaces{calls: map[string]string{}}}
	lim, err := quota.New(st, quota.Config{User: quota.Every(1000, user), Service: quota.Every(1000, service)})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = NewService(st, f.ids, client, lim, Options{
		PublicBaseURL: f.base, PSTNCallerID: "+14255550100",
		PSTN:      calls.PSTNPolicy{Allowed: []string{"+1425555"}},
		Callbacks: calls.NewCallbackAuth(emu.OIDCConfigURL(), emu.ResourceID()),
		Spaces:    f.spaces,
	})
	rt := httpapi.NewRouter(slog.New(slog.DiscardHandler))
	CallbackRoute(rt, f.svc)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.ServeHTTP(w, r)
		f.calls <- struct{}{}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// deliver hands an Event Grid batch to the IncomingCall handler, as the dispatcher does.
func (f *fixture) deliver(ctx context.Context, body []byte) error {
	evs, err := events.Parse(body)
	if err != nil {
		return err
	}
	h := f.svc.IncomingCall(func(context.Context, events.Event) error { f.other.Add(1); return nil })
	for _, ev := range evs {
		if err := h(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func (f *fixture) user(t *testing.T, id string) string {
	t.Helper()
	g, _ := f.ids.Grant(identity.TokenRequest{})
	tok, err := f.ids.IssueToken(t.Context(), id, id, g)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ACSUserID
}

// waitFor waits, callback by callback, until cond holds.
func (f *fixture) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-f.calls:
		case <-timeout:
			t.Fatalf("still waiting for %s", what)
		}
	}
}

func (f *fixture) callOf(t *testing.T, serverCallID string) acsemu.CallState {
	t.Helper()
	var found []acsemu.CallState
	for _, c := range f.emu.Calls() {
		if c.ServerCallID == serverCallID {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d call connections for the incoming call, want 1", len(found))
	}
	return found[0]
}

func intp(n int) *int { return &n }

const greetingURL = "https://cdn.contoso.com/prompts/reception.wav"

func reception(alice string) Config {
	return Config{
		DisplayName: "Reception",
		Greeting:    &PlaySource{File: greetingURL},
		Menu: map[string]Action{
			"1": {Transfer: &Transfer{UserID: alice}},
			"2": {Transfer: &Transfer{PhoneNumber: "+14255550123"}},
			"3": {Play: &PlaySource{File: "https://cdn.contoso.com/prompts/hours.wav"}, Then: "hangup"},
			"0": {Repeat: true},
		},
		Fallback: &Fallback{Retries: intp(1), Goodbye: &PlaySource{File: "https://cdn.contoso.com/prompts/bye.wav"}},
	}
}

func TestBotIdentityIsCreatedOnce(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	var wg sync.WaitGroup
	results := make([]Bot, 6)
	errs := make([]error, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _, errs[i] = f.svc.Put(t.Context(), "reception", reception("alice"))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		var p *httpapi.Problem
		if err != nil && !(errors.As(err, &p) && p.Code == "bot-being-created") {
			t.Fatalf("Put: %v", err)
		}
	}
	b, created, err := f.svc.Put(t.Context(), "reception", reception("alice"))
	if err != nil || created {
		t.Fatalf("Put again = created %v, %v", created, err)
	}
	for i, r := range results {
		if errs[i] == nil && r.ACSUserID != b.ACSUserID {
			t.Errorf("Put %d made identity %s, the bot has %s", i, r.ACSUserID, b.ACSUserID)
		}
	}
	// alice's identity and the bot's: one CreateIdentity each.
	if n := f.emu.Requests("CreateIdentity"); n != 2 {
		t.Errorf("CreateIdentity requests = %d, want 2", n)
	}
	list, err := f.svc.List(t.Context())
	if err != nil || len(list) != 1 || list[0].ID != "reception" {
		t.Errorf("List = %+v, %v", list, err)
	}
	if err := f.svc.Delete(t.Context(), "reception"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(t.Context(), "reception"); err == nil {
		t.Error("Get after Delete found the bot")
	}
	if err := f.svc.Delete(t.Context(), "reception"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
}

// An incoming call is answered once however often Event Grid redelivers
// it; the greeting plays, a bad key replays the menu, and "1" transfers.
func TestBotAnswersOnceAndTransfers(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	b, _, err := f.svc.Put(t.Context(), "reception", reception("alice"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.emu.NewIncomingCall(bob, b.ACSUserID)
	if err != nil {
		t.Fatal(err)
	}
	event := acsemu.IncomingCallEvent(in, "Bob", "ev-1")
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = f.deliver(t.Context(), event) }()
	}
	wg.Wait()
	if err := f.deliver(t.Context(), event); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if f.other.Load() != 0 {
		t.Error("a bot's IncomingCall went to the fan-out")
	}
	if n := f.emu.Requests("AnswerCall"); n < 1 {
		t.Fatalf("AnswerCall requests = %d", n)
	}
	id := f.callOf(t, in.ServerCallID).ID
	state := func() acsemu.CallState { c, _ := f.emu.Call(id); return c }
	f.waitFor(t, "the menu", func() bool { return state().Recognizing != "" })
	m := state().Media
	if len(m) != 2 || m[0].Kind != "play" || !slices.Equal(m[0].Sources, []string{"file:" + greetingURL}) || !slices.Equal(m[0].PlayTo, []string{bob}) || m[1].Kind != "recognize" {
		t.Fatalf("media = %+v, want the greeting to bob, then recognize", m)
	}
	if err := f.emu.PressKeys(id, "7"); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "the menu again", func() bool { return len(state().Media) == 4 && state().Recognizing != "" })
	if m := state().Media; m[2].Sources[0] != "file:"+greetingURL {
		t.Errorf("after a bad key played %v, want the greeting", m[2].Sources)
	}
	if err := f.emu.PressKeys(id, "1"); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "the transfer", func() bool {
		cs, _ := f.svc.Calls(t.Context(), "reception")
		return len(cs) == 1 && cs[0].State == "ended"
	})
	if got := state().Transfers; !slices.Equal(got, []string{alice}) {
		t.Errorf("transfers = %v, want alice %s", got, alice)
	}
	cs, _ := f.svc.Calls(t.Context(), "reception")
	if c := cs[0]; !slices.Equal(c.Keys, []string{"7", "1"}) || c.Outcome != OutcomeTransferred || c.Target != "user:alice" || c.Caller != bob {
		t.Errorf("call log = %+v", c)
	}
	// A callback replayed after the end acts on nothing.
	if n := len(state().Media); n != 4 {
		t.Errorf("media after the transfer = %d ops", n)
	}
}

// No input: replay up to the retries, then the goodbye, then hang up.
func TestBotFallbackHangsUp(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	bob := f.user(t, "bob")
	b, _, err := f.svc.Put(t.Context(), "reception", reception("alice"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.emu.NewIncomingCall(bob, b.ACSUserID)
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", "ev-2")); err != nil {
		t.Fatal(err)
	}
	id := f.callOf(t, in.ServerCallID).ID
	state := func() acsemu.CallState { c, _ := f.emu.Call(id); return c }
	for i := range 2 {
		f.waitFor(t, "the menu", func() bool { return state().Recognizing != "" && len(state().Media) == 2*(i+1) })
		if err := f.emu.Silence(id); err != nil {
			t.Fatal(err)
		}
	}
	f.waitFor(t, "the hang-up", func() bool { return state().State == "disconnected" })
	m := state().Media
	if last := m[len(m)-1]; last.Kind != "play" || last.Sources[0] != "file:https://cdn.contoso.com/prompts/bye.wav" {
		t.Errorf("last media = %+v, want the goodbye", last)
	}
	f.waitFor(t, "the log", func() bool {
		cs, _ := f.svc.Calls(t.Context(), "reception")
		return len(cs) == 1 && cs[0].State == "ended"
	})
	cs, _ := f.svc.Calls(t.Context(), "reception")
	if cs[0].Outcome != OutcomeHungUp || len(cs[0].Keys) != 0 {
		t.Errorf("call log = %+v", cs[0])
	}
}

// Calls to a number no bot has are not answered; an app user's go on to the fan-out.
func TestIncomingCallRouting(t *testing.T) {
	f := newFixture(t)
	bob, carol := f.user(t, "bob"), f.user(t, "carol")
	cfg := reception("bob")
	cfg.PhoneNumbers = []string{"+14255550199"}
	if _, _, err := f.svc.Put(t.Context(), "desk", cfg); err != nil {
		t.Fatal(err)
	}
	in, _ := f.emu.NewIncomingCall("4:+14255550111", "4:+14255550177")
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", "ev-3")); err != nil {
		t.Fatal(err)
	}
	if n := f.emu.Requests("AnswerCall"); n != 0 || f.other.Load() != 0 {
		t.Errorf("unknown number: %d answers, %d passed on", n, f.other.Load())
	}
	in, _ = f.emu.NewIncomingCall(bob, carol)
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", "ev-4")); err != nil {
		t.Fatal(err)
	}
	if f.other.Load() != 1 {
		t.Errorf("a user's IncomingCall was not passed to the fan-out")
	}
	in, _ = f.emu.NewIncomingCall("4:+14255550111", "4:+14255550199")
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", "ev-5")); err != nil {
		t.Fatal(err)
	}
	if f.callOf(t, in.ServerCallID).Source != "4:+14255550111" {
		t.Error("the bot's number was not answered")
	}
	// Another bot may not take the number.
	if _, _, err := f.svc.Put(t.Context(), "other", cfg); !isProblem(err, http.StatusConflict, "phone-number-taken") {
		t.Errorf("second bot on the number: %v", err)
	}
}

// Anyone who reaches a bot can call it, and answering is billed: one
// caller's calls to one bot are bounded (quota.Rings); over it the call is
// not answered and the event acknowledged. Another caller is unaffected.
func TestBotAnswersAreQuotaPerCaller(t *testing.T) {
	f := newLimitedFixture(t, quota.Limits{quota.Rings: 2}, quota.Limits{quota.Rings: 3})
	bob, carol, dave := f.user(t, "bob"), f.user(t, "carol"), f.user(t, "dave")
	b, _, err := f.svc.Put(t.Context(), "reception", reception("bob"))
	if err != nil {
		t.Fatal(err)
	}
	ring := func(from, id string) {
		t.Helper()
		in, err := f.emu.NewIncomingCall(from, b.ACSUserID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", id)); err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
	}
	for i := range 3 {
		ring(bob, fmt.Sprintf("bob-%d", i))
	}
	if n := f.emu.Requests("AnswerCall"); n != 2 {
		t.Fatalf("%d of bob's three calls answered at a quota of 2", n)
	}
	ring(carol, "carol")
	if n := f.emu.Requests("AnswerCall"); n != 3 {
		t.Fatalf("carol's call was not answered (%d answers)", n)
	}
	// The bot's own total (QUOTA_BOT_RINGS_PER_HOUR, here 3) bounds every
	// caller together: callers' numbers can be spoofed.
	ring(dave, "dave")
	if n := f.emu.Requests("AnswerCall"); n != 3 {
		t.Fatalf("dave's call was answered past the bot's total of 3 (%d answers)", n)
	}
	if f.other.Load() != 0 {
		t.Error("a refused call to a bot went to the fan-out")
	}
}

func TestCallbacksNeedSecretAndSignature(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	bob := f.user(t, "bob")
	b, _, err := f.svc.Put(t.Context(), "reception", reception("alice"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.emu.NewIncomingCall(bob, b.ACSUserID)
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "", "ev-6")); err != nil {
		t.Fatal(err)
	}
	cs, _ := f.svc.Calls(t.Context(), "reception")
	if len(cs) != 1 {
		t.Fatalf("calls = %+v", cs)
	}
	body := `[{"id":"x","source":"s","type":"Microsoft.Communication.CallConnected","specversion":"1.0","data":{"callConnectionId":"c"}}]`
	for _, u := range []string{
		f.base + "/api/botcallbacks/reception/" + cs[0].ID,                                // no secret
		f.base + "/api/botcallbacks/reception/" + cs[0].ID + "?sig=guess",                 // wrong secret
		f.base + "/api/botcallbacks/reception/00000000-0000-0000-0000-000000000000?sig=x", // no such call
	} {
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s = %d, want 401", u, resp.StatusCode)
		}
	}
}

func isProblem(err error, status int, code string) bool {
	var p *httpapi.Problem
	return errors.As(err, &p) && p.Status == status && p.Code == code
}

// Bad configurations are 400s naming the field, at PUT rather than as a failed call later.
func TestValidate(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	tts := func(c Config) Config {
		c.CognitiveServicesEndpoint = "https://switchboard.cognitiveservices.azure.com/"
		return c
	}
	with := func(edit func(*Config)) Config { c := reception("alice"); edit(&c); return c }
	long := strings.Repeat("a", acs.MaxTTSCharacters+1)
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"key outside 0-9*#", with(func(c *Config) { c.Menu["A"] = Action{Repeat: true} }), "menu.A"},
		{"two-character key", with(func(c *Config) { c.Menu["11"] = Action{Repeat: true} }), "menu.11"},
		{"unknown user", with(func(c *Config) { c.Menu["4"] = Action{Transfer: &Transfer{UserID: "nobody"}} }), "menu.4.transfer.userId"},
		{"number outside the PSTN policy", with(func(c *Config) { c.Menu["5"] = Action{Transfer: &Transfer{PhoneNumber: "+442071234567"}} }), "menu.5.transfer.phoneNumber"},
		{"not E.164", with(func(c *Config) { c.Menu["5"] = Action{Transfer: &Transfer{PhoneNumber: "555"}} }), "menu.5.transfer.phoneNumber"},
		{"two actions", with(func(c *Config) { c.Menu["6"] = Action{Repeat: true, Play: &PlaySource{File: greetingURL}} }), "menu.6"},
		{"then without play", with(func(c *Config) { c.Menu["6"] = Action{Repeat: true, Then: "hangup"} }), "menu.6.then"},
		{"no greeting", with(func(c *Config) { c.Greeting = nil }), "greeting"},
		{"greeting neither text nor file", with(func(c *Config) { c.Greeting = &PlaySource{} }), "greeting"},
		{"greeting over http", with(func(c *Config) { c.Greeting = &PlaySource{File: "http://cdn.contoso.com/a.wav"} }), "greeting.file"},
		{"greeting on a private host", with(func(c *Config) { c.Greeting = &PlaySource{File: "https://10.0.0.5/a.wav"} }), "greeting.file"},
		{"text without cognitive services", with(func(c *Config) { c.Greeting = &PlaySource{Text: "Hello"} }), "greeting.text"},
		{"text too long", tts(with(func(c *Config) { c.Greeting = &PlaySource{Text: long} })), "greeting.text"},
		{"menu TTS without cognitive services", with(func(c *Config) { c.Menu["3"] = Action{Play: &PlaySource{Text: "Hours"}} }), "menu.3.play.text"},
		{"fallback retries", with(func(c *Config) { c.Fallback.Retries = intp(9) }), "fallback.retries"},
		{"no display name", with(func(c *Config) { c.DisplayName = " " }), "displayName"},
		{"empty menu", with(func(c *Config) { c.Menu = nil }), "menu"},
		{"bad phone number", with(func(c *Config) { c.PhoneNumbers = []string{"0800"} }), "phoneNumbers"},
		{"cognitive endpoint over http", with(func(c *Config) { c.CognitiveServicesEndpoint = "http://ai.example.org" }), "cognitiveServicesEndpoint"},
		{"connect to no space", with(func(c *Config) { c.Menu["4"] = Action{Connect: &Connect{SpaceID: "nowhere"}} }), "menu.4.connect.spaceId"},
		{"connect without a space", with(func(c *Config) { c.Menu["4"] = Action{Connect: &Connect{}} }), "menu.4.connect.spaceId"},
		{"connect and transfer", with(func(c *Config) {
			c.Menu["4"] = Action{Connect: &Connect{SpaceID: "team"}, Transfer: &Transfer{UserID: "alice"}}
		}), "menu.4"},
	}
	f.spaces.set("team", "")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.Put(t.Context(), fmt.Sprintf("bot-%d", i), tc.cfg)
			var p *httpapi.Problem
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("Put = %v (%+v), want 400 naming %s", err, p, tc.field)
			}
		})
	}
	if _, _, err := f.svc.Put(t.Context(), "tts", tts(with(func(c *Config) { c.Greeting = &PlaySource{Text: "Press 1 for Alice", Voice: "en-US-JennyNeural"} }))); err != nil {
		t.Errorf("TTS with an endpoint: %v", err)
	}
	if _, _, err := f.svc.Put(t.Context(), "connector", with(func(c *Config) { c.Menu["4"] = Action{Connect: &Connect{SpaceID: "team"}} })); err != nil {
		t.Errorf("connect to a space with no call yet: %v", err)
	}
	// Under 2025-06-15 there is no participants:moveHere: refused at PUT, saying why.
	old := *f.svc
	old.opts.CallAutomationAPIVersion = "2025-06-15"
	_, _, err := old.Put(t.Context(), "old-connector", with(func(c *Config) { c.Menu["4"] = Action{Connect: &Connect{SpaceID: "team"}} }))
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "menu.4.connect" || !strings.Contains(p.Detail, "2026-03-12") {
		t.Errorf("connect under 2025-06-15: %v, want a 400 on menu.4.connect naming 2026-03-12", err)
	}
	if _, _, err := f.svc.Put(t.Context(), "bad/id", reception("alice")); !isProblem(err, http.StatusBadRequest, httpapi.CodeInvalidRequest) {
		t.Errorf("bad bot id: %v", err)
	}
}

// A connect key moves the caller into the space's current call: the bot
// joins it, moves the caller there and leaves both calls; with no call in
// the space, the menu replays.
func TestBotConnectsCallerIntoSpaceCall(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	bob := f.user(t, "bob")
	const group = "0d9e3f5a-6c1b-4f7e-8a2d-3b5c7e9f1a24"
	f.spaces.set("team", "")
	cfg := reception("alice")
	cfg.Menu["4"] = Action{Connect: &Connect{SpaceID: "team"}}
	b, _, err := f.svc.Put(t.Context(), "reception", cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.emu.NewIncomingCall(bob, b.ACSUserID)
	if err := f.deliver(t.Context(), acsemu.IncomingCallEvent(in, "Bob", "ev-c")); err != nil {
		t.Fatal(err)
	}
	id := f.callOf(t, in.ServerCallID).ID
	state := func() acsemu.CallState { c, _ := f.emu.Call(id); return c }
	f.waitFor(t, "the menu", func() bool { return state().Recognizing != "" })
	if err := f.emu.PressKeys(id, "4"); err != nil {
		t.Fatal(err)
	}
	// Nobody is there yet: the greeting and the menu again.
	f.waitFor(t, "the menu again", func() bool { return len(state().Media) == 4 && state().Recognizing != "" })
	f.spaces.set("team", group)
	if err := f.emu.PressKeys(id, "4"); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "the move", func() bool {
		cs, _ := f.svc.Calls(t.Context(), "reception")
		return len(cs) == 1 && cs[0].State == "ended"
	})
	cs, _ := f.svc.Calls(t.Context(), "reception")
	if c := cs[0]; !slices.Equal(c.Keys, []string{"4", "4"}) || c.Outcome != OutcomeMoved || c.Target != "space:team" {
		t.Errorf("call log = %+v", c)
	}
	var into []acsemu.CallState
	for _, c := range f.emu.Calls() {
		if c.Locator == "groupCall:"+group {
			into = append(into, c)
		}
	}
	if len(into) != 1 || !slices.Contains(into[0].Participants, bob) {
		t.Fatalf("connections to the space's call = %+v, want one with bob in it", into)
	}
	if slices.Contains(state().Participants, bob) || state().State != "disconnected" {
		t.Errorf("the bot's own call: %s with %v", state().State, state().Participants)
	}
	f.waitFor(t, "the bot to leave the space's call", func() bool { c, _ := f.emu.Call(into[0].ID); return c.State == "disconnected" })
}

// Prune deletes claims Event Grid can no longer redeliver against and
// trims the call log to its retention; newer rows stay.
func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	now := time.Now().UTC()
	f.svc.opts.CallLogRetention = 30 * 24 * time.Hour
	for rk, at := range map[string]time.Time{"sc:old": now.Add(-72 * time.Hour), "sc:new": now.Add(-time.Hour)} {
		if _, err := f.svc.claims.Insert(ctx, rk, "claim", claimRow{BotID: "reception", CallID: rk, ClaimedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	// A claim from before claimedAt existed goes by its write time (now: kept).
	if _, err := f.svc.claims.Insert(ctx, "sc:unstamped", "claim", claimRow{BotID: "reception"}); err != nil {
		t.Fatal(err)
	}
	for rk, at := range map[string]time.Time{"old-call": now.Add(-31 * 24 * time.Hour), "new-call": now.Add(-24 * time.Hour)} {
		if _, err := f.svc.calls.Insert(ctx, "reception", rk, callRow{State: "ended", StartedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	claims, calls, err := f.svc.Prune(ctx)
	if err != nil || claims != 1 || calls != 1 {
		t.Fatalf("Prune = %d claims, %d calls, %v; want 1 and 1", claims, calls, err)
	}
	exists := func(tb *store.Table, pk, rk string) bool {
		var v struct{}
		_, err := tb.Get(ctx, pk, rk, &v)
		return err == nil
	}
	for _, k := range [][3]any{{f.svc.claims, "sc:old", false}, {f.svc.claims, "sc:new", true}, {f.svc.claims, "sc:unstamped", true},
		{f.svc.calls, "old-call", false}, {f.svc.calls, "new-call", true}} {
		tb, key, want := k[0].(*store.Table), k[1].(string), k[2].(bool)
		pk, rk := key, "claim"
		if tb == f.svc.calls {
			pk, rk = "reception", key
		}
		if got := exists(tb, pk, rk); got != want {
			t.Errorf("%s kept = %v, want %v", key, got, want)
		}
	}
	// Three days on, the unstamped claim is past the window too.
	f.svc.now = func() time.Time { return now.Add(72 * time.Hour) }
	if claims, _, err := f.svc.Prune(ctx); err != nil || claims != 2 {
		t.Errorf("Prune three days on = %d claims, %v; want 2", claims, err)
	}
}

// The connect steps act only on their own events: a failed move or
// connect, or the space call ending before the move, leaves the space call
// and ends as move-failed; replays act on nothing.
func TestConnectTransitions(t *testing.T) {
	s := &Service{opts: Options{}, now: time.Now}
	bye := &PlaySource{File: "https://cdn.contoso.com/prompts/bye.wav"}
	b := Bot{ID: "reception", Config: Config{Greeting: &PlaySource{File: greetingURL}, Fallback: &Fallback{Goodbye: bye},
		Menu: map[string]Action{"4": {Connect: &Connect{SpaceID: "team"}}}}}
	const callID = "c1"
	ev := func(typ, conn, step string, seq int) acs.CallbackEvent {
		return acs.CallbackEvent{Type: typ, Data: acs.CallEventData{CallConnectionID: conn, OperationContext: opContext(callID, seq, step)}}
	}
	moving := func() callRow {
		return callRow{Caller: "8:acs:bob", CallConnectionID: "bot-conn", MoveConnectionID: "space-conn", State: "connected", Step: stepMove, Seq: 5, Keys: "4"}
	}
	connecting := func() callRow {
		return callRow{Caller: "8:acs:bob", CallConnectionID: "bot-conn", MoveConnectionID: "space-conn", State: "connected", Step: stepConnect, Seq: 3, Keys: "4"}
	}
	left := func() callRow {
		return callRow{Caller: "8:acs:bob", CallConnectionID: "bot-conn", State: "ended", Step: stepDone, Seq: 3, Keys: "4", Outcome: OutcomeCallerLeft}
	}
	cases := []struct {
		name        string
		row         callRow
		ev          acs.CallbackEvent
		changed     bool
		outcome     string
		kind, leave string
		conn        string // the action's connection, when it matters
	}{
		{"move failed", moving(), ev(acs.EventMoveParticipantFailed, "space-conn", stepMove, 5), true, OutcomeMoveFailed, "play", "space-conn", ""},
		{"moved", moving(), ev(acs.EventMoveParticipantSucceeded, "space-conn", stepMove, 5), true, OutcomeMoved, "hangup", "space-conn", ""},
		{"a stale move event", moving(), ev(acs.EventMoveParticipantSucceeded, "space-conn", stepMove, 4), false, "", "", "", ""},
		{"the space call ended before the move", moving(), ev(acs.EventCallDisconnected, "space-conn", stepMove, 5), true, OutcomeMoveFailed, "play", "", ""},
		{"connect failed", callRow{CallConnectionID: "bot-conn", Step: stepConnect, Seq: 3}, ev(acs.EventConnectFailed, "space-conn", stepConnect, 3), true, OutcomeMoveFailed, "play", "", ""},
		{"connected: move", callRow{Caller: "8:acs:bob", CallConnectionID: "bot-conn", Step: stepConnect, Seq: 3}, ev(acs.EventCallConnected, "space-conn", stepConnect, 3), true, "", "move", "", ""},
		// Out of order: only the caller's own connection ending means the caller left.
		{"the space connection ended while connecting", connecting(), ev(acs.EventCallDisconnected, "space-conn", "", 0), true, OutcomeMoveFailed, "play", "", "bot-conn"},
		{"the caller left while connecting", connecting(), ev(acs.EventCallDisconnected, "bot-conn", "", 0), true, OutcomeCallerLeft, "hangup", "", "space-conn"},
		{"the bot's call ended with the move", moving(), ev(acs.EventCallDisconnected, "bot-conn", "", 0), true, OutcomeMoved, "hangup", "", "space-conn"},
		{"another connection ended during the move", moving(), ev(acs.EventCallDisconnected, "other-conn", "", 0), false, "", "", "", ""},
		// A CallConnected the call moved past: the bot leaves that connection.
		{"connected after the caller left", left(), ev(acs.EventCallConnected, "space-conn", stepConnect, 3), false, OutcomeCallerLeft, "hangup", "", "space-conn"},
		{"connected with a stale context", connecting(), ev(acs.EventCallConnected, "space-conn", stepConnect, 2), false, "", "hangup", "", "space-conn"},
		{"connected redelivered during the move", moving(), ev(acs.EventCallConnected, "space-conn", stepConnect, 4), false, "", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.row
			var act *action
			changed := s.transition(t.Context(), b, callID, &c, tc.ev, &act)
			if changed != tc.changed || c.Outcome != tc.outcome {
				t.Fatalf("changed %v, outcome %q; want %v, %q", changed, c.Outcome, tc.changed, tc.outcome)
			}
			if tc.kind == "" {
				if act != nil {
					t.Errorf("acted: %+v", act)
				}
				return
			}
			if act == nil || act.kind != tc.kind || act.leave != tc.leave || (tc.conn != "" && act.conn != tc.conn) {
				t.Fatalf("action = %+v, want %s on %q leaving %q", act, tc.kind, tc.conn, tc.leave)
			}
			if tc.kind == "move" && (act.into != "space-conn" || act.conn != "bot-conn" || c.MoveConnectionID != "space-conn") {
				t.Errorf("move = %+v, row %+v", act, c)
			}
		})
	}
	// The bot's call ending with the move may come before
	// MoveParticipantSucceeded: the outcome is moved once, and the late
	// Succeeded changes nothing and repeats nothing.
	t.Run("moved, then a late MoveParticipantSucceeded", func(t *testing.T) {
		c := moving()
		var act *action
		s.transition(t.Context(), b, callID, &c, ev(acs.EventCallDisconnected, "bot-conn", "", 0), &act)
		act = nil
		if changed := s.transition(t.Context(), b, callID, &c, ev(acs.EventMoveParticipantSucceeded, "space-conn", stepMove, 5), &act); changed || act != nil || c.Outcome != OutcomeMoved {
			t.Errorf("late Succeeded: changed %v, action %+v, outcome %q", changed, act, c.Outcome)
		}
		for _, late := range []acs.CallbackEvent{ev(acs.EventCallDisconnected, "space-conn", "", 0), ev(acs.EventCallDisconnected, "bot-conn", "", 0)} {
			if changed := s.transition(t.Context(), b, callID, &c, late, &act); changed || act != nil || c.Outcome != OutcomeMoved {
				t.Errorf("late %s on %s: changed %v, action %+v, outcome %q", late.Type, late.Data.CallConnectionID, changed, act, c.Outcome)
			}
		}
	})
}

// fakeMover is Call Automation for the connect action's clean-up: it
// records hang-ups and plays, and fails ConnectCall or MoveParticipants at
// once when told to.
type fakeMover struct {
	ACS
	mu                    sync.Mutex
	connectErr, moveErr   error
	hungUp, played, moved []string
	transferred           []string
}

func (m *fakeMover) ConnectCall(context.Context, acs.ConnectOptions) (acs.CallConnection, error) {
	if m.connectErr != nil {
		return acs.CallConnection{}, m.connectErr
	}
	return acs.CallConnection{ID: "space-conn"}, nil
}
func (m *fakeMover) MoveParticipants(_ context.Context, into string, _ acs.MoveParticipantsOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moved = append(m.moved, into)
	return m.moveErr
}
func (m *fakeMover) HangUp(_ context.Context, conn string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hungUp = append(m.hungUp, conn)
	return nil
}
func (m *fakeMover) TransferToParticipant(_ context.Context, conn string, o acs.TransferOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.transferred = append(m.transferred, o.Target.Raw())
	return nil
}
func (m *fakeMover) Play(_ context.Context, conn string, _ acs.PlayOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.played = append(m.played, conn)
	return nil
}

// The connect action's own answers: the connection ConnectCall made is
// kept, so the caller leaving before its CallConnected hangs it up; one
// made for a call that moved on is hung up at once; a connect or move ACS
// refuses at once plays the goodbye (and leaves the space call) instead of
// leaving the caller in silence.
func TestConnectActionCleansUp(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.user(t, "alice")
	c := reception("alice")
	c.Menu["4"] = Action{Connect: &Connect{SpaceID: "team"}}
	f.spaces.set("team", "5f0c3c36-2a4e-4a39-9d0a-6a3f2a1f7b11")
	b, _, err := f.svc.Put(ctx, "reception", c)
	if err != nil {
		t.Fatal(err)
	}
	const callID = "6a1b3c9e-0f4d-4f7e-9b8a-2c1d0e3f4a5b"
	pressFour := acs.CallbackEvent{Type: acs.EventRecognizeCompleted, Data: acs.CallEventData{CallConnectionID: "bot-conn", OperationContext: opContext(callID, 2, stepMenu)},
		RawData: []byte(`{"recognitionType":"dtmf","dtmfResult":{"tones":["four"]}}`)}
	atMenu := callRow{Caller: "8:acs:bob", CallConnectionID: "bot-conn", State: "connected", Step: stepMenu, Seq: 2, Answered: true}
	row := func() callRow {
		t.Helper()
		var r callRow
		if _, err := f.svc.calls.Get(ctx, b.ID, callID, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := func(t *testing.T, m *fakeMover, r callRow) {
		t.Helper()
		f.svc.acs = m
		if _, err := f.svc.calls.Upsert(ctx, b.ID, callID, r); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("the caller leaves before CallConnected", func(t *testing.T) {
		m := &fakeMover{}
		start(t, m, atMenu)
		if err := f.svc.apply(ctx, b.ID, callID, pressFour); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Step != stepConnect || r.MoveConnectionID != "space-conn" {
			t.Fatalf("after the connect: step %s, move connection %q; want connect, space-conn", r.Step, r.MoveConnectionID)
		}
		if err := f.svc.apply(ctx, b.ID, callID, acs.CallbackEvent{Type: acs.EventCallDisconnected, Data: acs.CallEventData{CallConnectionID: "bot-conn"}}); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Outcome != OutcomeCallerLeft || !slices.Equal(m.hungUp, []string{"space-conn"}) {
			t.Errorf("outcome %q, hung up %v; want caller-hung-up, space-conn", r.Outcome, m.hungUp)
		}
	})
	t.Run("a connection for a call that moved on", func(t *testing.T) {
		m := &fakeMover{}
		r := atMenu
		r.Step, r.Seq, r.State, r.Outcome = stepDone, 3, "ended", OutcomeCallerLeft
		start(t, m, r)
		if err := f.svc.connected(ctx, b.ID, callID, action{opCtx: opContext(callID, 3, stepConnect)}, "space-conn"); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.hungUp, []string{"space-conn"}) || row().MoveConnectionID != "" {
			t.Errorf("hung up %v, row %+v; want space-conn hung up, not recorded", m.hungUp, row())
		}
	})
	t.Run("ConnectCall refused", func(t *testing.T) {
		m := &fakeMover{connectErr: errors.New("403 forbidden")}
		start(t, m, atMenu)
		if err := f.svc.apply(ctx, b.ID, callID, pressFour); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Outcome != OutcomeMoveFailed || r.Step != stepGoodbye || !slices.Equal(m.played, []string{"bot-conn"}) || len(m.hungUp) != 0 {
			t.Errorf("outcome %q step %s, played %v, hung up %v; want move-failed, the goodbye on bot-conn", r.Outcome, r.Step, m.played, m.hungUp)
		}
	})
	t.Run("MoveParticipants refused", func(t *testing.T) {
		m := &fakeMover{moveErr: errors.New("400 bad request")}
		r := atMenu
		r.Step, r.Seq, r.MoveConnectionID = stepConnect, 3, "space-conn"
		start(t, m, r)
		if err := f.svc.apply(ctx, b.ID, callID, acs.CallbackEvent{Type: acs.EventCallConnected, Data: acs.CallEventData{CallConnectionID: "space-conn", OperationContext: opContext(callID, 3, stepConnect)}}); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Outcome != OutcomeMoveFailed || r.Step != stepGoodbye || !slices.Equal(m.moved, []string{"space-conn"}) ||
			!slices.Equal(m.hungUp, []string{"space-conn"}) || !slices.Equal(m.played, []string{"bot-conn"}) {
			t.Errorf("outcome %q step %s, moved %v, hung up %v, played %v; want move-failed, space-conn left, the goodbye on bot-conn", r.Outcome, r.Step, m.moved, m.hungUp, m.played)
		}
	})
}

// Delete marks the bot deleting before Forget runs: an add racing the
// deletion (here, one made from inside Forget) finds no bot, a Put is
// refused, and when Delete ends no row, routing or identity is left. A
// deletion that failed part way is finished by deleting again.
func TestDeleteRefusesAddsWhileForgetting(t *testing.T) {
	f := newFixture(t)
	f.user(t, "alice")
	b, _, err := f.svc.Put(t.Context(), "reception", reception("alice"))
	if err != nil {
		t.Fatal(err)
	}
	c := reception("alice")
	c.PhoneNumbers = []string{"+14255550199"}
	if _, _, err := f.svc.Put(t.Context(), "reception", c); err != nil {
		t.Fatal(err)
	}
	forgets := 0
	f.svc.opts.Forget = func(ctx context.Context, party string) error {
		forgets++
		if _, err := f.svc.Party(ctx, "reception"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a party lookup during the deletion: %v, want not found", err)
		}
		var p *httpapi.Problem
		if _, _, err := f.svc.Put(ctx, "reception", reception("alice")); !errors.As(err, &p) || p.Code != "bot-being-deleted" {
			t.Errorf("Put during the deletion: %v, want bot-being-deleted", err)
		}
		if forgets == 1 {
			return errors.New("store down")
		}
		return nil
	}
	if err := f.svc.Delete(t.Context(), "reception"); err == nil {
		t.Fatal("Delete with Forget failing succeeded")
	}
	if _, err := f.svc.Get(t.Context(), "reception"); err == nil {
		t.Error("a half-deleted bot is found")
	}
	if err := f.svc.Delete(t.Context(), "reception"); err != nil {
		t.Fatal(err)
	}
	if forgets != 2 {
		t.Errorf("Forget ran %d times, want 2", forgets)
	}
	var r row
	if _, err := f.svc.bots.Get(t.Context(), "reception", botRow, &r); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the bot's row is left: %+v %v", r, err)
	}
	if _, err := f.svc.BotByACSID(t.Context(), b.ACSUserID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the bot's ACS routing is left: %v", err)
	}
	var ix indexRow
	if _, err := f.svc.index.Get(t.Context(), "tel:+14255550199", botRow, &ix); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the bot's number routing is left: %+v %v", ix, err)
	}
	if _, created, err := f.svc.Put(t.Context(), "reception", reception("alice")); err != nil || !created {
		t.Errorf("Put after the deletion = created %v, %v", created, err)
	}
}

// A bot's transfers to phone numbers cost PSTN minutes whoever called: each
// spends one of the bot's own dials (QUOTA_SERVICE_DIALS_PER_DAY); over it
// the caller hears the goodbye instead, and transfers to users go on.
func TestBotPhoneTransfersSpendTheBotsDials(t *testing.T) {
	f := newLimitedFixture(t, nil, quota.Limits{quota.Dials: 1})
	ctx := t.Context()
	alice := f.user(t, "alice")
	b, _, err := f.svc.Put(ctx, "reception", reception("alice"))
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMover{}
	f.svc.acs = m
	press := func(callID, tone string) callRow {
		t.Helper()
		if _, err := f.svc.calls.Upsert(ctx, b.ID, callID, callRow{Caller: "4:+14255550111", CallConnectionID: "conn-" + callID, State: "connected", Step: stepMenu, Seq: 2, Answered: true}); err != nil {
			t.Fatal(err)
		}
		ev := acs.CallbackEvent{Type: acs.EventRecognizeCompleted, Data: acs.CallEventData{CallConnectionID: "conn-" + callID, OperationContext: opContext(callID, 2, stepMenu)},
			RawData: []byte(`{"recognitionType":"dtmf","dtmfResult":{"tones":["` + tone + `"]}}`)}
		if err := f.svc.apply(ctx, b.ID, callID, ev); err != nil {
			t.Fatal(err)
		}
		var r callRow
		if _, err := f.svc.calls.Get(ctx, b.ID, callID, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first, second, toUser := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if r := press(first, "two"); r.Step != stepTransfer || !slices.Equal(m.transferred, []string{"4:+14255550123"}) {
		t.Fatalf("the first phone transfer: step %s, transferred %v", r.Step, m.transferred)
	}
	if r := press(second, "two"); r.Outcome != OutcomeTransferFailed || r.Step != stepGoodbye || len(m.transferred) != 1 || !slices.Equal(m.played, []string{"conn-" + second}) {
		t.Errorf("a phone transfer past the bot's dials: outcome %q step %s, transferred %v, played %v; want transfer-failed and the goodbye", r.Outcome, r.Step, m.transferred, m.played)
	}
	if r := press(toUser, "one"); r.Step != stepTransfer || len(m.transferred) != 2 || m.transferred[1] != alice {
		t.Errorf("a transfer to a user: step %s, transferred %v", r.Step, m.transferred)
	}
}
