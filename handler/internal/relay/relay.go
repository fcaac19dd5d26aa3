// Package relay issues TURN relay credentials (the TURN REST API that coturn,
// pion/turn and most TURN services implement) and the RTCIceServer list a
// WebRTC client passes to `new RTCPeerConnection`: username
// `<expiry unix time>:<opaque user part>`, password
// base64(HMAC-SHA1(shared secret, username)). Switchboard never talks to the
// TURN servers; they check the credential with the same secret.
package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is a credential's lifetime when neither the deployment nor the
// caller says otherwise. An allocation outlives its credential, so a call
// that started keeps its relay; only new allocations need a fresh one.
const DefaultTTL = time.Hour

// userKeyLabel separates the derived user-part key from the secret's other use.
const userKeyLabel = "switchboard/turn/user-part/v1"

// Config is a deployment's TURN setup.
type Config struct {
	// URLs are validated stun:, turn: and turns: URLs (config.ParseICEURLs).
	URLs []string
	// Secret signs every credential (TURN_SHARED_SECRET).
	Secret string
	// UserKey keys the opaque user part (TURN_USER_KEY); empty derives one
	// from Secret, so that rotating Secret changes every user part.
	UserKey string
	// MaxTTL is the default lifetime and the longest a caller may ask for.
	MaxTTL time.Duration
}

// Options are a Service's collaborators; the zero value is usable.
type Options struct {
	// Limit, when set, is asked before each issue; a non-nil error (a 429
	// problem from the quota package) is returned to the caller as is.
	Limit func(ctx context.Context, userID string, service bool) error
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service issues credentials. A Service built without URLs is "not
// configured": its route answers 501.
type Service struct {
	turnURLs, stunURLs []string
	secret             []byte
	userKey            []byte
	maxTTL             time.Duration
	opts               Options
}

// NewService checks cfg. An empty cfg.URLs gives a Service that is not configured.
func NewService(cfg Config, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, maxTTL: cfg.MaxTTL}
	if len(cfg.URLs) == 0 {
		return s, nil
	}
	if cfg.Secret == "" {
		return nil, errors.New("a shared secret is required with TURN URLs")
	}
	if s.maxTTL <= 0 {
		s.maxTTL = DefaultTTL
	}
	if s.maxTTL%time.Minute != 0 {
		return nil, fmt.Errorf("the longest lifetime %v is not whole minutes", s.maxTTL)
	}
	for _, u := range cfg.URLs {
		switch {
		case strings.HasPrefix(u, "turn:"), strings.HasPrefix(u, "turns:"):
			s.turnURLs = append(s.turnURLs, u)
		case strings.HasPrefix(u, "stun:"):
			s.stunURLs = append(s.stunURLs, u)
		default:
			return nil, fmt.Errorf("%q is not a stun:, turn: or turns: URL", u)
		}
	}
	if len(s.turnURLs) == 0 {
		return nil, errors.New("at least one turn: or turns: URL is required")
	}
	s.secret = []byte(cfg.Secret)
	s.userKey = []byte(cfg.UserKey)
	if cfg.UserKey == "" {
		s.userKey = mac(sha256.New, s.secret, userKeyLabel)
	}
	return s, nil
}

// Configured reports whether the deployment has TURN servers.
func (s *Service) Configured() bool { return len(s.turnURLs) > 0 }

// MaxTTL is the default and longest credential lifetime.
func (s *Service) MaxTTL() time.Duration { return s.maxTTL }

// ICEServer is one entry of an RTCIceServer list (W3C WebRTC).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Credentials is the answer of POST /api/relay.
type Credentials struct {
	ExpiresOn  time.Time   `json:"expiresOn"`
	ICEServers []ICEServer `json:"iceServers"`
}

// Issue returns credentials for userID valid for ttl (0 means MaxTTL), after
// asking the Limit hook. service says whether a service caller asks on the
// user's behalf.
func (s *Service) Issue(ctx context.Context, userID string, service bool, ttl time.Duration) (*Credentials, error) {
	if !s.Configured() {
		return nil, errors.New("relay: not configured")
	}
	if userID == "" {
		return nil, errors.New("relay: no user")
	}
	if ttl == 0 {
		ttl = s.maxTTL
	}
	if ttl < 0 || ttl > s.maxTTL {
		return nil, fmt.Errorf("relay: lifetime %v outside 0..%v", ttl, s.maxTTL)
	}
	if s.opts.Limit != nil {
		if err := s.opts.Limit(ctx, userID, service); err != nil {
			return nil, err
		}
	}
	expires := s.opts.Now().Add(ttl).Truncate(time.Second).UTC()
	username, password := Sign(s.secret, expires, s.UserPart(userID))
	c := &Credentials{
		ExpiresOn:  expires,
		ICEServers: []ICEServer{{URLs: s.turnURLs, Username: username, Credential: password}},
	}
	if len(s.stunURLs) > 0 {
		c.ICEServers = append(c.ICEServers, ICEServer{URLs: s.stunURLs})
	}
	return c, nil
}

// UserPart is the opaque, stable name of userID in TURN usernames: 128 bits
// of HMAC-SHA256 under the user key, base64url. It tells a TURN operator
// which allocations belong to one user without telling who that user is.
func (s *Service) UserPart(userID string) string {
	return base64.RawURLEncoding.EncodeToString(mac(sha256.New, s.userKey, userID)[:16])
}

// Sign makes a TURN REST API credential: username `<expires unix>:<user>`
// and password base64(HMAC-SHA1(secret, username)), as coturn's
// use-auth-secret mode checks it (the timestamp is the expiry).
func Sign(secret []byte, expires time.Time, user string) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return username, base64.StdEncoding.EncodeToString(mac(sha1.New, secret, username))
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
