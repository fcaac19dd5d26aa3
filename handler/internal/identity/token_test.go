package identity

import (
	"errors"
	"strings"
	"testing"

	"switchboard/handler/internal/httpapi"
)

func TestGrant(t *testing.T) {
	s := &Service{opts: Options{AllowedScopes: []string{"voip", "chat"}, DefaultScopes: []string{"voip"}}}
	n := func(i int) *int { return &i }
	cases := []struct {
		name    string
		req     TokenRequest
		scopes  string
		minutes int
		field   string
	}{
		{"defaults", TokenRequest{}, "voip", DefaultTokenMinutes, ""},
		{"subset", TokenRequest{Scopes: []string{"chat"}}, "chat", 60, ""},
		{"both, duplicates folded", TokenRequest{Scopes: []string{"chat", "voip", "chat"}}, "chat,voip", 60, ""},
		{"min", TokenRequest{ExpiresInMinutes: n(60)}, "voip", 60, ""},
		{"max", TokenRequest{ExpiresInMinutes: n(1440)}, "voip", 1440, ""},
		{"too short", TokenRequest{ExpiresInMinutes: n(59)}, "", 0, "expiresInMinutes"},
		{"too long", TokenRequest{ExpiresInMinutes: n(1441)}, "", 0, "expiresInMinutes"},
		{"negative", TokenRequest{ExpiresInMinutes: n(-1)}, "", 0, "expiresInMinutes"},
		{"empty scopes", TokenRequest{Scopes: []string{}}, "", 0, "scopes"},
		{"not allowed here", TokenRequest{Scopes: []string{"voip.join"}}, "", 0, "scopes"},
		{"not an ACS scope", TokenRequest{Scopes: []string{"admin"}}, "", 0, "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := s.Grant(tc.req)
			if tc.field != "" {
				var p *httpapi.Problem
				if !errors.As(err, &p) || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
					t.Fatalf("want a 400 naming %s, got %v", tc.field, err)
				}
				return
			}
			if err != nil || strings.Join(g.Scopes, ",") != tc.scopes || g.Minutes != tc.minutes {
				t.Fatalf("grant %+v %v", g, err)
			}
		})
	}
}
