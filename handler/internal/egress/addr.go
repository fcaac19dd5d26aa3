// Package egress is the rule for connections to URLs that end users give us
// (webhook devices, Web Push endpoints): https only, to hosts that resolve
// only to public unicast addresses. It is checked when a URL is registered
// and again, in the HTTP client's dialer, for the address actually
// connected to, so DNS rebinding cannot get around it.
package egress

import "net/netip"

// Kind is what an address is to the egress rule.
type Kind uint8

const (
	// Public is a globally reachable unicast address.
	Public Kind = iota
	// Loopback is 127.0.0.0/8 or ::1: allowed only for local development.
	Loopback
	// NonPublic is every other special-purpose address: never allowed.
	NonPublic
)

type special struct {
	prefix netip.Prefix
	reason string
}

func ranges(rs ...string) []special {
	out := make([]special, 0, len(rs)/2)
	for i := 0; i < len(rs); i += 2 {
		out = append(out, special{netip.MustParsePrefix(rs[i]), rs[i+1]})
	}
	return out
}

const (
	private       = "a private (RFC 1918) address"
	documentation = "a documentation address"
)

// The IANA IPv4 special-purpose registry, less the ranges it marks globally
// reachable, plus Azure's platform address, which every Azure VM reaches.
var specialV4 = ranges(
	"0.0.0.0/8", "in 0.0.0.0/8 (\"this network\")",
	"10.0.0.0/8", private,
	"100.64.0.0/10", "a carrier-grade NAT (RFC 6598) address",
	"169.254.0.0/16", "a link-local address (where cloud metadata services live)",
	"172.16.0.0/12", private,
	"192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)",
	"192.0.2.0/24", documentation,
	"192.88.99.0/24", "the deprecated 6to4 relay anycast range",
	"192.168.0.0/16", private,
	"198.18.0.0/15", "a benchmarking (RFC 2544) address",
	"198.51.100.0/24", documentation,
	"203.0.113.0/24", documentation,
	"224.0.0.0/4", "a multicast address",
	"240.0.0.0/4", "a reserved address (240.0.0.0/4, with broadcast)",
	"168.63.129.16/32", "Azure's platform address (WireServer)",
)

// IPv6 outside 2000::/3 is refused whole; these are the special ranges inside it.
var specialV6 = ranges(
	"2001::/32", "a Teredo address",
	"2001:2::/48", "a benchmarking address",
	"2001:10::/28", "an ORCHID address",
	"2001:20::/28", "an ORCHIDv2 address",
	"2001:db8::/32", documentation,
	"3fff::/20", documentation,
)

var (
	globalUnicast = netip.MustParsePrefix("2000::/3")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local    = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	outsideV6     = ranges(
		"::/96", "an IPv4-compatible (deprecated) address",
		"100::/64", "a discard-only address",
		"fc00::/7", "a unique local (ULA) address",
		"fe80::/10", "a link-local address",
		"fec0::/10", "a site-local (deprecated) address",
		"ff00::/8", "a multicast address",
	)
)

// Classify says what a is, and for anything but Public, why in a few words.
func Classify(a netip.Addr) (Kind, string) {
	switch {
	case !a.IsValid():
		return NonPublic, "not an IP address"
	case a.Zone() != "":
		return NonPublic, "an address with a zone"
	case a.IsUnspecified():
		return NonPublic, "the unspecified address"
	case a.Is4():
		return classify4(a)
	case a == netip.IPv6Loopback():
		return Loopback, "a loopback address"
	case a.Is4In6():
		return NonPublic, "an IPv4-mapped IPv6 address"
	case nat64Local.Contains(a):
		return NonPublic, "a local-use NAT64 (RFC 8215) address"
	case nat64.Contains(a):
		b := a.As16()
		return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		b := a.As16()
		return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !globalUnicast.Contains(a) {
		for _, s := range outsideV6 {
			if s.prefix.Contains(a) {
				return NonPublic, s.reason
			}
		}
		return NonPublic, "outside the IPv6 global unicast range 2000::/3"
	}
	for _, s := range specialV6 {
		if s.prefix.Contains(a) {
			return NonPublic, s.reason
		}
	}
	return Public, ""
}

var loopbackV4 = netip.MustParsePrefix("127.0.0.0/8")

func classify4(a netip.Addr) (Kind, string) {
	if loopbackV4.Contains(a) {
		return Loopback, "a loopback address"
	}
	for _, s := range specialV4 {
		if s.prefix.Contains(a) {
			return NonPublic, s.reason
		}
	}
	return Public, ""
}

// embedded classifies an IPv6 address by the IPv4 address inside it: the
// translated form of an address we refuse is refused too, loopback included.
func embedded(form string, v4 netip.Addr) (Kind, string) {
	if k, why := classify4(v4); k != Public {
		return NonPublic, "a " + form + " form of " + v4.String() + ", " + why
	}
	return Public, ""
}
