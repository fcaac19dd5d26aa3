package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxKeyLength bounds PartitionKey and RowKey: Table Storage allows 1 KiB,
// which is 512 UTF-16 code units (Azurite enforces exactly that), counted
// after escaping.
const MaxKeyLength = 512

// EscapeKey makes any string usable as a PartitionKey or RowKey: the
// characters Table Storage forbids in keys (/ \ # ?, control characters
// U+0000-U+001F and U+007F-U+009F) and the escape character % itself are
// percent-encoded byte by byte; everything else is kept, so keys stay
// readable and sort as before for ordinary ids.
func EscapeKey(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if forbidden(r) || r == utf8.RuneError && size == 1 {
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// UnescapeKey reverses EscapeKey.
func UnescapeKey(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("malformed escaped key %q", s)
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

// ErrInvalidKey reports a key that is empty or too long for Table Storage.
var ErrInvalidKey = errors.New("invalid table key")

// checkKey escapes a caller's key and checks Table Storage's limits.
func checkKey(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("%w: a key must not be empty", ErrInvalidKey)
	}
	k := EscapeKey(raw)
	if n := utf16Len(k); n > MaxKeyLength {
		return "", fmt.Errorf("%w: %d characters after escaping, more than the %d Table Storage allows", ErrInvalidKey, n, MaxKeyLength)
	}
	return k, nil
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if forbidden(r) || r == utf8.RuneError && size == 1 {
			return true
		}
		i += size
	}
	return false
}

func forbidden(r rune) bool {
	switch {
	case r == '/', r == '\\', r == '#', r == '?', r == '%':
		return true
	case r <= 0x1F, r >= 0x7F && r <= 0x9F:
		return true
	}
	return false
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// CheckKey reports (as ErrInvalidKey) whether raw cannot be stored as a key:
// for refusing an id before any row is written.
func CheckKey(raw string) error {
	_, err := checkKey(raw)
	return err
}
