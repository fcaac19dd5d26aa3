// Package pushemu emulates the push services Switchboard delivers to, checking
// what they check: a Notification Hubs endpoint over TLS (SAS signature, hub,
// headers, payload limits), a Web Push receiver (VAPID JWT, aes128gcm
// decryption with the subscription's private key) and a webhook sink
// (signature). Each records what every device received, and can mark a
// device gone (410), add latency or fail requests.
package pushemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"switchboard/dev/devcert"
)

// Delivery is one push a device received.
type Delivery struct {
	Provider string            `json:"provider"`
	Device   string            `json:"device"` // handle, subscription id or webhook id
	Headers  map[string]string `json:"headers,omitempty"`
	Body     json.RawMessage   `json:"body"`
	At       time.Time         `json:"at"`
}

// Options configure the emulators.
type Options struct {
	// NHAddr and HTTPAddr are listen addresses (default 127.0.0.1:0).
	NHAddr, HTTPAddr string
	// Hub is the notification hub name (default "switchboard").
	Hub string
	// KeyName and Key are the hub's SAS rule (defaults: DefaultFullSharedAccessSignature, random).
	KeyName, Key string
}

// Emulators is the Notification Hubs endpoint plus the Web Push and webhook receivers.
type Emulators struct {
	opts   Options
	nh     *http.Server
	nhURL  string
	web    *http.Server
	webURL string
	caFile string
	tls    *devcert.Cert

	mu         sync.Mutex
	deliveries []Delivery
	gone       map[string]bool
	latency    time.Duration
	failNext   int
	failStatus int
	failAfter  time.Duration
	subs       map[string]*subscription
	hooks      map[string]string // webhook id -> secret
}

// Start serves both listeners.
func Start(opts Options) (*Emulators, error) {
	if opts.Hub == "" {
		opts.Hub = "switchboard"
	}
	if opts.KeyName == "" {
		opts.KeyName = "DefaultFullSharedAccessSignature"
	}
	if opts.Key == "" {
		opts.Key = randomString(32)
	}
	e := &Emulators{opts: opts, gone: map[string]bool{}, subs: map[string]*subscription{}, hooks: map[string]string{}}
	var err error
	if e.tls, err = devcert.New("Switchboard push emulator"); err != nil {
		return nil, err
	}
	e.caFile = e.tls.File

	nhLn, err := net.Listen("tcp", orDefault(opts.NHAddr))
	if err != nil {
		return nil, fmt.Errorf("pushemu: %w", err)
	}
	e.nhURL = "https://" + nhLn.Addr().String() + "/"
	e.nh = &http.Server{Handler: http.HandlerFunc(e.serveNH), TLSConfig: e.tls.ServerConfig(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.nh.ServeTLS(nhLn, "", "") }()

	webLn, err := net.Listen("tcp", orDefault(opts.HTTPAddr))
	if err != nil {
		e.nh.Close()
		return nil, fmt.Errorf("pushemu: %w", err)
	}
	// https too: the npm web-push package only speaks https.
	e.webURL = "https://" + webLn.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webpush/{id}", e.serveWebPush)
	mux.HandleFunc("POST /webhook/{id}", e.serveWebhook)
	mux.HandleFunc("GET /emulator/deliveries", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e.All())
	})
	e.web = &http.Server{Handler: mux, TLSConfig: e.tls.ServerConfig(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.web.ServeTLS(webLn, "", "") }()
	return e, nil
}

func orDefault(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// ConnectionString is the hub's connection string in the real form.
func (e *Emulators) ConnectionString() string {
	return "Endpoint=sb://" + e.nhURL[len("https://"):] + ";SharedAccessKeyName=" + e.opts.KeyName + ";SharedAccessKey=" + e.opts.Key
}

// Hub is the notification hub's name.
func (e *Emulators) Hub() string { return e.opts.Hub }

// CAFile is a PEM file with the certificate both listeners serve; point
// SSL_CERT_FILE (Go) or NODE_EXTRA_CA_CERTS (Node) at it.
func (e *Emulators) CAFile() string { return e.caFile }

// WebURL is the base URL of the Web Push and webhook receivers.
func (e *Emulators) WebURL() string { return e.webURL }

// DeliveriesURL lists what every device received, for developers.
func (e *Emulators) DeliveriesURL() string { return e.webURL + "/emulator/deliveries" }

// Close stops both servers.
func (e *Emulators) Close() error {
	err := errors.Join(e.nh.Close(), e.web.Close(), e.tls.Close())
	return err
}

// MarkGone makes a device (handle, subscription id or webhook id) answer 410.
func (e *Emulators) MarkGone(device string) {
	e.mu.Lock()
	e.gone[device] = true
	e.mu.Unlock()
}

// SetLatency delays every push answer by d (benchmarks use a fixed latency).
func (e *Emulators) SetLatency(d time.Duration) {
	e.mu.Lock()
	e.latency = d
	e.mu.Unlock()
}

// FailNext makes the next n pushes (any provider) answer status; a 429
// carries Retry-After: 1.
func (e *Emulators) FailNext(n, status int) {
	after := time.Duration(0)
	if status == http.StatusTooManyRequests {
		after = time.Second
	}
	e.FailNextRetryAfter(n, status, after)
}

// FailNextRetryAfter makes the next n pushes answer status with Retry-After
// (whole seconds; 0 sends none).
func (e *Emulators) FailNextRetryAfter(n, status int, retryAfter time.Duration) {
	e.mu.Lock()
	e.failNext, e.failStatus, e.failAfter = n, status, retryAfter
	e.mu.Unlock()
}

// Received returns what one device got, oldest first.
func (e *Emulators) Received(device string) []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Delivery
	for _, d := range e.deliveries {
		if d.Device == device {
			out = append(out, d)
		}
	}
	return out
}

// All returns every delivery, oldest first.
func (e *Emulators) All() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]Delivery(nil), e.deliveries...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// gate applies latency, injected failures and gone devices; false means it answered.
func (e *Emulators) gate(w http.ResponseWriter, device string) bool {
	e.mu.Lock()
	lat := e.latency
	fail, after := 0, e.failAfter
	if e.failNext > 0 {
		e.failNext--
		fail = e.failStatus
	}
	gone := e.gone[device]
	e.mu.Unlock()
	if lat > 0 {
		time.Sleep(lat)
	}
	switch {
	case fail != 0:
		if after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(after.Round(time.Second)/time.Second)))
		}
		http.Error(w, http.StatusText(fail), fail)
		return false
	case gone:
		http.Error(w, "the device handle is no longer valid", http.StatusGone)
		return false
	}
	return true
}

func (e *Emulators) record(d Delivery) {
	d.At = time.Now()
	e.mu.Lock()
	e.deliveries = append(e.deliveries, d)
	e.mu.Unlock()
}
