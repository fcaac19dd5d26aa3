package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/handler/internal/httpapi"
)

const incoming = `{"to":{"kind":"communicationUser","rawId":"8:acs:r_1","communicationUser":{"id":"8:acs:r_1"}},"from":{"kind":"communicationUser","rawId":"8:acs:r_2","communicationUser":{"id":"8:acs:r_2"}},"serverCallId":"srv","incomingCallContext":"ctx","correlationId":"corr"}`

func TestParse(t *testing.T) {
	eg := `{"id":"e1","topic":"/subscriptions/x/resourceGroups/g/providers/Microsoft.Communication/communicationServices/acs","subject":"call/1","eventType":"Microsoft.Communication.IncomingCall","eventTime":"2026-11-25T10:00:00.1234567Z","data":` + incoming + `,"dataVersion":"1.0","metadataVersion":"1"}`
	ce := `{"id":"e2","source":"/acs","type":"Microsoft.Communication.IncomingCall","specversion":"1.0","time":"2026-11-25T10:00:00Z","data":` + incoming + `}`
	dataString, _ := json.Marshal(incoming)
	egString := `{"id":"e3","topic":"t","subject":"s","eventType":"Microsoft.Communication.IncomingCall","eventTime":"2026-11-25T10:00:00Z","data":` + string(dataString) + `}`
	cases := []struct {
		name    string
		body    string
		n       int
		cloud   bool
		wantErr bool
	}{
		{"event grid single", eg, 1, false, false},
		{"event grid batch", "[" + eg + "," + egString + "]", 2, false, false},
		{"cloudevent single", ce, 1, true, false},
		{"cloudevent batch", "[" + ce + "]", 1, true, false},
		{"data as string", egString, 1, false, false},
		{"empty", ``, 0, false, true},
		{"empty batch", `[]`, 0, false, true},
		{"not json", `{`, 0, false, true},
		{"no id", `{"eventType":"x","data":{}}`, 0, false, true},
		{"no type", `{"id":"x","data":{}}`, 0, false, true},
		{"bad time", `{"id":"x","eventType":"t","eventTime":"yesterday"}`, 0, false, true},
		{"cloudevent wrong version", `{"id":"x","type":"t","source":"s","specversion":"0.3"}`, 0, false, true},
		{"cloudevent without source", `{"id":"x","type":"t","specversion":"1.0"}`, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Parse([]byte(tc.body))
			if tc.wantErr {
				var p *httpapi.Problem
				if !errors.As(err, &p) || p.Status != 400 {
					t.Fatalf("want a 400 problem, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tc.n {
				t.Fatalf("%d events", len(evs))
			}
			for _, ev := range evs {
				if ev.CloudEvent != tc.cloud || ev.Type != "Microsoft.Communication.IncomingCall" || ev.Time.IsZero() {
					t.Errorf("event %+v", ev)
				}
				var d struct {
					ServerCallID string `json:"serverCallId"`
				}
				if err := ev.DecodeData(&d); err != nil || d.ServerCallID != "srv" {
					t.Errorf("data: %v %+v", err, d)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"id":"e","eventType":"t","data":{}}]`))
	f.Add([]byte(`{"id":"e","type":"t","source":"s","specversion":"1.0","data":"{}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := Parse(body)
		if err == nil {
			for _, ev := range evs {
				if ev.ID == "" || ev.Type == "" {
					t.Fatalf("accepted an event without id or type: %+v", ev)
				}
			}
		}
	})
}

func TestWebhook(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	var got []string
	d := NewDispatcher()
	d.Handle("Microsoft.Communication.IncomingCall", func(ctx context.Context, ev Event) error {
		got = append(got, ev.ID)
		if ev.ID == "fail" {
			return errors.New("provider down")
		}
		return nil
	})
	rt := httpapi.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.Handle("POST /api/events", d.Webhook(key))
	rt.HandleFunc("OPTIONS /api/events", WebhookOptions)
	srv := httptest.NewServer(rt)
	defer srv.Close()

	post := func(path, body string) (int, string) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	validation := `[{"id":"v","topic":"t","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2026-11-25T10:00:00Z","data":{"validationCode":"ABC-123"}}]`
	if s, _ := post("/api/events", validation); s != 401 {
		t.Fatalf("no key: %d", s)
	}
	if s, _ := post("/api/events?code=wrong", validation); s != 401 {
		t.Fatalf("wrong key: %d", s)
	}
	if s, b := post("/api/events?code="+key, validation); s != 200 || !strings.Contains(b, `"validationResponse":"ABC-123"`) {
		t.Fatalf("validation: %d %s", s, b)
	}
	ev := func(id, typ string) string {
		return `{"id":"` + id + `","topic":"t","subject":"s","eventType":"` + typ + `","eventTime":"2026-11-25T10:00:00Z","data":` + incoming + `}`
	}
	if s, b := post("/api/events?code="+key, "["+ev("ok", "Microsoft.Communication.IncomingCall")+","+ev("other", "Microsoft.Communication.ChatMessageReceived")+"]"); s != 200 {
		t.Fatalf("batch: %d %s", s, b)
	}
	if s, _ := post("/api/events?code="+key, "["+ev("fail", "Microsoft.Communication.IncomingCall")+"]"); s != 503 {
		t.Fatalf("failing handler must ask for redelivery: %d", s)
	}
	if strings.Join(got, ",") != "ok,fail" {
		t.Fatalf("dispatched %v (unknown types must not reach handlers)", got)
	}

	req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/events", nil)
	req.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" {
		t.Fatalf("OPTIONS handshake: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestWebhookNotConfigured(t *testing.T) {
	d := NewDispatcher()
	w := httptest.NewRecorder()
	d.Webhook("").ServeHTTP(w, httptest.NewRequest("POST", "/api/events", strings.NewReader("[]")))
	if w.Code != 501 || !strings.Contains(w.Body.String(), "EVENTS_WEBHOOK_KEY") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
