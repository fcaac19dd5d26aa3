package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// easyAuthPrincipal is App Service Authentication's X-MS-CLIENT-PRINCIPAL
// (base64 JSON). App Service strips this header from client requests, so it
// is trustworthy only behind App Service with authentication on.
type easyAuthPrincipal struct {
	AuthType string `json:"auth_typ"`
	NameType string `json:"name_typ"`
	RoleType string `json:"role_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

// claimAliases are the long claim types App Service uses for short JWT names.
var claimAliases = map[string][]string{
	"sub":   {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"},
	"oid":   {"http://schemas.microsoft.com/identity/claims/objectidentifier"},
	"name":  {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"},
	"roles": {"http://schemas.microsoft.com/ws/2008/06/identity/claims/role"},
}

func parseEasyAuth(header, userClaim string) (*Principal, error) {
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "=")); err != nil {
			return nil, errors.New("not base64")
		}
	}
	var cp easyAuthPrincipal
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, err
	}
	is := func(typ, short string, extra ...string) bool {
		if typ == short {
			return true
		}
		for _, a := range append(claimAliases[short], extra...) {
			if a != "" && typ == a {
				return true
			}
		}
		return false
	}
	p := &Principal{Source: "easyauth"}
	for _, c := range cp.Claims {
		switch {
		case is(c.Type, userClaim) && p.UserID == "":
			p.UserID = c.Value
		case is(c.Type, "name", cp.NameType) && p.Name == "":
			p.Name = c.Value
		case is(c.Type, "roles", cp.RoleType):
			p.Roles = append(p.Roles, c.Value)
		}
	}
	if p.UserID == "" {
		return nil, errors.New("no user claim")
	}
	return p, nil
}
