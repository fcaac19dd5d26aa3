package relay

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/handler/internal/httpapi"
)

// serve runs POST /api/relay for alice, below authentication (the route's
// 401 and X-On-Behalf-Of handling are auth.UserHandler's, tested there and
// end to end in dev/e2e).
func serve(s *Service, ctype, body string) *httptest.ResponseRecorder {
	rt := httpapi.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.Handle("POST /api/relay", httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return s.handleRelay(w, r, "alice")
	}))
	r := httptest.NewRequest("POST", "/api/relay", strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	return w
}

func TestRelayRoute(t *testing.T) {
	limited := 0
	s := newService(t, Config{MaxTTL: 60 * time.Minute}, Options{Limit: func(context.Context, string, bool) error {
		limited++
		return nil
	}})
	cases := []struct {
		name, ctype, body string
		status            int
		code              string
		ttl               time.Duration
	}{
		{"no body", "", "", 200, "", time.Hour},
		{"empty object", "application/json", `{}`, 200, "", time.Hour},
		{"null ttl", "application/json", `{"ttlMinutes":null}`, 200, "", time.Hour},
		{"one minute", "application/json", `{"ttlMinutes":1}`, 200, "", time.Minute},
		{"the max", "application/json", `{"ttlMinutes":60}`, 200, "", time.Hour},
		{"zero", "application/json", `{"ttlMinutes":0}`, 400, httpapi.CodeInvalidRequest, 0},
		{"negative", "application/json", `{"ttlMinutes":-5}`, 400, httpapi.CodeInvalidRequest, 0},
		{"fractional", "application/json", `{"ttlMinutes":1.5}`, 400, httpapi.CodeInvalidRequest, 0},
		{"exponent", "application/json", `{"ttlMinutes":1e1}`, 400, httpapi.CodeInvalidRequest, 0},
		{"over the max", "application/json", `{"ttlMinutes":61}`, 400, httpapi.CodeInvalidRequest, 0},
		{"over a day", "application/json", `{"ttlMinutes":1441}`, 400, httpapi.CodeInvalidRequest, 0},
		{"huge", "application/json", `{"ttlMinutes":99999999999999999999}`, 400, httpapi.CodeInvalidRequest, 0},
		{"string", "application/json", `{"ttlMinutes":"60"}`, 400, httpapi.CodeInvalidRequest, 0},
		{"unknown field", "application/json", `{"ttl":60}`, 400, httpapi.CodeUnknownField, 0},
		{"not json", "application/json", `ttl=60`, 400, httpapi.CodeInvalidJSON, 0},
		{"wrong content type", "text/plain", `{"ttlMinutes":5}`, 415, httpapi.CodeUnsupportedMediaType, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := limited
			w := serve(s, tc.ctype, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				var p httpapi.Problem
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code != tc.code || w.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("want a %s problem, got %s", tc.code, w.Body)
				}
				if limited != before {
					t.Error("bad input was counted against the quota")
				}
				return
			}
			if limited != before+1 {
				t.Error("the Limit hook was not asked")
			}
			var c Credentials
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			if !c.ExpiresOn.Equal(t0.Add(tc.ttl)) || len(c.ICEServers) != 2 || c.ICEServers[0].Credential == "" {
				t.Errorf("answer %s, want expiry %v", w.Body, t0.Add(tc.ttl))
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q: credentials must not be cached", cc)
			}
		})
	}
}

func TestRelayRouteNotConfigured(t *testing.T) {
	s, err := NewService(Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := serve(s, "", "")
	var p httpapi.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 501 || p.Code != httpapi.CodeNotConfigured || !strings.Contains(p.Detail, "TURN_URLS") {
		t.Errorf("want 501 not-configured naming TURN_URLS, got %d %s", w.Code, w.Body)
	}
}

func TestRelayRouteOverQuota(t *testing.T) {
	s := newService(t, Config{}, Options{Limit: func(context.Context, string, bool) error {
		p := httpapi.NewProblem(http.StatusTooManyRequests, "rate-limited", "relay credentials: at most 60 per hour")
		p.RetryAfter = 42
		return p
	}})
	w := serve(s, "", "")
	if w.Code != 429 || w.Header().Get("Retry-After") != "42" || !strings.Contains(w.Body.String(), `"rate-limited"`) {
		t.Errorf("the Limit hook's 429 must reach the caller with Retry-After: %d %v %s", w.Code, w.Header(), w.Body)
	}
}
