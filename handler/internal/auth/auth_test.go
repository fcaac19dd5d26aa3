package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

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
	foreign := foreignToken(t, is, "someone-else")
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
		{"alg none", "Bearer " + none, 401, "algorithm"},
		{"hs256 with public key", "Bearer " + hs, 401, "algorithm"},
		{"unknown kid", "Bearer " + foreign, 401, "signature"},
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
			challenge := prob.Header.Get("WWW-Authenticate")
			switch {
			case tc.authz == "" && challenge != `Bearer realm="switchboard"`:
				t.Errorf("no token presented, yet WWW-Authenticate %q", challenge)
			case tc.authz != "" && !strings.HasPrefix(challenge, `Bearer realm="switchboard", error="invalid_`):
				t.Errorf("WWW-Authenticate %q has no RFC 6750 error", challenge)
			}
		})
	}
	p, err := a.Authenticate(request("Bearer "+good, nil))
	if err != nil || p.UserID != "alice" || p.Name != "Alice" || p.Service || p.Source != "bearer" || p.Claims["name"] != "Alice" {
		t.Fatalf("principal %+v %v", p, err)
	}
}

func TestKeyRotationPickedUp(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	a.keyRefresh = 0
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
	if _, err := a.Authenticate(request("Bearer "+tok, nil)); err == nil {
		t.Fatal("discovery retried within the back-off")
	}
	a.retry = 0
	if _, err := a.Authenticate(request("Bearer "+tok, nil)); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

// foreignToken is signed by a key the issuer never published, with a fresh kid.
func foreignToken(t *testing.T, is *oidc.Issuer, sub string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: "kid-" + sub}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(map[string]any{"sub": sub, "iss": is.URL(), "aud": oidc.DefaultAudience,
		"exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestUnknownKidsDoNotHammerTheProvider(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	good, _ := is.MintUser("alice", "", time.Hour, nil)
	if _, err := a.Authenticate(request("Bearer "+good, nil)); err != nil {
		t.Fatal(err)
	}
	fetches := is.JWKSFetches()
	forged := foreignToken(t, is, "mallory")
	for range 20 {
		if _, err := a.Authenticate(request("Bearer "+forged, nil)); err == nil {
			t.Fatal("token from an unpublished key accepted")
		}
	}
	if n := is.JWKSFetches() - fetches; n > 1 {
		t.Fatalf("%d JWKS fetches for 20 tokens with an unknown kid; want at most 1 per %v", n, keyRefreshInterval)
	}
}

func TestKeysUnavailable(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	a.keyRefresh = 0
	if err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	is.SetDown(true)
	tok, _ := is.MintUser("alice", "", time.Hour, nil)
	_, err := a.Authenticate(request("Bearer "+tok, nil))
	var prob *httpapi.Problem
	if !errors.As(err, &prob) || prob.Status != 503 || prob.Code != httpapi.CodeUpstreamUnavailable {
		t.Fatalf("JWKS down: want 503 upstream-unavailable, got %v", err)
	}
	is.SetDown(false)
	// go-oidc hands the failed fetch's result to callers that arrive before
	// its fetch goroutine clears it, so the first request after recovery may
	// still see it; a later one must not.
	for i := 0; ; i++ {
		_, err := a.Authenticate(request("Bearer "+tok, nil))
		if err == nil {
			break
		}
		if i == 1000 {
			t.Fatalf("after the keys came back: %v", err)
		}
		runtime.Gosched()
	}
}

func TestRequireOverHTTP(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	srv := httptest.NewServer(a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", 500)
			return
		}
		httpapi.WriteJSON(w, 200, map[string]any{"user": p.UserID, "service": p.Service})
	})))
	t.Cleanup(srv.Close)
	user, _ := is.MintUser("alice", "Alice", time.Hour, nil)
	svc, _ := is.MintService("backend", "Switchboard.Service")
	cases := []struct {
		name, authz string
		status      int
		body        string
	}{
		{"user", "Bearer " + user, 200, `{"service":false,"user":"alice"}`},
		{"service", "Bearer " + svc, 200, `{"service":true,"user":"backend"}`},
		{"none", "", 401, `"code":"unauthenticated"`},
		{"bad", "Bearer x.y.z", 401, `"code":"unauthenticated"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/me", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tc.status == 401 && (resp.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ")) {
				t.Fatalf("401 headers %v", resp.Header)
			}
		})
	}
}

func TestParseEasyAuth(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, header, claim string
		user, userName      string
		roles               []string
		ok                  bool
	}{
		{"aad long types", enc(`{"auth_typ":"aad","name_typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name","role_typ":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role","claims":[` +
			`{"typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier","val":"u1"},` +
			`{"typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name","val":"User One"},` +
			`{"typ":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role","val":"A"},` +
			`{"typ":"http://schemas.microsoft.com/ws/2008/06/identity/claims/role","val":"B"}]}`), "sub", "u1", "User One", []string{"A", "B"}, true},
		{"short types", enc(`{"claims":[{"typ":"sub","val":"u2"},{"typ":"name","val":"Two"},{"typ":"roles","val":"R"}]}`), "sub", "u2", "Two", []string{"R"}, true},
		{"oid as user claim", enc(`{"claims":[{"typ":"sub","val":"pairwise"},{"typ":"http://schemas.microsoft.com/identity/claims/objectidentifier","val":"oid-1"}]}`), "oid", "oid-1", "", nil, true},
		{"custom role_typ", enc(`{"role_typ":"groups","claims":[{"typ":"sub","val":"u3"},{"typ":"groups","val":"G"}]}`), "sub", "u3", "", []string{"G"}, true},
		{"url-safe base64", base64.RawURLEncoding.EncodeToString([]byte(`{"claims":[{"typ":"sub","val":"u4"}]}`)), "sub", "u4", "", nil, true},
		{"no user claim", enc(`{"claims":[{"typ":"name","val":"Anon"}]}`), "sub", "", "", nil, false},
		{"empty user", enc(`{"claims":[{"typ":"sub","val":""}]}`), "sub", "", "", nil, false},
		{"not json", enc(`claims`), "sub", "", "", nil, false},
		{"not base64", "%%%", "sub", "", "", nil, false},
		{"empty", "", "sub", "", "", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseEasyAuth(tc.header, tc.claim)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if p.UserID != tc.user || p.Name != tc.userName || !slices.Equal(p.Roles, tc.roles) {
				t.Fatalf("principal %+v", p)
			}
		})
	}
}

func TestEasyAuth(t *testing.T) {
	is := newIssuer(t)
	principal := base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","name_typ":"name","role_typ":"roles","claims":[` +
		`{"typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier","val":"easy-user"},` +
		`{"typ":"name","val":"Easy User"},{"typ":"roles","val":"Switchboard.Service"}]}`))
	hdr := map[string]string{"X-MS-CLIENT-PRINCIPAL": principal}

	off := newAuth(t, is, false)
	var prob *httpapi.Problem
	if _, err := off.Authenticate(request("", hdr)); !errors.As(err, &prob) || prob.Status != 401 {
		t.Fatalf("EasyAuth header trusted while AUTH_EASYAUTH is off: %v", err)
	}
	bob, _ := is.MintUser("bob", "", time.Hour, nil)
	if p, err := off.Authenticate(request("Bearer "+bob, hdr)); err != nil || p.UserID != "bob" || p.Service {
		t.Fatalf("forged EasyAuth header changed a bearer caller: %+v %v", p, err)
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
	cases := []struct {
		name   string
		p      *Principal
		obo    string
		want   string
		status int
	}{
		{"user", user, "", "alice", 0},
		{"user naming self", user, "alice", "alice", 0},
		{"user acting for another", user, "bob", "", 403},
		{"service for a user", svc, "bob", "bob", 0},
		{"service for nobody", svc, "", "", 0},
		{"service acting as a bot party", svc, "bot:reception", "", 400},
		{"user acting as a bot party", user, "bot:reception", "", 400},
		{"a user id that is a bot party", &Principal{UserID: "bot:reception"}, "", "", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.obo != "" {
				hdr[OnBehalfOfHeader] = tc.obo
			}
			got, err := ActingUser(request("", hdr), tc.p)
			var prob *httpapi.Problem
			switch {
			case tc.status != 0 && (!errors.As(err, &prob) || prob.Status != tc.status):
				t.Fatalf("want %d, got %v", tc.status, err)
			case tc.status == 0 && (err != nil || got != tc.want):
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}

	// Over the middleware: a real service token acts for a user; a user token may not.
	is := newIssuer(t)
	a := newAuth(t, is, false)
	h := a.UserHandler(time.Second, func(w http.ResponseWriter, r *http.Request, userID string) error {
		_, err := io.WriteString(w, userID)
		return err
	})
	svcTok, _ := is.MintService("backend", "Switchboard.Service")
	userTok, _ := is.MintUser("alice", "", time.Hour, nil)
	for _, tc := range []struct {
		tok, obo string
		status   int
		body     string
	}{
		{svcTok, "bob", 200, "bob"},
		{svcTok, "", 400, "on-behalf-of-required"},
		{userTok, "", 200, "alice"},
		{userTok, "bob", 403, "forbidden"},
	} {
		hdr := map[string]string{}
		if tc.obo != "" {
			hdr[OnBehalfOfHeader] = tc.obo
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("Bearer "+tc.tok, hdr))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("obo %q: %d %s, want %d %s", tc.obo, w.Code, w.Body, tc.status, tc.body)
		}
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

func TestWarmFetchesKeysAhead(t *testing.T) {
	is := newIssuer(t)
	a := newAuth(t, is, false)
	if err := a.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	fetches := is.JWKSFetches()
	if fetches != 1 {
		t.Fatalf("%d JWKS fetches by Warm, want 1", fetches)
	}
	tok, _ := is.MintUser("alice", "", time.Hour, nil)
	if _, err := a.Authenticate(request("Bearer "+tok, nil)); err != nil {
		t.Fatal(err)
	}
	if n := is.JWKSFetches(); n != fetches {
		t.Fatalf("the first request fetched the key set again (%d fetches)", n)
	}
	// The warm-up token verifies with no key.
	if _, err := a.Authenticate(request("Bearer "+warmUpToken, nil)); err == nil {
		t.Fatal("the warm-up token was accepted")
	}
}

func TestWarmWithTheProviderDown(t *testing.T) {
	is := newIssuer(t)
	is.SetDown(true)
	a := newAuth(t, is, false)
	if err := a.Warm(context.Background()); err == nil {
		t.Fatal("Warm succeeded with the provider down")
	}
}
