package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is an authoritative DNS server on loopback UDP whose answers a
// test changes, as a rebinding attacker changes theirs.
type dnsServer struct {
	conn net.PacketConn
	mu   sync.Mutex
	zone map[string][]netip.Addr // lower-case FQDN -> answers
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: c, zone: map[string][]netip.Addr{}}
	t.Cleanup(func() { c.Close() })
	go s.serve()
	return s
}

func (s *dnsServer) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[strings.ToLower(name)+"."] = nil
	for _, a := range addrs {
		s.zone[strings.ToLower(name)+"."] = append(s.zone[strings.ToLower(name)+"."], netip.MustParseAddr(a))
	}
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, err := s.answer(buf[:n]); err == nil {
			_, _ = s.conn.WriteTo(out, from)
		}
	}
}

func (s *dnsServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	addrs, known := s.zone[strings.ToLower(q.Name.String())]
	s.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	for _, a := range addrs {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
		switch {
		case a.Is4() && q.Type == dnsmessage.TypeA:
			_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case a.Is6() && q.Type == dnsmessage.TypeAAAA:
			_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	return b.Finish()
}

// resolver is Go's own DNS client (what production uses when the system
// resolver is Go's) pointed at the test server.
func (s *dnsServer) resolver() *net.Resolver {
	addr := s.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// tlsServer is an https server on 127.0.0.1 (its certificate names
// example.com) counting the requests that reach it.
func tlsServer(t *testing.T) (*httptest.Server, *atomic.Int32, *tls.Config) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://169.254.169.254/metadata", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &hits, &tls.Config{RootCAs: pool}
}

func port(t *testing.T, srv *httptest.Server) string {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// A public name whose owner points it at loopback after registration (DNS
// rebinding) is refused when the push is sent.
func TestRebindingRefusedAtConnect(t *testing.T) {
	dns := startDNS(t)
	srv, hits, tlsConfig := tlsServer(t)
	target := "https://example.com:" + port(t, srv) + "/hook"
	strict := New(&Options{Resolver: dns.resolver(), TLSConfig: tlsConfig})
	dev := New(&Options{Resolver: dns.resolver(), TLSConfig: tlsConfig, AllowLoopback: true})
	ctx := context.Background()

	dns.set("example.com", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
	if _, err := strict.Check(ctx, target); err != nil {
		t.Fatalf("a public name is refused at registration: %v", err)
	}
	dns.set("example.com", "127.0.0.1")
	if _, err := strict.Check(ctx, target); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("registration of a name resolving to loopback: %v", err)
	}
	resp, err := strict.Client(0).Post(target, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrRefused) || hits.Load() != 0 {
		t.Fatalf("send to a name rebound to loopback: %v, %d requests arrived", err, hits.Load())
	}

	// The same connection is made when loopback is allowed: the refusal
	// above is the guard's, not a failure to reach the server.
	resp, err = dev.Client(0).Post(target, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || hits.Load() != 1 {
		t.Fatalf("loopback allowed: status %d, %d requests", resp.StatusCode, hits.Load())
	}

	// Allowing loopback allows nothing else.
	for _, internal := range [][]string{{"10.0.0.7"}, {"169.254.169.254"}, {"fd00::1"}, {"8.8.8.8", "192.168.1.1"}, {"::ffff:a9fe:a9fe"}} {
		dns.set("example.com", internal...)
		if _, err := dev.Check(ctx, target); !errors.Is(err, ErrRefused) {
			t.Errorf("registration of a name resolving to %v: %v", internal, err)
		}
		if _, err := dev.Client(0).Get(target); !errors.Is(err, ErrRefused) {
			t.Errorf("send to a name resolving to %v: %v", internal, err)
		}
	}
	dns.set("example.com")
	if _, err := strict.Check(ctx, target); !errors.Is(err, ErrRefused) {
		t.Errorf("a name without addresses: %v", err)
	}
	if _, err := strict.Check(ctx, "https://nowhere.example.net/"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "does not resolve") {
		t.Errorf("a name that does not exist: %v", err)
	}
}

func TestClientRefusesRedirectsAndDisallowedURLs(t *testing.T) {
	srv, hits, tlsConfig := tlsServer(t)
	c := New(&Options{AllowLoopback: true, TLSConfig: tlsConfig}).Client(0)
	resp, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Fatalf("a redirect was followed: status %d, %d requests", resp.StatusCode, hits.Load())
	}
	if c.Transport.(roundTripper).next.(*http.Transport).Proxy != nil {
		t.Fatal("the client would use a proxy from the environment")
	}
	for _, u := range []string{"http://8.8.8.8/x", "https://10.0.0.1/", "https://metadata/"} {
		if _, err := c.Get(u); !errors.Is(err, ErrRefused) {
			t.Errorf("GET %s: %v", u, err)
		}
	}
	// Not even a literal address gets past the check at connect time.
	if _, err := New(nil).Client(0).Get(srv.URL); !errors.Is(err, ErrRefused) || hits.Load() != 1 {
		t.Errorf("strict client to %s: %v", srv.URL, err)
	}
}

func TestDialerControlChecksTheSocketAddress(t *testing.T) {
	strict, dev := New(nil), New(&Options{AllowLoopback: true})
	for addr, want := range map[string][2]bool{ // strict, dev
		"8.8.8.8:443":           {true, true},
		"[2606:4700::1111]:443": {true, true},
		"127.0.0.1:7071":        {false, true},
		"[::1]:7071":            {false, true},
		"169.254.169.254:80":    {false, false},
		"10.0.0.1:443":          {false, false},
		"[fe80::1%lo]:443":      {false, false},
		"[::ffff:127.0.0.1]:80": {false, false},
		"not an address":        {false, false},
	} {
		if err := strict.control("tcp", addr, nil); (err == nil) != want[0] {
			t.Errorf("strict control(%s) = %v", addr, err)
		}
		if err := dev.control("tcp", addr, nil); (err == nil) != want[1] {
			t.Errorf("dev control(%s) = %v", addr, err)
		}
	}
	if _, err := strict.DialContext(context.Background(), "unix", "/var/run/docker.sock"); !errors.Is(err, ErrRefused) {
		t.Errorf("unix socket: %v", err)
	}
}
