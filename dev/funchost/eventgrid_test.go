package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
)

const egBatch = `[
 {"id":"e1","topic":"/subscriptions/x","subject":"call/1","eventType":"Microsoft.Communication.IncomingCall","eventTime":"2024-05-01T10:00:00.1234567Z","data":{"to":{"rawId":"8:acs:1"}},"dataVersion":"1.0"},
 {"id":"e2","topic":"/subscriptions/x","subject":"call/2","eventType":"Microsoft.Communication.IncomingCall","eventTime":"2024-05-01T10:00:01Z","data":{"to":{"rawId":"8:acs:2"}},"dataVersion":"1.0"},
 {"id":"e3","topic":"/subscriptions/x","subject":"call/3","eventType":"Custom.Text","eventTime":"2024-05-01T10:00:02Z","data":"plain text","dataVersion":"1.0"}
]`

// decodeTrigger undoes the given encoding of Data.event and returns the event.
func decodeTrigger(t *testing.T, raw json.RawMessage, enc TriggerEncoding) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	switch enc {
	case TriggerAsObject:
		if _, ok := v.(map[string]any); !ok {
			t.Fatalf("TriggerAsObject: Data.event is %T, want an object: %s", v, raw)
		}
	case TriggerAsString:
		s, ok := v.(string)
		if !ok {
			t.Fatalf("TriggerAsString: Data.event is %T, want a string", v)
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
	case TriggerAsHostString:
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, `"{`) {
			t.Fatalf("TriggerAsHostString: Data.event should be a string holding a JSON string, got %s", raw)
		}
		var inner string
		if err := json.Unmarshal([]byte(s), &inner); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(inner, "\n  \"id\": ") {
			t.Errorf("inner string should be the indented event, got %q", inner)
		}
		if err := json.Unmarshal([]byte(inner), &v); err != nil {
			t.Fatal(err)
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("decoded event is %T", v)
	}
	return m
}

func TestEventGridFanOutPerEncoding(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	ctx := context.Background()
	seen := 0
	for _, enc := range []TriggerEncoding{TriggerAsHostString, TriggerAsString, TriggerAsObject} {
		h.SetEventEncoding(enc)
		if err := h.DeliverEventGrid(ctx, "callevents", []byte(egBatch)); err != nil {
			t.Fatalf("encoding %d: %v", enc, err)
		}
		s := stateOf(t, h)
		invs := s.Invocations[seen:]
		seen = len(s.Invocations)
		if len(invs) != 3 {
			t.Fatalf("encoding %d: %d invocations, want one per event (3)", enc, len(invs))
		}
		var ids []string
		for _, inv := range invs {
			if inv.Function != "callevents" {
				t.Errorf("invoked /%s", inv.Function)
			}
			var env struct {
				Data     map[string]json.RawMessage
				Metadata map[string]json.RawMessage
			}
			if err := json.Unmarshal(inv.Body, &env); err != nil {
				t.Fatal(err)
			}
			if len(env.Data) != 1 || env.Data["event"] == nil {
				t.Fatalf("Data must be keyed by the binding name only: %s", inv.Body)
			}
			ev := decodeTrigger(t, env.Data["event"], enc)
			id := ev["id"].(string)
			ids = append(ids, id)
			if id == "e1" && ev["eventTime"] != "2024-05-01T10:00:00.1234567Z" {
				t.Errorf("eventTime changed: %v", ev["eventTime"])
			}
			var sys map[string]any
			_ = json.Unmarshal(env.Metadata["sys"], &sys)
			if sys["MethodName"] != "callevents" {
				t.Errorf("Metadata.sys = %s", env.Metadata["sys"])
			}
			switch id {
			case "e1":
				if string(env.Metadata["data"]) != `{"to":{"rawId":"8:acs:1"}}` {
					t.Errorf("Metadata.data = %s, want the event's data object", env.Metadata["data"])
				}
			case "e3":
				if string(env.Metadata["data"]) != `"\"plain text\""` {
					t.Errorf("Metadata.data = %s, want the string data serialised once more", env.Metadata["data"])
				}
			}
		}
		sort.Strings(ids)
		if strings.Join(ids, ",") != "e1,e2,e3" {
			t.Errorf("events invoked: %v", ids)
		}
	}
}

func TestCloudEventsSingleAndBatch(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{EventEncoding: TriggerAsObject})
	ctx := context.Background()
	single := `{"specversion":"1.0","id":"c1","source":"/acs","type":"Microsoft.Communication.IncomingCall","data":{"x":1}}`
	if err := h.DeliverEventGrid(ctx, "callevents", []byte(single)); err != nil {
		t.Fatal(err)
	}
	batch := `[{"specversion":"1.0","id":"c2","source":"/acs","type":"t"},{"specversion":"1.0","id":"c3","source":"/acs","type":"t"}]`
	resp, b := do(t, "POST", h.EventGridURL("callevents"), strings.NewReader(batch), map[string]string{
		"Content-Type": "application/cloudevents-batch+json; charset=utf-8", "aeg-event-type": "Notification"})
	if resp.StatusCode != 202 {
		t.Fatalf("batch: %d %s", resp.StatusCode, b)
	}
	if n := len(stateOf(t, h).Invocations); n != 3 {
		t.Errorf("%d invocations, want 3", n)
	}
}

func TestEventGridHandshakes(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	url := h.EventGridURL("callevents")
	validation := `[{"id":"v1","topic":"/t","subject":"","data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6","validationUrl":"https://x"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-01-01T00:00:00Z","dataVersion":"2","metadataVersion":"1"}]`
	resp, b := do(t, "POST", url, strings.NewReader(validation), map[string]string{"aeg-event-type": "SubscriptionValidation", "Content-Type": "application/json"})
	if resp.StatusCode != 200 || string(b) != `{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}` {
		t.Errorf("validation: %d %s", resp.StatusCode, b)
	}
	resp, _ = do(t, "OPTIONS", url, nil, map[string]string{"WebHook-Request-Origin": "eventgrid.azure.net"})
	if resp.StatusCode != 200 || resp.Header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" {
		t.Errorf("OPTIONS: %d, WebHook-Allowed-Origin %q", resp.StatusCode, resp.Header.Get("WebHook-Allowed-Origin"))
	}
	resp, _ = do(t, "OPTIONS", url, nil, map[string]string{"WebHook-Request-Origin": "evil.example"})
	if resp.Header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" {
		t.Errorf("OPTIONS from an unknown origin answered %q", resp.Header.Get("WebHook-Allowed-Origin"))
	}
	if n := len(stateOf(t, h).Invocations); n != 0 {
		t.Errorf("handshakes invoked the function %d times; the host answers them itself", n)
	}
	resp, _ = do(t, "POST", url, strings.NewReader(`[]`), nil)
	if resp.StatusCode != 400 {
		t.Errorf("no aeg-event-type: %d, want 400", resp.StatusCode)
	}
	resp, b = do(t, "POST", h.URL()+"/runtime/webhooks/eventgrid?functionName=housekeeping", strings.NewReader(`[]`), map[string]string{"aeg-event-type": "Notification"})
	if resp.StatusCode != 404 || !strings.Contains(string(b), "cannot find function: 'housekeeping'") {
		t.Errorf("non-Event Grid function: %d %s", resp.StatusCode, b)
	}
}

func TestEventGridFailureAsksForRetry(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	batch := `[{"id":"ok1","eventType":"t","subject":"s","data":{},"dataVersion":"1"},{"id":"fail-me","eventType":"t","subject":"s","data":{},"dataVersion":"1"}]`
	err := h.DeliverEventGrid(context.Background(), "callevents", []byte(batch))
	var de *DeliveryError
	if !errors.As(err, &de) || de.StatusCode != 500 || !strings.Contains(string(de.Body), "asked to fail") {
		t.Fatalf("err = %v, want a DeliveryError 500 carrying the handler's failure", err)
	}
	if n := len(stateOf(t, h).Invocations); n != 2 {
		t.Errorf("%d invocations, want both events tried (2)", n)
	}
}

func TestEventGridSystemKey(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{FunctionKey: "fkey", SystemKey: "skey"})
	body := `[{"id":"k1","eventType":"t","subject":"s","data":{},"dataVersion":"1"}]`
	hdr := map[string]string{"aeg-event-type": "Notification"}
	base := h.URL() + "/runtime/webhooks/eventgrid?functionName=callevents"
	for _, c := range []struct {
		url    string
		hdr    map[string]string
		status int
	}{
		{base, hdr, 401},
		{base + "&code=fkey", hdr, 401},
		{base + "&code=skey", hdr, 202},
		{base, map[string]string{"aeg-event-type": "Notification", "x-functions-key": "skey"}, 202},
	} {
		resp, b := do(t, "POST", c.url, strings.NewReader(body), c.hdr)
		if resp.StatusCode != c.status {
			t.Errorf("%s %v: %d, want %d (%s)", c.url, c.hdr, resp.StatusCode, c.status, b)
		}
	}
	if err := h.DeliverEventGrid(context.Background(), "callevents", []byte(body)); err != nil {
		t.Errorf("DeliverEventGrid should use the system key: %v", err)
	}
}

func TestValidationCode(t *testing.T) {
	cases := []struct {
		name, body, want string
		ok               bool
	}{
		{"event grid schema", `[{"data":{"validationCode":"abc"}}]`, "abc", true},
		{"cloudevent object data", `{"data":{"validationCode":"abc"}}`, "abc", true},
		{"cloudevent string data", `{"data":"{\"validationCode\":\"abc\"}"}`, "abc", true},
		{"empty array", `[]`, "", false},
		{"no code", `[{"data":{}}]`, "", false},
		{"not json", `nope`, "", false},
		{"number", `42`, "", false},
		{"string data not json", `{"data":"x"}`, "", false},
	}
	for _, c := range cases {
		got, err := ValidationCode([]byte(c.body))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: ValidationCode = %q, %v; want %q ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
}

func TestSplitEvents(t *testing.T) {
	cases := []struct {
		body string
		n    int
		ok   bool
	}{
		{`[{"id":"1"},{"id":"2"}]`, 2, true},
		{` {"id":"1"} `, 1, true},
		{`[]`, 0, true},
		{`"x"`, 0, false},
		{`{"id":`, 0, false},
		{``, 0, false},
	}
	for _, c := range cases {
		evs, err := SplitEvents([]byte(c.body))
		if (err == nil) != c.ok || len(evs) != c.n {
			t.Errorf("SplitEvents(%q) = %d events, %v; want %d ok=%v", c.body, len(evs), err, c.n, c.ok)
		}
	}
}

func FuzzEventGridBody(f *testing.F) {
	f.Add([]byte(egBatch))
	f.Add([]byte(`{"data":"{\"validationCode\":\"abc\"}"}`))
	f.Add([]byte(`[{"data":{"validationCode":"abc"}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = ValidationCode(body)
		evs, err := SplitEvents(body)
		if err != nil {
			return
		}
		for _, ev := range evs {
			for _, enc := range []TriggerEncoding{TriggerAsHostString, TriggerAsString, TriggerAsObject} {
				data, _, err := eventInvocation(ev, "event", enc)
				if err != nil {
					continue
				}
				if _, err := json.Marshal(data); err != nil {
					t.Fatalf("Data for %q does not serialise: %v", ev, err)
				}
			}
		}
	})
}
