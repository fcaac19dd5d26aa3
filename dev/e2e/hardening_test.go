package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Issue 11: a user the app does not present credentials for sees nothing
// of the dependencies; one with a user (not service) token neither.
func TestHealthDetailsOnlyForServiceCallers(t *testing.T) {
	user := userClient(t, st, "health-user", "")
	if h := user.ok("GET", "/api/health", "", 200); h["dependencies"] != nil {
		t.Fatalf("a user token sees dependencies: %v", h)
	}
	bad := &client{t: t, base: st.URL(), token: "not-a-token"}
	if h := bad.ok("GET", "/api/health", "", 200); h["dependencies"] != nil || h["status"] == nil {
		t.Fatalf("a bad token: %v", h)
	}
}

func TestRequestBodiesAreStrict(t *testing.T) {
	c := userClient(t, st, "strict-json", "")
	p := c.do("POST", "/api/token", `{"SCOPES":["chat"],"ExpiresInMinutes":1440}`).problem(t, 400, "unknown-field")
	if !strings.Contains(p["detail"].(string), `"scopes"`) {
		t.Errorf("problem does not name the right spelling: %v", p)
	}
	c.do("POST", "/api/token", `{"scopes":["voip"],"scopes":["chat"]}`).problem(t, 400, "invalid-json")
	c.do("POST", "/api/spaces", `{"name":"a","name":"b"}`).problem(t, 400, "invalid-json")
	c.ok("POST", "/api/token", `{"scopes":["voip"],"expiresInMinutes":60}`, 200)
}

func TestLengthLimitsCountCharacters(t *testing.T) {
	c := userClient(t, st, "length-limits", "")
	c.ok("POST", "/api/token", "", 200)
	c.ok("POST", "/api/spaces", `{"name":"`+strings.Repeat("é", 150)+`"}`, 201)
	c.ok("POST", "/api/spaces", `{"name":"`+strings.Repeat("é", 200)+`"}`, 201)
	c.do("POST", "/api/spaces", `{"name":"`+strings.Repeat("é", 201)+`"}`).problem(t, 400, "invalid-request")
	c.ok("POST", "/api/calls", `{"kind":"group","subject":"`+strings.Repeat("ü", 200)+`"}`, 201)
	c.do("POST", "/api/calls", `{"kind":"group","subject":"`+strings.Repeat("ü", 201)+`"}`).problem(t, 400, "invalid-request")
}

// incomingCallWithContext is incomingCall with a call context of n bytes
// (SIP and VoIP headers can make it tens of KB).
func incomingCallWithContext(t *testing.T, id, callee string, n int) []byte {
	t.Helper()
	var evs []map[string]any
	if err := json.Unmarshal(incomingCall(id, callee, "8:acs:caller"), &evs); err != nil {
		t.Fatal(err)
	}
	evs[0]["data"].(map[string]any)["incomingCallContext"] = strings.Repeat("c", n)
	b, _ := json.Marshal(evs)
	return b
}

// Issue 11: an IncomingCall with a 40 KB call context through the host was
// a handler 413 and a host 500, which Event Grid retries for a day.
func TestLargeIncomingCallThroughHost(t *testing.T) {
	bob := userClient(t, st, "big-context-bob", "")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/big-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))
	ctx := context.Background()
	if err := st.Host.DeliverEventGrid(ctx, "callevents", incomingCallWithContext(t, uuid.NewString(), bobID, 40<<10)); err != nil {
		t.Fatalf("40 KB call context: %v", err)
	}
	if n := len(st.Push.Received(hookID)); n != 1 {
		t.Fatalf("after a 40 KB call context the device has %d pushes, want 1", n)
	}
	// Near Event Grid's 1 MB the event is still taken (no redelivery for a
	// day); the push itself is over the webhook's 64 KiB and fails for good.
	if err := st.Host.DeliverEventGrid(ctx, "callevents", incomingCallWithContext(t, uuid.NewString(), bobID, 900<<10)); err != nil {
		t.Fatalf("900 KB call context: %v", err)
	}
}

// The direct webhook takes Event Grid's batches up to 1 MB, and only JSON.
func TestEventsWebhookTakesLargeBatches(t *testing.T) {
	c := &client{t: t, base: st.Host.HandlerURL()}
	bob := userClient(t, st, "big-batch-bob", "")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/batch-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	// Five IncomingCalls with 40 KB call contexts: a 200 KB batch.
	var evs []json.RawMessage
	for range 5 {
		var one []json.RawMessage
		_ = json.Unmarshal(incomingCallWithContext(t, uuid.NewString(), bobID, 40<<10), &one)
		evs = append(evs, one...)
	}
	batch, _ := json.Marshal(evs)
	if len(batch) < 200<<10 {
		t.Fatalf("batch of %d bytes", len(batch))
	}
	c.ok("POST", "/api/events?code="+st.EventsKey, string(batch), 200)
	if n := len(st.Push.Received(hookID)); n != 5 {
		t.Fatalf("a 200 KB batch of 5 calls pushed %d times", n)
	}
	c.do("POST", "/api/events?code="+st.EventsKey, string(incomingCallWithContext(t, uuid.NewString(), bobID, 1<<20))).problem(t, 413, "body-too-large")

	req, _ := http.NewRequest("POST", st.Host.HandlerURL()+"/api/events?code="+st.EventsKey, strings.NewReader(string(batch)))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("text/plain batch: %d, want 415", resp.StatusCode)
	}
}

// Issue 11: ACS said Retry-After 7; a new user was held 20 s and told 2, a
// known user held 21 s. Now one attempt, and ACS's own wait.
func TestACSThrottlingAnswersWithACSWait(t *testing.T) {
	defer st.ACS.ResetFaults()
	retryAfter := func(r response) int {
		t.Helper()
		n, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q: %v", r.header.Get("Retry-After"), err)
		}
		return n
	}
	known := userClient(t, st, "throttle-known", "")
	known.ok("POST", "/api/token", "", 200)
	fresh := userClient(t, st, "throttle-new", "")

	st.ACS.FailNext(100, 429, 7*time.Second)
	creates := st.ACS.Requests("CreateIdentity")
	r := fresh.do("POST", "/api/token", "")
	r.problem(t, 503, "acs-throttled")
	if got := retryAfter(r); got != 7 {
		t.Errorf("new user: Retry-After %d, want ACS's 7", got)
	}
	// A second request within ACS's wait is answered with the rest of it,
	// without asking ACS again.
	r = fresh.do("POST", "/api/token", "")
	r.problem(t, 503, "acs-throttled")
	if got := retryAfter(r); got < 1 || got > 7 {
		t.Errorf("new user again: Retry-After %d, want at most ACS's 7", got)
	}
	if n := st.ACS.Requests("CreateIdentity") - creates; n != 1 {
		t.Errorf("ACS saw %d CreateIdentity requests, want 1", n)
	}

	issues := st.ACS.Requests("IssueAccessToken")
	r = known.do("POST", "/api/token", "")
	r.problem(t, 503, "acs-throttled")
	if got := retryAfter(r); got != 7 {
		t.Errorf("known user: Retry-After %d, want 7", got)
	}
	if n := st.ACS.Requests("IssueAccessToken") - issues; n != 1 {
		t.Errorf("ACS saw %d IssueAccessToken requests, want 1", n)
	}

	rooms := st.ACS.Requests("CreateRoom")
	r = known.do("POST", "/api/calls", `{"kind":"room"}`)
	r.problem(t, 503, "acs-throttled")
	if got := retryAfter(r); got != 7 {
		t.Errorf("room call: Retry-After %d, want 7", got)
	}
	if n := st.ACS.Requests("CreateRoom") - rooms; n != 1 {
		t.Errorf("ACS saw %d CreateRoom requests, want 1", n)
	}
}
