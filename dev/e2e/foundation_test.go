package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"switchboard/dev/stack"
)

func TestHealth(t *testing.T) {
	anon := &client{t: t, base: st.URL()}
	if h := anon.ok("GET", "/api/health", "", 200); len(h) != 2 || h["status"] != "ok" || h["version"] == nil {
		t.Fatalf("health without credentials: %v, want only status and version", h)
	}
	svcTok, err := st.Issuer.MintService("health-monitor", "Switchboard.Service")
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: st.URL(), token: svcTok}
	h := c.ok("GET", "/api/health", "", 200)
	if h["status"] != "ok" {
		t.Fatalf("health: %v", h)
	}
	deps, _ := h["dependencies"].(map[string]any)
	for _, name := range []string{"storage", "auth"} {
		d, ok := deps[name].(map[string]any)
		if !ok || d["status"] != "ok" {
			t.Errorf("dependency %s: %v", name, deps[name])
		}
	}
}

func TestMeReturnsCallerFromToken(t *testing.T) {
	c := userClient(t, st, "me-user", "Mia Example")
	me := c.ok("GET", "/api/me", "", 200)
	if me["userId"] != "me-user" || me["displayName"] != "Mia Example" {
		t.Fatalf("me: %v", me)
	}
}

func TestBadBearerTokens(t *testing.T) {
	good, err := st.Token("someone", "")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := st.Issuer.MintUser("someone", "", -time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, err := st.Issuer.MintUser("someone", "", time.Hour, map[string]any{"aud": "api://other"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	unsigned := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	cases := map[string]string{
		"missing":        "",
		"garbled":        "Bearer not-a-jwt",
		"expired":        "Bearer " + expired,
		"wrong audience": "Bearer " + wrongAud,
		"unsigned":       "Bearer " + unsigned,
		"tampered":       "Bearer " + tampered,
		"basic scheme":   "Basic YWxpY2U6c2VjcmV0",
	}
	for name, authz := range cases {
		t.Run(name, func(t *testing.T) {
			c := &client{t: t, base: st.URL(), hdr: map[string]string{}}
			if authz != "" {
				c.hdr["Authorization"] = authz
			}
			r := c.do("GET", "/api/me", "")
			r.problem(t, 401, "unauthenticated")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestBadRequestsGetProblems(t *testing.T) {
	c := userClient(t, st, "bad-input", "")
	c.do("POST", "/api/token", `{"scopes":`).problem(t, 400, "invalid-json")
	c.do("POST", "/api/token", `{"scopes":["voip"],"extra":1}`).problem(t, 400, "unknown-field")
	big := `{"scopes":["` + strings.Repeat("v", 70<<10) + `"]}`
	c.do("POST", "/api/token", big).problem(t, 413, "body-too-large")

	c.hdr = map[string]string{"Content-Type": "text/plain"}
	req := c.do("POST", "/api/token", `{"scopes":["voip"]}`)
	req.problem(t, 415, "unsupported-media-type")
}

func TestUnknownRouteThroughHost(t *testing.T) {
	// The host itself answers unknown routes (404, empty body), like the real host.
	resp, err := http.Get(st.URL() + "/api/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestHandlerDirectly(t *testing.T) {
	// Without the host in front, the handler answers 404/405 problems itself,
	// and envelopes for unknown functions or without Data are refused.
	c := &client{t: t, base: st.Host.HandlerURL()}
	c.do("GET", "/api/nope", "").problem(t, 404, "not-found")
	r := c.do("PUT", "/api/health", "")
	r.problem(t, 405, "method-not-allowed")
	if r.header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	c.do("POST", "/nosuchfunction", `{"Data":{},"Metadata":{}}`).problem(t, 404, "unknown-function")
	if resp := c.do("GET", "/", ""); resp.status != 200 {
		t.Errorf("readiness probe: %d", resp.status)
	}
}

func TestMissingSettingExits2(t *testing.T) {
	for _, missing := range []string{"AUTH_ISSUER", "STORAGE_CONNECTION_STRING", "FUNCTIONS_CUSTOMHANDLER_PORT"} {
		t.Run(missing, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FUNCTIONS_CUSTOMHANDLER_PORT=1"}
			for _, kv := range st.Env {
				cmd.Env = append(cmd.Env, kv)
			}
			var env []string
			for _, kv := range cmd.Env {
				if !strings.HasPrefix(kv, missing+"=") {
					env = append(env, kv)
				}
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, output %s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], missing) {
				t.Fatalf("want one line naming %s, got %q", missing, out)
			}
		})
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := userClient(t, s, "slow-user", "")
	c.ok("POST", "/api/token", "", 200)
	s.ACS.SetLatency(1500 * time.Millisecond)
	before := s.ACS.Requests("IssueAccessToken")
	done := make(chan response, 1)
	go func() { done <- c.do("POST", "/api/token", "") }()
	waitFor(t, 10*time.Second, func() bool { return s.ACS.Requests("IssueAccessToken") > before })
	// The request is now waiting on ACS's injected latency.
	if err := s.Host.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	if r.status != 200 {
		t.Fatalf("in-flight request: %d %s", r.status, r.body)
	}
	select {
	case <-s.Host.Exited():
	default:
		t.Fatal("handler still running after shutdown")
	}
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
