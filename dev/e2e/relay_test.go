package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"switchboard/dev/stack"
	"switchboard/dev/turnserver"
)

type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

type relayCredentials struct {
	ExpiresOn  time.Time   `json:"expiresOn"`
	ICEServers []iceServer `json:"iceServers"`
}

func (c *client) relay(body string) relayCredentials {
	c.t.Helper()
	r := c.do("POST", "/api/relay", body)
	if r.status != 200 {
		c.t.Fatalf("POST /api/relay %s: %d %s", body, r.status, r.body)
	}
	var rc relayCredentials
	if err := json.Unmarshal(r.body, &rc); err != nil {
		c.t.Fatal(err)
	}
	if len(rc.ICEServers) == 0 || rc.ICEServers[0].Username == "" || rc.ICEServers[0].Credential == "" {
		c.t.Fatalf("no TURN credential in %s", r.body)
	}
	return rc
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// allocate asks coturn for a relay with the credential.
func allocate(t *testing.T, addr, username, password string) (net.PacketConn, error) {
	t.Helper()
	c, err := turnserver.NewClient(addr, username, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.Allocate()
}

// unauthorized reports whether err is coturn's 401 answer to an allocation.
func unauthorized(err error) bool {
	var te *stun.TurnError
	return errors.As(err, &te) && te.ErrorCodeAttr.Code == stun.CodeUnauthorized
}

// TestRelayCredentialsOnCoturn: credentials from POST /api/relay, through the
// built handler behind the host stand-in, allocate relays on a real coturn
// (Debian's) that two clients exchange packets through; coturn itself
// refuses expired and tampered credentials, and accepts one signed with the
// previous secret exactly as long as it is configured with it.
func TestRelayCredentialsOnCoturn(t *testing.T) {
	if _, err := turnserver.Binary(); err != nil {
		t.Fatal(err) // `make test` installs coturn; a silent skip would hide the check
	}
	ctx := context.Background()
	current, previous := randomSecret(t), randomSecret(t)
	ts, err := turnserver.Start(ctx, turnserver.Options{Secrets: []string{current, previous}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = ts.Close() // first: coturn's stdout is block-buffered until it exits
		if t.Failed() {
			t.Logf("coturn log (tail):\n%s", tail(ts.Log(), 4000))
		}
	}()
	s, err := stack.Start(ctx, stack.Options{Binary: binary, Stdout: &logs, Stderr: &logs, Env: []string{
		"TURN_URLS=" + strings.Join(ts.URLs(), ","),
		"TURN_SHARED_SECRET=" + current,
		"TURN_SHARED_SECRET_PREVIOUS=" + previous,
		"TURN_TTL_MINUTES=30",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := ts.Addr()

	alice := userClient(t, s, "relay-alice@example.com", "Alice")
	bob := userClient(t, s, "relay-bob@example.com", "Bob")
	for _, body := range []string{`{"ttlMinutes":0}`, `{"ttlMinutes":-1}`, `{"ttlMinutes":1.5}`, `{"ttlMinutes":31}`, `{"ttlMinutes":"5"}`} {
		alice.do("POST", "/api/relay", body).problem(t, 400, "invalid-request")
	}
	(&client{t: t, base: s.URL()}).do("POST", "/api/relay", "").problem(t, 401, "unauthenticated")

	before := time.Now().Truncate(time.Second)
	a := alice.relay(`{"ttlMinutes":10}`)
	after := time.Now()
	if a.ExpiresOn.Before(before.Add(10*time.Minute)) || a.ExpiresOn.After(after.Add(10*time.Minute)) {
		t.Errorf("expiresOn %v, want 10 minutes from now", a.ExpiresOn)
	}
	turnEntry := a.ICEServers[0]
	if strings.Join(turnEntry.URLs, ",") != strings.Join(ts.URLs()[:2], ",") {
		t.Errorf("TURN urls %v, want %v", turnEntry.URLs, ts.URLs()[:2])
	}
	if len(a.ICEServers) != 2 || strings.Join(a.ICEServers[1].URLs, ",") != ts.URLs()[2] || a.ICEServers[1].Credential != "" {
		t.Errorf("want a credential-less STUN entry second: %+v", a.ICEServers)
	}
	expiry, userPart, _ := strings.Cut(turnEntry.Username, ":")
	if expiry != strconv.FormatInt(a.ExpiresOn.Unix(), 10) {
		t.Errorf("username %q does not start with the expiry %d", turnEntry.Username, a.ExpiresOn.Unix())
	}
	if strings.Contains(strings.ToLower(turnEntry.Username), "alice") || strings.Contains(turnEntry.Username, "example") {
		t.Errorf("username %q shows the app user id", turnEntry.Username)
	}
	if again := alice.relay(""); !strings.HasSuffix(again.ICEServers[0].Username, ":"+userPart) {
		t.Errorf("the user part is not stable: %q then %q", turnEntry.Username, again.ICEServers[0].Username)
	} else if again.ExpiresOn.Sub(a.ExpiresOn) < 19*time.Minute {
		t.Errorf("no ttlMinutes: want TURN_TTL_MINUTES (30), got expiry %v", again.ExpiresOn)
	}
	b := bob.relay("")
	if strings.HasSuffix(b.ICEServers[0].Username, ":"+userPart) {
		t.Error("alice and bob share a user part")
	}

	t.Run("two clients exchange packets through coturn", func(t *testing.T) {
		ra, err := allocate(t, addr, turnEntry.Username, turnEntry.Credential)
		if err != nil {
			t.Fatalf("alice's allocation: %v", err)
		}
		rb, err := allocate(t, addr, b.ICEServers[0].Username, b.ICEServers[0].Credential)
		if err != nil {
			t.Fatalf("bob's allocation: %v", err)
		}
		// A relay forwards only from peers it has a permission for; pion's
		// WriteTo creates the permission before sending. Bob's first packet
		// opens his side (alice's relay has no permission yet and drops it).
		if _, err := rb.WriteTo([]byte("open"), ra.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		exchange(t, ra, rb, "hello bob, via coturn")
		exchange(t, rb, ra, "hello alice, via coturn")
	})

	t.Run("expired credential is refused by coturn", func(t *testing.T) {
		u, p, err := turn.GenerateLongTermTURNRESTCredentials(current, userPart, -time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := allocate(t, addr, u, p); !unauthorized(err) {
			t.Errorf("want 401 from coturn, got %v", err)
		}
	})

	t.Run("tampered credentials are refused by coturn", func(t *testing.T) {
		later := strconv.FormatInt(a.ExpiresOn.Unix()+86400, 10) + ":" + userPart
		if _, err := allocate(t, addr, later, turnEntry.Credential); !unauthorized(err) {
			t.Errorf("a later expiry with the same password: want 401, got %v", err)
		}
		otherUser := expiry + ":" + strings.TrimPrefix(b.ICEServers[0].Username, strings.Split(b.ICEServers[0].Username, ":")[0]+":")
		if _, err := allocate(t, addr, otherUser, turnEntry.Credential); !unauthorized(err) {
			t.Errorf("bob's user part with alice's password: want 401, got %v", err)
		}
		pw := []byte(turnEntry.Credential)
		pw[0] ^= 1
		if _, err := allocate(t, addr, turnEntry.Username, string(pw)); !unauthorized(err) {
			t.Errorf("a changed password: want 401, got %v", err)
		}
	})

	// A credential signed with the old secret (issued before Switchboard
	// switched to the new one) works while coturn still has the old secret.
	oldU, oldP, err := turn.GenerateLongTermTURNRESTCredentials(previous, userPart, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("previous secret accepted while configured", func(t *testing.T) {
		if _, err := allocate(t, addr, oldU, oldP); err != nil {
			t.Errorf("credential signed with the previous secret: %v", err)
		}
	})

	if err := ts.Restart(ctx, []string{current}); err != nil {
		t.Fatalf("restart coturn with the current secret only: %v", err)
	}
	t.Run("previous secret refused once removed", func(t *testing.T) {
		if _, err := allocate(t, addr, oldU, oldP); !unauthorized(err) {
			t.Errorf("want 401 from coturn after the old secret was removed, got %v", err)
		}
	})
	t.Run("Switchboard's credentials still allocate after the rotation", func(t *testing.T) {
		c := alice.relay(`{"ttlMinutes":1}`).ICEServers[0]
		if _, err := allocate(t, addr, c.Username, c.Credential); err != nil {
			t.Errorf("credential signed with the current secret: %v", err)
		}
	})
}

// exchange sends msg from one relay to the other and reads it there.
func exchange(t *testing.T, from, to net.PacketConn, msg string) {
	t.Helper()
	if _, err := from.WriteTo([]byte(msg), to.LocalAddr()); err != nil {
		t.Fatalf("send through %v: %v", from.LocalAddr(), err)
	}
	buf := make([]byte, 1500)
	// The bound only keeps a lost packet from hanging the test.
	_ = to.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, src, err := to.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%v received nothing from %v: %v", to.LocalAddr(), from.LocalAddr(), err)
		}
		if !bytes.Equal(buf[:n], []byte(msg)) {
			continue // bob's "open" packet, if alice's relay let it through
		}
		if src.String() != from.LocalAddr().String() {
			t.Errorf("the packet came from %v, want alice's relay %v", src, from.LocalAddr())
		}
		return
	}
}

func TestRelayRoute(t *testing.T) {
	// The shared stack has no TURN_URLS: the route says what enables it.
	alice := userClient(t, st, "relay-nobody", "")
	m := alice.do("POST", "/api/relay", "").problem(t, 501, "not-configured")
	if d, _ := m["detail"].(string); !strings.Contains(d, "TURN_URLS") {
		t.Errorf("501 must name TURN_URLS: %v", m)
	}
	anon := &client{t: t, base: st.URL()}
	anon.do("POST", "/api/relay", "").problem(t, 401, "unauthenticated")
}

func TestBadTURNURLExits2(t *testing.T) {
	for _, bad := range []string{"https://turn.example.com", "turn://turn.example.com:3478", "turn:turn.example.com:3478?transport=sctp"} {
		t.Run(bad, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, st.Env...)
			cmd.Env = append(cmd.Env, "FUNCTIONS_CUSTOMHANDLER_PORT=1", "TURN_URLS=turn:ok.example.com,"+bad, "TURN_SHARED_SECRET="+randomSecret(t))
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, output %s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "TURN_URLS") || !strings.Contains(lines[0], bad) {
				t.Fatalf("want one line naming TURN_URLS and %q, got %q", bad, out)
			}
		})
	}
}

func TestRelayQuota(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Env: []string{
		"TURN_URLS=turn:turn.example.com:3478", "TURN_SHARED_SECRET=" + randomSecret(t), "QUOTA_RELAY_PER_HOUR=3",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice := userClient(t, s, "relay-quota-alice", "")
	for range 3 {
		alice.ok("POST", "/api/relay", "", 200)
	}
	r := alice.do("POST", "/api/relay", "")
	if p := r.problem(t, 429, "rate-limited"); p["quota"] != "relay-credentials" || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the relay quota: %v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	userClient(t, s, "relay-quota-bob", "").ok("POST", "/api/relay", "", 200) // another user is unaffected
}
