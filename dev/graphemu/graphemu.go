// Package graphemu emulates the part of Microsoft Graph v1.0 Switchboard
// uses, over TLS as the Graph SDKs require: onlineMeetings (meetings.go)
// behind Graph's checks (auth.go): an app-only bearer JWT from the Entra
// emulator (signature, issuer, audience https://graph.microsoft.com,
// lifetime, tenant) whose roles hold OnlineMeetings.ReadWrite.All, and a
// Teams application access policy granting the app the organizer. Faults:
// throttling (429 with Retry-After) or outages for the next requests, and
// Graph's cap of meetings per organizer per calendar month.
package graphemu

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/devtls"
)

// DefaultMonthlyCap is Graph's limit: 2,000 meetings per user each month.
const DefaultMonthlyCap = 2000

// Issuer is whom the emulator trusts for tokens (the Entra emulator).
type Issuer interface {
	Issuer() string
	TenantID() string
	PublicKey() *rsa.PublicKey
}

// Options configure the emulator.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// TLS is the certificate to serve; default a new one.
	TLS *devtls.Certificate
	// Tokens verifies bearer tokens; required.
	Tokens Issuer
	// MonthlyCap bounds meetings created per organizer per month; 0 means DefaultMonthlyCap.
	MonthlyCap int
}

// Emulator is a running Graph stand-in.
type Emulator struct {
	url    string
	tokens Issuer
	srv    *http.Server
	now    func() time.Time

	mu       sync.Mutex
	users    map[string]string // object id -> display name
	policies map[string]policyGrant
	meetings map[string]*meeting // meeting id -> meeting
	created  map[string]int      // organizer + "|" + yyyy-mm -> meetings created
	cap      int
	faults   []fault
	lose     []int // statuses to answer after doing the work (a lost answer)
	requests map[string]int
}

// policyGrant is an application access policy: the app ids it names, and
// whether it is granted globally or to some users.
type policyGrant struct {
	global bool
	users  map[string]bool
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// Start serves the emulator.
func Start(opts Options) (*Emulator, error) {
	if opts.Tokens == nil {
		return nil, fmt.Errorf("graphemu: Options.Tokens is required")
	}
	var err error
	if opts.TLS == nil {
		if opts.TLS, err = devtls.New("Switchboard Graph emulator"); err != nil {
			return nil, err
		}
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MonthlyCap == 0 {
		opts.MonthlyCap = DefaultMonthlyCap
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("graphemu: %w", err)
	}
	e := &Emulator{url: "https://" + ln.Addr().String(), tokens: opts.Tokens, now: time.Now,
		users: map[string]string{}, policies: map[string]policyGrant{}, meetings: map[string]*meeting{},
		created: map[string]int{}, cap: opts.MonthlyCap, requests: map[string]int{}}
	mux := http.NewServeMux()
	e.meetingRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+r.URL.Path+"'.")
	})
	e.srv = &http.Server{Handler: mux, TLSConfig: opts.TLS.ServerConfig(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.ServeTLS(ln, "", "") }()
	return e, nil
}

// Close stops the emulator.
func (e *Emulator) Close() error { return e.srv.Close() }

// Origin is the emulator's scheme and host (what a token is asked for: Origin + "/.default").
func (e *Emulator) Origin() string { return e.url }

// Endpoint is the v1.0 endpoint (GRAPH_ENDPOINT).
func (e *Emulator) Endpoint() string { return e.url + "/v1.0" }

// AddUser adds a user (an Entra object id) to the tenant.
func (e *Emulator) AddUser(objectID, displayName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[objectID] = displayName
}

// GrantAccessPolicy is New-CsApplicationAccessPolicy -AppIds appID plus
// Grant-CsApplicationAccessPolicy -Identity userID (or -Global when userID is "").
func (e *Emulator) GrantAccessPolicy(appID, userID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.policies[appID]
	if p.users == nil {
		p.users = map[string]bool{}
	}
	if userID == "" {
		p.global = true
	} else {
		p.users[userID] = true
	}
	e.policies[appID] = p
}

// RevokeAccessPolicies removes every policy naming appID.
func (e *Emulator) RevokeAccessPolicies(appID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.policies, appID)
}

// FailNext answers the next n onlineMeetings requests with status (429 or
// 503, say), with Retry-After when retryAfter is positive.
func (e *Emulator) FailNext(n, status int, retryAfter time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.faults = append(e.faults, fault{status: status, retryAfter: retryAfter})
	}
}

// LoseNextAnswers makes the next n meeting writes do their work and then
// answer status instead (503, say): what a client sees when Graph's answer
// is lost to a timeout.
func (e *Emulator) LoseNextAnswers(n, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.lose = append(e.lose, status)
	}
}

// RemoveUser takes a user out of the tenant.
func (e *Emulator) RemoveUser(objectID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.users, objectID)
}

// SetMonthlyCap changes the cap of meetings per organizer per month.
func (e *Emulator) SetMonthlyCap(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cap = n
}

// Requests counts the requests for an operation: "create", "createOrGet",
// "get", "update", "delete" (including the refused ones).
func (e *Emulator) Requests(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[op]
}

func (e *Emulator) count(op string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests[op]++
}

// clock is the emulator's time (tests move it).
func (e *Emulator) clock() time.Time {
	e.mu.Lock()
	now := e.now
	e.mu.Unlock()
	return now()
}

// takeFault pops the next injected fault, if any.
func (e *Emulator) takeFault() (fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.faults) == 0 {
		return fault{}, false
	}
	f := e.faults[0]
	e.faults = e.faults[1:]
	return f, true
}

// lostAnswer wraps w so that, when a lost answer is due, the work is done
// but the client gets a 503-style failure instead of the result.
func (e *Emulator) lostAnswer(w http.ResponseWriter) http.ResponseWriter {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.lose) == 0 {
		return w
	}
	status := e.lose[0]
	e.lose = e.lose[1:]
	return &losingWriter{ResponseWriter: w, status: status}
}

type losingWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (l *losingWriter) WriteHeader(int) {
	if !l.wrote {
		l.wrote = true
		l.ResponseWriter.Header().Set("Content-Type", "application/json")
		l.ResponseWriter.WriteHeader(l.status)
		_, _ = l.ResponseWriter.Write([]byte(`{"error":{"code":"ServiceNotAvailable","message":"The service timed out answering the request."}}`))
	}
}

func (l *losingWriter) Write(b []byte) (int, error) {
	l.WriteHeader(0)
	return len(b), nil
}

// graphError answers as Graph does: {"error":{"code","message","innerError"}}.
func graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	rid := uuid.NewString()
	w.Header().Set("request-id", rid)
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": rid, "client-request-id": r.Header.Get("client-request-id")},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
