package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/dev/stack"
)

var joinCode = regexp.MustCompile(`/join\?code=([A-Za-z0-9_-]{22})$`)

func guestOf(t *testing.T, call map[string]any, phone string) map[string]any {
	t.Helper()
	gs, _ := call["guests"].([]any)
	for _, g := range gs {
		if m := g.(map[string]any); m["phoneNumber"] == phone {
			return m
		}
	}
	t.Fatalf("call has no guest %s: %v", phone, call["guests"])
	return nil
}

// TestSMSGuestThroughTheHost: alice invites Dana's number to a room call;
// the text (one, however often the request is retried) holds a join link;
// the code is exchanged, without a bearer token, for a token of the guest's
// identity, which is a room Attendee; the delivery report and Dana's reply
// come through Event Grid into callevents; STOP stops later texts; after
// the call ends the code answers 410.
func TestSMSGuestThroughTheHost(t *testing.T) {
	ctx := context.Background()
	const dana = "+14255550140"
	alice := userClient(t, st, "sms-alice", "Alice")
	alice.ok("POST", "/api/token", "", 200)
	hookID, hookURL := st.Push.NewWebhook()
	reg := alice.ok("PUT", "/api/devices/sms-alice-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))
	alice.ok("PUT", "/api/devices/sms-alice-pixel", `{"provider":"fcm","handle":"sms-alice-fcm"}`, 201)

	call := alice.ok("POST", "/api/calls", `{"kind":"room"}`, 201)
	id := call["id"].(string)
	body := `{"phoneNumber":"` + dana + `","displayName":"Dana"}`
	got := alice.ok("POST", "/api/calls/"+id+"/guests", body, 201)
	if g := guestOf(t, got, dana); g["sms"] != "sent" || g["displayName"] != "Dana" {
		t.Fatalf("guest %v, want sms sent", g)
	}
	again := alice.ok("POST", "/api/calls/"+id+"/guests", body, 200)
	guestID := guestOf(t, again, dana)["acsUserId"].(string)
	texts := st.ACS.SMSMessagesTo(dana)
	if len(texts) != 1 || texts[0].From != stack.SMSFrom || !strings.HasPrefix(texts[0].Message, "Alice invited you to a call: http://127.0.0.1:") {
		t.Fatalf("texts to Dana: %+v, want one invitation", texts)
	}
	m := joinCode.FindStringSubmatch(texts[0].Message)
	if m == nil {
		t.Fatalf("no join link in %q", texts[0].Message)
	}

	guest := &client{t: t, base: st.URL()}
	tok := guest.ok("POST", "/api/guest/token", `{"code":"`+m[1]+`"}`, 200)
	if tok["acsUserId"] != guestID || tok["callId"] != id || tok["roomId"] != call["roomId"] || tok["displayName"] != "Dana" {
		t.Fatalf("guest token %v", tok)
	}
	claims, err := st.ACS.Verify(tok["token"].(string))
	if err != nil || claims.ID != guestID {
		t.Fatalf("guest token claims %+v, %v", claims, err)
	}
	inRoom := false
	for _, r := range st.ACS.Rooms() {
		inRoom = inRoom || r.ID == call["roomId"] && r.Participants[guestID] == "Attendee"
	}
	if !inRoom {
		t.Fatal("the guest is not an Attendee of the room")
	}
	bad := guest.do("POST", "/api/guest/token", `{"code":"AAAAAAAAAAAAAAAAAAAAAA"}`).problem(t, 404, "guest-code-not-found")
	if other := guest.do("POST", "/api/guest/token", `{"code":"nope"}`).problem(t, 404, "guest-code-not-found"); other["detail"] != bad["detail"] {
		t.Fatalf("two unknown codes answered differently: %v, %v", bad, other)
	}
	guest.do("POST", "/api/calls/"+id+"/guests", body).problem(t, 401, "unauthenticated")

	// Bad input sends nothing.
	alice.do("POST", "/api/calls/"+id+"/guests", `{"phoneNumber":"4255550141"}`).problem(t, 400, "invalid-request")
	alice.do("POST", "/api/calls/"+id+"/guests", `{"phoneNumber":"+442071234567"}`).problem(t, 403, "sms-not-allowed")
	group := alice.ok("POST", "/api/calls", `{"kind":"group"}`, 201)["id"].(string)
	alice.do("POST", "/api/calls/"+group+"/guests", `{"phoneNumber":"+14255550141"}`).problem(t, 400, "invalid-request")
	if n := len(st.ACS.SMSMessagesTo("+14255550141")) + len(st.ACS.SMSMessagesTo("+442071234567")); n != 0 {
		t.Fatalf("%d texts for refused invitations", n)
	}

	// The delivery report reaches callevents through the host.
	if err := st.ACS.DeliverSMSEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if g := guestOf(t, alice.ok("GET", "/api/calls/"+id, "", 200), dana); g["sms"] != "delivered" {
		t.Fatalf("after the delivery report: %v", g)
	}

	// Dana texts back: alice's devices get it once each.
	if _, err := st.ACS.ReceiveSMS(ctx, dana, stack.SMSFrom, "running late"); err != nil {
		t.Fatal(err)
	}
	for _, device := range []string{hookID, "sms-alice-fcm"} {
		var replies int
		for _, d := range st.Push.Received(device) {
			if strings.Contains(string(d.Body), "running late") && strings.Contains(string(d.Body), "guestMessage") {
				replies++
			}
		}
		if replies != 1 {
			t.Fatalf("device %s got %d guest messages, want 1", device, replies)
		}
	}

	// STOP: never texted again.
	if _, err := st.ACS.ReceiveSMS(ctx, dana, stack.SMSFrom, "STOP"); err != nil {
		t.Fatal(err)
	}
	other := alice.ok("POST", "/api/calls", `{"kind":"room"}`, 201)["id"].(string)
	alice.do("POST", "/api/calls/"+other+"/guests", body).problem(t, 409, "guest-opted-out")
	if n := len(st.ACS.SMSMessagesTo(dana)); n != 1 {
		t.Fatalf("%d texts to Dana after STOP", n)
	}

	alice.ok("DELETE", "/api/calls/"+id, "", 204)
	guest.do("POST", "/api/guest/token", `{"code":"`+m[1]+`"}`).problem(t, 410, "call-ended")
}

// TestThrottledTextIsSentByHousekeeping: ACS answers the text 429 for
// longer than the client waits, so the guest is queued (and a repeated
// invitation, still throttled, sends nothing); once ACS takes texts again,
// the housekeeping timer sends it: exactly one text, whose code the
// exchange accepts.
func TestThrottledTextIsSentByHousekeeping(t *testing.T) {
	const fay = "+14255550142"
	alice := userClient(t, st, "sms-throttled-alice", "Alice")
	alice.ok("POST", "/api/token", "", 200)
	id := alice.ok("POST", "/api/calls", `{"kind":"room"}`, 201)["id"].(string)
	body := `{"phoneNumber":"` + fay + `","displayName":"Fay"}`
	st.ACS.SetSMSThrottled(2 * time.Minute)
	t.Cleanup(func() { st.ACS.SetSMSThrottled(0) })
	if g := guestOf(t, alice.ok("POST", "/api/calls/"+id+"/guests", body, 201), fay); g["sms"] != "queued" {
		t.Fatalf("throttled guest %v, want sms queued", g)
	}
	if g := guestOf(t, alice.ok("POST", "/api/calls/"+id+"/guests", body, 200), fay); g["sms"] != "queued" {
		t.Fatalf("repeated invitation, still throttled: %v, want sms queued", g)
	}
	if n := len(st.ACS.SMSMessagesTo(fay)); n != 0 {
		t.Fatalf("%d texts to Fay while ACS throttles", n)
	}

	st.ACS.SetSMSThrottled(0)
	if _, err := st.Host.FireTimer(context.Background(), "housekeeping"); err != nil {
		t.Fatal(err)
	}
	g := guestOf(t, alice.ok("GET", "/api/calls/"+id, "", 200), fay)
	texts := st.ACS.SMSMessagesTo(fay)
	if g["sms"] != "sent" && g["sms"] != "delivered" || len(texts) != 1 {
		t.Fatalf("after housekeeping: guest %v, texts %+v; want sent, one text", g, texts)
	}
	m := joinCode.FindStringSubmatch(texts[0].Message)
	if m == nil {
		t.Fatalf("no join link in %q", texts[0].Message)
	}
	tok := (&client{t: t, base: st.URL()}).ok("POST", "/api/guest/token", `{"code":"`+m[1]+`"}`, 200)
	if tok["acsUserId"] != g["acsUserId"] || tok["callId"] != id || tok["displayName"] != "Fay" {
		t.Fatalf("guest token %v", tok)
	}
	// Housekeeping again: nothing more is sent.
	if _, err := st.Host.FireTimer(context.Background(), "housekeeping"); err != nil {
		t.Fatal(err)
	}
	if n := len(st.ACS.SMSMessagesTo(fay)); n != 1 {
		t.Fatalf("%d texts to Fay after a second housekeeping, want 1", n)
	}
	alice.ok("DELETE", "/api/calls/"+id, "", 204)
}

func TestBadSMSSettingsExit2(t *testing.T) {
	for _, bad := range []struct{ setting, value string }{
		{"SMS_GUEST_TEMPLATE", "{inviter} invited you to a call"},
		{"GUEST_JOIN_URL", "https://app.example.com/join"},
		{"ACS_SMS_FROM", "+0123"},
	} {
		t.Run(bad.setting, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, st.Env...)
			cmd.Env = append(cmd.Env, "FUNCTIONS_CUSTOMHANDLER_PORT=1", bad.setting+"="+bad.value)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, output %s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], bad.setting) {
				t.Fatalf("want one line naming %s, got %q", bad.setting, out)
			}
		})
	}
}

// TestSMSGuestJoinsTheCallsChat: a guest of a call with its own chat thread
// is a participant of it and gets a chat-scoped token.
func TestSMSGuestJoinsTheCallsChat(t *testing.T) {
	const erin = "+14255550141"
	alice := userClient(t, st, "sms-chat-alice", "Alice")
	alice.ok("POST", "/api/token", "", 200)
	call := alice.ok("POST", "/api/calls", `{"kind":"room","chat":true}`, 201)
	id := call["id"].(string)
	got := alice.ok("POST", "/api/calls/"+id+"/guests", `{"phoneNumber":"`+erin+`","displayName":"Erin"}`, 201)
	guestID := guestOf(t, got, erin)["acsUserId"].(string)
	thread, _ := alice.ok("GET", "/api/calls/"+id, "", 200)["chatThreadId"].(string)
	inThread := false
	for _, th := range st.ACS.ChatThreads() {
		if th.ID == thread {
			_, inThread = th.Participants[guestID]
		}
	}
	if thread == "" || !inThread {
		t.Fatalf("guest %s not in the call's thread %q", guestID, thread)
	}
	texts := st.ACS.SMSMessagesTo(erin)
	if len(texts) != 1 {
		t.Fatalf("texts to Erin: %+v", texts)
	}
	m := joinCode.FindStringSubmatch(texts[0].Message)
	if m == nil {
		t.Fatalf("no join link in %q", texts[0].Message)
	}
	tok := (&client{t: t, base: st.URL()}).ok("POST", "/api/guest/token", `{"code":"`+m[1]+`"}`, 200)
	claims, err := st.ACS.Verify(tok["token"].(string))
	if err != nil || !slices.Contains(claims.Scopes, "chat") || !slices.Contains(claims.Scopes, "voip") {
		t.Fatalf("guest token of a chat call: %+v, %v", claims, err)
	}
}
