package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"switchboard/dev/oidc"
	"switchboard/handler/internal/httpapi"
)

func newIssuer(t *testing.T) *oidc.Issuer {
	t.Helper()
	is, err := oidc.Start(oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	return is
}

func newAuth(t *testing.T, is *oidc.Issuer, easy bool) *Authenticator {
	t.Helper()
	a, err := New(Config{Issuer: is.URL(), Audience: oidc.DefaultAudience, EasyAuth: easy})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func request(authz string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest("GET", "/api/me", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestBearerTokens(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	mint := func(alg jose.SignatureAlgorithm, claims map[string]any) string {
		tok, err := is.Mint(alg, claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mint(jose.RS256, map[string]any{"sub": "alice", "name": "Alice"})
	parts := strings.Split(good, ".")
	// alg none, and HS256 "signed" with the issuer's public key bytes.
	none := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "."
	pub, _ := x509.MarshalPKIXPublicKey(is.RSAPublicKey())
	hsHeader := b64(map[string]string{"alg": "HS256", "typ": "JWT"})
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	cases := []struct {
		name   string
		authz  string
		status int
		detail string
	}{
		{"rs256", "Bearer " + good, 200, ""},
		{"es256", "Bearer " + mint(jose.ES256, map[string]any{"sub": "alice"}), 200, ""},
		{"lower-case scheme", "bearer " + good, 200, ""},
		{"missing", "", 401, "required"},
		{"basic", "Basic YWxpY2U6eA==", 401, "Bearer"},
		{"empty bearer", "Bearer ", 401, "Bearer"},
		{"garbled", "Bearer abc.def", 401, "malformed"},
		{"expired", "Bearer " + mint(jose.RS256, map[string]any{"sub": "a", "exp": time.Now().Add(-2 * time.Minute).Unix()}), 401, "expired"},
		{"expired within skew", "Bearer " + mint(jose.RS256, map[string]any{"sub": "a", "exp": time.Now().Add(-20 * time.Second).Unix()}), 200, ""},
		{"not yet valid", "Bearer " + mint(jose.RS256, map[string]any{"sub": "a", "nbf": time.Now().Add(time.Hour).Unix()}), 401, "not valid yet"},
		{"wrong audience", "Bearer " + mint(jose.RS256, map[string]any{"sub": "a", "aud": "api://other"}), 401, "audience"},
		{"wrong issuer", "Bearer " + mint(jose.RS256, map[string]any{"sub": "a", "iss": "https://evil.example"}), 401, "issuer"},
		{"alg none", "Bearer " + none, 401, ""},
		{"hs256 with public key", "Bearer " + hs, 401, ""},
		{"tampered payload", "Bearer " + parts[0] + "." + b64(map[string]any{"sub": "mallory", "aud": oidc.DefaultAudience, "iss": is.URL(), "exp": time.Now().Add(time.Hour).Unix()}) + "." + parts[2], 401, "signature"},
		{"no user claim", "Bearer " + mint(jose.RS256, map[string]any{"name": "x"}), 401, `"sub"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(request(tc.authz, nil))
			if tc.status == 200 {
				if err != nil || p.UserID == "" {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var prob *httpapi.Problem
			if !errors.As(err, &prob) || prob.Status != tc.status {
				t.Fatalf("want %d problem, got %v", tc.status, err)
			}
			if !strings.Contains(prob.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", prob.Detail, tc.detail)
			}
			if !strings.HasPrefix(prob.Header.Get("WWW-Authenticate"), `Bearer realm="switchboard"`) {
				t.Errorf("WWW-Authenticate %q", prob.Header.Get("WWW-Authenticate"))
			}
		})
	}
	p, err := a.Authenticate(request("Bearer "+good, nil))
	if err != nil || p.UserID != "alice" || p.Name != "Alice" || p.Service || p.Source != "bearer" {
		t.Fatalf("principal %+v %v", p, err)
	}
}

func TestKeyRotationPickedUp(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	old, _ := is.MintUser("alice", "", time.Hour, nil)
	if _, err := a.Authenticate(request("Bearer "+old, nil)); err != nil {
		t.Fatal(err)
	}
	if err := is.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh, _ := is.MintUser("alice", "", time.Hour, nil)
	if _, err := a.Authenticate(request("Bearer "+fresh, nil)); err != nil {
		t.Fatalf("token signed with a new kid: %v", err)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	is := newIssuer(t)
	is.SetDown(true)
	a := newAuth(t, is, false) // starts fine: no network at New
	tok, _ := is.MintUser("alice", "", time.Hour, nil)
	_, err := a.Authenticate(request("Bearer "+tok, nil))
	var prob *httpapi.Problem
	if !errors.As(err, &prob) || prob.Status != 503 || prob.RetryAfter == 0 {
		t.Fatalf("provider down: want 503 with Retry-After, got %v", err)
	}
	if a.Check(context.Background()) == nil {
		t.Fatal("health check passes while the provider is down")
	}
	is.SetDown(false)
	a.mu.Lock()
	a.lastTry = time.Time{} // skip the back-off between discovery attempts
	a.mu.Unlock()
	if _, err := a.Authenticate(request("Bearer "+tok, nil)); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

func TestEasyAuth(t *testing.T) {
	is := newIssuer(t)
	principal := base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","name_typ":"name","role_typ":"roles","claims":[` +
		`{"typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier","val":"easy-user"},` +
		`{"typ":"name","val":"Easy User"},{"typ":"roles","val":"Switchboard.Service"}]}`))
	hdr := map[string]string{"X-MS-CLIENT-PRINCIPAL": principal}

	off := newAuth(t, is, false)
	if _, err := off.Authenticate(request("", hdr)); err == nil {
		t.Fatal("EasyAuth header trusted while AUTH_EASYAUTH is off")
	}
	on := newAuth(t, is, true)
	p, err := on.Authenticate(request("", hdr))
	if err != nil || p.UserID != "easy-user" || p.Name != "Easy User" || !p.Service || p.Source != "easyauth" {
		t.Fatalf("easyauth principal %+v %v", p, err)
	}
	if _, err := on.Authenticate(request("", map[string]string{"X-MS-CLIENT-PRINCIPAL": "!!!"})); err == nil {
		t.Fatal("garbled principal accepted")
	}
	tok, _ := is.MintUser("bearer-user", "", time.Hour, nil)
	if p, err := on.Authenticate(request("Bearer "+tok, nil)); err != nil || p.UserID != "bearer-user" {
		t.Fatalf("bearer with EasyAuth on: %+v %v", p, err)
	}
}

func TestActingUser(t *testing.T) {
	user := &Principal{UserID: "alice"}
	svc := &Principal{UserID: "svc", Service: true}
	obo := map[string]string{OnBehalfOfHeader: "bob"}
	if u, err := ActingUser(request("", nil), user); err != nil || u != "alice" {
		t.Fatal(u, err)
	}
	if u, err := ActingUser(request("", map[string]string{OnBehalfOfHeader: "alice"}), user); err != nil || u != "alice" {
		t.Fatal(u, err)
	}
	var prob *httpapi.Problem
	if _, err := ActingUser(request("", obo), user); !errors.As(err, &prob) || prob.Status != 403 {
		t.Fatalf("end user acting for another: %v", err)
	}
	if u, err := ActingUser(request("", obo), svc); err != nil || u != "bob" {
		t.Fatal(u, err)
	}
	if u, err := ActingUser(request("", nil), svc); err != nil || u != "" {
		t.Fatal(u, err)
	}
	is := newIssuer(t)
	a := newAuth(t, is, false)
	tok, _ := is.MintService("backend", "Switchboard.Service")
	p, err := a.Authenticate(request("Bearer "+tok, nil))
	if err != nil || !p.Service {
		t.Fatalf("service token: %+v %v", p, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Issuer: "http://login.example.com", Audience: "a"},
		{Issuer: "not a url", Audience: "a"},
		{Issuer: "https://login.example.com"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

func FuzzParseEasyAuth(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"claims":[{"typ":"sub","val":"u"}]}`)), "sub")
	f.Add("", "oid")
	f.Fuzz(func(t *testing.T, header, claim string) {
		p, err := parseEasyAuth(header, claim)
		if err == nil && p.UserID == "" {
			t.Fatal("principal without a user")
		}
	})
}

func FuzzAuthorizationHeader(f *testing.F) {
	is, err := oidc.Start(oidc.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer is.Close()
	a, _ := New(Config{Issuer: is.URL(), Audience: oidc.DefaultAudience})
	tok, _ := is.MintUser("alice", "", time.Hour, nil)
	f.Add("Bearer " + tok)
	f.Add("Bearer a.b.c")
	f.Fuzz(func(t *testing.T, authz string) {
		p, err := a.Authenticate(request(authz, nil))
		if err == nil && p.UserID != "alice" {
			t.Fatalf("accepted a forged header as %q", p.UserID)
		}
	})
}
