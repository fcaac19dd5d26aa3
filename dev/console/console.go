// Package console is the local developer console of `make run`: a small web
// page (web/, plain ES modules, embedded) and a JSON API under /console/api/
// that read the local stack's state (Azurite's tables, the ACS and push
// emulators, the host stand-in's journal) and act as the clouds would:
// mint bearer tokens, deliver IncomingCall and call events through Event
// Grid, place PSTN calls and press keys, text back as an SMS guest.
//
// It is development-only: the dev stack starts it on 127.0.0.1 beside the
// function app; the handler knows nothing of it.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

//go:embed web
var webFS embed.FS

// DefaultPort is where `make run` serves the console when the port is free.
const DefaultPort = 7700

// Server is a running console.
type Server struct {
	st     *stack.Stack
	tables *aztables.ServiceClient
	prefix string
	env    map[string]string
	ln     net.Listener
	srv    *http.Server
	url    string
	client *http.Client

	mu      sync.Mutex
	inbound []inboundText // texts sent from the console as a guest
}

type inboundText struct {
	MessageID string    `json:"messageId"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
	Error     string    `json:"error,omitempty"`
}

// Start serves the console for st on addr ("127.0.0.1:0" for a random port).
// Only loopback addresses are accepted: the console mints tokens for anyone.
func Start(st *stack.Stack, addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("console: %s is not a loopback address; the console binds 127.0.0.1 only", addr)
	}
	tables, err := aztables.NewServiceClientFromConnectionString(st.Azurite.ConnectionString(), nil)
	if err != nil {
		return nil, fmt.Errorf("console: azurite: %w", err)
	}
	s := &Server{st: st, tables: tables, env: map[string]string{}, client: &http.Client{Timeout: 30 * time.Second}}
	for _, kv := range st.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			s.env[k] = v
		}
	}
	s.prefix = s.env["TABLE_PREFIX"]
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String() + "/"
	s.srv = &http.Server{Handler: guard(s.routes()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the console's address, e.g. http://127.0.0.1:7700/.
func (s *Server) URL() string { return s.url }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	web, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(web)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	api := func(pattern string, h func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := h(r)
			if err != nil {
				status := http.StatusInternalServerError
				var ae *apiError
				if errors.As(err, &ae) {
					status = ae.status
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	api("GET /console/api/overview", s.overview)
	api("GET /console/api/users", s.users)
	api("POST /console/api/token", s.mintToken)
	api("POST /console/api/acstoken", s.acsToken)
	api("GET /console/api/devices", s.devices)
	api("POST /console/api/devices", s.registerDevice)
	api("POST /console/api/ring", s.ring)
	api("GET /console/api/calls", s.calls)
	api("POST /console/api/calls", s.createCall)
	api("POST /console/api/calls/{id}/events", s.playEvent)
	api("GET /console/api/phone", s.phone)
	api("POST /console/api/phone/call", s.placePSTNCall)
	api("POST /console/api/phone/connections/{id}/{action}", s.connectionAction)
	api("POST /console/api/phone/sms", s.textBack)
	api("GET /console/api/events", s.events)
	api("GET /console/api/counts", s.counts)
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no console route " + r.Method + " " + r.URL.Path})
	}
	mux.HandleFunc("GET /console/api/", notFound)
	mux.HandleFunc("POST /console/api/", notFound)
	return mux
}

// guard keeps other web pages out: the console mints tokens and acts on the
// stack, so it answers only requests addressed to a loopback host (no DNS
// rebinding) and, for its API's POSTs, only JSON bodies, which a page of
// another origin cannot send without a CORS preflight the console never
// grants.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the console answers http://127.0.0.1 and http://localhost only"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send Content-Type: application/json"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// apiError is a failure with the status it answers.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads a JSON body into dst, refusing unknown fields.
func decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("body: %v", err)
	}
	return nil
}

// Overview is what the page needs to draw itself: where everything is and
// which capabilities this stack has (a tab appears only for those).
type Overview struct {
	FunctionApp  string          `json:"functionApp"`
	OpenAPI      string          `json:"openapi"`
	Issuer       string          `json:"issuer"`
	ACS          string          `json:"acs"`
	Azurite      string          `json:"azurite"`
	Deliveries   string          `json:"deliveries"`
	PSTNCallerID string          `json:"pstnCallerId,omitempty"`
	SMSFrom      string          `json:"smsFrom,omitempty"`
	Capabilities map[string]bool `json:"capabilities"`
	Journal      bool            `json:"journal"`
}

func (s *Server) overview(*http.Request) (any, error) {
	return Overview{
		FunctionApp:  s.st.URL(),
		OpenAPI:      s.st.URL() + "/api/openapi.json",
		Issuer:       s.st.Issuer.URL(),
		ACS:          s.st.ACS.Endpoint(),
		Azurite:      s.st.Azurite.TableEndpoint(),
		Deliveries:   s.st.Push.DeliveriesURL(),
		PSTNCallerID: s.env["ACS_PSTN_CALLER_ID"],
		SMSFrom:      s.env["ACS_SMS_FROM"],
		Capabilities: map[string]bool{
			"bots": s.env["ACS_PSTN_CALLER_ID"] != "" && s.env["ACS_RESOURCE_ID"] != "",
			"sms":  s.env["ACS_SMS_FROM"] != "",
		},
		Journal: s.st.JournalOn(),
	}, nil
}

// counts are the numbers the tab bar shows, for every tab at once.
func (s *Server) counts(r *http.Request) (any, error) {
	users, err := s.scan(r.Context(), "users")
	if err != nil {
		return nil, err
	}
	calls, err := s.scan(r.Context(), "calls")
	if err != nil {
		return nil, err
	}
	n := map[string]int{"devices": len(s.st.Push.All()), "events": len(s.st.Host.Journal(0))}
	for _, u := range users {
		if u.RK == "profile" {
			n["users"]++
		}
	}
	for _, c := range calls {
		if c.RK == "call" {
			n["calls"]++
		}
	}
	for _, c := range s.st.ACS.Calls() {
		if c.State != "disconnected" {
			n["phone"]++
		}
	}
	return n, nil
}

func (s *Server) events(r *http.Request) (any, error) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		if _, err := fmt.Sscan(v, &since); err != nil {
			return nil, badRequest("since must be a number")
		}
	}
	all := s.st.Host.Journal(0)
	view := EventsView{Entries: []funchost.JournalEntry{}}
	if len(all) > 0 {
		view.Latest = all[0].Seq
	}
	for _, e := range all {
		if e.Seq <= since {
			break
		}
		view.Entries = append(view.Entries, e)
	}
	return view, nil
}

// EventsView is the journal after a sequence number, newest first, and the
// newest sequence number (lower than the page's when the stack restarted).
type EventsView struct {
	Latest  int64                   `json:"latest"`
	Entries []funchost.JournalEntry `json:"entries"`
}

// callHandler sends a request to the function app as userID would, with a
// freshly minted token, and returns the answer's status and body.
func (s *Server) callHandler(ctx context.Context, method, path, token, body string) (int, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.st.URL()+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	if !json.Valid(b) {
		b, _ = json.Marshal(string(b))
	}
	return resp.StatusCode, b, nil
}
