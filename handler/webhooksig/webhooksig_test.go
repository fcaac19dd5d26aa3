package webhooksig

import (
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1795590000, 0)
	body := []byte(`{"type":"incomingCall"}`)
	h := Sign("secret", now, body)
	cases := []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		ok                   bool
	}{
		{"valid", "secret", h, body, now, true},
		{"within tolerance", "secret", h, body, now.Add(4 * time.Minute), true},
		{"replayed later", "secret", h, body, now.Add(6 * time.Minute), false},
		{"wrong secret", "other", h, body, now, false},
		{"tampered body", "secret", h, []byte(`{"type":"x"}`), now, false},
		{"garbled", "secret", "v1=abc", body, now, false},
		{"empty", "secret", "", body, now, false},
	}
	for _, tc := range cases {
		err := Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	at := time.Unix(1795590000, 0)
	f.Add(Sign("secret", at, []byte("{}")), []byte("{}"))
	f.Add("t=1795590000,v1=00", []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		// Whatever passes for one secret must fail for another.
		if Verify("secret", header, body, at, time.Minute) == nil && Verify("other", header, body, at, time.Minute) == nil {
			t.Fatalf("header %q verifies under two secrets", header)
		}
	})
}
