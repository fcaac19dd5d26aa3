// Command devstack is `make run`: it starts Azurite, the local OIDC issuer,
// the ACS, push, Entra and Graph emulators and the function app behind the
// Functions host stand-in, shows the stack working, prints what to try, and
// stops it all on Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/console"
	"switchboard/dev/stack"
	"switchboard/dev/turnserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run() error {
	quiet := flag.Bool("quiet", false, "do not show the handler's log lines")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var logs io.Writer = prefixWriter{w: os.Stderr, prefix: "handler | "}
	if *quiet {
		logs = io.Discard
	}
	fmt.Println("Starting Switchboard's local stack (Azurite, OIDC issuer, ACS, push, Entra and Graph emulators, coturn, function app)...")
	turn, turnEnv := startTURN(ctx)
	if turn != nil {
		defer turn.Close()
	}
	st, err := stack.Start(ctx, stack.Options{
		// The token cache is on, as in a deployment (local.settings.sample.json names the same key).
		Env: append(turnEnv, "TOKEN_CACHE_KEY="+stack.DevTokenCacheKey),
		// The ports local.settings.sample.json names; a busy one falls back to a random port.
		Ports: stack.Ports{
			Host:    preferPort(7071),
			Issuer:  preferPort(7701),
			ACS:     preferPort(7702),
			Azurite: preferPort(10002),
			// Notification Hubs emulator and Web Push/webhook receivers.
			NotificationHubs: preferPort(7703),
			PushReceivers:    preferPort(7704),
			// Entra token endpoint and Graph, for Teams meetings.
			Entra: preferPort(7705),
			Graph: preferPort(7706),
		},
		ACSAccessKey: stack.DevAccessKey,
		Stdout:       logs,
		Stderr:       logs,
		// The console's Events tab reads what the host passed to the handler.
		Journal: true,
	})
	if err != nil {
		return err
	}
	consoleURL := "off"
	if con, err := startConsole(st); err != nil {
		fmt.Fprintln(os.Stderr, "devstack: the console did not start:", err)
		consoleURL = "off (" + err.Error() + ")"
	} else {
		defer con.Close()
		consoleURL = con.URL()
	}
	defer func() {
		fmt.Println("\nStopping...")
		if err := st.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "devstack: stop:", err)
		}
	}()

	alice, err := st.Token("alice", "Alice Example")
	if err != nil {
		return err
	}
	bob, err := st.Token("bob", "Bob Example")
	if err != nil {
		return err
	}
	base := st.URL()
	fmt.Printf(`
Switchboard is running.
  console        %s   <- open this in a browser
  function app   %s/api/...  (OpenAPI: %s/api/openapi.json)
  OIDC issuer    %s  (mint more: %s/token?sub=carol&name=Carol; add &role=Switchboard.Dial to dial +1425555 numbers)
  ACS emulator   %s
  Azurite        %s
  push emulators %s  (Notification Hubs)  and  %s  (what every device got)
  TURN           %s
  Entra, Graph   %s  and  %s  (Teams meetings, organizer %s)

The emulators' TLS certificates (for a handler started by hand, e.g. func start):
  export SSL_CERT_FILE=%s

Bearer tokens (valid 1 hour):
  export ALICE=%s
  export BOB=%s

`, consoleURL, base, base, st.Issuer.URL(), st.Issuer.URL(), st.ACS.Endpoint(), st.Azurite.TableEndpoint(),
		strings.TrimPrefix(strings.Split(st.Push.ConnectionString(), ";")[0], "Endpoint="), st.Push.DeliveriesURL(), turnSummary(turn),
		st.Entra.AuthorityHost(), st.Graph.Endpoint(), st.TeamsOrganizer, st.CAFile, alice, bob)

	if err := demo(ctx, base, alice, bob); err != nil {
		return err
	}
	if err := demoIncomingCall(ctx, st, base, bob); err != nil {
		return err
	}
	if err := demoRoomCall(ctx, st, base, alice, bob); err != nil {
		return err
	}
	if err := demoTeamsMeeting(ctx, st, base, alice, bob); err != nil {
		return err
	}
	if err := demoChat(ctx, st, base, alice, bob); err != nil {
		return err
	}
	if err := demoSMSGuest(ctx, st, base, alice); err != nil {
		return err
	}
	if err := demoBot(ctx, st, base, alice); err != nil {
		return err
	}
	carol, err := st.Token("carol", "Carol Example")
	if err != nil {
		return err
	}
	if err := demoStranger(ctx, base, carol); err != nil {
		return err
	}
	if turn != nil {
		if err := demoRelay(ctx, base, alice, turn); err != nil {
			return err
		}
	}

	fmt.Printf(`Try:
  curl -s %[1]s/api/health
  curl -s %[1]s/api/me -H "Authorization: Bearer $ALICE"
  curl -s -X POST %[1]s/api/token -H "Authorization: Bearer $ALICE"
  curl -s -X POST %[1]s/api/token -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' -d '{"scopes":["voip","chat"],"expiresInMinutes":120}'
  curl -s -X PUT %[1]s/api/contacts/bob -H "Authorization: Bearer $ALICE"
  curl -s %[1]s/api/contacts/requests -H "Authorization: Bearer $BOB"
  curl -s %[1]s/api/contacts -H "Authorization: Bearer $ALICE"
  curl -s -X PUT %[1]s/api/blocks/bob -H "Authorization: Bearer $ALICE"
  curl -s %[1]s/api/users/bob -H "Authorization: Bearer $ALICE"
  curl -s %[1]s/api/me     # no token: 401 with a problem body
  curl -s %[1]s/api/devices -H "Authorization: Bearer $BOB"
  curl -s -X POST %[1]s/api/relay -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -d '{"ttlMinutes":10}'
  curl -s -X POST %[1]s/api/calls -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -d '{"kind":"teams","invitees":["bob"],"subject":"1:1"}'
  curl -sk %[2]s    # every push the emulators received

The console, to see all of it and act as the clouds would (tokens, pushes, calls, phone, events):
  %[3]s

Press Ctrl-C to stop.
`, base, st.Push.DeliveriesURL(), consoleURL)
	select {
	case <-ctx.Done():
	case <-st.Host.Exited():
		return fmt.Errorf("the handler exited; see its log above")
	}
	return nil
}

// demo shows the stack working end to end before handing over to the developer.
func demo(ctx context.Context, base, alice, bob string) error {
	steps := []step{
		{"health", "GET", "/api/health", "", "", 200},
		{"alice's first token (creates her ACS identity)", "POST", "/api/token", alice, "", 200},
		{"bob's first token", "POST", "/api/token", bob, `{"scopes":["voip"],"expiresInMinutes":60}`, 200},
		{"alice asks bob to be a contact", "PUT", "/api/contacts/bob", alice, "", 200},
		{"bob sees the request", "GET", "/api/contacts/requests", bob, "", 200},
		{"bob accepts: mutual, ACS ids shared", "PUT", "/api/contacts/alice", bob, "", 200},
		{"alice's contacts", "GET", "/api/contacts", alice, "", 200},
		{"alice's profile", "GET", "/api/me", alice, "", 200},
	}
	fmt.Println("Showing it working:")
	return runSteps(ctx, base, steps)
}

// step is one request of a demo and the status it must get.
type step struct {
	title, method, path, token, body string
	want                             int
}

func runSteps(ctx context.Context, base string, steps []step) error {
	for _, s := range steps {
		status, body, err := call(ctx, s.method, base+s.path, s.token, s.body)
		if err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		fmt.Printf("  %-50s %s %s -> %d %s\n", s.title, s.method, s.path, status, shorten(body))
		if status != s.want {
			return fmt.Errorf("%s answered %d, want %d: %s", s.title, status, s.want, body)
		}
	}
	fmt.Println()
	return nil
}

// demoStranger: carol, who is nobody's contact, cannot ring alice's phone
// or learn her ACS id; the answers are those for a user who does not exist.
func demoStranger(ctx context.Context, base, carol string) error {
	fmt.Println("A stranger reaches nobody:")
	return runSteps(ctx, base, []step{
		{"carol's first token", "POST", "/api/token", carol, "", 200},
		{"carol tries to invite alice to a call", "POST", "/api/calls", carol, `{"kind":"group","invitees":["alice"],"subject":"URGENT"}`, 400},
		{"carol tries to look alice up", "GET", "/api/users/alice", carol, "", 404},
		{"carol asks alice: only a request", "PUT", "/api/contacts/alice", carol, "", 200},
	})
}

// demoIncomingCall registers an iPhone (APNs VoIP through Notification Hubs)
// for bob, delivers an IncomingCall event for him through the host's Event
// Grid endpoint, and shows what the phone received.
func demoIncomingCall(ctx context.Context, st *stack.Stack, base, bob string) error {
	const handle = "5d2b8f0c1e3a4b6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	status, body, err := call(ctx, "PUT", base+"/api/devices/bobs-iphone", bob, `{"provider":"apns","handle":"`+handle+`","voip":true}`)
	if err != nil || status >= 300 {
		return fmt.Errorf("register bob's iphone: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s PUT /api/devices/bobs-iphone -> %d %s\n", "bob registers his iPhone (APNs VoIP)", status, shorten(body))
	_, me, err := call(ctx, "GET", base+"/api/me", bob, "")
	if err != nil {
		return err
	}
	var profile struct{ ACSUserID string }
	if err := json.Unmarshal([]byte(me), &profile); err != nil {
		return err
	}
	event := fmt.Sprintf(`[{"id":"demo-call-1","topic":"/acs","subject":"call","eventType":"Microsoft.Communication.IncomingCall","eventTime":%q,"dataVersion":"1.0","data":{"to":{"kind":"communicationUser","rawId":%q,"communicationUser":{"id":%q}},"from":{"kind":"communicationUser","rawId":"8:acs:alice","communicationUser":{"id":"8:acs:alice"}},"serverCallId":"demo-server-call","callerDisplayName":"Alice Example","incomingCallContext":"demo-incoming-call-context","correlationId":"demo-correlation"}}]`,
		time.Now().UTC().Format(time.RFC3339), profile.ACSUserID, profile.ACSUserID)
	if err := st.Host.DeliverEventGrid(ctx, "callevents", []byte(event)); err != nil {
		return fmt.Errorf("deliver IncomingCall: %w", err)
	}
	fmt.Printf("  %-50s POST /runtime/webhooks/eventgrid?functionName=callevents -> delivered\n", "Event Grid: IncomingCall for bob")
	for _, d := range st.Push.Received(handle) {
		fmt.Printf("  %-50s %s %s\n", "bob's iPhone received", d.Headers["apns-push-type"], d.Body)
	}
	fmt.Println()
	return nil
}

// demoRoomCall: alice creates a room call inviting bob; bob's iPhone gets
// the invitation; the call plays out as ACS reports it through Event Grid
// (CallStarted, both join, both leave, CallEnded); the roster shows it.
func demoRoomCall(ctx context.Context, st *stack.Stack, base, alice, bob string) error {
	status, body, err := call(ctx, "POST", base+"/api/calls", alice, `{"kind":"room","invitees":["bob"],"subject":"Demo"}`)
	if err != nil || status != 201 {
		return fmt.Errorf("create room call: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s POST /api/calls -> %d %s\n", "alice creates a room call inviting bob", status, summarize(body))
	var c struct {
		ID, RoomID string
		Invitees   []struct{ ACSUserID string }
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		return err
	}
	const handle = "5d2b8f0c1e3a4b6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	if got := st.Push.Received(handle); len(got) > 0 {
		fmt.Printf("  %-50s %s\n", "bob's iPhone received", got[len(got)-1].Body)
	}
	_, me, _ := call(ctx, "GET", base+"/api/me", alice, "")
	var a struct{ ACSUserID string }
	_ = json.Unmarshal([]byte(me), &a)
	bobID := c.Invitees[0].ACSUserID
	t0 := time.Now().UTC()
	steps := []struct {
		typ, who string
	}{{"CallStarted", ""}, {"CallParticipantAdded", a.ACSUserID}, {"CallParticipantAdded", bobID}}
	for i, s := range steps {
		if err := st.Host.DeliverEventGrid(ctx, "callevents", roomEvent(s.typ, c.RoomID, s.who, t0.Add(time.Duration(i)*time.Second))); err != nil {
			return err
		}
	}
	_, roster, _ := call(ctx, "GET", base+"/api/calls/"+c.ID, alice, "")
	fmt.Printf("  %-50s GET /api/calls/{id} -> %s\n", "ACS reports both joined", summarize(roster))
	for i, s := range []struct{ typ, who string }{{"CallParticipantRemoved", bobID}, {"CallParticipantRemoved", a.ACSUserID}, {"CallEnded", ""}} {
		if err := st.Host.DeliverEventGrid(ctx, "callevents", roomEvent(s.typ, c.RoomID, s.who, t0.Add(time.Duration(10+i)*time.Second))); err != nil {
			return err
		}
	}
	_, roster, _ = call(ctx, "GET", base+"/api/calls/"+c.ID, alice, "")
	fmt.Printf("  %-50s GET /api/calls/{id} -> %s\n\n", "then the call ended", summarize(roster))
	return nil
}

// demoRelay fetches alice's TURN credentials and has coturn allocate a relay
// with them, as a WebRTC client would.
func demoRelay(ctx context.Context, base, alice string, ts *turnserver.Server) error {
	fmt.Println("Relay credentials for device-to-device WebRTC:")
	status, body, err := call(ctx, "POST", base+"/api/relay", alice, `{"ttlMinutes":10}`)
	if err != nil || status != 200 {
		return fmt.Errorf("POST /api/relay: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s POST /api/relay -> %d %s\n", "alice's TURN credentials", status, shorten(body))
	var c struct {
		ICEServers []struct{ Username, Credential string }
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || len(c.ICEServers) == 0 {
		return fmt.Errorf("POST /api/relay answered %s", body)
	}
	client, err := turnserver.NewClient(ts.Addr(), c.ICEServers[0].Username, c.ICEServers[0].Credential)
	if err != nil {
		return err
	}
	defer client.Close()
	relayed, err := client.Allocate()
	if err != nil {
		return fmt.Errorf("coturn refused alice's credentials: %w", err)
	}
	defer relayed.Close()
	fmt.Printf("  %-50s relayed address %s\n\n", "coturn allocates a relay with them", relayed.LocalAddr())
	return nil
}

// demoTeamsMeeting: alice schedules a Teams meeting for her space (Graph
// createOrGet, then the lobby bypass); bob's iPhone gets the invitation with
// the meeting link; GET /api/calls/{id} and the space show the join details.
func demoTeamsMeeting(ctx context.Context, st *stack.Stack, base, alice, bob string) error {
	fmt.Println("A Teams meeting for a space:")
	status, body, err := call(ctx, "POST", base+"/api/spaces", alice, `{"name":"Design team"}`)
	if err != nil || status != 201 {
		return fmt.Errorf("create space: %d %s %v", status, body, err)
	}
	var sp struct{ ID string }
	_ = json.Unmarshal([]byte(body), &sp)
	path := "/api/spaces/" + sp.ID
	fmt.Printf("  %-50s POST /api/spaces -> %d %s\n", "alice creates the space \"Design team\"", status, shorten(body))
	if err := runSteps(ctx, base, []step{
		{"alice invites bob to it", "PUT", path + "/members/bob", alice, "", 200},
		{"bob accepts", "PUT", path + "/members/bob", bob, "", 200},
	}); err != nil {
		return err
	}
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Minute)
	req := fmt.Sprintf(`{"kind":"teams","spaceId":%q,"invitees":["bob"],"subject":"Design review","startsAt":%q,"endsAt":%q}`,
		sp.ID, starts.Format(time.RFC3339), starts.Add(30*time.Minute).Format(time.RFC3339))
	status, body, err = call(ctx, "POST", base+"/api/calls", alice, req)
	if err != nil || status != 201 {
		return fmt.Errorf("create teams meeting: %d %s %v", status, body, err)
	}
	var c struct {
		ID    string
		Teams struct{ MeetingLink, MeetingID, Passcode string }
	}
	_ = json.Unmarshal([]byte(body), &c)
	fmt.Printf("  %-50s POST /api/calls -> %d kind=teams id=%s\n", "alice schedules a Teams meeting for the space", status, c.ID)
	for _, m := range st.Graph.Meetings() {
		if m.ExternalID == c.ID {
			fmt.Printf("  %-50s externalId=%s lobbyBypass=%s\n", "Graph (emulator) holds the meeting", m.ExternalID, m.LobbyBypassScope)
		}
	}
	const handle = "5d2b8f0c1e3a4b6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
	if got := st.Push.Received(handle); len(got) > 0 {
		fmt.Printf("  %-50s %s\n", "bob's iPhone received", got[len(got)-1].Body)
	}
	_, view, _ := call(ctx, "GET", base+"/api/calls/"+c.ID, bob, "")
	var v struct {
		Teams json.RawMessage
	}
	_ = json.Unmarshal([]byte(view), &v)
	fmt.Printf("  %-50s GET /api/calls/{id} -> teams=%s\n", "bob reads the join details", v.Teams)
	_, space, _ := call(ctx, "GET", base+path, bob, "")
	var s2 struct {
		Meeting struct{ CallID, Subject string }
	}
	_ = json.Unmarshal([]byte(space), &s2)
	fmt.Printf("  %-50s GET %s -> meeting=%s %q\n\n", "the space shows it to its members", path, s2.Meeting.CallID, s2.Meeting.Subject)
	return nil
}

// summarize shows a call as kind, room, state and roster on one line.
func summarize(body string) string {
	var c struct {
		Kind, RoomID, State string
		Participants        []struct{ UserID, State string }
	}
	if json.Unmarshal([]byte(body), &c) != nil {
		return body
	}
	roster := []string{}
	for _, p := range c.Participants {
		roster = append(roster, p.UserID+":"+p.State)
	}
	return fmt.Sprintf("kind=%s room=%s state=%s participants=%v", c.Kind, c.RoomID, c.State, roster)
}

// roomEvent is an ACS call event for a room call, as Event Grid delivers it.
func roomEvent(typ, roomID, participant string, at time.Time) []byte {
	data := map[string]any{"serverCallId": "demo-server-call", "correlationId": "demo", "isRoomsCall": true, "room": map[string]any{"id": roomID}}
	if participant != "" {
		data["user"] = map[string]any{"communicationIdentifier": map[string]any{"rawId": participant, "communicationUser": map[string]any{"id": participant}}}
	}
	b, _ := json.Marshal([]map[string]any{{"id": fmt.Sprintf("demo-%s-%d", typ, at.UnixNano()), "topic": "/acs", "subject": "call",
		"eventType": "Microsoft.Communication." + typ, "eventTime": at.Format(time.RFC3339Nano), "dataVersion": "1.0", "data": data}})
	return b
}

func call(ctx context.Context, method, url, token, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// shorten keeps demo output on one line: long strings such as tokens are elided.
func shorten(body string) string {
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return body
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				t[k] = walk(x)
			}
		case []any:
			for i, x := range t {
				t[i] = walk(x)
			}
		case string:
			if len(t) > 90 { // tokens
				return t[:24] + "…"
			}
		}
		return v
	}
	b, _ := json.Marshal(walk(v))
	return string(b)
}

// startTURN starts coturn on loopback when it is installed and returns the
// handler settings that point POST /api/relay at it; without it, the route
// answers 501 and the stack carries on.
func startTURN(ctx context.Context) (*turnserver.Server, []string) {
	if _, err := turnserver.Binary(); err != nil {
		fmt.Println("TURN: turnserver (coturn) is not installed, so POST /api/relay will answer 501.")
		fmt.Println("      Install it (Debian/Ubuntu: sudo apt-get install coturn; macOS: brew install coturn) and run make run again.")
		return nil, nil
	}
	port := turnserver.DevPort
	if !turnserver.PortFree(port) {
		fmt.Fprintf(os.Stderr, "port %d is busy; coturn uses a random one instead\n", port)
		port = 0
	}
	ts, err := turnserver.Start(ctx, turnserver.Options{Secrets: []string{turnserver.DevSecret}, Port: port})
	if err != nil {
		fmt.Fprintf(os.Stderr, "TURN: coturn did not start (%v); POST /api/relay will answer 501\n", err)
		return nil, nil
	}
	return ts, []string{
		"TURN_URLS=" + strings.Join(ts.URLs(), ","),
		"TURN_SHARED_SECRET=" + turnserver.DevSecret,
	}
}

func turnSummary(ts *turnserver.Server) string {
	if ts == nil {
		return "off (coturn is not installed: POST /api/relay answers 501)"
	}
	lo, hi := ts.RelayRange()
	return fmt.Sprintf("coturn on %s, realm %s, relay ports %d-%d", ts.Addr(), ts.Realm(), lo, hi)
}

// startConsole serves the developer console on 127.0.0.1:7700, or on a
// random port when that one is busy.
func startConsole(st *stack.Stack) (*console.Server, error) {
	port := preferPort(console.DefaultPort)
	return console.Start(st, "127.0.0.1:"+strconv.Itoa(port))
}

// preferPort returns port if it is free now, else 0 (a random port).
func preferPort(port int) int {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "port %d is busy; using a random one instead\n", port)
		return 0
	}
	ln.Close()
	return port
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}

// demoBot: a service sets up the reception bot on the app's number; a PSTN
// caller dials it, hears "press 1 for Alice", presses 1; alice's iPhone
// rings and the call is transferred; the bot's call log shows it. A second
// caller presses 2 and is moved into the group call of alice's team space.
func demoBot(ctx context.Context, st *stack.Stack, base, alice string) error {
	svc, err := st.Issuer.MintUser("reception-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		return err
	}
	const handle = "7a1c9e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c"
	if status, body, err := call(ctx, "PUT", base+"/api/devices/alices-iphone", alice, `{"provider":"apns","handle":"`+handle+`","voip":true}`); err != nil || status >= 300 {
		return fmt.Errorf("register alice's iphone: %d %s %v", status, body, err)
	}
	status, body, err := call(ctx, "POST", base+"/api/spaces", alice, `{"name":"Team"}`)
	var space struct{ ID string }
	if err != nil || status != 201 || json.Unmarshal([]byte(body), &space) != nil {
		return fmt.Errorf("create alice's team space: %d %s %v", status, body, err)
	}
	const teamCall = "4b8e2d6a-0c1f-4e3a-9b5d-7f1a3c5e7b9d"
	if status, body, err := call(ctx, "PUT", base+"/api/spaces/"+space.ID+"/call", alice, `{"groupCallId":"`+teamCall+`"}`); err != nil || status != 200 {
		return fmt.Errorf("share the team call: %d %s %v", status, body, err)
	}
	cfg := `{"displayName":"Reception","greeting":{"text":"Welcome to Contoso. Press 1 for Alice, 2 to join the team call, 0 to hear this again."},` +
		`"menu":{"1":{"transfer":{"userId":"alice"}},"2":{"connect":{"spaceId":"` + space.ID + `"}},"0":{"repeat":true}},"fallback":{"retries":2},"phoneNumbers":["+14255550199"]}`
	status, body, err = call(ctx, "PUT", base+"/api/bots/reception", svc, cfg)
	if err != nil || status >= 300 {
		return fmt.Errorf("create the reception bot: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s PUT /api/bots/reception -> %d %s\n", "a service sets up the reception bot on +14255550199", status, shorten(body))
	in, err := st.ACS.RingApplication(ctx, "4:+14255550142", "4:+14255550199", "")
	if err != nil {
		return fmt.Errorf("ring the bot: %w", err)
	}
	fmt.Printf("  %-50s IncomingCall -> callevents\n", "+14255550142 dials the app's number")
	var conn acsemu.CallState
	if !poll(func() bool {
		for _, c := range st.ACS.Calls() {
			if c.ServerCallID == in.ServerCallID {
				conn = c
			}
		}
		return conn.Recognizing != ""
	}) {
		return fmt.Errorf("the bot did not answer and read keys: %+v", conn)
	}
	fmt.Printf("  %-50s %s\n", "the bot answers and plays", conn.Media[0].Sources[0])
	if err := st.ACS.PressKeys(conn.ID, "1"); err != nil {
		return err
	}
	fmt.Printf("  %-50s POST /emulator/calls/%s/dtmf {\"tones\":\"1\"}\n", "the caller presses 1", conn.ID)
	if !poll(func() bool { return len(st.Push.Received(handle)) > 0 }) {
		return fmt.Errorf("alice's iPhone did not ring")
	}
	fmt.Printf("  %-50s %s\n", "alice's iPhone rings (transfer)", shorten(string(st.Push.Received(handle)[0].Body)))
	var log string
	poll(func() bool {
		_, log, _ = call(ctx, "GET", base+"/api/bots/reception/calls", svc, "")
		return strings.Contains(log, `"outcome":"transferred"`)
	})
	fmt.Printf("  %-50s GET /api/bots/reception/calls -> %s\n", "the bot's call log", shorten(log))

	in, err = st.ACS.RingApplication(ctx, "4:+14255550143", "4:+14255550199", "")
	if err != nil {
		return fmt.Errorf("ring the bot: %w", err)
	}
	conn = acsemu.CallState{}
	if !poll(func() bool {
		for _, c := range st.ACS.Calls() {
			if c.ServerCallID == in.ServerCallID {
				conn = c
			}
		}
		return conn.Recognizing != ""
	}) {
		return fmt.Errorf("the bot did not answer the second caller: %+v", conn)
	}
	if err := st.ACS.PressKeys(conn.ID, "2"); err != nil {
		return err
	}
	fmt.Printf("  %-50s POST /emulator/calls/%s/dtmf {\"tones\":\"2\"}\n", "+14255550143 calls and presses 2", conn.ID)
	if !poll(func() bool {
		_, log, _ = call(ctx, "GET", base+"/api/bots/reception/calls", svc, "")
		return strings.Contains(log, `"outcome":"moved"`)
	}) {
		return fmt.Errorf("the second caller was not moved into the team call: %s", log)
	}
	for _, c := range st.ACS.Calls() {
		if c.Locator == "groupCall:"+teamCall {
			fmt.Printf("  %-50s participants:moveHere -> %v\n", "the caller is in the team space's call", c.Participants)
		}
	}
	fmt.Printf("  %-50s GET /api/bots/reception/calls -> %s\n\n", "the bot's call log", shorten(log))
	return nil
}

// poll checks cond until it holds, for up to 10 s.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
