// Package e2e drives the real handler binary through the Functions host
// stand-in, against Azurite, the local OIDC issuer and the ACS emulator.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/dev/appdir"
	"switchboard/dev/stack"
)

var (
	st     *stack.Stack // shared by the tests that need no special settings
	binary string       // the handler, built once
	logs   lockedBuffer
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
	dir, err := os.MkdirTemp("", "switchboard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, appdir.BinaryName)
	if err := appdir.Build(ctx, repo, binary, appdir.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Bursts of first requests for one user (identity_test.go) send more
	// tokens, and the egress tests register more devices for one user, than
	// the default quotas allow; spend_test.go checks the defaults on a stack
	// of its own.
	st, err = stack.Start(ctx, stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs, Env: []string{"QUOTA_TOKENS_PER_MINUTE=100", "QUOTA_DEVICE_REGISTRATIONS_PER_DAY=1000"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start stack:", err)
		return 1
	}
	code := m.Run()
	// Every push the tests caused must match docs/openapi.yaml (pushcontract_test.go).
	if drift, err := pushDrift(st.Push.All()); err != nil || len(drift) > 0 {
		fmt.Fprintf(os.Stderr, "push payloads drift from docs/openapi.yaml (%v):\n  %s\n", err, strings.Join(drift, "\n  "))
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- handler log (tail) ---\n%s\n", tail(logs.String(), 6000))
	}
	if err := st.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stop stack:", err)
	}
	return code
}

// client is one app user (or service) calling the function app.
type client struct {
	t     *testing.T
	base  string
	token string
	hdr   map[string]string
}

func userClient(t *testing.T, s *stack.Stack, userID, name string) *client {
	t.Helper()
	tok, err := s.Token(userID, name)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: s.URL(), token: tok}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// problem checks r is an RFC 9457 problem with the given status and code.
func (r response) problem(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	m := r.json(t)
	if m["code"] != code {
		t.Fatalf("code %v, want %s: %s", m["code"], code, r.body)
	}
	if m["status"] != float64(status) || m["title"] == "" || m["type"] == "" {
		t.Fatalf("incomplete problem: %s", r.body)
	}
	return m
}

func (c *client) do(method, path, body string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	checkContract(c.t, req, body, resp, b)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) ok(method, path, body string, want int) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(c.t)
}

// lockedBuffer collects the handler's output from several goroutines.
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

// befriend makes two users mutual contacts, a asking and b accepting.
func befriend(t *testing.T, a *client, aID string, b *client, bID string) {
	t.Helper()
	if r := a.ok("PUT", "/api/contacts/"+url.PathEscape(bID), "", 200); r["state"] != "requested" && r["state"] != "mutual" {
		t.Fatalf("%s asks %s: %v", aID, bID, r)
	}
	if r := b.ok("PUT", "/api/contacts/"+url.PathEscape(aID), "", 200); r["state"] != "mutual" {
		t.Fatalf("%s accepts %s: %v", bID, aID, r)
	}
}
