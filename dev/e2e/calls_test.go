package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/acsemu"
)

// callEvent is an ACS call event for a group call, as Event Grid delivers it.
func callEvent(typ, groupCallID string, at time.Time, participant string) map[string]any {
	data := map[string]any{
		"serverCallId": "srv", "correlationId": "corr", "group": map[string]any{"id": groupCallID},
		"startedBy": map[string]any{"communicationIdentifier": map[string]any{"rawId": "8:acs:starter", "communicationUser": map[string]any{"id": "8:acs:starter"}}},
	}
	if participant != "" {
		data["user"] = map[string]any{"communicationIdentifier": map[string]any{"rawId": participant, "communicationUser": map[string]any{"id": participant}}, "role": "Attendee"}
		data["displayName"] = "P " + participant[len(participant)-4:]
		data["participantId"] = uuid.NewString()
	}
	return map[string]any{"id": uuid.NewString(), "topic": "/acs", "subject": "call", "eventType": "Microsoft.Communication." + typ,
		"eventTime": at.UTC().Format(time.RFC3339Nano), "dataVersion": "1.0", "data": data}
}

func TestGroupCallsInvitationsAndRoster(t *testing.T) {
	alice := userClient(t, st, "call-alice", "Alice")
	bob := userClient(t, st, "call-bob", "Bob")
	eve := userClient(t, st, "call-eve", "Eve")
	aliceID := alice.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	eve.ok("POST", "/api/token", "", 200)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/bob-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	// Only mutual contacts may be invited: strangers and unknown ids alike are refused.
	p := alice.do("POST", "/api/calls", `{"kind":"group","invitees":["call-bob","call-ghost","call-nobody"]}`).problem(t, 400, "invitees-not-reachable")
	if len(p["errors"].([]any)) != 3 {
		t.Fatalf("must list every unreachable invitee: %v", p)
	}
	if n := len(st.Push.Received(hookID)); n != 0 {
		t.Fatalf("a refused call pushed %d invitations", n)
	}
	befriend(t, alice, "call-alice", bob, "call-bob")
	p = alice.do("POST", "/api/calls", `{"kind":"group","invitees":["call-bob","call-ghost","call-nobody"]}`).problem(t, 400, "invitees-not-reachable")
	if len(p["errors"].([]any)) != 2 {
		t.Fatalf("must list every unreachable invitee: %v", p)
	}
	alice.do("POST", "/api/calls", `{"kind":"group","phoneNumbers":["4255550100"]}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"group","validUntil":"2000-01-01T00:00:00Z"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"group","validUntil":"`+time.Now().Add(200*24*time.Hour).Format(time.RFC3339)+`"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls", `{"kind":"video"}`).problem(t, 400, "invalid-request")

	created := alice.ok("POST", "/api/calls", `{"kind":"group","invitees":["call-bob"],"subject":"Design review"}`, 201)
	id := created["id"].(string)
	group := created["groupCallId"].(string)
	if created["state"] != "created" || len(created["invitees"].([]any)) != 1 {
		t.Fatalf("created: %v", created)
	}
	inv := st.Push.Received(hookID)
	if len(inv) != 1 {
		t.Fatalf("bob's device got %d invitations", len(inv))
	}
	var body map[string]any
	_ = json.Unmarshal(inv[0].Body, &body)
	if body["type"] != "invitation" || body["data"].(map[string]any)["callId"] != id || body["data"].(map[string]any)["subject"] != "Design review" {
		t.Fatalf("invitation: %s", inv[0].Body)
	}
	bob.ok("GET", "/api/calls/"+id, "", 200)
	eve.do("GET", "/api/calls/"+id, "").problem(t, 404, "call-not-found")
	bob.do("POST", "/api/calls/"+id+"/invites", `{"invitees":["call-eve"]}`).problem(t, 403, "forbidden")
	befriend(t, alice, "call-alice", eve, "call-eve")

	// Roster events, delivered in order to one call...
	t0 := time.Now().Add(-time.Minute)
	evs := []map[string]any{
		callEvent("CallStarted", group, t0, ""),
		callEvent("CallParticipantAdded", group, t0.Add(1*time.Second), aliceID),
		callEvent("CallParticipantAdded", group, t0.Add(2*time.Second), bobID),
		callEvent("CallParticipantRemoved", group, t0.Add(3*time.Second), bobID),
		callEvent("CallParticipantAdded", group, t0.Add(4*time.Second), bobID),
		callEvent("CallParticipantRemoved", group, t0.Add(5*time.Second), aliceID),
		callEvent("CallEnded", group, t0.Add(6*time.Second), ""),
	}
	// ...shuffled, with duplicates.
	shuffled := append(append([]map[string]any{}, evs...), evs[2], evs[4], evs[6], evs[0])
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, ev := range shuffled {
		b, _ := json.Marshal([]map[string]any{ev})
		if err := st.Host.DeliverEventGrid(context.Background(), "callevents", b); err != nil {
			t.Fatal(err)
		}
	}
	got := alice.ok("GET", "/api/calls/"+id, "", 200)
	if got["state"] != "ended" {
		t.Errorf("state %v, want ended", got["state"])
	}
	want := map[string]string{aliceID: "left", bobID: "joined"}
	parts := got["participants"].([]any)
	if len(parts) != 2 {
		t.Fatalf("roster: %v", parts)
	}
	for _, p := range parts {
		m := p.(map[string]any)
		if want[m["rawId"].(string)] != m["state"] {
			t.Errorf("participant %v, want %s", m, want[m["rawId"].(string)])
		}
	}
	if parts[0].(map[string]any)["userId"] == "" {
		t.Errorf("participants are resolved to app users: %v", parts)
	}

	// Invites after the fact, and ending.
	alice.ok("DELETE", "/api/calls/"+id, "", 204)
	alice.do("POST", "/api/calls/"+id+"/invites", `{"invitees":["call-eve"]}`).problem(t, 409, "call-ended")
	alice.do("GET", "/api/calls/not-a-uuid", "").problem(t, 404, "call-not-found")
}

func TestRoomCall(t *testing.T) {
	alice := userClient(t, st, "room-alice", "Alice")
	bob := userClient(t, st, "room-bob", "Bob")
	carol := userClient(t, st, "room-carol", "Carol")
	aliceID := alice.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	carolID := carol.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/bob-room-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))
	befriend(t, alice, "room-alice", bob, "room-bob")
	befriend(t, alice, "room-alice", carol, "room-carol")

	until := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	c := alice.ok("POST", "/api/calls", `{"kind":"room","invitees":["room-bob"],"subject":"1:1","validUntil":"`+until+`"}`, 201)
	roomID, _ := c["roomId"].(string)
	room, ok := st.ACS.Room(roomID)
	if !ok || room.Participants[aliceID] != "Presenter" || room.Participants[bobID] != "Attendee" || len(room.Participants) != 2 {
		t.Fatalf("ACS room: %+v (%v)", room, ok)
	}
	inv := st.Push.Received(hookID)
	if len(inv) != 1 || !strings.Contains(string(inv[0].Body), roomID) {
		t.Fatalf("bob's invitation: %+v", inv)
	}
	alice.ok("POST", "/api/calls/"+c["id"].(string)+"/invites", `{"invitees":["room-carol"]}`, 200)
	if room, _ = st.ACS.Room(roomID); room.Participants[carolID] != "Attendee" {
		t.Fatalf("carol not added to the room: %+v", room)
	}
	alice.ok("DELETE", "/api/calls/"+c["id"].(string), "", 204)
	if _, ok := st.ACS.Room(roomID); ok {
		t.Fatal("the ACS room outlived the call")
	}
}

func TestDialCallRosterFromSignedCallbacks(t *testing.T) {
	alice := dialClient(t, st, "dial-alice", "Alice")
	bob := userClient(t, st, "dial-bob", "Bob")
	alice.ok("POST", "/api/token", "", 200)
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	befriend(t, alice, "dial-alice", bob, "dial-bob")
	st.ACS.SetCallHoldTime(300 * time.Millisecond)
	defer st.ACS.SetCallHoldTime(2 * time.Second)

	alice.do("POST", "/api/calls", `{"kind":"dial","phoneNumbers":["12345"]}`).problem(t, 400, "invalid-request")
	c := alice.ok("POST", "/api/calls", `{"kind":"dial","invitees":["dial-bob"],"phoneNumbers":["+14255550123"]}`, 201)
	id := c["id"].(string)
	var final map[string]any
	waitFor(t, 15*time.Second, func() bool {
		final = alice.ok("GET", "/api/calls/"+id, "", 200)
		return final["state"] == "ended"
	})
	joined := map[string]bool{}
	for _, p := range final["participants"].([]any) {
		m := p.(map[string]any)
		joined[m["rawId"].(string)] = true
		if m["state"] != "left" {
			t.Errorf("after the call ended, %v", m)
		}
	}
	if !joined[bobID] || !joined["4:+14255550123"] {
		t.Fatalf("roster never had bob and the phone: %v", final["participants"])
	}
	conn := ""
	for _, cs := range st.ACS.Calls() {
		if strings.Contains(cs.CallbackURI, id) {
			conn = cs.ID
		}
	}
	for _, d := range st.ACS.Callbacks(conn) {
		if d.Status != 200 {
			t.Errorf("callback %s answered %d", d.EventType, d.Status)
		}
	}
	// Shuffled and repeated callbacks change nothing.
	if _, err := st.ACS.ReplayCallbacks(context.Background(), conn, acsemu.ReplayOptions{Shuffle: true, Seed: 7, Duplicates: 2}); err != nil {
		t.Fatal(err)
	}
	again := alice.ok("GET", "/api/calls/"+id, "", 200)
	a, _ := json.Marshal(again["participants"])
	b, _ := json.Marshal(final["participants"])
	if string(a) != string(b) || again["state"] != "ended" {
		t.Fatalf("roster moved on replay:\n%s\n%s", a, b)
	}

	// Forged callbacks: wrong secret, no or bad token, unknown call.
	cb := st.ACS.Callbacks(conn)[0]
	u, _ := url.Parse(cb.URL)
	plain := &client{t: t, base: st.URL()}
	event := `[{"id":"forged","source":"x","type":"Microsoft.Communication.CallConnected","specversion":"1.0","time":"` + time.Now().UTC().Format(time.RFC3339) + `","data":{"callConnectionId":"` + conn + `"}}]`
	plain.do("POST", "/api/callbacks/"+id+"?sig=wrong", event).problem(t, 401, "unauthenticated")
	plain.do("POST", u.Path+"?"+u.RawQuery, event).problem(t, 401, "unauthenticated")   // right secret, no ACS token
	plain.hdr = map[string]string{"Authorization": "Bearer " + mustToken(t, "someone")} // a token from the wrong issuer
	plain.do("POST", u.Path+"?"+u.RawQuery, event).problem(t, 401, "unauthenticated")
	// An unknown call reads exactly as a wrong secret: no oracle of call ids.
	unknown := plain.do("POST", "/api/callbacks/"+uuid.NewString()+"?sig=wrong", event).problem(t, 401, "unauthenticated")
	wrong := plain.do("POST", "/api/callbacks/"+id+"?sig=wrong", event).problem(t, 401, "unauthenticated")
	if unknown["detail"] != wrong["detail"] {
		t.Fatalf("unknown call %v, wrong secret %v", unknown, wrong)
	}
	if after := alice.ok("GET", "/api/calls/"+id, "", 200); after["state"] != "ended" {
		t.Fatalf("a forged callback changed the call: %v", after)
	}
}

func mustToken(t *testing.T, user string) string {
	tok, err := st.Token(user, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
