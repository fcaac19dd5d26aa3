package relay

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
)

const (
	secret    = "turn-secret-0123456789"
	newSecret = "turn-secret-rotated-9876"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newService(t *testing.T, cfg Config, opts Options) *Service {
	t.Helper()
	if cfg.URLs == nil {
		cfg.URLs = []string{"turn:turn.example.com:3478?transport=udp", "stun:turn.example.com:3478", "turns:turn.example.com:443?transport=tcp"}
	}
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	s, err := NewService(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sign must agree with pion/turn's own TURN REST API generator, an
// implementation written apart from ours.
func TestSignMatchesPion(t *testing.T) {
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(secret, "someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts, user, _ := strings.Cut(username, ":")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	u, p := Sign([]byte(secret), time.Unix(unix, 0), user)
	if u != username || p != password {
		t.Errorf("Sign = %q %q, pion = %q %q", u, p, username, password)
	}
}

func TestIssue(t *testing.T) {
	s := newService(t, Config{MaxTTL: 90 * time.Minute}, Options{})
	c, err := s.Issue(context.Background(), "alice@example.com", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(90 * time.Minute); !c.ExpiresOn.Equal(want) {
		t.Errorf("expiresOn %v, want %v (MaxTTL when none asked)", c.ExpiresOn, want)
	}
	if len(c.ICEServers) != 2 {
		t.Fatalf("iceServers %+v, want a TURN entry and a STUN entry", c.ICEServers)
	}
	tr, st := c.ICEServers[0], c.ICEServers[1]
	if strings.Join(tr.URLs, " ") != "turn:turn.example.com:3478?transport=udp turns:turn.example.com:443?transport=tcp" || tr.Username == "" || tr.Credential == "" {
		t.Errorf("TURN entry %+v", tr)
	}
	if strings.Join(st.URLs, " ") != "stun:turn.example.com:3478" || st.Username != "" || st.Credential != "" {
		t.Errorf("STUN entry %+v: STUN takes no credential", st)
	}
	ts, user, _ := strings.Cut(tr.Username, ":")
	if ts != strconv.FormatInt(c.ExpiresOn.Unix(), 10) {
		t.Errorf("username %q does not start with the expiry %d", tr.Username, c.ExpiresOn.Unix())
	}
	if user != s.UserPart("alice@example.com") || strings.Contains(tr.Username, "alice") {
		t.Errorf("username %q: the user part must be the opaque one", tr.Username)
	}
	if _, p := Sign([]byte(secret), c.ExpiresOn, user); p != tr.Credential {
		t.Errorf("credential %q is not the HMAC of the username under the secret", tr.Credential)
	}

	c, err = s.Issue(context.Background(), "alice@example.com", false, time.Minute)
	if err != nil || !c.ExpiresOn.Equal(t0.Add(time.Minute)) {
		t.Errorf("ttl 1 min: %+v %v", c, err)
	}
	for _, bad := range []time.Duration{-time.Minute, 91 * time.Minute} {
		if _, err := s.Issue(context.Background(), "alice", false, bad); err == nil {
			t.Errorf("Issue accepted ttl %v", bad)
		}
	}
	if _, err := s.Issue(context.Background(), "", false, 0); err == nil {
		t.Error("Issue accepted an empty user")
	}

	noSTUN := newService(t, Config{URLs: []string{"turn:127.0.0.1:3478"}}, Options{})
	if c, err := noSTUN.Issue(context.Background(), "alice", false, 0); err != nil || len(c.ICEServers) != 1 {
		t.Errorf("without stun: URLs there is one entry: %+v %v", c, err)
	}
}

func TestUserPart(t *testing.T) {
	s := newService(t, Config{}, Options{})
	a, b := s.UserPart("alice"), s.UserPart("bob")
	if a != s.UserPart("alice") {
		t.Error("the user part is not stable")
	}
	if a == b {
		t.Error("two users share a user part")
	}
	if len(a) != 22 || strings.ContainsAny(a, ":+/=") {
		t.Errorf("user part %q: want 22 base64url characters", a)
	}

	// Without TURN_USER_KEY the part follows the secret; with it, a rotation
	// of the secret leaves every user part as it was.
	rotated := newService(t, Config{Secret: newSecret}, Options{})
	if rotated.UserPart("alice") == a {
		t.Error("the derived user key does not depend on the secret")
	}
	keyed := newService(t, Config{UserKey: "user-key-0123456789abcdef"}, Options{})
	keyedRotated := newService(t, Config{Secret: newSecret, UserKey: "user-key-0123456789abcdef"}, Options{})
	if keyed.UserPart("alice") != keyedRotated.UserPart("alice") {
		t.Error("with a user key, rotating the secret changed the user part")
	}
	if keyed.UserPart("alice") == a {
		t.Error("the user key is not used")
	}
}

func TestLimitHook(t *testing.T) {
	var got []string
	over := errors.New("over quota")
	s := newService(t, Config{}, Options{Limit: func(_ context.Context, userID string, service bool) error {
		got = append(got, userID+":"+strconv.FormatBool(service))
		if userID == "greedy" {
			return over
		}
		return nil
	}})
	if _, err := s.Issue(context.Background(), "alice", false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(context.Background(), "bob", true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(context.Background(), "greedy", false, 0); !errors.Is(err, over) {
		t.Errorf("the Limit error must be returned as is, got %v", err)
	}
	if strings.Join(got, ",") != "alice:false,bob:true,greedy:false" {
		t.Errorf("Limit calls %v", got)
	}
}

func TestNewServiceRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no secret":          {URLs: []string{"turn:a.example.com"}},
		"stun only":          {URLs: []string{"stun:a.example.com"}, Secret: secret},
		"unknown scheme":     {URLs: []string{"http://a.example.com"}, Secret: secret},
		"fractional minutes": {URLs: []string{"turn:a.example.com"}, Secret: secret, MaxTTL: 90 * time.Second},
	} {
		if _, err := NewService(cfg, Options{}); err == nil {
			t.Errorf("%s: NewService accepted %+v", name, cfg)
		}
	}
	s, err := NewService(Config{}, Options{})
	if err != nil || s.Configured() {
		t.Errorf("no URLs: a service that is not configured, got %v %v", s, err)
	}
}

// pionServer runs pion's TURN server with the TURN REST API auth handler for
// secret, relaying on loopback, and returns its address.
func pionServer(t *testing.T, secret string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         "switchboard.test",
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(secret, quiet.NewLogger("auth")),
		LoggerFactory: quiet,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return pc.LocalAddr().String()
}

// allocate asks the TURN server at addr for a relay with a credential.
func allocate(t *testing.T, addr, username, password string) (net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, LoggerFactory: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c.Allocate()
}

// refused reports whether the TURN server answered with an authentication
// error. pion answers 400 where RFC 8489 §9.2.4 says 401 (coturn does; the
// tests in dev/e2e check that); the valid credential allocating on the same
// server shows the refusal is the credential's.
func refused(err error) bool {
	var te *stun.TurnError
	return errors.As(err, &te) && (te.ErrorCodeAttr.Code == stun.CodeUnauthorized || te.ErrorCodeAttr.Code == stun.CodeBadRequest)
}

// The issue's own check: a pion TURN server configured with the same secret
// takes Switchboard's credentials and refuses expired and tampered ones.
func TestCredentialsAllocateOnPion(t *testing.T) {
	addr := pionServer(t, secret)
	now := time.Now()
	s := newService(t, Config{URLs: []string{"turn:" + addr + "?transport=udp"}}, Options{Now: func() time.Time { return now }})
	c, err := s.Issue(context.Background(), "alice", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	ice := c.ICEServers[0]
	relayConn, err := allocate(t, addr, ice.Username, ice.Credential)
	if err != nil {
		t.Fatalf("allocate with Switchboard's credential: %v", err)
	}
	if ip := relayConn.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relayed address %v", relayConn.LocalAddr())
	}

	expired := newService(t, Config{URLs: []string{"turn:" + addr}}, Options{Now: func() time.Time { return now.Add(-2 * time.Hour) }})
	old, err := expired.Issue(context.Background(), "alice", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, addr, old.ICEServers[0].Username, old.ICEServers[0].Credential); !refused(err) {
		t.Errorf("expired credential: want it refused by the TURN server, got %v", err)
	}
	later := strings.Replace(ice.Username, strconv.FormatInt(c.ExpiresOn.Unix(), 10), strconv.FormatInt(c.ExpiresOn.Unix()+86400, 10), 1)
	if _, err := allocate(t, addr, later, ice.Credential); !refused(err) {
		t.Errorf("username with a later expiry and the old password: want it refused, got %v", err)
	}
	other, _ := Sign([]byte(secret), c.ExpiresOn, s.UserPart("bob"))
	if _, err := allocate(t, addr, other, ice.Credential); !refused(err) {
		t.Errorf("another user's name with alice's password: want it refused, got %v", err)
	}
	_, forged := Sign([]byte("not-the-secret-at-all"), c.ExpiresOn, s.UserPart("alice"))
	if _, err := allocate(t, addr, ice.Username, forged); !refused(err) {
		t.Errorf("password signed with another secret: want it refused, got %v", err)
	}
}
