package acsemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newUser(t *testing.T, e *Emulator) string {
	t.Helper()
	status, _, body := signed{method: "POST", target: create, body: `{}`}.do(t, e)
	var v struct{ Identity struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &v) != nil {
		t.Fatalf("create identity: %d %s", status, body)
	}
	return v.Identity.ID
}

func TestRoomRequests(t *testing.T) {
	e := start(t, Options{})
	user := newUser(t, e)
	const rooms = "/rooms?api-version=2025-03-13"
	status, _, body := signed{method: "POST", target: rooms, body: `{}`}.do(t, e)
	var rm struct{ ID string }
	if status != 201 || json.Unmarshal(body, &rm) != nil || rm.ID == "" {
		t.Fatalf("create room: %d %s", status, body)
	}
	patch := "/rooms/" + rm.ID + "/participants?api-version=2025-03-13"
	tests := []struct {
		name   string
		req    signed
		status int
	}{
		{"participants as merge-patch", signed{method: "PATCH", target: patch, contentType: "application/merge-patch+json", body: `{"participants":{"` + user + `":{"role":"Attendee"}}}`}, 200},
		{"participants as plain JSON", signed{method: "PATCH", target: patch, body: `{"participants":{}}`}, 415},
		{"unknown role", signed{method: "PATCH", target: patch, contentType: "application/merge-patch+json", body: `{"participants":{"` + user + `":{"role":"Owner"}}}`}, 400},
		{"unknown user", signed{method: "PATCH", target: patch, contentType: "application/merge-patch+json", body: `{"participants":{"8:acs:x_y":{"role":"Attendee"}}}`}, 400},
		{"unknown field", signed{method: "POST", target: rooms, body: `{"owner":"me"}`}, 400},
		{"until before from", signed{method: "POST", target: rooms, body: `{"validFrom":"2100-01-02T00:00:00Z","validUntil":"2100-01-01T00:00:00Z"}`}, 400},
		{"repeatability without first-sent", signed{method: "POST", target: rooms, body: `{}`, mutate: func(r *http.Request) { r.Header.Set("Repeatability-Request-ID", "x") }}, 400},
		{"first-sent outside the tracking duration", signed{method: "POST", target: rooms, body: `{}`, mutate: func(r *http.Request) {
			r.Header.Set("Repeatability-Request-ID", "1f6d3d1a-7f5e-4a47-9d7b-6a3f1e2b9c10")
			r.Header.Set("Repeatability-First-Sent", time.Now().Add(-6*time.Minute).UTC().Format(http.TimeFormat))
		}}, 412},
		{"unknown room", signed{method: "GET", target: "/rooms/123?api-version=2025-03-13"}, 404},
		{"unsigned", signed{method: "GET", target: "/rooms/" + rm.ID + "?api-version=2025-03-13", mutate: func(r *http.Request) { r.Header.Del("Authorization") }}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := tt.req.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d %s, want %d", status, body, tt.status)
			}
			if status >= 400 {
				errorCode(t, body)
			}
		})
	}
	if st, _ := e.Room(rm.ID); st.Participants[user] != "Attendee" || len(st.Participants) != 1 {
		t.Errorf("room participants = %v", st.Participants)
	}
}

func TestCreateCallRequests(t *testing.T) {
	e := start(t, Options{CallHoldTime: -1})
	user := newUser(t, e)
	const calls = "/calling/callConnections?api-version=2026-03-12"
	target := `{"kind":"communicationUser","rawId":"` + user + `","communicationUser":{"id":"` + user + `"}}`
	tests := []struct {
		name, body string
		status     int
	}{
		{"https callback", `{"targets":[` + target + `],"callbackUri":"https://app.example/cb"}`, 201},
		{"rawId only", `{"targets":[{"rawId":"` + user + `"}],"callbackUri":"https://app.example/cb"}`, 201},
		{"plain http off loopback", `{"targets":[` + target + `],"callbackUri":"http://app.example/cb"}`, 400},
		{"relative callback", `{"targets":[` + target + `],"callbackUri":"/cb"}`, 400},
		{"no targets", `{"targets":[],"callbackUri":"https://app.example/cb"}`, 400},
		{"phone without caller id", `{"targets":[{"kind":"phoneNumber","phoneNumber":{"value":"+14255550100"}}],"callbackUri":"https://app.example/cb"}`, 400},
		{"phone with caller id", `{"targets":[{"kind":"phoneNumber","phoneNumber":{"value":"+14255550100"}}],"sourceCallerIdNumber":{"value":"+14255550199"},"callbackUri":"https://app.example/cb"}`, 201},
		{"rawId contradicts user", `{"targets":[{"rawId":"4:+14255550100","communicationUser":{"id":"` + user + `"}}],"callbackUri":"https://app.example/cb"}`, 400},
		{"teams user", `{"targets":[{"kind":"microsoftTeamsUser","rawId":"8:orgid:x","microsoftTeamsUser":{"userId":"x"}}],"callbackUri":"https://app.example/cb"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := signed{method: "POST", target: calls, body: tt.body}.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d %s, want %d", status, body, tt.status)
			}
		})
	}
	// A replayed Repeatability-Request-ID answers with the first call.
	rep := func(r *http.Request) {
		r.Header.Set("Repeatability-Request-ID", "0f6d3d1a-7f5e-4a47-9d7b-6a3f1e2b9c10")
		r.Header.Set("Repeatability-First-Sent", "Tue, 24 Nov 2099 15:44:43 GMT")
	}
	var ids []string
	for range 2 {
		status, _, body := signed{method: "POST", target: calls, body: `{"targets":[` + target + `],"callbackUri":"https://app.example/cb"}`, mutate: rep}.do(t, e)
		var v struct{ CallConnectionID string }
		if status != 201 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("repeatable create: %d %s", status, body)
		}
		ids = append(ids, v.CallConnectionID)
	}
	if ids[0] != ids[1] {
		t.Errorf("replayed create made calls %v, want one", ids)
	}
}

func TestOIDCConfiguration(t *testing.T) {
	e := start(t, Options{})
	resp, err := http.Get(e.OIDCConfigURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg struct{ Issuer, JWKS_URI string }
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer+"/" != e.Endpoint() || !strings.HasPrefix(cfg.JWKS_URI, cfg.Issuer+"/") {
		t.Errorf("configuration = %+v", cfg)
	}
	keys, err := http.Get(cfg.JWKS_URI)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Body.Close()
	var set struct {
		Keys []struct{ Kty, Alg, Kid, N, E string }
	}
	if err := json.NewDecoder(keys.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0].Alg != "RS256" || set.Keys[0].N == "" {
		t.Errorf("JWKS = %+v, %v", set, err)
	}
}

func FuzzCanonicalIdentifier(f *testing.F) {
	f.Add(`{"kind":"communicationUser","rawId":"8:acs:a_b","communicationUser":{"id":"8:acs:a_b"}}`)
	f.Add(`{"rawId":"4:+14255550100"}`)
	f.Add(`{"phoneNumber":{"value":"+1"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var id identifierJSON
		if json.Unmarshal([]byte(s), &id) != nil {
			return
		}
		c, err := canonical(id)
		if err != nil {
			return
		}
		again, err := canonical(identifierJSON{RawID: c.RawID})
		if err != nil || again.RawID != c.RawID || again.Kind != c.Kind {
			t.Fatalf("canonical %+v does not round-trip through its raw id: %+v, %v", c, again, err)
		}
	})
}
