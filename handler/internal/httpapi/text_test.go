package httpapi

import (
	"strings"
	"testing"
)

func TestTooLong(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want bool
	}{
		{"", 0, false},
		{"a", 0, true},
		{strings.Repeat("a", 200), 200, false},
		{strings.Repeat("a", 201), 200, true},
		{strings.Repeat("é", 150), 200, false}, // 300 bytes
		{strings.Repeat("é", 200), 200, false}, // 400 bytes
		{strings.Repeat("é", 201), 200, true},
		{strings.Repeat("😀", 200), 200, false}, // 800 bytes
	}
	for _, tc := range cases {
		if got := TooLong(tc.s, tc.n); got != tc.want {
			t.Errorf("TooLong(%d bytes, %d) = %v, want %v", len(tc.s), tc.n, got, tc.want)
		}
	}
}
