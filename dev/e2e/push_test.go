package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

const apnsHandle = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// incomingCall is an Event Grid IncomingCall event for callee, as ACS publishes it.
func incomingCall(id, callee, caller string) []byte {
	ev := []map[string]any{{
		"id": id, "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/communicationServices/acs",
		"subject": "/caller/" + caller + "/recipient/" + callee, "eventType": "Microsoft.Communication.IncomingCall",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "1.0", "metadataVersion": "1",
		"data": map[string]any{
			"to":                  map[string]any{"kind": "communicationUser", "rawId": callee, "communicationUser": map[string]any{"id": callee}},
			"from":                map[string]any{"kind": "communicationUser", "rawId": caller, "communicationUser": map[string]any{"id": caller}},
			"serverCallId":        "server-call-" + id,
			"callerDisplayName":   "Alice",
			"incomingCallContext": "signed-context-" + id,
			"correlationId":       "corr-" + id,
		},
	}}
	b, _ := json.Marshal(ev)
	return b
}

// registerAll gives a user one device of each provider and returns the
// emulator-side ids the pushes arrive under.
func registerAll(t *testing.T, s *stack.Stack, c *client, prefix string) map[string]string {
	t.Helper()
	subID, sub, err := s.Push.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	hookID, hookURL := s.Push.NewWebhook()
	subJSON, _ := json.Marshal(sub)
	fcm := prefix + "-fcm-token"
	c.ok("PUT", "/api/devices/"+prefix+"-iphone", `{"provider":"apns","handle":"`+apnsHandle+`","voip":true}`, 201)
	c.ok("PUT", "/api/devices/"+prefix+"-pixel", `{"provider":"fcm","handle":"`+fcm+`"}`, 201)
	c.ok("PUT", "/api/devices/"+prefix+"-browser", `{"provider":"webpush","subscription":`+string(subJSON)+`}`, 201)
	reg := c.ok("PUT", "/api/devices/"+prefix+"-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	secret, _ := reg["secret"].(string)
	if secret == "" {
		t.Fatalf("webhook registration without a secret: %v", reg)
	}
	s.Push.SetSecret(hookID, secret)
	return map[string]string{"apns": apnsHandle, "fcm": fcm, "webpush": subID, "webhook": hookID}
}

func TestIncomingCallPushesEveryDeviceOnce(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bob := userClient(t, s, "push-bob", "Bob")
	bob.do("PUT", "/api/devices/early", `{"provider":"fcm","handle":"t"}`).problem(t, 409, "no-acs-identity")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	got := registerAll(t, s, bob, "bob")
	if l := bob.ok("GET", "/api/devices", "", 200)["value"].([]any); len(l) != 4 {
		t.Fatalf("devices: %v", l)
	}

	ctx := context.Background()
	ev := uuid.NewString()
	if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(ev, bobID, "8:acs:caller")); err != nil {
		t.Fatal(err)
	}
	for provider, device := range got {
		d := s.Push.Received(device)
		if len(d) != 1 {
			t.Fatalf("%s device got %d pushes", provider, len(d))
		}
		if !strings.Contains(string(d[0].Body), "signed-context-"+ev) {
			t.Errorf("%s push lacks the incoming call context: %s", provider, d[0].Body)
		}
	}
	if h := s.Push.Received(apnsHandle)[0].Headers; h["apns-push-type"] != "voip" || h["apns-topic"] != "com.example.switchboard.voip" {
		t.Errorf("APNs headers: %v", h)
	}
	// Event Grid redelivers the same event: nobody is pushed twice.
	if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(ev, bobID, "8:acs:caller")); err != nil {
		t.Fatal(err)
	}
	for provider, device := range got {
		if n := len(s.Push.Received(device)); n != 1 {
			t.Fatalf("%s device got %d pushes after redelivery", provider, n)
		}
	}

	// A transient failure fails the invocation; the redelivery sends only what failed.
	ev2 := uuid.NewString()
	// Three failures: Notification Hubs retries once per device, so at least one device fails.
	s.Push.FailNext(3, 503)
	err = s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(ev2, bobID, "8:acs:caller"))
	if _, ok := err.(*funchost.DeliveryError); !ok {
		t.Fatalf("a transient push failure must fail the delivery so Event Grid retries: %v", err)
	}
	if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(ev2, bobID, "8:acs:caller")); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	for provider, device := range got {
		if n := len(s.Push.Received(device)); n != 2 {
			t.Fatalf("%s device got %d pushes for two calls", provider, n)
		}
	}

	// A handle the provider reports gone is pruned.
	s.Push.MarkGone(got["fcm"])
	if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), bobID, "8:acs:caller")); err != nil {
		t.Fatal(err)
	}
	list := bob.ok("GET", "/api/devices", "", 200)["value"].([]any)
	for _, d := range list {
		if d.(map[string]any)["deviceId"] == "bob-pixel" {
			t.Fatal("gone FCM device not pruned")
		}
	}
	if len(list) != 3 {
		t.Fatalf("devices after pruning: %v", list)
	}

	// A callee with no devices, and an event type nobody handles, are acknowledged.
	if err := s.Host.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), "8:acs:nobody", "8:acs:caller")); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(incomingCall(uuid.NewString(), bobID, "x")), "Microsoft.Communication.IncomingCall", "Microsoft.Communication.ChatMessageReceived", 1)
	if err := s.Host.DeliverEventGrid(ctx, "callevents", []byte(other)); err != nil {
		t.Fatal(err)
	}

	// Erase removes the devices too.
	bob.ok("DELETE", "/api/me", "", 204)
	if n := countRows(t, s, "devices", bobID); n != 0 {
		t.Fatalf("%d devices left after erase", n)
	}
}

func TestDeviceRegistrationRules(t *testing.T) {
	c := userClient(t, st, "dev-rules", "")
	c.ok("POST", "/api/token", "", 200)
	c.do("PUT", "/api/devices/d1", `{"provider":"apns","handle":"xyz"}`).problem(t, 400, "invalid-device")
	c.do("PUT", "/api/devices/d1", `{"provider":"pigeon"}`).problem(t, 400, "invalid-device")
	c.do("PUT", "/api/devices/d1", `{"provider":"webhook","url":"http://example.com/hook"}`).problem(t, 400, "url-not-allowed")
	c.do("PUT", "/api/devices/d1", `{"provider":"webhook","url":"/hook"}`).problem(t, 400, "invalid-device")
	c.do("PUT", "/api/devices/d1", `{"provider":"fcm","handle":"t","extra":true}`).problem(t, 400, "unknown-field")
	c.do("PUT", "/api/devices/bad%2Fid", `{"provider":"fcm","handle":"t"}`).problem(t, 400, "invalid-device-id")
	c.ok("PUT", "/api/devices/d1", `{"provider":"fcm","handle":"t1"}`, 201)
	c.ok("PUT", "/api/devices/d1", `{"provider":"fcm","handle":"t2"}`, 200) // refresh
	for i := 2; i <= 20; i++ {
		c.ok("PUT", fmt.Sprintf("/api/devices/d%d", i), `{"provider":"fcm","handle":"t"}`, 201)
	}
	c.do("PUT", "/api/devices/d21", `{"provider":"fcm","handle":"t"}`).problem(t, 409, "device-limit")
	c.ok("PUT", "/api/devices/d20", `{"provider":"fcm","handle":"t"}`, 200) // refreshing is fine at the cap
	c.ok("DELETE", "/api/devices/d20", "", 204)
	c.ok("DELETE", "/api/devices/d20", "", 204)
	c.ok("PUT", "/api/devices/d21", `{"provider":"fcm","handle":"t"}`, 201)
}

func TestDirectEventGridWebhook(t *testing.T) {
	c := &client{t: t, base: st.Host.HandlerURL()}
	validation := `[{"id":"v1","topic":"t","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2026-11-25T10:00:00Z","data":{"validationCode":"code-123"},"dataVersion":"1"}]`
	c.do("POST", "/api/events", validation).problem(t, 401, "unauthenticated")
	r := c.ok("POST", "/api/events?code="+st.EventsKey, validation, 200)
	if r["validationResponse"] != "code-123" {
		t.Fatalf("validation: %v", r)
	}
	bob := userClient(t, st, "cloud-bob", "")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))
	var eg []map[string]any
	_ = json.Unmarshal(incomingCall(uuid.NewString(), bobID, "8:acs:caller"), &eg)
	ce := map[string]any{"id": eg[0]["id"], "source": eg[0]["topic"], "type": eg[0]["eventType"], "specversion": "1.0", "time": eg[0]["eventTime"], "subject": eg[0]["subject"], "data": eg[0]["data"]}
	body, _ := json.Marshal(ce)
	c.ok("POST", "/api/events?code="+st.EventsKey, string(body), 200)
	if n := len(st.Push.Received(hookID)); n != 1 {
		t.Fatalf("webhook got %d pushes from a CloudEvent", n)
	}
}
