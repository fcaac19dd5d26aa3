package auth

import (
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestIsService(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, true)
	svc, err := is.MintService("backend", "Switchboard.Service")
	if err != nil {
		t.Fatal(err)
	}
	user, err := is.Mint(jose.RS256, map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	otherRole, err := is.MintService("backend", "Other.Role")
	if err != nil {
		t.Fatal(err)
	}
	easySvc := b64(map[string]any{"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": []map[string]string{{"typ": "sub", "val": "backend"}, {"typ": "roles", "val": "Switchboard.Service"}}})
	cases := []struct {
		name  string
		authz string
		hdr   map[string]string
		want  bool
	}{
		{"service token", "Bearer " + svc, nil, true},
		{"user token", "Bearer " + user, nil, false},
		{"other role", "Bearer " + otherRole, nil, false},
		{"no credentials", "", nil, false},
		{"garbage token", "Bearer not-a-jwt", nil, false},
		{"wrong scheme", "Basic " + svc, nil, false},
		{"easy auth service principal", "", map[string]string{"X-MS-CLIENT-PRINCIPAL": easySvc}, true},
		{"malformed easy auth principal", "", map[string]string{"X-MS-CLIENT-PRINCIPAL": "%%%"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.IsService(request(tc.authz, tc.hdr)); got != tc.want {
				t.Errorf("IsService = %v, want %v", got, tc.want)
			}
		})
	}
}
