package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/funchost"
)

// strictHandler starts one more handler process on the shared stack's
// Table Storage and emulators, with the production egress rule (no
// loopback targets), as a second instance of the app in Azure would be.
func strictHandler(t *testing.T) *funchost.Host {
	t.Helper()
	app, err := funchost.Load(st.AppDir)
	if err != nil {
		t.Fatal(err)
	}
	env := append(append([]string(nil), st.Env...), "PUSH_ALLOW_LOOPBACK_TARGETS=false")
	h, err := funchost.Start(context.Background(), app, funchost.Options{Env: env, Stdout: &logs, Stderr: &logs, ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func hostClient(t *testing.T, h *funchost.Host, userID string) *client {
	t.Helper()
	tok, err := st.Token(userID, "")
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: h.URL(), token: tok}
}

// TestEgressRefusedAtRegistration: every private, loopback and metadata
// form of a webhook URL or Web Push endpoint is refused with 400
// url-not-allowed by two handler processes sharing one Table Storage, and
// nothing is stored; the loopback forms are accepted only where
// PUSH_ALLOW_LOOPBACK_TARGETS is on (the shared stack), the rest nowhere.
func TestEgressRefusedAtRegistration(t *testing.T) {
	a, b := strictHandler(t), strictHandler(t)
	handlerPort := portOf(t, a.HandlerURL())
	_, sub, err := st.Push.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url      string
		loopback bool // accepted when PUSH_ALLOW_LOOPBACK_TARGETS is on
	}{
		{"http://127.0.0.1:" + handlerPort + "/internal", true},
		{"https://127.0.0.1:" + handlerPort + "/internal", true},
		{"http://localhost:" + handlerPort + "/housekeeping", true},
		{"https://localhost./housekeeping", true},
		{"http://[::1]:" + handlerPort + "/internal", true},
		{sub.Endpoint, true}, // the Web Push emulator, on loopback
		{"https://169.254.169.254/metadata", false},
		{"http://169.254.169.254/metadata/identity/oauth2/token", false},
		{"https://168.63.129.16/machine", false},
		{"https://metadata.google.internal/computeMetadata/v1/", false},
		{"https://[::ffff:127.0.0.1]:" + handlerPort + "/", false},
		{"https://[::ffff:a9fe:a9fe]/metadata", false},
		{"https://[64:ff9b::7f00:1]/", false},
		{"https://[2002:a9fe:a9fe::1]/", false},
		{"http://2130706433:" + handlerPort + "/", false},
		{"https://0x7f.1/", false},
		{"https://0177.0.0.1/", false},
		{"https://127.1/", false},
		{"https://10.0.0.1/", false},
		{"https://172.16.5.4/", false},
		{"https://192.168.1.1/", false},
		{"https://100.64.0.1/", false},
		{"https://[fd00::1]/", false},
		{"https://[fe80::1]/", false},
		{"https://[ff02::1]/", false},
		{"https://0.0.0.0/", false},
		{"https://[::]/", false},
		{"https://224.0.0.1/", false},
		{"https://255.255.255.255/", false},
		{"http://example.com/hook", false},
		{"https://user:pass@example.com/hook", false},
		{"ftp://example.com/hook", false},
		{"https://wireserver/", false},
	}
	register := func(c *client, provider, target string) response {
		c.t.Helper()
		body := `{"provider":"webhook","url":` + quote(target) + `}`
		if provider == "webpush" {
			s := sub
			s.Endpoint = target
			j, _ := json.Marshal(s)
			body = `{"provider":"webpush","subscription":` + string(j) + `}`
		}
		return c.do("PUT", "/api/devices/"+provider+"-"+uuid.NewString()[:8], body)
	}
	users := map[string]*client{
		"strict a": hostClient(t, a, "egress-mallory"),
		"strict b": hostClient(t, b, "egress-mallory"),
		"dev":      userClient(t, st, "egress-mallory", ""),
	}
	acsID := users["strict a"].ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	for _, tc := range cases {
		for _, provider := range []string{"webhook", "webpush"} {
			field := map[string]string{"webhook": "url", "webpush": "subscription.endpoint"}[provider]
			for name, c := range users {
				r := register(c, provider, tc.url)
				if name == "dev" && tc.loopback {
					if r.status != 201 {
						t.Errorf("%s %s on the dev stack: %d %s", provider, tc.url, r.status, r.body)
					}
					continue
				}
				if r.status != 400 {
					t.Errorf("%s %s on %s: %d %s", provider, tc.url, name, r.status, r.body)
					continue
				}
				p := r.problem(t, 400, "url-not-allowed")
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["field"] != field {
					t.Errorf("%s %s on %s: errors %v", provider, tc.url, name, p["errors"])
				}
			}
		}
	}
	// Web Push endpoints must also be on a push service in WEBPUSH_ALLOWED_HOSTS.
	register(users["strict a"], "webpush", "https://push.example.com/x").problem(t, 400, "url-not-allowed")
	register(users["dev"], "webpush", "https://push.example.com/x").problem(t, 400, "url-not-allowed")

	// Only the dev stack's loopback registrations were stored, and every
	// process sees the same ones.
	want := 0
	for _, tc := range cases {
		if tc.loopback {
			want += 2
		}
	}
	for name, c := range users {
		if l := c.ok("GET", "/api/devices", "", 200)["value"].([]any); len(l) != want {
			t.Errorf("%s lists %d devices, want %d", name, len(l), want)
		}
	}
	if n := countRows(t, st, "devices", acsID); n != want {
		t.Errorf("%d device rows stored, want %d", n, want)
	}
}

// TestEgressRefusedAtSendByAnotherProcess: devices stored by one process
// are judged again when another process sends. A webhook and a Web Push
// subscription on loopback, registered where loopback is allowed, get
// nothing from a strict process handling the call; the invocation is not
// failed for it (a refusal is permanent), and the same devices get the
// next call through the dev process.
func TestEgressRefusedAtSendByAnotherProcess(t *testing.T) {
	strict := strictHandler(t)
	bob := userClient(t, st, "egress-bob", "")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"].(string)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))
	subID, sub, err := st.Push.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	subJSON, _ := json.Marshal(sub)
	bob.ok("PUT", "/api/devices/browser", `{"provider":"webpush","subscription":`+string(subJSON)+`}`, 201)

	ctx := context.Background()
	if err := strict.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), bobID, "8:acs:caller")); err != nil {
		t.Fatalf("a refused target must not fail the invocation: %v", err)
	}
	if n, m := len(st.Push.Received(hookID)), len(st.Push.Received(subID)); n != 0 || m != 0 {
		t.Fatalf("the strict process pushed to loopback: webhook %d, web push %d", n, m)
	}
	if err := st.Host.DeliverEventGrid(ctx, "callevents", incomingCall(uuid.NewString(), bobID, "8:acs:caller")); err != nil {
		t.Fatal(err)
	}
	if n, m := len(st.Push.Received(hookID)), len(st.Push.Received(subID)); n != 1 || m != 1 {
		t.Fatalf("the dev process: webhook %d, web push %d pushes", n, m)
	}
}

func portOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		t.Fatalf("no port in %q", raw)
	}
	return u.Port()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return strings.TrimSpace(string(b))
}
