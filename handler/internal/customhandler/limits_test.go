package customhandler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// hostEnvelope wraps an event the way the Functions host does for an
// eventGridTrigger: the event indented, as a JSON string, serialised again as
// a JSON string in Data; its data property once more in Metadata.
func hostEnvelope(t *testing.T, event []byte) string {
	t.Helper()
	var ind bytes.Buffer
	if err := json.Indent(&ind, event, "", "  "); err != nil {
		t.Fatal(err)
	}
	once, _ := json.Marshal(ind.String())
	twice, _ := json.Marshal(string(once))
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	return `{"Data":{"event":` + string(twice) + `},"Metadata":{"data":` + string(ev.Data) + `,"sys":{"MethodName":"callevents"}}}`
}

func TestLargeEventsFitTheEnvelope(t *testing.T) {
	srv := newServer(t)
	// Two 1 MB events: one long string (an IncomingCall's call context), and
	// the envelope's worst shape, an array of empty strings (each 3 bytes of
	// `"",` becomes 18 in the envelope once indented and wrapped twice).
	const eventLimit = 1 << 20
	pad := func(head, tail, unit string) []byte {
		n := (eventLimit - len(head) - len(tail)) / len(unit)
		return []byte(head + strings.TrimSuffix(strings.Repeat(unit, n), ",") + tail)
	}
	events := map[string][]byte{
		"long call context":      pad(`{"id":"e1","eventType":"x","data":{"incomingCallContext":"`, `"}}`, "x"),
		"array of empty strings": pad(`{"id":"e1","eventType":"x","data":{"list":[`, `]}}`, `"",`),
	}
	for name, ev := range events {
		t.Run(name, func(t *testing.T) {
			if len(ev) > eventLimit || !json.Valid(ev) {
				t.Fatalf("test event: %d bytes, valid %v", len(ev), json.Valid(ev))
			}
			body := hostEnvelope(t, ev)
			if len(body) <= len(ev) || len(body) > MaxInvocationBytes {
				t.Fatalf("envelope of %d bytes for a %d byte event; limit %d", len(body), len(ev), MaxInvocationBytes)
			}
			status, out := post(t, srv.URL+"/callevents", body)
			if status != 200 || out["Outputs"].(map[string]any)["res"] != "e1" {
				t.Fatalf("%d byte envelope: %d %v", len(body), status, out)
			}
		})
	}
}

func TestOversizedEnvelope(t *testing.T) {
	srv := newServer(t)
	body := `{"Data":{"event":{"id":"e1","eventType":"x","pad":"` + strings.Repeat("x", MaxInvocationBytes) + `"}}}`
	status, out := post(t, srv.URL+"/callevents", body)
	if status != 413 || out["code"] != "body-too-large" {
		t.Fatalf("%d %v", status, out)
	}
}
