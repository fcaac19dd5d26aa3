package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/dev/graphemu"
	"switchboard/dev/stack"
)

// TestTeamsMeetings: a teams call is a Graph meeting made once under
// retries, with its lobby bypass patched, whose join details reach the
// invitees (GET and the invitation push) and the space's members, and
// which ending the call deletes.
func TestTeamsMeetings(t *testing.T) {
	alice := userClient(t, st, "teams-alice", "Alice")
	bob := userClient(t, st, "teams-bob", "Bob")
	eve := userClient(t, st, "teams-eve", "Eve")
	for _, c := range []*client{alice, bob, eve} {
		c.ok("POST", "/api/token", "", 200)
	}
	befriend(t, alice, "teams-alice", bob, "teams-bob")
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/bob-teams-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	start := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }

	// Bad input never reaches Graph.
	before := st.Graph.Requests("createOrGet")
	alice.do("POST", "/api/calls", `{"kind":"teams","startsAt":"`+at(0)+`","endsAt":"`+at(-time.Minute)+`"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"teams","startsAt":"`+at(0)+`","endsAt":"`+at(367*24*time.Hour)+`"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"teams","phoneNumbers":["+14255550101"]}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"group","startsAt":"`+at(0)+`"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"teams","invitees":["teams-eve"]}`).problem(t, 400, "invitees-not-reachable")
	if n := st.Graph.Requests("createOrGet") - before; n != 0 {
		t.Fatalf("refused requests reached Graph %d times", n)
	}

	// One throttled answer is waited out (Retry-After 1 s) and retried.
	st.Graph.FailNext(1, http.StatusTooManyRequests, time.Second)
	created := alice.ok("POST", "/api/calls", `{"kind":"teams","invitees":["teams-bob"],"subject":"Quarterly review","startsAt":"`+at(0)+`","endsAt":"`+at(45*time.Minute)+`"}`, 201)
	if n := st.Graph.Requests("createOrGet") - before; n != 2 {
		t.Errorf("createOrGet requests = %d, want 2 (one throttled, one retried)", n)
	}
	id := created["id"].(string)
	teams, _ := created["teams"].(map[string]any)
	if created["kind"] != "teams" || teams == nil || created["startsAt"] != at(0) || created["endsAt"] != at(45*time.Minute) {
		t.Fatalf("created: %v", created)
	}
	m := meetingFor(t, id)
	if teams["meetingLink"] != m.JoinWebURL || teams["meetingId"] != m.JoinMeetingID || teams["passcode"] != m.Passcode || m.Subject != "Quarterly review" {
		t.Errorf("teams = %v, meeting = %+v", teams, m)
	}
	if m.LobbyBypassScope != "everyone" || m.Organizer != st.TeamsOrganizer || !m.Start.Equal(start) {
		t.Errorf("meeting = %+v, want lobby bypass everyone, organized by %s, from %s", m, st.TeamsOrganizer, start)
	}
	if got := bob.ok("GET", "/api/calls/"+id, "", 200)["teams"]; !equalJSON(got, teams) {
		t.Errorf("bob's view of the join details = %v, want %v", got, teams)
	}
	eve.do("GET", "/api/calls/"+id, "").problem(t, 404, "call-not-found")
	inv := st.Push.Received(hookID)
	if len(inv) != 1 {
		t.Fatalf("bob's device got %d invitations", len(inv))
	}
	var push struct {
		Type string
		Data map[string]string
	}
	_ = json.Unmarshal(inv[0].Body, &push)
	if push.Type != "invitation" || push.Data["callId"] != id || push.Data["meetingLink"] != m.JoinWebURL || push.Data["passcode"] != m.Passcode || push.Data["kind"] != "teams" {
		t.Errorf("invitation: %s", inv[0].Body)
	}

	// Graph made the meeting but the answer was lost: the retry gets the same meeting.
	meetings := len(st.Graph.Meetings())
	before = st.Graph.Requests("createOrGet")
	st.Graph.LoseNextAnswers(1, http.StatusServiceUnavailable)
	again := alice.ok("POST", "/api/calls", `{"kind":"teams","subject":"Retried"}`, 201)
	if n := st.Graph.Requests("createOrGet") - before; n != 2 {
		t.Errorf("createOrGet requests = %d, want 2", n)
	}
	if n := len(st.Graph.Meetings()) - meetings; n != 1 {
		t.Errorf("a retried create made %d meetings, want 1", n)
	}
	if meetingFor(t, again["id"].(string)).JoinWebURL != again["teams"].(map[string]any)["meetingLink"] {
		t.Errorf("the call holds another meeting than the one Graph made: %v", again)
	}

	// A space holds a meeting: its members see the join details.
	sp := alice.ok("POST", "/api/spaces", `{"name":"Planning"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	alice.ok("PUT", path+"/members/teams-bob", "", 200)
	bob.ok("PUT", path+"/members/teams-bob", "", 200)
	inSpace := alice.ok("POST", "/api/calls", `{"kind":"teams","spaceId":"`+sp["id"].(string)+`","subject":"Sprint planning"}`, 201)
	view := bob.ok("GET", path, "", 200)
	meeting, _ := view["meeting"].(map[string]any)
	if meeting == nil || meeting["callId"] != inSpace["id"] || meeting["meetingLink"] != inSpace["teams"].(map[string]any)["meetingLink"] || meeting["subject"] != "Sprint planning" {
		t.Fatalf("bob's view of the space: %v", view)
	}
	bob.do("PUT", path+"/meeting", `{"callId":"`+id+`"}`).problem(t, 403, "forbidden")
	eve.do("PUT", path+"/meeting", `{"callId":"`+id+`"}`).problem(t, 404, "call-not-found")
	alice.do("PUT", path+"/meeting", `{"callId":"`+alice.ok("POST", "/api/calls", `{"kind":"group"}`, 201)["id"].(string)+`"}`).problem(t, 400, "invalid-request")
	shared := alice.ok("PUT", path+"/meeting", `{"callId":"`+id+`"}`, 200)
	if shared["meeting"].(map[string]any)["callId"] != id {
		t.Errorf("PUT meeting: %v", shared)
	}

	// Ending the call deletes the meeting (and takes it out of the space); again is no error.
	bob.do("DELETE", "/api/calls/"+id, "").problem(t, 403, "forbidden")
	alice.ok("DELETE", "/api/calls/"+id, "", 204)
	for _, mt := range st.Graph.Meetings() {
		if mt.ExternalID == id {
			t.Errorf("the meeting of an ended call still exists: %+v", mt)
		}
	}
	if v := bob.ok("GET", path, "", 200); v["meeting"] != nil {
		t.Errorf("the space still holds the ended meeting: %v", v["meeting"])
	}
	alice.ok("DELETE", "/api/calls/"+id, "", 204)
	if c := bob.ok("GET", "/api/calls/"+id, "", 200); c["state"] != "ended" {
		t.Errorf("ended call: %v", c)
	}
}

// TestTeamsMeetingErase: erasing a user deletes the meetings they created.
func TestTeamsMeetingErase(t *testing.T) {
	gone := userClient(t, st, "teams-erased", "Gone")
	gone.ok("POST", "/api/token", "", 200)
	id := gone.ok("POST", "/api/calls", `{"kind":"teams","subject":"Soon gone"}`, 201)["id"].(string)
	meetingFor(t, id)
	gone.ok("DELETE", "/api/me", "", 204)
	for _, m := range st.Graph.Meetings() {
		if m.ExternalID == id {
			t.Errorf("the erased user's meeting still exists: %+v", m)
		}
	}
}

// TestTeamsGraphRefusals: what the operator must fix comes back actionable.
func TestTeamsGraphRefusals(t *testing.T) {
	alice := userClient(t, st, "teams-ops", "Ops")
	alice.ok("POST", "/api/token", "", 200)

	st.Graph.RevokeAccessPolicies(st.GraphApp.ClientID)
	p := alice.do("POST", "/api/calls", `{"kind":"teams"}`).problem(t, 502, "graph-access-policy-missing")
	st.Graph.GrantAccessPolicy(st.GraphApp.ClientID, st.TeamsOrganizer)
	if d := p["detail"].(string); !strings.Contains(d, "Grant-CsApplicationAccessPolicy") || !strings.Contains(d, st.TeamsOrganizer) || !strings.Contains(d, st.GraphApp.ClientID) {
		t.Errorf("detail does not say which grant is needed: %s", d)
	}

	st.Graph.RemoveUser(st.TeamsOrganizer)
	p = alice.do("POST", "/api/calls", `{"kind":"teams"}`).problem(t, 502, "graph-organizer-not-found")
	st.Graph.AddUser(st.TeamsOrganizer, "Switchboard Meetings")
	if d := p["detail"].(string); !strings.Contains(d, "was not found in the tenant") {
		t.Errorf("detail lacks Graph's reason: %s", d)
	}

	// A wait longer than the handler's own goes back to the client.
	st.Graph.FailNext(1, http.StatusTooManyRequests, 2*time.Minute)
	r := alice.do("POST", "/api/calls", `{"kind":"teams"}`)
	r.problem(t, 503, "graph-throttled")
	if r.header.Get("Retry-After") != "120" {
		t.Errorf("Retry-After = %q, want 120", r.header.Get("Retry-After"))
	}
	st.Graph.SetMonthlyCap(0)
	defer st.Graph.SetMonthlyCap(graphemu.DefaultMonthlyCap)
	alice.do("POST", "/api/calls", `{"kind":"teams"}`).problem(t, 503, "graph-throttled")
}

func TestTeamsNotConfigured(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, WithoutTeams: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := userClient(t, s, "teams-off", "")
	p := c.do("POST", "/api/calls", `{"kind":"teams"}`).problem(t, 501, "not-configured")
	if d := p["detail"].(string); !strings.Contains(d, "TEAMS_ORGANIZER_ID") || !strings.Contains(d, "GRAPH_TENANT_ID") {
		t.Errorf("detail does not name the settings: %s", d)
	}
	c.ok("POST", "/api/calls", `{"kind":"group"}`, 201)
}

// meetingFor is the Graph emulator's meeting made for a call.
func meetingFor(t *testing.T, callID string) graphemu.Meeting {
	t.Helper()
	var found []graphemu.Meeting
	for _, m := range st.Graph.Meetings() {
		if m.ExternalID == callID {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Graph holds %d meetings for call %s, want 1", len(found), callID)
	}
	return found[0]
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
