package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength bounds a URL we accept.
const MaxURLLength = 2048

// ErrRefused matches (errors.Is) every refusal of the egress rule.
var ErrRefused = errors.New("egress refused")

// Error says why a URL or address is refused, in words that read after the
// field's name ("url: must be https").
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Is lets errors.Is(err, ErrRefused) find a refusal.
func (e *Error) Is(target error) bool { return target == ErrRefused }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Special-use and private-network domains (RFC 6761, RFC 6762, RFC 8375,
// ICANN's .internal): names under them are never someone's public server.
var specialDomains = []string{"local", "localdomain", "internal", "home.arpa", "arpa", "test", "example", "invalid", "onion", "alt"}

// target is a URL that passed the checks that need no DNS.
type target struct {
	host string     // lower case, no trailing dot
	addr netip.Addr // valid when host is an IP literal
}

// checkURL applies the rule that needs no DNS to a parsed URL.
func checkURL(u *url.URL, allowLoopback bool) (target, error) {
	if u.Opaque != "" || u.Host == "" || u.Scheme == "" {
		return target{}, refuse("must be an absolute https URL")
	}
	if u.User != nil {
		return target{}, refuse("must not carry credentials")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return target{}, refuse("has an invalid port %q", p)
		}
	}
	t, loopback, err := checkHost(u)
	if err != nil {
		return target{}, err
	}
	if loopback && !allowLoopback {
		return target{}, refuse("host %s is loopback", t.host)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !loopback {
			return target{}, refuse("must be https")
		}
	default:
		return target{}, refuse("must be https, not %s:", u.Scheme)
	}
	return t, nil
}

// checkHost normalises u's host and refuses every form that is not a public
// name or a public address literal; loopback reports a loopback literal or
// a localhost name, which only local development allows.
func checkHost(u *url.URL) (t target, loopback bool, err error) {
	h := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return t, false, refuse("has an invalid IPv6 address %q", h)
		}
		return addrTarget(a)
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return addrTarget(a)
	}
	if err := checkName(h); err != nil {
		return t, false, err
	}
	t.host = h
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return t, true, nil
	}
	if !strings.Contains(h, ".") {
		return t, false, refuse("host %q is a single-label name, which resolves through local search domains", h)
	}
	for _, d := range specialDomains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return t, false, refuse("host %s is under .%s, a special-use domain", h, d)
		}
	}
	return t, false, nil
}

func addrTarget(a netip.Addr) (target, bool, error) {
	t := target{host: a.String(), addr: a}
	switch k, why := Classify(a); k {
	case Public:
		return t, false, nil
	case Loopback:
		return t, true, nil
	default:
		return t, false, refuse("host %s is %s", a, why)
	}
}

// checkName accepts DNS names of letters, digits, '-' and '_', and refuses
// what resolvers may read as an IPv4 address (2130706433, 0x7f.1, 127.1).
func checkName(h string) error {
	if h == "" || len(h) > 253 {
		return refuse("has an empty or over-long host name")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return refuse("host %q has an empty or over-long label", h)
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return refuse("host %q may hold only letters, digits, '-' and '_' (write international names in their xn-- form)", h)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return refuse("host %q is an IPv4 address in a non-standard form", h)
	}
	return nil
}

// HostList is an allow list of hosts: exact names or addresses, and
// "*.example.com" for every name under example.com (not example.com itself).
type HostList struct {
	exact    map[string]bool
	suffixes []string
	entries  []string
}

// ParseHostList reads a comma-separated list.
func ParseHostList(s string) (HostList, error) {
	l := HostList{exact: map[string]bool{}}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e)), ".")
		if e == "" {
			continue
		}
		name, wildcard := strings.CutPrefix(e, "*.")
		if _, err := netip.ParseAddr(name); err != nil || wildcard {
			if err := checkName(name); err != nil || !strings.Contains(name, ".") && name != "localhost" {
				return HostList{}, fmt.Errorf("%q is neither a host name, an IP address nor *.<domain>", e)
			}
		}
		if wildcard {
			l.suffixes = append(l.suffixes, "."+name)
		} else {
			l.exact[name] = true
		}
		l.entries = append(l.entries, e)
	}
	if len(l.entries) == 0 {
		return HostList{}, errors.New("names no host")
	}
	return l, nil
}

// Allows reports whether host is on the list (case and a trailing dot ignored).
func (l HostList) Allows(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if l.exact[host] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// String is the list as ParseHostList reads it.
func (l HostList) String() string { return strings.Join(l.entries, ",") }
