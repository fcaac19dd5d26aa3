package conformance

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"switchboard/dev/acsemu"
)

// received is one verified callback event as the Go test's endpoint saw it.
type received struct {
	Call, Type string
	Data       struct {
		CallConnectionID string `json:"callConnectionId"`
		OperationContext string `json:"operationContext"`
		SequenceNumber   int    `json:"sequenceNumber"`
	}
}

// TestCallAutomationSDK drives the emulator's Call Automation API with
// @azure/communication-call-automation, and checks that the callbacks the
// emulator played out arrived in order, each signed by a JWT that verifies
// with standard OIDC against the emulator's acsopenidconfiguration.
func TestCallAutomationSDK(t *testing.T) {
	emu, err := acsemu.Start(acsemu.Options{CallHoldTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })

	// Standard OIDC discovery reads issuer and jwks_uri from the configuration.
	resp, err := http.Get(emu.OIDCConfigURL())
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || cfg.Issuer == "" || cfg.JWKSURI == "" {
		t.Fatalf("OIDC configuration = %+v, %v", cfg, err)
	}
	verifier := oidc.NewVerifier(cfg.Issuer, oidc.NewRemoteKeySet(t.Context(), cfg.JWKSURI),
		&oidc.Config{ClientID: emu.ResourceID(), SupportedSigningAlgs: []string{oidc.RS256}})

	var mu sync.Mutex
	var events []received
	var refused []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		idt, err := verifier.Verify(r.Context(), tok)
		if err == nil && idt.Expiry.Sub(idt.IssuedAt) > 5*time.Minute {
			err = io.ErrUnexpectedEOF
		}
		if err != nil || r.URL.Query().Get("secret") != "s3cret" {
			refused = append(refused, r.URL.String()+": "+errString(err))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var batch []received
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil || len(batch) != 1 {
			refused = append(refused, "body: "+errString(err))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		batch[0].Call = r.URL.Query().Get("call")
		events = append(events, batch[0])
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	callback := "http://" + ln.Addr().String() + "/api/callbacks?secret=s3cret"

	var res struct {
		Users      []string
		CreateCall struct {
			CallConnectionID, ServerCallID, State, CallbackURL string
			Targets                                            []string
		}
		ListParticipants, AfterAdd  []string
		AddParticipant              struct{ RawID, InvitationID string }
		GetCallConnectionProperties string
		ListAfterHangUp             struct{ Status int }
		Second                      string
		UnknownTarget               struct{ Status int }
	}
	runNode(t, "callautomation.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "CALLBACK_URL=" + callback}, &res,
		"@azure/communication-call-automation", "@azure/communication-identity")

	u := res.Users
	if len(u) != 3 {
		t.Fatalf("users = %v", u)
	}
	cc := res.CreateCall
	if cc.CallConnectionID == "" || cc.ServerCallID == "" || cc.State != "connecting" || !strings.HasPrefix(cc.CallbackURL, callback) || !slices.Equal(cc.Targets, u[:1]) {
		t.Errorf("createCall = %+v", cc)
	}
	if want := slices.Sorted(slices.Values([]string{emu.AppID(), u[0]})); !slices.Equal(res.ListParticipants, want) {
		t.Errorf("listParticipants = %v, want %v", res.ListParticipants, want)
	}
	if res.AddParticipant.RawID != u[1] || res.AddParticipant.InvitationID == "" {
		t.Errorf("addParticipant = %+v", res.AddParticipant)
	}
	if want := slices.Sorted(slices.Values([]string{emu.AppID(), u[0], u[1]})); !slices.Equal(res.AfterAdd, want) {
		t.Errorf("participants after add = %v, want %v", res.AfterAdd, want)
	}
	if res.GetCallConnectionProperties != "connected" {
		t.Errorf("state before hang-up = %q", res.GetCallConnectionProperties)
	}
	if res.ListAfterHangUp.Status != 404 || res.UnknownTarget.Status != 400 {
		t.Errorf("list after hang-up = %+v (want 404), unknown target = %+v (want 400)", res.ListAfterHangUp, res.UnknownTarget)
	}

	// Callbacks are delivered in order per call; wait for the last of each.
	want := map[string][]string{
		"1": {"CallConnected", "ParticipantsUpdated", "AddParticipantSucceeded", "ParticipantsUpdated", "CallDisconnected"},
		"2": {"CallConnected", "ParticipantsUpdated", "ParticipantsUpdated", "CallDisconnected"},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := map[string][]string{}
		for _, e := range events {
			got[e.Call] = append(got[e.Call], strings.TrimPrefix(e.Type, "Microsoft.Communication."))
		}
		bad := slices.Clone(refused)
		mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("callbacks refused: %v", bad)
		}
		if slices.Equal(got["1"], want["1"]) && slices.Equal(got["2"], want["2"]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks = %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	seq := 0
	for _, e := range events {
		id := cc.CallConnectionID
		if e.Call == "2" {
			id = res.Second
		}
		if e.Data.CallConnectionID != id {
			t.Errorf("call %s event %s names call %q, want %q", e.Call, e.Type, e.Data.CallConnectionID, id)
		}
		if e.Call == "1" && strings.HasSuffix(e.Type, "ParticipantsUpdated") {
			if e.Data.SequenceNumber <= seq {
				t.Errorf("ParticipantsUpdated sequence %d after %d", e.Data.SequenceNumber, seq)
			}
			seq = e.Data.SequenceNumber
		}
	}
	for _, d := range emu.Callbacks(cc.CallConnectionID) {
		if d.Status != http.StatusOK {
			t.Errorf("delivery %+v was not accepted", d)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
