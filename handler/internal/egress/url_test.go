package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	strict, dev := New(nil), New(&Options{AllowLoopback: true})
	cases := []struct {
		url       string
		ok, devOK bool   // strict rule, PUSH_ALLOW_LOOPBACK_TARGETS
		why       string // a word the strict refusal must hold
	}{
		{"https://hooks.example.com/ring", true, true, ""},
		{"https://hooks.example.com:8443/ring?x=1", true, true, ""},
		{"HTTPS://Hooks.Example.COM./ring", true, true, ""},
		{"https://8.8.8.8/x", true, true, ""},
		{"https://[2606:4700:4700::1111]/x", true, true, ""},
		{"https://xn--bcher-kva.example/x", false, false, "special-use"},
		{"https://xn--bcher-kva.de/x", true, true, ""},

		// scheme, credentials, shape
		{"http://hooks.example.com/ring", false, false, "https"},
		{"ftp://hooks.example.com/", false, false, "https"},
		{"file:///etc/passwd", false, false, "absolute"},
		{"gopher://127.0.0.1:6379/_INFO", false, false, "loopback"},
		{"//hooks.example.com/x", false, false, "absolute"},
		{"/ring", false, false, "absolute"},
		{"mailto:ops@example.com", false, false, "absolute"},
		{"https://user:pass@hooks.example.com/", false, false, "credentials"},
		{"https://user@hooks.example.com/", false, false, "credentials"},
		{"https://hooks.example.com:0/", false, false, "port"},
		{"https://hooks.example.com:99999/", false, false, "port"},
		{"https://" + strings.Repeat("a", MaxURLLength) + ".com/", false, false, "longer"},
		{"https://hooks example.com/", false, false, "URL"},

		// loopback, in every spelling
		{"http://127.0.0.1:8080/internal", false, true, "loopback"},
		{"https://127.0.0.1/internal", false, true, "loopback"},
		{"http://127.1.2.3/", false, true, "loopback"},
		{"http://localhost:7071/housekeeping", false, true, "loopback"},
		{"http://LOCALHOST./x", false, true, "loopback"},
		{"http://api.localhost/x", false, true, "loopback"},
		{"http://[::1]:8080/x", false, true, "loopback"},
		{"https://[::1]/x", false, true, "loopback"},
		{"http://[::ffff:127.0.0.1]/", false, false, "IPv4-mapped"},
		{"http://[::ffff:7f00:1]/", false, false, "IPv4-mapped"},
		{"http://[64:ff9b::127.0.0.1]/", false, false, "NAT64"},
		{"http://[2002:7f00:1::]/", false, false, "6to4"},
		{"http://[::127.0.0.1]/", false, false, "IPv4-compatible"},
		{"http://2130706433/", false, false, "non-standard"},
		{"http://0x7f000001/", false, false, "non-standard"},
		{"http://0x7f.1/", false, false, "non-standard"},
		{"http://0177.0.0.1/", false, false, "non-standard"},
		{"http://127.1/", false, false, "non-standard"},
		{"http://127.0.0.1.5/", false, false, "non-standard"},
		{"http://017700000001/", false, false, "non-standard"},
		{"https://1.2.3/", false, false, "non-standard"},
		{"http://0/", false, false, "non-standard"},

		// private, link-local, metadata, special
		{"https://169.254.169.254/metadata", false, false, "link-local"},
		{"http://169.254.169.254/metadata/identity/oauth2/token", false, false, "link-local"},
		{"https://[fe80::1%25eth0]/", false, false, "IPv6"},
		{"https://[fe80::1]/", false, false, "link-local"},
		{"https://10.1.2.3/", false, false, "RFC 1918"},
		{"https://172.20.0.1/", false, false, "RFC 1918"},
		{"https://192.168.0.10/", false, false, "RFC 1918"},
		{"https://100.100.100.200/", false, false, "carrier-grade"},
		{"https://168.63.129.16/", false, false, "WireServer"},
		{"https://[fd00::1]/", false, false, "unique local"},
		{"https://[fd00:ec2::254]/", false, false, "unique local"},
		{"https://0.0.0.0/", false, false, "unspecified"},
		{"https://[::]/", false, false, "unspecified"},
		{"https://224.0.0.1/", false, false, "multicast"},
		{"https://[ff02::1]/", false, false, "multicast"},
		{"https://255.255.255.255/", false, false, "reserved"},
		{"https://[1.2.3.4]/", false, false, "URL"},
		{"https://metadata.google.internal/computeMetadata/v1/", false, false, "special-use"},
		{"https://printer.local/", false, false, "special-use"},
		{"https://router.home.arpa/", false, false, "special-use"},
		{"https://1.0.0.127.in-addr.arpa/", false, false, "special-use"},
		{"https://metadata/", false, false, "single-label"},
		{"https://wireserver./", false, false, "single-label"},
		{"https://hooks..example.com/", false, false, "label"},
		{"https://hooks.example.com../", false, false, "label"},
		{"https://hööks.example.com/", false, false, "xn--"},
		{"https://hooks.example.com%2f@evil/", false, false, "credentials"},
	}
	for _, tc := range cases {
		_, err := strict.ParseURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("strict ParseURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		} else if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.why)) {
			t.Errorf("strict ParseURL(%q) = %v, want a refusal saying %q", tc.url, err, tc.why)
		}
		if _, err := dev.ParseURL(tc.url); (err == nil) != tc.devOK {
			t.Errorf("loopback-allowing ParseURL(%q) = %v, want ok=%v", tc.url, err, tc.devOK)
		}
	}
}

func TestHostList(t *testing.T) {
	l, err := ParseHostList(" fcm.googleapis.com, *.notify.windows.com,*.Push.Apple.com. ,127.0.0.1,localhost,")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"fcm.googleapis.com":           true,
		"FCM.googleapis.com.":          true,
		"wns2-db5p.notify.windows.com": true,
		"notify.windows.com":           false,
		"web.push.apple.com":           true,
		"evilpush.apple.com":           false,
		"push.apple.com.evil.com":      false,
		"fcm.googleapis.com.evil":      false,
		"xfcm.googleapis.com":          false,
		"127.0.0.1":                    true,
		"localhost":                    true,
		"127.0.0.2":                    false,
	} {
		if l.Allows(host) != want {
			t.Errorf("Allows(%q) = %v", host, !want)
		}
	}
	if s := l.String(); s != "fcm.googleapis.com,*.notify.windows.com,*.push.apple.com,127.0.0.1,localhost" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"", " , ", "*", "*.", "*.com.", "https://fcm.googleapis.com", "fcm.googleapis.com/x", "*.*.example.com", "intranet", "a..b", "fcm.googleapis.com:443"} {
		if _, err := ParseHostList(bad); err == nil {
			t.Errorf("ParseHostList(%q) accepted", bad)
		}
	}
}

// FuzzParseURL: whatever ParseURL accepts under the strict rule is https to
// a host that no reading of it (IP literal, inet_aton's numeric forms)
// turns into a special-purpose address; and accepting is stable under
// re-serialisation.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/ring", "http://127.0.0.1:1/x", "https://[::ffff:127.0.0.1]/",
		"http://0x7f.1/", "http://2130706433/", "https://[64:ff9b::a9fe:a9fe]/", "https://a.b.c.d.e/",
		"https://169.254.169.254./", "https://localhost./", "https://u@h.example.com/", "https://h.example.com:443/",
	} {
		f.Add(s)
	}
	strict := New(nil)
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := strict.ParseURL(raw)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("a refusal that is not ErrRefused: %v", err)
			}
			return
		}
		if u.Scheme != "https" || u.User != nil || u.Host == "" {
			t.Fatalf("accepted %q: scheme %q, user %v", raw, u.Scheme, u.User)
		}
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if a, err := netip.ParseAddr(host); err == nil {
			if k, why := Classify(a); k != Public {
				t.Fatalf("accepted %q: %s is %s", raw, a, why)
			}
		} else if a, ok := inetAton(host); ok {
			t.Fatalf("accepted %q, which inet_aton reads as %s", raw, a)
		} else if host == "localhost" || strings.HasSuffix(host, ".localhost") || !strings.Contains(host, ".") {
			t.Fatalf("accepted %q: host %q", raw, host)
		}
		again, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("accepted %q, whose String() %q does not parse: %v", raw, u.String(), err)
		}
		if _, err := checkURL(again, false); err != nil {
			t.Fatalf("accepted %q but not its String() %q: %v", raw, u.String(), err)
		}
	})
}

// inetAton is the C library's reading of an IPv4 address: one to four
// parts, each decimal, octal (leading 0) or hex (0x), the last filling the
// remaining bytes. The fuzz target checks ParseURL against it.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" && base != 16 {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil && p != "" {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(32-8*(len(vals)-1)) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
