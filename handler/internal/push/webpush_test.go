package push

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"switchboard/dev/appdir"
	"switchboard/handler/internal/egress"
)

func webPushSender(t *testing.T, guard *egress.Guard) *WebPushSender {
	t.Helper()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewWebPushSender(WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@example.com", AllowedHosts: loopbackHosts, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewWebPushSenderChecksKeys(t *testing.T) {
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	otherPriv, _, _ := webpush.GenerateVAPIDKeys()
	cases := []struct {
		name string
		cfg  WebPushConfig
		ok   bool
	}{
		{"pair", WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@example.com"}, true},
		{"https subject", WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "https://example.com/contact"}, true},
		{"mismatched", WebPushConfig{PublicKey: pub, PrivateKey: otherPriv, Subject: "mailto:ops@example.com"}, false},
		{"garbage key", WebPushConfig{PublicKey: pub, PrivateKey: "not a key!", Subject: "mailto:ops@example.com"}, false},
		{"bare address", WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "ops@example.com"}, false},
		{"missing", WebPushConfig{PublicKey: pub, Subject: "mailto:ops@example.com"}, false},
	}
	for _, tc := range cases {
		if _, err := NewWebPushSender(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestWebPushDeadline(t *testing.T) {
	e := emulators(t)
	s := webPushSender(t, devGuard(e))
	_, sub, err := e.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	d := Device{Provider: WebPush, Subscription: &WebPushSubscription{Endpoint: sub.Endpoint, Keys: sub.Keys}}
	e.SetLatency(3 * time.Second)
	defer e.SetLatency(0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Send(ctx, d, incoming()); !IsTransient(err) || time.Since(start) > time.Second {
		t.Fatalf("slow push service: %v after %s", err, time.Since(start))
	}
}

func TestWebPushStatuses(t *testing.T) {
	cases := []struct {
		status          int
		gone, transient bool
	}{
		{201, false, false}, {404, true, false}, {410, true, false}, {413, false, false}, {429, false, true}, {503, false, true},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
		s := webPushSender(t, egress.New(&egress.Options{AllowLoopback: true}))
		err := s.Send(context.Background(), Device{Provider: WebPush, Subscription: newTestSubscription(t, srv.URL, nil, nil)}, incoming())
		srv.Close()
		if (tc.status == 201) != (err == nil) || IsGone(err) != tc.gone || IsTransient(err) != tc.transient {
			t.Errorf("%d: %v", tc.status, err)
		}
	}
}

func newTestSubscription(t *testing.T, endpoint string, priv *ecdh.PrivateKey, auth []byte) *WebPushSubscription {
	t.Helper()
	if priv == nil {
		var err error
		if priv, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
		auth = make([]byte, 16)
		_, _ = rand.Read(auth)
	}
	s := &WebPushSubscription{Endpoint: endpoint}
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(auth)
	return s
}

// TestWebPushDecryptedByHTTPECE: what our sender posts is opened by the npm
// http_ece package (the reference implementation of RFC 8188) with the
// subscription's private key.
func TestWebPushDecryptedByHTTPECE(t *testing.T) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	var body []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	s := webPushSender(t, egress.New(&egress.Options{AllowLoopback: true}))
	n := incoming()
	if err := s.Send(context.Background(), Device{Provider: WebPush, Subscription: newTestSubscription(t, srv.URL+"/sub", priv, auth)}, n); err != nil {
		t.Fatal(err)
	}
	if hdr.Get("Content-Encoding") != "aes128gcm" || hdr.Get("TTL") != "30" || hdr.Get("Urgency") != "high" {
		t.Fatalf("headers %v", hdr)
	}
	out := runNode(t, "webpush.mjs", "http_ece", "MODE=decrypt",
		"BODY_B64="+base64.StdEncoding.EncodeToString(body),
		"PRIVATE_KEY_B64URL="+base64.RawURLEncoding.EncodeToString(priv.Bytes()),
		"AUTH_B64URL="+base64.RawURLEncoding.EncodeToString(auth))
	var got struct{ Plaintext string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := JSONBody(n, WebPushLimit)
	if got.Plaintext != string(want) {
		t.Fatalf("http_ece decrypted %q, want %q", got.Plaintext, want)
	}
}

// runNode runs dev/conformance/<script> and returns its stdout; it fails
// loudly when node or the npm package is missing.
func runNode(t *testing.T, script, pkg string, env ...string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: install Node.js 20+, then `npm ci` in dev/ (or `make deps`)")
	}
	root, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(root, "dev")
	if _, err := os.Stat(filepath.Join(dev, "node_modules", pkg, "package.json")); err != nil {
		t.Fatalf("npm package %s is missing: run `npm ci` in dev/ (or `make deps`)", pkg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dev, "conformance", script))
	cmd.Dir = dev
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s\n%s", script, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}
