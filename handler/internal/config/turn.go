package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxTURNTTLMinutes is the longest TURN_TTL_MINUTES may be (one day).
const MaxTURNTTLMinutes = 1440

// minTURNSecretLen keeps TURN secrets out of reach of an offline guess: every
// client holds a username and its HMAC, which is all a brute force needs.
const minTURNSecretLen = 16

// keyVaultReferencePrefix starts an App Service Key Vault reference. The
// platform leaves the literal reference in place when it cannot resolve it.
const keyVaultReferencePrefix = "@microsoft.keyvault("

// hostnameRE is a DNS name (RFC 1123 labels); IP literals are checked apart.
var hostnameRE = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// turn reads TURN_URLS, TURN_SHARED_SECRET, TURN_SHARED_SECRET_PREVIOUS,
// TURN_USER_KEY and TURN_TTL_MINUTES.
func (r *reader) turn(c *Config) {
	c.TURNTTLMinutes = r.intRange("TURN_TTL_MINUTES", 60, 1, MaxTURNTTLMinutes)
	raw := r.str("TURN_URLS")
	c.TURNSharedSecret = r.turnSecret("TURN_SHARED_SECRET")
	c.TURNSharedSecretPrevious = r.turnSecret("TURN_SHARED_SECRET_PREVIOUS")
	c.TURNUserKey = r.turnSecret("TURN_USER_KEY")
	if raw != "" {
		urls, err := ParseICEURLs(raw)
		if err != nil {
			r.fail("TURN_URLS", err.Error())
		}
		c.TURNURLs = urls
	}
	r.together("TURN_URLS", raw, "TURN_SHARED_SECRET", c.TURNSharedSecret)
	if c.TURNSharedSecretPrevious != "" {
		if c.TURNSharedSecret == "" {
			r.fail("TURN_SHARED_SECRET", "is required when TURN_SHARED_SECRET_PREVIOUS is set")
		}
		if c.TURNSharedSecretPrevious == c.TURNSharedSecret {
			r.fail("TURN_SHARED_SECRET_PREVIOUS", "equals TURN_SHARED_SECRET; during a rotation it holds the old secret, otherwise leave it empty")
		}
	}
	if c.TURNUserKey != "" {
		if raw == "" {
			r.fail("TURN_URLS", "is required when TURN_USER_KEY is set")
		}
		if c.TURNUserKey == c.TURNSharedSecret || c.TURNUserKey == c.TURNSharedSecretPrevious {
			r.fail("TURN_USER_KEY", "must differ from the TURN shared secrets (the TURN operator knows those)")
		}
	}
}

// turnSecret reads an optional secret: long enough, and not a Key Vault
// reference that App Service failed to resolve.
func (r *reader) turnSecret(name string) string {
	v := r.str(name)
	switch {
	case v == "":
	case strings.HasPrefix(strings.ToLower(v), keyVaultReferencePrefix):
		r.fail(name, "is an unresolved Key Vault reference: give the app's identity the Key Vault Secrets User role and set keyVaultReferenceIdentity")
	case len(v) < minTURNSecretLen:
		r.fail(name, fmt.Sprintf("must be at least %d characters (a random secret, e.g. `openssl rand -base64 32`)", minTURNSecretLen))
	}
	return v
}

// ParseICEURLs splits a comma-separated list of STUN and TURN URLs, checks
// each (see CheckICEURL) and drops duplicates. At least one must be a turn:
// or turns: URL, as the credentials are for TURN.
func ParseICEURLs(raw string) ([]string, error) {
	var out []string
	hasTURN := false
	for _, u := range strings.Split(raw, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := CheckICEURL(u); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(u, "stun:") {
			hasTURN = true
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if !hasTURN {
		return nil, fmt.Errorf("must name at least one turn: or turns: URL (such as turn:turn.example.com:3478?transport=udp)")
	}
	return out, nil
}

// CheckICEURL accepts the URIs of RFC 7064 and RFC 7065 that WebRTC takes:
// stun:host[:port], turn:host[:port][?transport=udp|tcp] and the same for
// turns:, with host a DNS name, an IPv4 address or a bracketed IPv6 one.
func CheckICEURL(u string) error {
	bad := func(why string) error {
		return fmt.Errorf("holds %q, which is not a stun:, turn: or turns: URL: %s", u, why)
	}
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok {
		return bad("no scheme")
	}
	switch scheme {
	case "stun", "turn", "turns":
	default:
		return bad("the scheme must be stun, turn or turns (lower case)")
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		if scheme == "stun" {
			return bad("a stun: URL takes no query")
		}
		if query != "transport=udp" && query != "transport=tcp" {
			return bad("the only query is ?transport=udp or ?transport=tcp")
		}
	}
	if strings.HasPrefix(hostport, "//") {
		return bad("these URLs have no // (write turn:host:3478)")
	}
	if strings.ContainsAny(hostport, "/@#%") {
		return bad("no user, path or fragment is allowed")
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return bad("unclosed [")
		}
		host = hostport[1:end]
		switch after := hostport[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if port == "" {
				return bad("empty port")
			}
		default:
			return bad("junk after ]")
		}
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
			return bad("[...] must hold an IPv6 address")
		}
	} else {
		if h, p, found := strings.Cut(hostport, ":"); found {
			host, port = h, p
			if port == "" {
				return bad("empty port")
			}
		}
		if host == "" {
			return bad("no host")
		}
		if !hostnameRE.MatchString(host) || len(host) > 253 {
			return bad("the host must be a DNS name, an IPv4 address or a [bracketed] IPv6 address")
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.HasPrefix(port, "+") {
			return bad("the port must be a number from 1 to 65535")
		}
	}
	return nil
}
