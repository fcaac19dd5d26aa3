package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	testTURNSecret   = "turn-secret-0123456789"
	testTURNPrevious = "turn-secret-previous-0123"
)

func turnEnv(set map[string]string) map[string]string {
	env := base()
	env["TURN_URLS"] = "turn:turn.example.com:3478?transport=udp, stun:turn.example.com"
	env["TURN_SHARED_SECRET"] = testTURNSecret
	for k, v := range set {
		env[k] = v
	}
	return env
}

func TestLoadTURN(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.TURNURLs != nil || c.TURNSharedSecret != "" || c.TURNTTLMinutes != 60 || c.QuotaUser.RelayPerHour != 60 {
		t.Errorf("TURN off by default, TTL 60, quota 60: %+v", c)
	}
	c, err = load(turnEnv(map[string]string{
		"TURN_URLS":                   "turn:a.example.com:3478?transport=udp,turn:a.example.com:3478?transport=tcp,turns:a.example.com:443?transport=tcp,stun:a.example.com:3478,turn:a.example.com:3478?transport=udp",
		"TURN_SHARED_SECRET_PREVIOUS": testTURNPrevious,
		"TURN_USER_KEY":               "user-key-0123456789abcdef",
		"TURN_TTL_MINUTES":            "1440",
		"QUOTA_RELAY_PER_HOUR":        "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"turn:a.example.com:3478?transport=udp", "turn:a.example.com:3478?transport=tcp", "turns:a.example.com:443?transport=tcp", "stun:a.example.com:3478"}
	if !slices.Equal(c.TURNURLs, want) {
		t.Errorf("TURNURLs = %q, want %q (duplicates dropped, order kept)", c.TURNURLs, want)
	}
	if c.TURNSharedSecretPrevious != testTURNPrevious || c.TURNUserKey == "" || c.TURNTTLMinutes != 1440 || c.QuotaUser.RelayPerHour != 5 {
		t.Errorf("%+v", c)
	}
}

func TestLoadRejectsTURN(t *testing.T) {
	cases := []struct {
		name    string
		set     map[string]string
		setting string
	}{
		{"http url", map[string]string{"TURN_URLS": "https://turn.example.com"}, "TURN_URLS"},
		{"one bad among good", map[string]string{"TURN_URLS": "turn:a.example.com,turm:b.example.com"}, "TURN_URLS"},
		{"stun only", map[string]string{"TURN_URLS": "stun:a.example.com"}, "TURN_URLS"},
		{"only commas", map[string]string{"TURN_URLS": " , "}, "TURN_URLS"},
		{"urls without secret", map[string]string{"TURN_SHARED_SECRET": ""}, "TURN_SHARED_SECRET"},
		{"secret without urls", map[string]string{"TURN_URLS": ""}, "TURN_URLS"},
		{"short secret", map[string]string{"TURN_SHARED_SECRET": "secret"}, "TURN_SHARED_SECRET"},
		{"unresolved key vault reference", map[string]string{"TURN_SHARED_SECRET": "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/turn/)"}, "TURN_SHARED_SECRET"},
		{"previous equals current", map[string]string{"TURN_SHARED_SECRET_PREVIOUS": testTURNSecret}, "TURN_SHARED_SECRET_PREVIOUS"},
		{"previous short", map[string]string{"TURN_SHARED_SECRET_PREVIOUS": "old"}, "TURN_SHARED_SECRET_PREVIOUS"},
		{"previous without current", map[string]string{"TURN_URLS": "", "TURN_SHARED_SECRET": "", "TURN_SHARED_SECRET_PREVIOUS": testTURNPrevious}, "TURN_SHARED_SECRET"},
		{"user key equals secret", map[string]string{"TURN_USER_KEY": testTURNSecret}, "TURN_USER_KEY"},
		{"user key short", map[string]string{"TURN_USER_KEY": "k"}, "TURN_USER_KEY"},
		{"user key without urls", map[string]string{"TURN_URLS": "", "TURN_SHARED_SECRET": "", "TURN_USER_KEY": "user-key-0123456789abcdef"}, "TURN_URLS"},
		{"ttl zero", map[string]string{"TURN_TTL_MINUTES": "0"}, "TURN_TTL_MINUTES"},
		{"ttl over a day", map[string]string{"TURN_TTL_MINUTES": "1441"}, "TURN_TTL_MINUTES"},
		{"ttl fractional", map[string]string{"TURN_TTL_MINUTES": "1.5"}, "TURN_TTL_MINUTES"},
		{"quota zero", map[string]string{"QUOTA_RELAY_PER_HOUR": "0"}, "QUOTA_RELAY_PER_HOUR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(turnEnv(tc.set))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Setting != tc.setting {
				t.Errorf("setting = %s, want %s (%v)", ce.Setting, tc.setting, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error must be one line: %q", err)
			}
			for _, secret := range []string{testTURNSecret, testTURNPrevious} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error quotes a secret: %q", err)
				}
			}
		})
	}
}

func TestCheckICEURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"stun:stun.example.com", true},
		{"stun:stun.example.com:3478", true},
		{"stun:192.0.2.1:19302", true},
		{"stun:[2001:db8::1]:3478", true},
		{"stun:[2001:db8::1]", true},
		{"turn:turn.example.com", true},
		{"turn:turn.example.com:3478?transport=udp", true},
		{"turn:turn.example.com:3478?transport=tcp", true},
		{"turn:127.0.0.1:3478?transport=udp", true},
		{"turns:turn.example.com:443?transport=tcp", true},
		{"turns:turn.example.com:5349", true},
		{"turn:turn.example.com.:3478", true},
		{"stuns:stun.example.com", false},
		{"TURN:turn.example.com", false},
		{"turn://turn.example.com:3478", false},
		{"turn:user@turn.example.com", false},
		{"turn:turn.example.com:3478/path", false},
		{"turn:turn.example.com:3478#x", false},
		{"turn:turn.example.com:3478?transport=sctp", false},
		{"turn:turn.example.com:3478?transport=udp&x=1", false},
		{"turn:turn.example.com:3478?", false},
		{"stun:stun.example.com?transport=udp", false},
		{"turn:", false},
		{"turn::3478", false},
		{"turn:turn.example.com:", false},
		{"turn:turn.example.com:0", false},
		{"turn:turn.example.com:65536", false},
		{"turn:turn.example.com:+3478", false},
		{"turn:turn.example.com:34a", false},
		{"turn:-bad.example.com", false},
		{"turn:bad_host.example.com", false},
		{"turn:2001:db8::1", false},
		{"turn:[192.0.2.1]", false},
		{"turn:[2001:db8::1", false},
		{"turn:[2001:db8::1]x", false},
		{"turn:[fe80::1%25eth0]", false},
		{"turn:turn.example.com 3478", false},
		{"turn.example.com:3478", false},
		{"https://turn.example.com", false},
	} {
		if err := CheckICEURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckICEURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func FuzzCheckICEURL(f *testing.F) {
	f.Add("turn:turn.example.com:3478?transport=udp")
	f.Add("stun:[2001:db8::1]:3478")
	f.Add("turns:a:1")
	f.Fuzz(func(t *testing.T, u string) {
		if CheckICEURL(u) != nil {
			return
		}
		// Whatever passes is one URL a browser can take: no separators,
		// whitespace or control characters, and a known scheme.
		if strings.ContainsAny(u, ", \t\r\n/@#") || !(strings.HasPrefix(u, "stun:") || strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:")) {
			t.Fatalf("accepted %q", u)
		}
		for _, r := range u {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("accepted a non-printable or non-ASCII character in %q", u)
			}
		}
	})
}
