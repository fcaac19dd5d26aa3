package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/dev/appdir"
	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

var (
	st   *stack.Stack
	con  *Server
	logs lockedBuffer
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	repo, err := appdir.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "switchboard-console-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary := filepath.Join(dir, appdir.BinaryName)
	if err := appdir.Build(ctx, repo, binary, appdir.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err = stack.Start(ctx, stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs, Journal: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start stack:", err)
		return 1
	}
	defer st.Close()
	if con, err = Start(st, "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "start console:", err)
		return 1
	}
	defer con.Close()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- handler log (tail) ---\n%s\n", tail(logs.String(), 4000))
	}
	return code
}

func TestStartRefusesNonLoopback(t *testing.T) {
	if s, err := Start(st, "0.0.0.0:0"); err == nil {
		s.Close()
		t.Fatal("the console must bind loopback only")
	}
}

// consoleAPI calls the console's JSON API.
func consoleAPI(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, strings.TrimSuffix(con.URL(), "/")+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAPIRefusesBadRequests(t *testing.T) {
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/console/api/token", map[string]string{}, 400},
		{"POST", "/console/api/token", map[string]string{"userId": "x", "nope": "y"}, 400},
		{"POST", "/console/api/ring", map[string]string{"to": "nobody-at-all"}, 400},
		{"POST", "/console/api/devices", map[string]string{"as": "x", "deviceId": "d", "provider": "pager"}, 400},
		{"POST", "/console/api/calls/no-such-call/events", map[string]string{"type": "CallStarted"}, 404},
		{"POST", "/console/api/calls/x/events", map[string]string{"type": "CallExploded"}, 400},
		{"POST", "/console/api/phone/call", map[string]string{"from": "12", "to": "+14255550199"}, 400},
		{"POST", "/console/api/phone/connections/none/keys", map[string]string{"keys": "1"}, 409},
		{"GET", "/console/api/nothing", nil, 404},
	} {
		status, b := consoleAPI(t, c.method, c.path, c.body)
		var e struct{ Error string }
		if status != c.status || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %s, want %d with an error", c.method, c.path, status, b, c.status)
		}
	}
}

func TestOtherOriginsAreKeptOut(t *testing.T) {
	post := func(host, contentType string) int {
		req, _ := http.NewRequest("POST", strings.TrimSuffix(con.URL(), "/")+"/console/api/token", strings.NewReader(`{"userId":"x"}`))
		if host != "" {
			req.Host = host
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("", "text/plain"); got != http.StatusUnsupportedMediaType {
		t.Errorf("a form-like POST (no preflight from another origin): %d, want 415", got)
	}
	if got := post("attacker.example:7700", "application/json"); got != http.StatusForbidden {
		t.Errorf("a rebound host name: %d, want 403", got)
	}
	if got := post("localhost:7700", "application/json; charset=utf-8"); got != http.StatusOK {
		t.Errorf("localhost with JSON: %d, want 200", got)
	}
}

func TestMintedTokenIsAcceptedByTheHandler(t *testing.T) {
	status, b := consoleAPI(t, "POST", "/console/api/token", TokenRequest{UserID: "tok-test", Name: "Tok Test"})
	var tok TokenAnswer
	if status != 200 || json.Unmarshal(b, &tok) != nil || tok.Token == "" || !strings.Contains(tok.Curl, tok.Token) {
		t.Fatalf("mint: %d %s", status, b)
	}
	req, _ := http.NewRequest("GET", st.URL()+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	me, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(me), `"userId":"tok-test"`) {
		t.Fatalf("GET /api/me with the console's token: %d %s", resp.StatusCode, me)
	}
}

// TestConsoleInBrowser drives the console in Debian's chromium with
// playwright-core (test/console.mjs): one test per tab's main action.
func TestConsoleInBrowser(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatalf("chromium is missing (%v): run make test, it installs chromium", err)
		}
		chromium = p
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: %v", err)
	}
	repo, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "dev", "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is not installed: run make test (or make deps), it installs dev/package.json")
	}
	env := append(os.Environ(), "CONSOLE_URL="+con.URL(), "FUNCTION_APP_URL="+st.URL(), "CHROMIUM="+chromium)
	if os.Getenv("SCREENSHOTS") == "1" {
		env = append(env, "SCREENSHOTS_DIR="+filepath.Join(repo, "dev", "console", "screenshots"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("console", "test", "console.mjs"))
	cmd.Dir = filepath.Join(repo, "dev")
	cmd.Env = env
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the browser test failed (%v):\n%s", err, out.String())
	}
	t.Logf("browser test:\n%s", out.String())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func TestPhoneTabOnlyWithItsCapabilities(t *testing.T) {
	status, b := consoleAPI(t, "GET", "/console/api/overview", nil)
	var o Overview
	if status != 200 || json.Unmarshal(b, &o) != nil || !o.Capabilities["bots"] || !o.Capabilities["sms"] || !o.Journal {
		t.Fatalf("the test stack has bots, SMS and a journal: %d %s", status, b)
	}
	bare := &Server{st: st, env: map[string]string{}}
	v, err := bare.overview(nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps := v.(Overview).Capabilities; caps["bots"] || caps["sms"] {
		t.Errorf("without ACS_PSTN_CALLER_ID and ACS_SMS_FROM the Phone tab's capabilities are off: %v", caps)
	}
}

// A guest's text that did not come from the console (make run's demo, a
// test) still shows in its conversation, once, with the sender's +.
func TestTextsBackNotSentFromTheConsoleShow(t *testing.T) {
	const guest, msg = "+14255550911", "texted from elsewhere"
	id, err := st.ACS.ReceiveSMS(context.Background(), guest, stack.SMSFrom, msg)
	if err != nil {
		t.Fatal(err)
	}
	status, b := consoleAPI(t, "GET", "/console/api/phone", nil)
	var v PhoneView
	if status != 200 || json.Unmarshal(b, &v) != nil {
		t.Fatalf("phone: %d %s", status, b)
	}
	var got []Text
	for _, c := range v.Conversations {
		if c.Phone == guest {
			got = c.Texts
		}
	}
	if len(got) != 1 || got[0].Direction != "in" || got[0].Message != msg || got[0].MessageID != id {
		t.Fatalf("conversation with %s: %+v, want the one text in", guest, got)
	}
}

func TestReceivedTextsReadBothSchemas(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entries := []funchost.JournalEntry{
		{Kind: "eventgrid", At: at, EventTypes: []string{smsReceived},
			Request: `[{"eventType":"Microsoft.Communication.SMSReceived","eventTime":"2026-01-02T03:04:05Z","data":{"MessageId":"m1","From":"14255550100","To":"+18005550100","Message":"hi"}}]`},
		{Kind: "eventgrid", At: at, EventTypes: []string{smsReceived},
			Request: `{"type":"Microsoft.Communication.SMSReceived","data":{"messageId":"m2","from":"+14255550101","to":"+18005550100","message":"yo","receivedTimestamp":"2026-01-02T03:04:06Z"}}`},
		{Kind: "eventgrid", At: at, EventTypes: []string{smsReceived}, Request: `[{"eventType":"Microsoft.Communication.SMSRec`, Truncated: true},
		{Kind: "http", At: at, Request: `[{"eventType":"Microsoft.Communication.SMSReceived","data":{"MessageId":"m3"}}]`},
	}
	got := receivedTexts(entries)
	if len(got) != 2 || got[0].From != "+14255550100" || got[0].Message != "hi" || !got[0].At.Equal(at) ||
		got[1].MessageID != "m2" || got[1].From != "+14255550101" || !got[1].At.Equal(at.Add(time.Second)) {
		t.Fatalf("received texts: %+v", got)
	}
}
