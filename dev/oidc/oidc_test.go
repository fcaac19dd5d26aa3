package oidc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// verify checks tok against the issuer's published JWKS, as a relying party would.
func verify(t *testing.T, is *Issuer, tok string) map[string]any {
	t.Helper()
	var set jose.JSONWebKeySet
	if st := getJSON(t, is.URL()+"/keys", &set); st != 200 {
		t.Fatalf("jwks: %d", st)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q published %d times", parsed.Headers[0].KeyID, len(keys))
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims
}

func TestDiscoveryAndMint(t *testing.T) {
	is, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	if u, _ := url.Parse(is.URL()); u.Hostname() != "127.0.0.1" || u.Port() == "0" {
		t.Fatalf("issuer %s not on a loopback port", is.URL())
	}
	var doc map[string]any
	if st := getJSON(t, is.URL()+"/.well-known/openid-configuration", &doc); st != 200 {
		t.Fatalf("discovery: %d", st)
	}
	if doc["issuer"] != is.URL() || doc["jwks_uri"] != is.URL()+"/keys" {
		t.Fatalf("discovery %v", doc)
	}

	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		tok, err := is.Mint(alg, map[string]any{"sub": "alice"})
		if err != nil {
			t.Fatal(err)
		}
		c := verify(t, is, tok)
		if c["sub"] != "alice" || c["iss"] != is.URL() || c["aud"] != DefaultAudience {
			t.Errorf("%s claims %v", alg, c)
		}
	}
	tok, _ := is.MintService("backend", "Switchboard.Service")
	if c := verify(t, is, tok); !slices.Equal(c["roles"].([]any), []any{"Switchboard.Service"}) {
		t.Errorf("service claims %v", c)
	}
	tok, _ = is.MintUser("bob", "Bob", -time.Minute, nil)
	if c := verify(t, is, tok); c["exp"].(float64) > float64(time.Now().Unix()) || c["nbf"].(float64) > c["exp"].(float64) {
		t.Errorf("expired token claims %v", c)
	}
}

func TestRotateAndDown(t *testing.T) {
	is, err := Start(Options{Audience: "api://x"})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	old, _ := is.MintUser("alice", "", time.Hour, nil)
	if err := is.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh, _ := is.MintUser("alice", "", time.Hour, nil)
	if verify(t, is, old)["aud"] != "api://x" || verify(t, is, fresh)["sub"] != "alice" {
		t.Fatal("claims")
	}
	if strings.Split(old, ".")[0] == strings.Split(fresh, ".")[0] {
		t.Fatal("rotation kept the kid")
	}
	n := is.JWKSFetches()
	is.SetDown(true)
	var v any
	if st := getJSON(t, is.URL()+"/keys", &v); st != http.StatusServiceUnavailable {
		t.Fatalf("down jwks: %d", st)
	}
	if st := getJSON(t, is.URL()+"/.well-known/openid-configuration", &v); st != http.StatusServiceUnavailable {
		t.Fatalf("down discovery: %d", st)
	}
	if is.JWKSFetches() != n+1 {
		t.Fatalf("fetch count %d, want %d", is.JWKSFetches(), n+1)
	}
}

func TestTokenRoute(t *testing.T) {
	is, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	cases := []struct {
		name   string
		do     func() (*http.Response, error)
		status int
		sub    string
		roles  bool
	}{
		{"get", func() (*http.Response, error) { return http.Get(is.URL() + "/token?sub=carol&name=Carol") }, 200, "carol", false},
		{"post form", func() (*http.Response, error) {
			return http.PostForm(is.URL()+"/token", url.Values{"sub": {"svc"}, "role": {"Switchboard.Service"}, "ttl": {"60"}})
		}, 200, "svc", true},
		{"no sub", func() (*http.Response, error) { return http.Get(is.URL() + "/token") }, 400, "", false},
		{"bad ttl", func() (*http.Response, error) { return http.Get(is.URL() + "/token?sub=a&ttl=-5") }, 400, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.do()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			var out struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.TokenType != "Bearer" {
				t.Fatal(out, err)
			}
			c := verify(t, is, out.AccessToken)
			if c["sub"] != tc.sub || (c["roles"] != nil) != tc.roles {
				t.Errorf("claims %v", c)
			}
		})
	}
}
