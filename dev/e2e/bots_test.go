package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

// Issue 13 through the host: a service configures a bot; a user calls it
// (IncomingCall through Event Grid to callevents); the bot answers once
// however often the event is redelivered, greets, replays the menu on a bad
// key, and on "1" transfers the caller to alice, whose phone rings.
func TestBotAnswersMenuAndTransfers(t *testing.T) {
	svcTok, err := st.Issuer.MintUser("bots-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok}
	alice := userClient(t, st, "bot-alice", "Alice")
	bob := userClient(t, st, "bot-bob", "Bob")
	aliceID := alice.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := alice.ok("PUT", "/api/devices/bot-alice-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	// End users may not manage bots; bad configurations are 400s at PUT.
	bob.do("PUT", "/api/bots/reception", `{"displayName":"x"}`).problem(t, 403, "forbidden")
	bob.do("GET", "/api/bots", "").problem(t, 403, "forbidden")
	bad := svc.do("PUT", "/api/bots/reception", `{"displayName":"Reception","greeting":{"text":"hi"},"menu":{"x":{"repeat":true}}}`).problem(t, 400, "invalid-request")
	if errs, _ := bad["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "menu.x" {
		t.Errorf("bad key problem = %v", bad)
	}
	svc.do("PUT", "/api/bots/reception", `{"displayName":"Reception","greeting":{"file":"http://cdn.contoso.com/a.wav"},"menu":{"1":{"repeat":true}}}`).problem(t, 400, "invalid-request")

	body := `{"displayName":"Reception","greeting":{"text":"Press 1 for Alice."},
	  "menu":{"1":{"transfer":{"userId":"bot-alice"}},"0":{"repeat":true}},"fallback":{"retries":1}}`
	bot := svc.ok("PUT", "/api/bots/reception", body, 201)
	botID, _ := bot["acsUserId"].(string)
	if again := svc.ok("PUT", "/api/bots/reception", body, 200); again["acsUserId"] != botID || botID == "" {
		t.Fatalf("second PUT changed the identity: %v then %v", bot, again)
	}
	if list := svc.ok("GET", "/api/bots", "", 200)["value"].([]any); len(list) != 1 {
		t.Errorf("GET /api/bots = %v", list)
	}

	in, err := st.ACS.RingApplication(t.Context(), bobID, botID, "Bob")
	if err != nil {
		t.Fatal(err)
	}
	// Event Grid redelivers the same call.
	if err := st.Host.DeliverEventGrid(t.Context(), "callevents", acsemu.IncomingCallEvent(in, "Bob", "redelivered")); err != nil {
		t.Fatal(err)
	}
	var callID string
	waitFor(t, 15*time.Second, func() bool {
		var n int
		for _, c := range st.ACS.Calls() {
			if c.ServerCallID == in.ServerCallID {
				callID, n = c.ID, n+1
			}
		}
		if n > 1 {
			t.Fatalf("%d call connections for one incoming call", n)
		}
		c, _ := st.ACS.Call(callID)
		return n == 1 && c.Recognizing != ""
	})
	call, _ := st.ACS.Call(callID)
	if call.CognitiveServicesEndpoint == "" || len(call.Media) != 2 || !slices.Equal(call.Media[0].Sources, []string{"text:Press 1 for Alice."}) {
		t.Fatalf("answered call = %+v, want TTS set up and the greeting played", call)
	}
	if len(st.Push.Received(hookID)) != 0 {
		t.Fatal("the bot's call was pushed to a device")
	}

	if err := st.ACS.PressKeys(callID, "5"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { c, _ := st.ACS.Call(callID); return len(c.Media) == 4 && c.Recognizing != "" })
	if err := st.ACS.PressKeys(callID, "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return len(st.Push.Received(hookID)) == 1 })
	if c, _ := st.ACS.Call(callID); !slices.Equal(c.Transfers, []string{aliceID}) {
		t.Errorf("transfers = %v, want alice", c.Transfers)
	}
	var push struct {
		Type     string `json:"type"`
		CallerID string `json:"callerId"`
	}
	_ = json.Unmarshal(st.Push.Received(hookID)[0].Body, &push)
	if push.Type != "incomingCall" || push.CallerID != bobID {
		t.Errorf("alice's push = %s", st.Push.Received(hookID)[0].Body)
	}
	var log []any
	waitFor(t, 15*time.Second, func() bool {
		log = svc.ok("GET", "/api/bots/reception/calls", "", 200)["value"].([]any)
		return len(log) == 1 && log[0].(map[string]any)["state"] == "ended"
	})
	entry := log[0].(map[string]any)
	if keys, _ := json.Marshal(entry["keys"]); string(keys) != `["5","1"]` || entry["outcome"] != "transferred" || entry["caller"] != bobID {
		t.Errorf("call log = %v", entry)
	}
	svc.ok("DELETE", "/api/bots/reception", "", 204)
	svc.do("GET", "/api/bots/reception", "").problem(t, 404, "bot-not-found")
}

// A bot joins a room call by connect with the room locator, greets everyone
// and leaves; a bot that stays carries the group call's recording, whose
// state and file reach GET /api/calls/{id}.
func TestBotJoinsCallsAndRecording(t *testing.T) {
	svcTok, err := st.Issuer.MintUser("join-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok}
	alice := userClient(t, st, "join-alice", "Alice")
	bob := userClient(t, st, "join-bob", "Bob")
	alice.ok("POST", "/api/token", "", 200)
	bob.ok("POST", "/api/token", "", 200)
	befriend(t, alice, "join-alice", bob, "join-bob")
	svc.ok("PUT", "/api/bots/announcer", `{"displayName":"Announcer","greeting":{"file":"https://cdn.contoso.com/prompts/recorded.wav"},"menu":{"0":{"repeat":true}}}`, 201)

	room := alice.ok("POST", "/api/calls", `{"kind":"room","invitees":["join-bob"]}`, 201)
	roomCall, roomID := room["id"].(string), room["roomId"].(string)
	bob.do("POST", "/api/calls/"+roomCall+"/bots", `{"botId":"announcer"}`).problem(t, 403, "forbidden")
	alice.do("POST", "/api/calls/"+roomCall+"/bots", `{"botId":"nobody"}`).problem(t, 400, "invalid-request")
	joined := alice.ok("POST", "/api/calls/"+roomCall+"/bots", `{"botId":"announcer"}`, 201)
	if joined["joinedCallId"] != roomCall {
		t.Errorf("join = %v", joined)
	}
	connOf := func(locator string) acsemu.CallState {
		for _, c := range st.ACS.Calls() {
			if c.Locator == locator {
				return c
			}
		}
		return acsemu.CallState{}
	}
	waitFor(t, 15*time.Second, func() bool { return connOf("roomCall:"+roomID).State == "disconnected" })
	if c := connOf("roomCall:" + roomID); len(c.Media) != 1 || len(c.Media[0].PlayTo) != 0 || c.Media[0].Sources[0] != "file:https://cdn.contoso.com/prompts/recorded.wav" {
		t.Errorf("room connection = %+v, want the greeting to everyone, then the bot gone", c)
	}

	group := alice.ok("POST", "/api/calls", `{"kind":"group","invitees":["join-bob"]}`, 201)
	gid := group["id"].(string)
	alice.do("POST", "/api/calls/"+gid+"/recording", "").problem(t, 409, "recording-needs-connection")
	alice.ok("POST", "/api/calls/"+gid+"/bots", `{"botId":"announcer","stay":true}`, 201)
	bob.do("POST", "/api/calls/"+gid+"/recording", "").problem(t, 403, "forbidden")
	if rec := alice.ok("POST", "/api/calls/"+gid+"/recording", "", 200); rec["state"] != "active" {
		t.Errorf("start recording = %v", rec)
	}
	if got := bob.ok("GET", "/api/calls/"+gid, "", 200)["recording"]; got == nil || got.(map[string]any)["state"] != "active" {
		t.Errorf("invitee sees recording %v, want active", got)
	}
	alice.ok("DELETE", "/api/calls/"+gid+"/recording", "", 204)
	waitFor(t, 15*time.Second, func() bool {
		rec, _ := alice.ok("GET", "/api/calls/"+gid, "", 200)["recording"].(map[string]any)
		files, _ := rec["files"].([]any)
		return rec["state"] == "inactive" && len(files) == 1
	})
	if rec := bob.ok("GET", "/api/calls/"+gid, "", 200)["recording"].(map[string]any); rec["files"] != nil {
		t.Errorf("an invitee sees the recording's files: %v", rec)
	}
	if recs := st.ACS.Recordings(); len(recs) != 1 || recs[0].CallConnectionID != connOf("groupCall:"+group["groupCallId"].(string)).ID {
		t.Errorf("recordings = %+v, want one through the bot's connection", recs)
	}
}

// A menu key connects the caller into a space's current call: the bot's
// service joins the space's group call and moves the caller there from the
// bot's call; the call log shows the key and the outcome.
func TestBotConnectsCallerIntoSpaceCall(t *testing.T) {
	svcTok, err := st.Issuer.MintUser("concierge-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok}
	alice := userClient(t, st, "concierge-alice", "Alice")
	bob := userClient(t, st, "concierge-bob", "Bob")
	alice.ok("POST", "/api/token", "", 200)
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	space := alice.ok("POST", "/api/spaces", `{"name":"Team"}`, 201)["id"].(string)

	bad := svc.do("PUT", "/api/bots/concierge", `{"displayName":"Concierge","greeting":{"text":"Press 3 for the team."},
	  "menu":{"3":{"connect":{"spaceId":"8f6b2c1e-0000-4000-8000-000000000000"}}}}`).problem(t, 400, "invalid-request")
	if errs, _ := bad["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "menu.3.connect.spaceId" {
		t.Errorf("unknown space problem = %v", bad)
	}
	bot := svc.ok("PUT", "/api/bots/concierge", `{"displayName":"Concierge","greeting":{"text":"Press 3 for the team."},
	  "menu":{"3":{"connect":{"spaceId":"`+space+`"}}},"fallback":{"retries":2}}`, 201)
	const groupCallID = "6a0f2e4c-1b3d-4c5e-8f7a-9b1c2d3e4f50"
	alice.ok("PUT", "/api/spaces/"+space+"/call", `{"groupCallId":"`+groupCallID+`"}`, 200)

	in, err := st.ACS.RingApplication(t.Context(), bobID, bot["acsUserId"].(string), "Bob")
	if err != nil {
		t.Fatal(err)
	}
	var callID string
	waitFor(t, 15*time.Second, func() bool {
		for _, c := range st.ACS.Calls() {
			if c.ServerCallID == in.ServerCallID {
				callID = c.ID
			}
		}
		c, _ := st.ACS.Call(callID)
		return c.Recognizing != ""
	})
	if err := st.ACS.PressKeys(callID, "3"); err != nil {
		t.Fatal(err)
	}
	var log []any
	waitFor(t, 15*time.Second, func() bool {
		log = svc.ok("GET", "/api/bots/concierge/calls", "", 200)["value"].([]any)
		return len(log) == 1 && log[0].(map[string]any)["state"] == "ended"
	})
	entry := log[0].(map[string]any)
	if keys, _ := json.Marshal(entry["keys"]); string(keys) != `["3"]` || entry["outcome"] != "moved" || entry["target"] != "space:"+space {
		t.Errorf("call log = %v", entry)
	}
	var into []acsemu.CallState
	for _, c := range st.ACS.Calls() {
		if c.Locator == "groupCall:"+groupCallID {
			into = append(into, c)
		}
	}
	if len(into) != 1 || !slices.Contains(into[0].Participants, bobID) {
		t.Errorf("connections to the space's call = %+v, want one with the caller in it", into)
	}
	if c, _ := st.ACS.Call(callID); slices.Contains(c.Participants, bobID) {
		t.Errorf("the caller is still in the bot's call: %v", c.Participants)
	}
	svc.ok("DELETE", "/api/bots/concierge", "", 204)
}

// A service names a bot as a reachable party: in alice's contacts (mutual
// at once, with the bot's ACS id) and as an accepted space member. alice
// and the space's members may look it up and call it; a stranger may not,
// and an unknown bot is answered as any unknown party is.
func TestBotAsReachableParty(t *testing.T) {
	svcTok, err := st.Issuer.MintUser("party-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok}
	alice := userClient(t, st, "party-alice", "Alice")
	carol := userClient(t, st, "party-carol", "Carol")
	mallory := userClient(t, st, "party-mallory", "Mallory")
	for _, c := range []*client{alice, carol, mallory} {
		c.ok("POST", "/api/token", "", 200)
	}
	botACS := svc.ok("PUT", "/api/bots/party-reception", `{"displayName":"Reception","greeting":{"file":"https://cdn.contoso.com/prompts/reception.wav"},"menu":{"0":{"repeat":true}}}`, 201)["acsUserId"].(string)
	const bot = "bot:party-reception"

	forAlice := &client{t: t, base: st.URL(), token: svcTok, hdr: map[string]string{"X-On-Behalf-Of": "party-alice"}}
	if c := forAlice.ok("PUT", "/api/contacts/"+bot, "", 200); c["state"] != "mutual" || c["acsUserId"] != botACS || c["displayName"] != "Reception" {
		t.Errorf("service adds the bot to alice's contacts = %v", c)
	}
	contacts := alice.ok("GET", "/api/contacts", "", 200)["value"].([]any)
	if len(contacts) != 1 || contacts[0].(map[string]any)["userId"] != bot || contacts[0].(map[string]any)["acsUserId"] != botACS {
		t.Errorf("alice's contacts = %v", contacts)
	}
	if u := alice.ok("GET", "/api/users/"+bot, "", 200); u["acsUserId"] != botACS {
		t.Errorf("alice looks the bot up: %v", u)
	}
	alice.ok("POST", "/api/calls", `{"kind":"group","invitees":["`+bot+`"]}`, 201)

	// A stranger, and anyone naming a bot that does not exist, get what an unknown user gets.
	known := mallory.do("GET", "/api/users/"+bot, "")
	known.problem(t, 404, "user-not-found")
	unknown := mallory.do("GET", "/api/users/bot:nobody", "")
	sameAnswer(t, "a stranger's lookup of a bot and of no bot", known, bot, unknown, "bot:nobody")
	mallory.do("POST", "/api/calls", `{"kind":"group","invitees":["`+bot+`"]}`).problem(t, 400, "invitees-not-reachable")
	alice.do("POST", "/api/calls", `{"kind":"group","invitees":["bot:nobody"]}`).problem(t, 400, "invitees-not-reachable")
	// End users cannot make a bot reachable themselves: their request stays requested.
	if c := mallory.ok("PUT", "/api/contacts/"+bot, "", 200); c["state"] != "requested" || c["acsUserId"] != nil {
		t.Errorf("an end user adds the bot: %v", c)
	}
	mallory.do("POST", "/api/calls", `{"kind":"group","invitees":["`+bot+`"]}`).problem(t, 400, "invitees-not-reachable")

	// In a space: the bot is an accepted member, and members may call it.
	space := alice.ok("POST", "/api/spaces", `{"name":"Front desk"}`, 201)["id"].(string)
	alice.ok("PUT", "/api/spaces/"+space+"/members/party-carol", "", 200)
	carol.ok("PUT", "/api/spaces/"+space+"/members/party-carol", "", 200)
	if m := forAlice.ok("PUT", "/api/spaces/"+space+"/members/"+bot, "", 200); m["state"] != "accepted" {
		t.Errorf("service adds the bot to the space = %v", m)
	}
	var member map[string]any
	for _, m := range carol.ok("GET", "/api/spaces/"+space, "", 200)["members"].([]any) {
		if m.(map[string]any)["userId"] == bot {
			member = m.(map[string]any)
		}
	}
	if member == nil || member["acsUserId"] != botACS || member["state"] != "accepted" {
		t.Errorf("the space's bot member = %v", member)
	}
	carol.ok("POST", "/api/calls", `{"kind":"group","spaceId":"`+space+`","invitees":["`+bot+`"]}`, 201)
	if u := carol.ok("GET", "/api/users/"+bot, "", 200); u["acsUserId"] != botACS {
		t.Errorf("carol looks the bot up: %v", u)
	}

	// Once the bot's contact is removed (here by a service for alice, or
	// by alice blocking and unblocking it) she cannot make it mutual again
	// herself: no request from the bot shows, and her own ask answers as
	// for an unknown user.
	for _, remove := range []func(){
		func() { forAlice.ok("DELETE", "/api/contacts/"+bot, "", 204) },
		func() {
			alice.ok("PUT", "/api/blocks/"+bot, "", 200)
			alice.ok("DELETE", "/api/blocks/"+bot, "", 204)
		},
	} {
		forAlice.ok("PUT", "/api/contacts/"+bot, "", 200)
		remove()
		if reqs := alice.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any); len(reqs) != 0 {
			t.Errorf("alice's requests after the bot was removed = %v", reqs)
		}
		asked := alice.do("PUT", "/api/contacts/"+bot, "")
		sameAnswer(t, "alice asks the removed bot, and an unknown user", asked, bot, alice.do("PUT", "/api/contacts/party-nobody", ""), "party-nobody")
		for _, c := range alice.ok("GET", "/api/contacts", "", 200)["value"].([]any) {
			if c.(map[string]any)["userId"] == bot {
				t.Errorf("alice made the removed bot a contact herself: %v", c)
			}
		}
	}
	forAlice.ok("PUT", "/api/contacts/"+bot, "", 200)

	// Deleting the bot takes it out of contacts and spaces.
	svc.ok("DELETE", "/api/bots/party-reception", "", 204)
	for _, c := range alice.ok("GET", "/api/contacts", "", 200)["value"].([]any) {
		if c.(map[string]any)["userId"] == bot {
			t.Errorf("alice's contacts after the bot was deleted name it: %v", c)
		}
	}
	for _, m := range carol.ok("GET", "/api/spaces/"+space, "", 200)["members"].([]any) {
		if m.(map[string]any)["userId"] == bot {
			t.Errorf("the space's members after the bot was deleted name it: %v", m)
		}
	}
	alice.do("GET", "/api/users/"+bot, "").problem(t, 404, "user-not-found")
}
