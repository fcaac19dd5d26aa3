package push

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestBodies(t *testing.T) {
	n := incoming()
	apns, err := APNsBody(n, true)
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal(apns, &a); err != nil {
		t.Fatal(err)
	}
	// PushKit hands the whole dictionary to the app; aps is present but carries no alert.
	if aps, ok := a["aps"].(map[string]any); !ok || len(aps) != 0 || a["incomingCallContext"] != "ctx-blob" || a["callerId"] != "8:acs:r_caller" || a["type"] != "incomingCall" {
		t.Fatalf("apns voip body %s", apns)
	}

	inv := Notification{Type: "invitation", EventID: "invite-1", CalleeID: "8:acs:r_callee",
		Data: map[string]string{"callId": "c1", "kind": "room", "subject": "Standup", "type": "spoofed"}}
	fcm, err := FCMBody(inv)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Message struct {
			Android struct{ Priority string } `json:"android"`
			Data    map[string]string         `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(fcm, &f); err != nil {
		t.Fatal(err)
	}
	if f.Message.Android.Priority != "high" || f.Message.Data["type"] != "invitation" || f.Message.Data["callId"] != "c1" || f.Message.Data["subject"] != "Standup" {
		t.Fatalf("fcm body %s", fcm)
	}
}

func TestOversizeInvitationDropsSubject(t *testing.T) {
	data := map[string]string{"callId": "c1", "subject": strings.Repeat("s", FCMLimit)}
	inv := Notification{Type: "invitation", EventID: "invite-1", Data: data}
	b, err := FCMBody(inv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "sss") || !strings.Contains(string(b), `"callId":"c1"`) {
		t.Fatalf("%s", b)
	}
	if _, ok := data["subject"]; !ok {
		t.Fatal("the caller's map was edited")
	}
}

// FuzzBodies: every encoder either fits its limit with the incoming call
// context intact, or refuses with ErrTooLarge; never truncates.
func FuzzBodies(f *testing.F) {
	f.Add("ctx", "Alice", "corr", "subject", 10)
	f.Add("c", "Alice", "c", "", 4900)
	f.Add("\u2028\"<>&", "\xff", "", "s", 3)
	f.Fuzz(func(t *testing.T, ctxBlob, name, corr, subject string, pad int) {
		// Size comes from pad; short strings keep the fuzzer's minimizing cheap.
		if pad < 0 || pad > 8000 || len(ctxBlob)+len(name)+len(corr)+len(subject) > 512 {
			return
		}
		n := Notification{Type: "incomingCall", EventID: "ev", IncomingCallContext: ctxBlob + strings.Repeat("x", pad),
			CallerDisplayName: name, CorrelationID: corr, Data: map[string]string{"subject": subject}}
		want := n.IncomingCallContext
		encoders := map[string]struct {
			limit int
			enc   func() ([]byte, error)
		}{
			"apns voip": {APNsVoIPLimit, func() ([]byte, error) { return APNsBody(n, true) }},
			"apns":      {APNsLimit, func() ([]byte, error) { return APNsBody(n, false) }},
			"fcm":       {FCMLimit, func() ([]byte, error) { return FCMBody(n) }},
			"webpush":   {WebPushLimit, func() ([]byte, error) { return JSONBody(n, WebPushLimit) }},
		}
		for name, e := range encoders {
			b, err := e.enc()
			if err != nil {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%s: %v", name, err)
				}
				continue
			}
			if len(b) > e.limit {
				t.Fatalf("%s: %d bytes over %d", name, len(b), e.limit)
			}
			var got struct {
				IncomingCallContext string `json:"incomingCallContext"`
				Message             struct {
					Data map[string]string `json:"data"`
				} `json:"message"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ctx := got.IncomingCallContext
			if name == "fcm" {
				ctx = got.Message.Data["incomingCallContext"]
			}
			// encoding/json replaces invalid UTF-8; compare what survives a round trip.
			var sent string
			_ = json.Unmarshal(mustJSON(want), &sent)
			if ctx != sent {
				t.Fatalf("%s: incomingCallContext altered", name)
			}
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestAlertBodies(t *testing.T) {
	n := Notification{Type: "chatMessage", EventID: "chat-1-8:acs:b", Alert: &Alert{Title: "Alice", Body: "hello"},
		Data: map[string]string{"threadId": "19:t@thread.v2", "preview": "hello"}}
	b, err := APNsBody(n, false)
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		APS  map[string]any    `json:"aps"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	alert, _ := a.APS["alert"].(map[string]any)
	if alert["title"] != "Alice" || alert["body"] != "hello" || a.APS["content-available"] != nil || a.Data["threadId"] != "19:t@thread.v2" {
		t.Fatalf("apns alert body %s", b)
	}
	if j, _ := JSONBody(n, WebhookLimit); strings.Contains(string(j), "alert") {
		t.Fatalf("the alert leaked into the JSON body: %s", j)
	}
	// A preview is dropped before the notification is refused.
	big := n
	big.Data = map[string]string{"threadId": "t", "preview": strings.Repeat("p", FCMLimit)}
	if f, err := FCMBody(big); err != nil || strings.Contains(string(f), "ppp") {
		t.Fatalf("oversize preview: %v %s", err, f)
	}
}
