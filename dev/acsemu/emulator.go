// Package acsemu is a local Azure Communication Services emulator for
// development and tests. It verifies what ACS verifies (HMAC-SHA256 request
// signatures, api-version, request shapes), answers with ACS's response and
// error shapes, issues JWT access tokens it can verify itself, and injects
// faults (latency, throttling, server errors, a dead endpoint) on demand.
// One file per ACS API: identity.go, rooms.go, callautomation.go (which
// plays calls out by POSTing CloudEvent callbacks signed by the emulator's
// own OIDC issuer, callbacks.go), chat.go (authenticated by the ACS user
// tokens the emulator issued, over https, raising ChatMessageReceived
// events through an Event Grid sink), sms.go (texts, their Event Grid events).
package acsemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/devtls"
)

// Options configures an emulator. The zero value is usable.
type Options struct {
	// Addr is the listen address for Start; default 127.0.0.1:0 (a random free port).
	Addr string
	// AccessKey is the resource's access key; default 32 random bytes.
	AccessKey []byte
	// ResourceID is the resource's immutable id (a GUID); default random.
	ResourceID string
	// Now is the emulator's clock for tokens and limits; default time.Now.
	// Tests move it to age tokens. Request dates are checked against the real clock.
	Now func() time.Time
	// VerifyBearer, when set, accepts `Authorization: Bearer` requests (the
	// Entra ID path) whose token it approves; without it only HMAC is accepted.
	VerifyBearer func(token string) error
	// Logger receives one line per refused request; default discards.
	Logger *slog.Logger
	// TLS serves https with a generated certificate (CAFile), as ACS does;
	// the Chat SDK refuses plain http. Without it Start serves http.
	TLS bool
	// CallHoldTime is how long a call the emulator plays out stays up before
	// its targets hang up; 0 means DefaultCallHoldTime, negative until the API ends it.
	CallHoldTime time.Duration
}

// Emulator is an ACS resource. It is an http.Handler; Start also serves it.
type Emulator struct {
	opts       Options
	key        []byte
	tokenKey   []byte
	resourceID string
	log        *slog.Logger
	api        *http.ServeMux
	control    *http.ServeMux

	mu         sync.Mutex
	identities map[string]*identity
	requests   map[string]int
	faults     faultState
	issuance   issuanceState

	rooms        map[string]*room
	roomRepeats  map[string]string
	roomPageSize int

	calls          map[string]*call
	callOrder      []string
	callRepeats    map[string]string
	repeatsSeen    map[string]repeatSeen // scope + id -> the first request, for header repeatability
	incoming       map[string]IncomingCall
	sms            smsState
	eventGrid      EventSink
	recordings     map[string]*recording
	recordingOrder []string
	holdTime       time.Duration
	appID          string
	callbackKey    *rsa.PrivateKey
	callbackKID    string
	callbackClient *http.Client
	bg             context.Context
	stopBG         context.CancelFunc

	chat chatState

	srv      *http.Server
	endpoint string
	cert     *devtls.Certificate
	caDir    string // holds caFile, the certificate in PEM
}

// New builds an emulator without starting a server, to mount as a handler.
func New(opts Options) (*Emulator, error) {
	e := &Emulator{
		opts:       opts,
		key:        opts.AccessKey,
		resourceID: opts.ResourceID,
		log:        opts.Logger,
		identities: map[string]*identity{},
		requests:   map[string]int{},

		rooms:          map[string]*room{},
		roomRepeats:    map[string]string{},
		roomPageSize:   DefaultRoomPageSize,
		calls:          map[string]*call{},
		callRepeats:    map[string]string{},
		repeatsSeen:    map[string]repeatSeen{},
		incoming:       map[string]IncomingCall{},
		recordings:     map[string]*recording{},
		holdTime:       opts.CallHoldTime,
		callbackKID:    uuid.NewString(),
		callbackClient: &http.Client{Timeout: 10 * time.Second},
	}
	if e.holdTime == 0 {
		e.holdTime = DefaultCallHoldTime
	}
	if e.opts.Now == nil {
		e.opts.Now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if len(e.key) == 0 {
		e.key = randomBytes(32)
	}
	if e.resourceID == "" {
		e.resourceID = uuid.NewString()
	} else if _, err := uuid.Parse(e.resourceID); err != nil {
		return nil, fmt.Errorf("acsemu: resource id %q is not a GUID: %w", e.resourceID, err)
	}
	e.tokenKey = randomBytes(32)
	e.appID = "8:acs:" + e.resourceID + "_" + uuid.NewString()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("acsemu: callback signing key: %w", err)
	}
	e.callbackKey = key
	e.bg, e.stopBG = context.WithCancel(context.Background())
	e.api = http.NewServeMux()
	e.control = http.NewServeMux()
	e.routeIdentity()
	e.routeRooms()
	e.routeCallAutomation()
	e.routeRecording()
	e.routeMove()
	e.routeOIDC()
	e.routeChat()
	e.routeSMS()
	e.api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no ACS operation matches "+r.Method+" "+r.URL.Path)
	})
	e.routeControl()
	e.routeMediaControl()
	e.routeLimits()
	return e, nil
}

// Start serves a new emulator on opts.Addr (default a random loopback port).
func Start(opts Options) (*Emulator, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("acsemu: listen on %s: %w", addr, err)
	}
	e.endpoint = "http://" + ln.Addr().String() + "/"
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	serve := func() error { return e.srv.Serve(ln) }
	if opts.TLS {
		if e.cert, err = devtls.New("Switchboard ACS emulator"); err == nil {
			e.caDir, err = os.MkdirTemp("", "acsemu-ca-")
		}
		if err == nil {
			err = devtls.WriteBundle(filepath.Join(e.caDir, "ca.pem"), e.cert.PEM())
		}
		if err != nil {
			ln.Close()
			if e.caDir != "" {
				os.RemoveAll(e.caDir)
			}
			return nil, fmt.Errorf("acsemu: %w", err)
		}
		e.endpoint = "https://" + ln.Addr().String() + "/"
		e.srv.TLSConfig = e.cert.ServerConfig()
		serve = func() error { return e.srv.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("acsemu: serve", "err", err)
		}
	}()
	return e, nil
}

// Close stops the server started by Start, dropping open connections.
func (e *Emulator) Close() error {
	e.stopBG() // calls stop playing and sending callbacks
	if e.srv == nil {
		return nil
	}
	err := e.srv.Close()
	if e.caDir != "" {
		_ = os.RemoveAll(e.caDir)
	}
	return err
}

// CAFile is the PEM file of the certificate an emulator started with TLS
// serves ("" without TLS): point SSL_CERT_FILE or NODE_EXTRA_CA_CERTS at it.
func (e *Emulator) CAFile() string {
	if e.cert == nil {
		return ""
	}
	return filepath.Join(e.caDir, "ca.pem")
}

// CertPool trusts the emulator's certificate (nil without TLS), for Go clients in tests.
func (e *Emulator) CertPool() *x509.CertPool {
	if e.cert == nil {
		return nil
	}
	return e.cert.Pool()
}

// Endpoint is the resource endpoint, e.g. http://127.0.0.1:36135/ (empty before Start).
func (e *Emulator) Endpoint() string { return e.endpoint }

// ConnectionString is the resource's connection string, as the Azure portal shows it.
func (e *Emulator) ConnectionString() string {
	return "endpoint=" + e.endpoint + ";accesskey=" + base64.StdEncoding.EncodeToString(e.key)
}

// AccessKey returns a copy of the resource's access key.
func (e *Emulator) AccessKey() []byte { return append([]byte(nil), e.key...) }

// ResourceID is the resource's immutable id, the GUID inside every ACS id.
func (e *Emulator) ResourceID() string { return e.resourceID }

// ServeHTTP serves the ACS API and, under /emulator/, the emulator's own
// control routes (faults, token verification, counters), which need no auth.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/emulator/") {
		e.control.ServeHTTP(w, r)
		return
	}
	if !e.applyConnectionFaults(w, r) {
		return
	}
	e.api.ServeHTTP(w, r)
}

// operation wraps an ACS operation with what every ACS request goes
// through, in ACS's order: counting, injected faults, auth, api-version.
func (e *Emulator) operation(name string, h http.HandlerFunc) http.HandlerFunc {
	return e.operationWith(name, checkAPIVersion, h)
}

// operationWith is operation for an API with its own api-versions (SMS).
func (e *Emulator) operationWith(name string, checkVersion func([]string) error, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !e.admit(name, w) {
			return
		}
		body, err := e.authenticate(r)
		if err != nil {
			e.log.Info("acsemu: refused", "op", name, "err", err)
			writeError(w, http.StatusUnauthorized, "Denied", err.Error())
			return
		}
		if err := checkVersion(r.URL.Query()["api-version"]); err != nil {
			writeError(w, http.StatusBadRequest, "InvalidApiVersion", err.Error())
			return
		}
		r.Body = readCloser{strings.NewReader(string(body))}
		h(w, r)
	}
}

// admit counts a request to the named operation and answers an injected
// fault, if any; it reports whether the request should be served.
func (e *Emulator) admit(name string, w http.ResponseWriter) bool {
	e.mu.Lock()
	e.requests[name]++
	e.mu.Unlock()
	return e.applyStatusFault(w)
}

// Requests returns how many requests reached the named operation
// (CreateIdentity, IssueAccessToken, RevokeAccessTokens, DeleteIdentity,
// CreateRoom, UpdateRoomParticipants, CreateCall, AddCallParticipant, ...),
// including refused and fault-injected ones.
func (e *Emulator) Requests(operation string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[operation]
}

// RequestCounts returns a copy of all per-operation request counters.
func (e *Emulator) RequestCounts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.requests))
	for k, v := range e.requests {
		out[k] = v
	}
	return out
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}
