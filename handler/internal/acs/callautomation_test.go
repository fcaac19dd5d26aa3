package acs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

// callbackSink is the application's callback endpoint: it verifies each
// callback's token against the emulator's OIDC configuration and keeps the events.
type callbackSink struct {
	url      string
	verifier *CallbackVerifier
	mu       sync.Mutex
	events   []CallbackEvent
	refused  []string
}

func newCallbackSink(t *testing.T, emu *acsemu.Emulator) *callbackSink {
	t.Helper()
	v, err := NewCallbackVerifier(t.Context(), t.Context(), emu.OIDCConfigURL(), emu.ResourceID(), nil)
	if err != nil {
		t.Fatalf("NewCallbackVerifier: %v", err)
	}
	s := &callbackSink{verifier: v}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = "http://" + ln.Addr().String() + "/api/callbacks/call-1?secret=s3cret"
	return s
}

func (s *callbackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := s.verifier.VerifyRequest(r); err != nil {
		s.mu.Lock()
		s.refused = append(s.refused, err.Error())
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	evs, err := ParseCallbackEvents(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, evs...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// waitFor waits until the sink holds n events and returns their types.
func (s *callbackSink) waitFor(t *testing.T, n int) []CallbackEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		evs := slices.Clone(s.events)
		refused := slices.Clone(s.refused)
		s.mu.Unlock()
		if len(refused) > 0 {
			t.Fatalf("callbacks refused: %v", refused)
		}
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d callbacks %v, want %d", len(evs), kinds(evs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func kinds(evs []CallbackEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind())
	}
	return out
}

func rawIDs(ps []CallParticipant) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Identifier.Raw())
	}
	slices.Sort(out)
	return out
}

func callClient(t *testing.T, hold time.Duration) (*Client, *acsemu.Emulator, *callbackSink) {
	t.Helper()
	emu := startEmulator(t, acsemu.Options{CallHoldTime: hold})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), fastRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	return c, emu, newCallbackSink(t, emu)
}

func TestCallPlaysOutWithSignedCallbacks(t *testing.T) {
	c, emu, sink := callClient(t, 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	u := newUsers(t, c, 1)

	call, err := c.CreateCall(ctx, CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: sink.url, OperationContext: "ring-1"})
	if err != nil {
		t.Fatalf("CreateCall: %v", err)
	}
	if call.ID == "" || call.ServerCallID == "" || call.State != "connecting" || call.CallbackURI != sink.url ||
		len(call.Targets) != 1 || call.Targets[0].Raw() != u[0] || call.Source == nil || call.Source.Raw() != emu.AppID() {
		t.Errorf("CreateCall = %+v", call)
	}
	sink.waitFor(t, 4)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra callback to show up
	evs := sink.waitFor(t, 4)
	want := []string{"CallConnected", "ParticipantsUpdated", "ParticipantsUpdated", "CallDisconnected"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("callbacks = %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.Data.CallConnectionID != call.ID || e.Data.ServerCallID != call.ServerCallID || e.Data.CorrelationID != call.CorrelationID || e.Data.OperationContext != "ring-1" {
			t.Errorf("%s data = %+v, want the call's ids and operation context", e.Kind(), e.Data)
		}
	}
	if got := rawIDs(evs[1].Data.Participants); !slices.Equal(got, slices.Sorted(slices.Values([]string{emu.AppID(), u[0]}))) || evs[1].Data.SequenceNumber != 1 {
		t.Errorf("first ParticipantsUpdated = %v seq %d, want app and target, seq 1", got, evs[1].Data.SequenceNumber)
	}
	if len(evs[2].Data.Participants) != 0 || evs[2].Data.SequenceNumber != 2 {
		t.Errorf("second ParticipantsUpdated = %+v, want everyone gone, seq 2", evs[2].Data)
	}
	for _, d := range emu.Callbacks(call.ID) {
		if d.Status != http.StatusOK {
			t.Errorf("delivery %+v not accepted", d)
		}
	}
	if _, err := c.GetCall(ctx, call.ID); !IsNotFound(err) {
		t.Errorf("GetCall after the call ended: err = %v, want 404", err)
	}
}

func TestCallParticipantsAndTerminate(t *testing.T) {
	c, emu, sink := callClient(t, -1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	u := newUsers(t, c, 2)

	call, err := c.CreateCall(ctx, CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: sink.url})
	if err != nil {
		t.Fatalf("CreateCall: %v", err)
	}
	sink.waitFor(t, 2)
	got, err := c.GetCall(ctx, call.ID)
	if err != nil || got.State != "connected" {
		t.Fatalf("GetCall = %+v, %v; want connected", got, err)
	}
	res, err := c.AddParticipant(ctx, call.ID, AddParticipantOptions{Participant: UserIdentifier(u[1]), OperationContext: "add-1", InvitationTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("AddParticipant: %v", err)
	}
	if res.Participant.Identifier.Raw() != u[1] || res.OperationContext != "add-1" || res.InvitationID == "" {
		t.Errorf("AddParticipant = %+v", res)
	}
	evs := sink.waitFor(t, 4)
	if evs[2].Type != EventAddParticipantSucceeded || evs[2].Data.Participant == nil || evs[2].Data.Participant.Raw() != u[1] || evs[2].Data.OperationContext != "add-1" {
		t.Errorf("event 3 = %+v, want AddParticipantSucceeded for %s", evs[2], u[1])
	}
	ps, err := c.ListParticipants(ctx, call.ID)
	if err != nil {
		t.Fatalf("ListParticipants: %v", err)
	}
	if want := slices.Sorted(slices.Values([]string{emu.AppID(), u[0], u[1]})); !slices.Equal(rawIDs(ps), want) {
		t.Errorf("participants = %v, want %v", rawIDs(ps), want)
	}
	if err := c.RemoveParticipant(ctx, call.ID, UserIdentifier(u[0]), "rm-1"); err != nil {
		t.Fatalf("RemoveParticipant: %v", err)
	}
	if err := c.RemoveParticipant(ctx, call.ID, UserIdentifier(u[0]), ""); !IsNotFound(err) {
		t.Errorf("removing someone not in the call: err = %v, want 404", err)
	}
	st, _ := emu.Call(call.ID)
	if want := slices.Sorted(slices.Values([]string{emu.AppID(), u[1]})); !slices.Equal(slices.Sorted(slices.Values(st.Participants)), want) {
		t.Errorf("emulator participants = %v, want %v", st.Participants, want)
	}
	if err := c.TerminateCall(ctx, call.ID); err != nil {
		t.Fatalf("TerminateCall: %v", err)
	}
	evs = sink.waitFor(t, 8)
	want := []string{"CallConnected", "ParticipantsUpdated", "AddParticipantSucceeded", "ParticipantsUpdated",
		"RemoveParticipantSucceeded", "ParticipantsUpdated", "ParticipantsUpdated", "CallDisconnected"}
	if !slices.Equal(kinds(evs), want) {
		t.Errorf("callbacks = %v, want %v", kinds(evs), want)
	}
	for i, e := range []int{1, 3, 5, 6} {
		if evs[e].Data.SequenceNumber != i+1 {
			t.Errorf("ParticipantsUpdated %d has sequence number %d", i+1, evs[e].Data.SequenceNumber)
		}
	}
	if err := c.HangUp(ctx, call.ID); !IsNotFound(err) {
		t.Errorf("HangUp after terminate: err = %v, want 404", err)
	}
}

func TestHangUpAndAddFailure(t *testing.T) {
	c, emu, sink := callClient(t, -1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	u := newUsers(t, c, 1)
	call, err := c.CreateCall(ctx, CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: sink.url})
	if err != nil {
		t.Fatalf("CreateCall: %v", err)
	}
	ghost := "8:acs:" + emu.ResourceID() + "_gone"
	if _, err := c.AddParticipant(ctx, call.ID, AddParticipantOptions{Participant: UserIdentifier(ghost)}); err != nil {
		t.Fatalf("AddParticipant of an unknown user: %v (ACS fails the invitation, not the request)", err)
	}
	if err := c.HangUp(ctx, call.ID); err != nil {
		t.Fatalf("HangUp: %v", err)
	}
	evs := sink.waitFor(t, 4)
	if want := []string{"CallConnected", "ParticipantsUpdated", "AddParticipantFailed", "CallDisconnected"}; !slices.Equal(kinds(evs), want) {
		t.Fatalf("callbacks = %v, want %v", kinds(evs), want)
	}
	if ri := evs[2].Data.ResultInformation; ri == nil || ri.Code != 404 {
		t.Errorf("AddParticipantFailed resultInformation = %+v", ri)
	}

	// Replays in shuffled order with duplicates arrive, signed, in full.
	ds, err := emu.ReplayCallbacks(ctx, call.ID, acsemu.ReplayOptions{Shuffle: true, Seed: 7, Duplicates: 1})
	if err != nil || len(ds) != 8 {
		t.Fatalf("ReplayCallbacks = %d deliveries, %v", len(ds), err)
	}
	evs = sink.waitFor(t, 12)
	seen := map[string]int{}
	for _, e := range evs[4:] {
		seen[e.ID]++
	}
	for _, e := range evs[:4] {
		if seen[e.ID] != 2 {
			t.Errorf("event %s %s replayed %d times, want 2", e.Kind(), e.ID, seen[e.ID])
		}
	}
}

func TestCreateCallRefusals(t *testing.T) {
	c, emu, sink := callClient(t, -1)
	u := newUsers(t, c, 1)
	tests := []struct {
		name   string
		opts   CreateCallOptions
		status int // 0: refused by the client before sending
	}{
		{"unknown user", CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier("8:acs:" + emu.ResourceID() + "_nobody")}, CallbackURI: sink.url}, 400},
		{"no targets", CreateCallOptions{CallbackURI: sink.url}, 0},
		{"phone without caller id", CreateCallOptions{Targets: []CommunicationIdentifier{PhoneIdentifier("+14255550100")}, CallbackURI: sink.url}, 0},
		{"phone not E.164", CreateCallOptions{Targets: []CommunicationIdentifier{PhoneIdentifier("4255550100")}, CallbackURI: sink.url, SourceCallerID: "+14255550199"}, 0},
		{"callback over plain http", CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: "http://example.com/cb"}, 0},
		{"relative callback", CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: "/api/callbacks"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateCall(t.Context(), tt.opts)
			if err == nil {
				t.Fatal("CreateCall succeeded")
			}
			if got := statusOf(err); got != tt.status {
				t.Errorf("status = %d (%v), want %d", got, err, tt.status)
			}
		})
	}
	pstn, err := c.CreateCall(t.Context(), CreateCallOptions{Targets: []CommunicationIdentifier{PhoneIdentifier("+14255550100")}, CallbackURI: sink.url, SourceCallerID: "+14255550199"})
	if err != nil {
		t.Fatalf("PSTN CreateCall: %v", err)
	}
	if pstn.SourceCallerID == nil || pstn.SourceCallerID.Value != "+14255550199" || pstn.Targets[0].Kind != KindPhoneNumber {
		t.Errorf("PSTN call = %+v", pstn)
	}
	if n := len(emu.Calls()); n != 1 {
		t.Errorf("emulator holds %d calls, want only the PSTN one", n)
	}
}

func TestAnswerCall(t *testing.T) {
	c, emu, sink := callClient(t, -1)
	u := newUsers(t, c, 2)
	in, err := emu.NewIncomingCall(u[0], u[1])
	if err != nil {
		t.Fatal(err)
	}
	call, err := c.AnswerCall(t.Context(), AnswerCallOptions{IncomingCallContext: in.IncomingCallContext, CallbackURI: sink.url})
	if err != nil {
		t.Fatalf("AnswerCall: %v", err)
	}
	if call.ServerCallID != in.ServerCallID || call.Source == nil || call.Source.Raw() != u[0] {
		t.Errorf("AnswerCall = %+v, want the ringing call from %s", call, u[0])
	}
	evs := sink.waitFor(t, 2)
	if evs[0].Type != EventCallConnected || evs[0].Data.CallConnectionID != call.ID {
		t.Errorf("first callback = %+v", evs[0])
	}
	if _, err := c.AnswerCall(t.Context(), AnswerCallOptions{IncomingCallContext: in.IncomingCallContext, CallbackURI: sink.url}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("answering twice: err = %v, want 400", err)
	}
}

func TestCallbackVerifierRefusesForeignTokens(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	other := startEmulator(t, acsemu.Options{})
	v, err := NewCallbackVerifier(t.Context(), t.Context(), emu.OIDCConfigURL(), emu.ResourceID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, err := NewCallbackVerifier(t.Context(), t.Context(), emu.OIDCConfigURL(), other.ResourceID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Capture the first real callback token of each emulator, by path.
	var mu sync.Mutex
	first := map[string]string{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := first[r.URL.Path]; !ok {
			first[r.URL.Path] = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	token := func(e *acsemu.Emulator) string {
		c, err := NewClientFromConnectionString(e.ConnectionString(), nil)
		if err != nil {
			t.Fatal(err)
		}
		u := newUsers(t, c, 1)
		path := "/cb/" + e.ResourceID()
		if _, err := c.CreateCall(t.Context(), CreateCallOptions{Targets: []CommunicationIdentifier{UserIdentifier(u[0])}, CallbackURI: "http://" + ln.Addr().String() + path}); err != nil {
			t.Fatal(err)
		}
		for range 500 {
			mu.Lock()
			tok, ok := first[path]
			mu.Unlock()
			if ok {
				return tok
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no callback arrived")
		return ""
	}
	own, foreign := token(emu), token(other)
	if err := v.Verify(t.Context(), own); err != nil {
		t.Errorf("own token refused: %v", err)
	}
	if err := wrongAud.Verify(t.Context(), own); err == nil {
		t.Error("token for another audience accepted")
	}
	if err := v.Verify(t.Context(), foreign); err == nil {
		t.Error("token signed by another issuer accepted")
	}
	if err := v.Verify(t.Context(), own[:len(own)-4]+"AAAA"); err == nil {
		t.Error("token with a forged signature accepted")
	}
	r, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	if err := v.VerifyRequest(r); err == nil {
		t.Error("request without a token accepted")
	}
}

func TestMoveParticipants(t *testing.T) {
	c, emu, sink := callClient(t, -1)
	u := newUsers(t, c, 2)
	in, err := emu.NewIncomingCall(u[0], u[1])
	if err != nil {
		t.Fatal(err)
	}
	bot, err := c.AnswerCall(t.Context(), AnswerCallOptions{IncomingCallContext: in.IncomingCallContext, CallbackURI: sink.url})
	if err != nil {
		t.Fatalf("AnswerCall: %v", err)
	}
	group, err := c.ConnectCall(t.Context(), ConnectOptions{Locator: CallLocator{GroupCallID: "5f0c3c36-2a4e-4a39-9d0a-6a3f2a1f7b11"}, CallbackURI: sink.url})
	if err != nil {
		t.Fatalf("ConnectCall: %v", err)
	}
	if err := c.MoveParticipants(t.Context(), group.ID, MoveParticipantsOptions{Participants: []CommunicationIdentifier{UserIdentifier(u[0])}, FromCall: bot.ID, OperationContext: "m"}); err != nil {
		t.Fatalf("MoveParticipants: %v", err)
	}
	into, _ := emu.Call(group.ID)
	from, _ := emu.Call(bot.ID)
	if !slices.Contains(into.Participants, u[0]) || slices.Contains(from.Participants, u[0]) {
		t.Errorf("after the move: group %v, bot %v", into.Participants, from.Participants)
	}
	for n := 1; ; n++ {
		evs := sink.waitFor(t, n)
		if i := slices.IndexFunc(evs, func(e CallbackEvent) bool { return e.Type == EventMoveParticipantSucceeded }); i >= 0 {
			if evs[i].Data.OperationContext != "m" || evs[i].Data.Participant == nil || evs[i].Data.Participant.Raw() != u[0] {
				t.Errorf("MoveParticipantSucceeded = %+v", evs[i].Data)
			}
			break
		}
	}

	old, err := NewClientFromConnectionString(emu.ConnectionString(), &ClientOptions{CallAutomationAPIVersion: "2025-06-15"})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.MoveParticipants(t.Context(), group.ID, MoveParticipantsOptions{Participants: []CommunicationIdentifier{UserIdentifier(u[0])}, FromCall: bot.ID}); !errors.Is(err, ErrMoveNotSupported) {
		t.Errorf("MoveParticipants on 2025-06-15: err = %v, want ErrMoveNotSupported", err)
	}
	if _, err := NewClientFromConnectionString(emu.ConnectionString(), &ClientOptions{CallAutomationAPIVersion: "2024-09-01-preview"}); err == nil {
		t.Error("a preview Call Automation api-version was accepted")
	}
}
