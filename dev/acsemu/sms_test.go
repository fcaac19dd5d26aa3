package acsemu

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const smsTarget = "/sms?api-version=2026-01-23"

func smsBody(to ...string) string {
	var rc []string
	for _, n := range to {
		rc = append(rc, `{"to":"`+n+`"}`)
	}
	return `{"from":"+18005550100","smsRecipients":[` + strings.Join(rc, ",") + `],"message":"hi","smsSendOptions":{"enableDeliveryReport":true,"tag":"t"}}`
}

type smsAnswer struct {
	Value []smsResult `json:"value"`
}

func TestSMSChecksWhatACSChecks(t *testing.T) {
	e := start(t, Options{})
	many := make([]string, 101)
	for i := range many {
		many[i] = "+14255550123"
	}
	tests := []struct {
		name   string
		req    signed
		status int
	}{
		{"valid, newest GA", signed{target: smsTarget, body: smsBody("+14255550123")}, 202},
		{"valid, the GA SDK's 2021-03-07", signed{target: "/sms?api-version=2021-03-07", body: smsBody("+14255550123")}, 202},
		{"wrong key", signed{target: smsTarget, body: smsBody("+14255550123"), key: []byte("wrong")}, 401},
		{"identity api-version", signed{target: "/sms?api-version=2023-10-01", body: smsBody("+14255550123")}, 400},
		{"no api-version", signed{target: "/sms", body: smsBody("+14255550123")}, 400},
		{"no from", signed{target: smsTarget, body: `{"smsRecipients":[{"to":"+14255550123"}],"message":"hi"}`}, 400},
		{"no recipients", signed{target: smsTarget, body: `{"from":"+18005550100","smsRecipients":[],"message":"hi"}`}, 400},
		{"101 recipients", signed{target: smsTarget, body: smsBody(many...)}, 400},
		{"message too long", signed{target: smsTarget, body: `{"from":"+18005550100","smsRecipients":[{"to":"+14255550123"}],"message":"` + strings.Repeat("x", 2049) + `"}`}, 400},
		{"options without enableDeliveryReport", signed{target: smsTarget, body: `{"from":"+18005550100","smsRecipients":[{"to":"+14255550123"}],"message":"hi","smsSendOptions":{}}`}, 400},
		{"from is not a sender", signed{target: smsTarget, body: `{"from":"not a sender!","smsRecipients":[{"to":"+14255550123"}],"message":"hi"}`}, 400},
		{"not JSON", signed{target: smsTarget, body: `{`}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.method = http.MethodPost
			status, _, body := req.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.status)
			}
			if status != 202 {
				errorCode(t, body)
			}
		})
	}
	if n := len(e.SMSMessages()); n != 2 {
		t.Fatalf("%d texts accepted, want the 2 valid ones", n)
	}
}

func TestSMSPerRecipientResultsAndRepeatability(t *testing.T) {
	e := start(t, Options{})
	id := "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	first := time.Now().UTC().Format(http.TimeFormat)
	body := `{"from":"+18005550100","message":"hi","smsRecipients":[
		{"to":"+14255550123","repeatabilityRequestId":"` + id + `","repeatabilityFirstSent":"` + first + `"},
		{"to":"+1 425 555 0124"},
		{"to":"+14255550125","repeatabilityRequestId":"not-a-uuid","repeatabilityFirstSent":"` + first + `"},
		{"to":"+14255550126","repeatabilityRequestId":"8c9e6679-7425-40de-944b-e07fc1f90ae7","repeatabilityFirstSent":"2026-12-01T10:00:00Z"}]}`
	var answers []smsAnswer
	for range 2 {
		status, _, b := signed{method: http.MethodPost, target: smsTarget, body: body}.do(t, e)
		if status != 202 {
			t.Fatalf("status %d: %s", status, b)
		}
		var a smsAnswer
		if err := json.Unmarshal(b, &a); err != nil || len(a.Value) != 4 {
			t.Fatalf("answer %s: %v", b, err)
		}
		answers = append(answers, a)
	}
	a, again := answers[0].Value, answers[1].Value
	if !a[0].Successful || a[0].RepeatabilityResult != "accepted" || again[0].MessageID != a[0].MessageID {
		t.Errorf("repeatable recipient: %+v then %+v", a[0], again[0])
	}
	if a[1].Successful || a[1].HTTPStatusCode != 400 || a[1].ErrorMessage != "Invalid To phone number format." {
		t.Errorf("invalid number: %+v", a[1])
	}
	for _, r := range a[2:] {
		if r.Successful || r.HTTPStatusCode != 400 || r.RepeatabilityResult != "rejected" {
			t.Errorf("bad repeatability values: %+v", r)
		}
	}
	// The repeat sent nothing; the non-repeatable invalid number never counts.
	if n := len(e.SMSMessages()); n != 1 {
		t.Fatalf("%d texts, want 1", n)
	}
}

func TestSMSRateLimitPerSender(t *testing.T) {
	stopped := time.Now().Truncate(time.Minute)
	e := start(t, Options{Now: func() time.Time { return stopped }})
	e.SetSMSRateLimit(2)
	send := func(from string) (int, http.Header) {
		b := strings.Replace(smsBody("+14255550123"), "+18005550100", from, 1)
		status, h, _ := signed{method: http.MethodPost, target: smsTarget, body: b}.do(t, e)
		return status, h
	}
	for range 2 {
		if s, _ := send("+18005550100"); s != 202 {
			t.Fatalf("status %d within the limit", s)
		}
	}
	s, h := send("+18005550100")
	if s != 429 || h.Get("Retry-After") != "61" {
		t.Fatalf("over the limit: %d, Retry-After %q; want 429 and 61", s, h.Get("Retry-After"))
	}
	if s, _ := send("+18885550100"); s != 202 {
		t.Fatalf("another number has its own limit: %d", s)
	}
}

func TestSMSThrottledUntilLifted(t *testing.T) {
	e := start(t, Options{})
	send := func() (int, http.Header) {
		status, h, _ := signed{method: http.MethodPost, target: smsTarget, body: smsBody("+14255550123")}.do(t, e)
		return status, h
	}
	e.SetSMSThrottled(90*time.Second + time.Millisecond)
	if s, h := send(); s != 429 || h.Get("Retry-After") != "91" || len(e.SMSMessages()) != 0 {
		t.Fatalf("throttled: %d, Retry-After %q, %d texts; want 429, 91, none", s, h.Get("Retry-After"), len(e.SMSMessages()))
	}
	e.SetSMSThrottled(0)
	if s, _ := send(); s != 202 || len(e.SMSMessages()) != 1 {
		t.Fatalf("lifted: %d, %d texts; want 202, one", s, len(e.SMSMessages()))
	}
}

func TestSMSEventsReachTheSink(t *testing.T) {
	e := start(t, Options{})
	var got []map[string]any
	e.SetEventSink(func(_ context.Context, batch []byte) error {
		var evs []map[string]any
		if err := json.Unmarshal(batch, &evs); err != nil {
			return err
		}
		got = append(got, evs...)
		return nil
	}, false)
	e.FailSMSDeliveryTo("+14255550124", "Sender blocked for given recipient.")
	if s, _, b := (signed{method: http.MethodPost, target: smsTarget, body: smsBody("+14255550123", "+14255550124")}).do(t, e); s != 202 {
		t.Fatalf("%d %s", s, b)
	}
	if _, _, b := (signed{method: http.MethodPost, target: smsTarget, body: strings.Replace(smsBody("+14255550125"), "true", "false", 1)}).do(t, e); len(b) == 0 {
		t.Fatal("no answer")
	}
	if e.PendingSMSEvents() != 2 {
		t.Fatalf("%d pending, want 2 delivery reports (none for a text without enableDeliveryReport)", e.PendingSMSEvents())
	}
	if err := e.DeliverSMSEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReceiveSMS(t.Context(), "+14255550123", "+18005550100", "running late"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d events delivered, want 3", len(got))
	}
	status := func(ev map[string]any) string { return ev["data"].(map[string]any)["deliveryStatus"].(string) }
	if got[0]["eventType"] != "Microsoft.Communication.SMSDeliveryReportReceived" || status(got[0]) != "Delivered" || status(got[1]) != "Failed" {
		t.Errorf("reports: %+v", got[:2])
	}
	in := got[2]["data"].(map[string]any)
	if got[2]["eventType"] != "Microsoft.Communication.SMSReceived" || in["From"] != "14255550123" || in["Message"] != "running late" || got[2]["subject"] != "/phonenumber/18005550100" {
		t.Errorf("SMSReceived: %+v", got[2])
	}
}

func FuzzCheckSMSAPIVersion(f *testing.F) {
	f.Add("2021-03-07")
	f.Add("2026-01-23")
	f.Fuzz(func(t *testing.T, v string) {
		if checkSMSAPIVersion([]string{v}) == nil && v != strings.TrimSpace(v) {
			t.Fatalf("accepted %q", v)
		}
	})
}

// ACS's Repeatable Requests rules per recipient: a repeat of a tracked id
// with a different request is rejected 400, a first-sent outside the
// tracking duration 412, and an id is tracked for RepeatabilityWindow.
func TestSMSRepeatabilityMismatchAndTrackingDuration(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	move := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := start(t, Options{Now: clock})
	id := "9d9e6679-7425-40de-944b-e07fc1f90ae7"
	send := func(message string, firstSent time.Time) smsResult {
		t.Helper()
		body := `{"from":"+18005550100","message":"` + message + `","smsRecipients":[{"to":"+14255550123","repeatabilityRequestId":"` + id + `","repeatabilityFirstSent":"` + firstSent.Format(http.TimeFormat) + `"}]}`
		status, _, b := signed{method: http.MethodPost, target: smsTarget, body: body}.do(t, e)
		var a smsAnswer
		if status != 202 || json.Unmarshal(b, &a) != nil || len(a.Value) != 1 {
			t.Fatalf("status %d: %s", status, b)
		}
		return a.Value[0]
	}
	first := clock()
	if r := send("one", first); !r.Successful || r.RepeatabilityResult != "accepted" {
		t.Fatalf("first send: %+v", r)
	}
	if r := send("two", first); r.Successful || r.HTTPStatusCode != 400 || r.RepeatabilityResult != "rejected" {
		t.Fatalf("same id, another message: %+v, want rejected 400", r)
	}
	if r := send("one", first.Add(time.Second)); r.Successful || r.HTTPStatusCode != 400 {
		t.Fatalf("same id, another first-sent: %+v, want rejected 400", r)
	}
	move(RepeatabilityWindow - time.Second)
	if r := send("one", first); !r.Successful || r.RepeatabilityResult != "accepted" {
		t.Fatalf("identical repeat within the window: %+v", r)
	}
	move(2 * time.Second)
	if r := send("one", first); r.Successful || r.HTTPStatusCode != 412 || r.RepeatabilityResult != "rejected" {
		t.Fatalf("first-sent outside the tracking duration: %+v, want rejected 412", r)
	}
	if r := send("two", clock()); !r.Successful {
		t.Fatalf("the id after its tracking ended, first-sent now: %+v", r)
	}
	if n := len(e.SMSMessages()); n != 2 {
		t.Fatalf("%d texts, want 2", n)
	}
}
