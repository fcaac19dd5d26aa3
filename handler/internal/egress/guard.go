package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Guard.
type Options struct {
	// AllowLoopback also allows http and https to loopback addresses
	// (127.0.0.0/8, ::1, localhost): for local development against emulators only.
	AllowLoopback bool
	// Resolver looks names up at registration and at connect time (nil: net.DefaultResolver).
	Resolver Resolver
	// TLSConfig is the client's TLS configuration (nil: the system's roots).
	TLSConfig *tls.Config
}

// Guard applies the egress rule: to URLs when they are registered, and to
// every connection its HTTP client makes.
type Guard struct {
	allowLoopback bool
	resolver      Resolver
	tls           *tls.Config
}

// lookupTimeout bounds a registration's DNS lookup.
const lookupTimeout = 5 * time.Second

// New builds a guard; a nil *Options is the strict rule with the system resolver.
func New(opts *Options) *Guard {
	g := &Guard{resolver: net.DefaultResolver}
	if opts != nil {
		g.allowLoopback, g.tls = opts.AllowLoopback, opts.TLSConfig
		if opts.Resolver != nil {
			g.resolver = opts.Resolver
		}
	}
	return g
}

// ParseURL checks raw against the part of the rule that needs no DNS:
// https (http only to allowed loopback hosts), no credentials, and a host
// that is a public address literal or a name outside special-use domains.
func (g *Guard) ParseURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, refuse("is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuse("is not a URL")
	}
	if _, err := checkURL(u, g.allowLoopback); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckHost resolves u's host and refuses it unless every address is allowed.
// A lookup that fails for another reason than "no such host" is returned
// as is (not ErrRefused): it may work on a retry.
func (g *Guard) CheckHost(ctx context.Context, u *url.URL) error {
	t, err := checkURL(u, g.allowLoopback)
	if err != nil {
		return err
	}
	if t.addr.IsValid() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	_, err = g.resolve(ctx, t.host)
	return err
}

// Check is ParseURL then CheckHost: the rule at registration.
func (g *Guard) Check(ctx context.Context, raw string) (*url.URL, error) {
	u, err := g.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return u, g.CheckHost(ctx, u)
}

// resolve looks host up and returns its addresses if every one is allowed:
// a name with one internal address among public ones is refused whole.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound || err == nil && len(addrs) == 0 {
		return nil, refuse("host %s does not resolve", host)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}
	for i, a := range addrs {
		// Go's resolver may hand an A record back in IPv4-mapped form; what
		// is dialled is the IPv4 address, so that is what is judged.
		a = a.Unmap()
		if err := g.checkAddr(a); err != nil {
			return nil, refuse("host %s resolves to %s", host, err)
		}
		addrs[i] = a
	}
	return addrs, nil
}

// checkAddr refuses an address the rule does not allow; its reason reads
// after the address ("127.0.0.1, a loopback address").
func (g *Guard) checkAddr(a netip.Addr) error {
	switch k, why := Classify(a); {
	case k == Public, k == Loopback && g.allowLoopback:
		return nil
	default:
		return refuse("%s, %s", a, why)
	}
}

// DialContext connects only when every address the host resolves to is
// allowed, dials those addresses (never the name again, so a second answer
// cannot differ), and checks the socket's own address in the dialer's
// Control hook, just before connect(2).
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, refuse("network %s is not allowed", network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.resolve(ctx, host); err != nil {
		return nil, err
	}
	d := net.Dialer{Control: g.control}
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refuse("cannot read the address %q being connected to", address)
	}
	if err := g.checkAddr(ap.Addr()); err != nil {
		return refuse("connecting to %s", err)
	}
	return nil
}

// Client is an HTTP client bound by the rule: every request URL passes
// ParseURL, every connection DialContext; redirects are not followed (the
// 3xx is the answer) and no proxy is used, so neither can lead elsewhere.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	var tlsConfig *tls.Config
	if g.tls != nil {
		tlsConfig = g.tls.Clone()
	}
	t := &http.Transport{
		Proxy:             nil,
		DialContext:       g.DialContext,
		TLSClientConfig:   tlsConfig,
		ForceAttemptHTTP2: true,
		// A fan-out sends to up to 100 devices at once, often on one host
		// (a Web Push service, an app's webhook endpoint): over HTTP/1.1
		// keep that many for the next event rather than reconnecting.
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     roundTripper{g: g, next: t},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type roundTripper struct {
	g    *Guard
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, err := checkURL(req.URL, rt.g.allowLoopback); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return rt.next.RoundTrip(req)
}
