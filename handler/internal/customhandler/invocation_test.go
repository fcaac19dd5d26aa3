package customhandler

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

type event struct {
	ID        string `json:"id"`
	EventType string `json:"eventType"`
}

func newServer(t *testing.T) *httptest.Server {
	fs := NewFunctions()
	fs.Register("callevents", func(ctx context.Context, inv *Invocation) (map[string]any, error) {
		var ev event
		if err := inv.Trigger("event", &ev); err != nil {
			return nil, err
		}
		if ev.EventType == "fail" {
			return nil, errors.New("downstream failed")
		}
		inv.Logf("handled %s", ev.ID)
		return map[string]any{"res": ev.ID}, nil
	})
	rt := httpapi.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.HandleFunc("GET /{$}", Readiness)
	rt.Handle("POST /{function}", fs)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return resp.StatusCode, out
}

func TestEnvelope(t *testing.T) {
	srv := newServer(t)
	meta := `"Metadata":{"sys":{"MethodName":"callevents","UtcNow":"2026-11-25T10:00:00Z","RandGuid":"5c4b2c4e-3f7e-4c7b-9d1a-111111111111"}}`
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"object trigger", `{"Data":{"event":{"id":"e1","eventType":"x"}},` + meta + `}`, 200, ""},
		{"string trigger", `{"Data":{"event":"{\"id\":\"e1\",\"eventType\":\"x\"}"},` + meta + `}`, 200, ""},
		{"string in string trigger (how the host sends Event Grid)", `{"Data":{"event":"\"{\\\"id\\\":\\\"e1\\\",\\\"eventType\\\":\\\"x\\\"}\""},` + meta + `}`, 200, ""},
		{"missing Data", `{` + meta + `}`, 400, "invalid-request"},
		{"missing binding", `{"Data":{"other":{}},` + meta + `}`, 400, "invalid-request"},
		{"string not json", `{"Data":{"event":"hello"},` + meta + `}`, 400, "invalid-json"},
		{"garbled envelope", `{"Data":`, 400, "invalid-json"},
		{"failing function", `{"Data":{"event":{"id":"e2","eventType":"fail"}},` + meta + `}`, 500, "internal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, srv.URL+"/callevents", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if tc.code != "" && out["code"] != tc.code {
				t.Errorf("code %v, want %s", out["code"], tc.code)
			}
			if tc.status == 200 {
				if out["Outputs"].(map[string]any)["res"] != "e1" {
					t.Errorf("Outputs: %v", out)
				}
				logs, _ := out["Logs"].([]any)
				if len(logs) != 1 || logs[0] != "handled e1" {
					t.Errorf("Logs: %v", out["Logs"])
				}
				if v, ok := out["ReturnValue"]; !ok || v != nil {
					t.Errorf("ReturnValue must be present and null: %v", out)
				}
			}
		})
	}
}

func TestUnknownFunctionAndReadiness(t *testing.T) {
	srv := newServer(t)
	status, out := post(t, srv.URL+"/nosuch", `{"Data":{}}`)
	if status != 404 || out["code"] != "unknown-function" {
		t.Errorf("unknown function: %d %v", status, out)
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readiness: %d", resp.StatusCode)
	}
}

func FuzzTriggerJSON(f *testing.F) {
	f.Add([]byte(`{"id":"e"}`))
	f.Add([]byte(`"{\"id\":\"e\"}"`))
	f.Add([]byte(`"not json"`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		inv := &Invocation{Data: map[string]json.RawMessage{"event": raw}}
		out, err := inv.TriggerJSON("event")
		if err == nil && !json.Valid(out) {
			t.Fatalf("accepted invalid JSON %q", out)
		}
	})
}
