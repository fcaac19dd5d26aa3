package secret

import (
	"encoding/base64"
	"regexp"
	"testing"
)

func TestNewIsRandomBase64URLOfTheLength(t *testing.T) {
	for n, chars := range map[int]int{16: 22, 32: 43} {
		a, b := New(n), New(n)
		if a == b || len(a) != chars || !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(a) {
			t.Fatalf("New(%d) = %q, %q; want two different %d-character base64url strings", n, a, b, chars)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(a); err != nil || len(raw) != n {
			t.Fatalf("New(%d) decodes to %d bytes, %v", n, len(raw), err)
		}
	}
}

// The stored format: SHA-256 hex of the text, as calls and guests have
// always stored it.
func TestHashIsSHA256Hex(t *testing.T) {
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("Hash(abc) = %s, want %s", got, want)
	}
}
