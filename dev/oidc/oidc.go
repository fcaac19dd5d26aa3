// Package oidc is a local OpenID Connect issuer for development and tests:
// a discovery document, a JWKS with RS256 and ES256 keys (rotatable), and
// tokens minted for named users. It stands in for the app's identity
// provider (Entra ID, Auth0, ...), which cannot be reached here.
package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// DefaultAudience is the audience minted tokens carry unless told otherwise.
const DefaultAudience = "api://switchboard"

// Options configure an issuer.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// Audience of minted tokens; default DefaultAudience.
	Audience string
}

type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	key    any // *rsa.PrivateKey or *ecdsa.PrivateKey
	public any
}

// Issuer is a running OIDC issuer.
type Issuer struct {
	url      string
	audience string
	srv      *http.Server
	ln       net.Listener

	mu   sync.Mutex
	keys []signingKey // the last RSA key and the last EC key sign; all are published
	down bool
	// jwksFetches counts JWKS requests, so tests can see when a verifier refetches keys.
	jwksFetches int
}

// Start serves a new issuer with one RS256 and one ES256 key.
func Start(opts Options) (*Issuer, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer: listen on %s: %w", addr, err)
	}
	is := &Issuer{url: "http://" + ln.Addr().String(), audience: opts.Audience, ln: ln}
	if is.audience == "" {
		is.audience = DefaultAudience
	}
	if err := is.Rotate(); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /keys", is.jwks)
	mux.HandleFunc("GET /token", is.mintRoute)
	mux.HandleFunc("POST /token", is.mintRoute)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = is.srv.Serve(ln) }()
	return is, nil
}

// URL is the issuer identifier (the `iss` of its tokens).
func (is *Issuer) URL() string { return is.url }

// Close stops the issuer.
func (is *Issuer) Close() error { return is.srv.Close() }

// SetDown makes discovery and JWKS answer 503, as an unreachable provider.
func (is *Issuer) SetDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// Rotate adds a new RSA and a new EC signing key; older keys stay published
// until dropped, so tokens they signed still verify.
func (is *Issuer) Rotate() error {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys,
		signingKey{kid: "rsa-" + uuid.NewString()[:8], alg: jose.RS256, key: rk, public: &rk.PublicKey},
		signingKey{kid: "ec-" + uuid.NewString()[:8], alg: jose.ES256, key: ek, public: &ek.PublicKey})
	return nil
}

// RSAPublicKey returns the current RSA public key (tests forge tokens with it).
func (is *Issuer) RSAPublicKey() *rsa.PublicKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	for i := len(is.keys) - 1; i >= 0; i-- {
		if k, ok := is.keys[i].public.(*rsa.PublicKey); ok {
			return k
		}
	}
	return nil
}

func (is *Issuer) signer(alg jose.SignatureAlgorithm) (jose.Signer, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for i := len(is.keys) - 1; i >= 0; i-- {
		k := is.keys[i]
		if k.alg == alg {
			return jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid}},
				(&jose.SignerOptions{}).WithType("JWT"))
		}
	}
	return nil, fmt.Errorf("oidc issuer: no %s key", alg)
}

// Mint signs claims with the current key for alg (RS256 or ES256). Standard
// claims missing from claims are filled in: iss, aud, iat, nbf, exp (1 h), jti.
func (is *Issuer) Mint(alg jose.SignatureAlgorithm, claims map[string]any) (string, error) {
	sig, err := is.signer(alg)
	if err != nil {
		return "", err
	}
	now := time.Now()
	c := map[string]any{
		"iss": is.url,
		"aud": is.audience,
		"iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": uuid.NewString(),
	}
	for k, v := range claims {
		c[k] = v
	}
	return jwt.Signed(sig).Claims(c).Serialize()
}

// MintUser mints an RS256 token for app user sub with display name name,
// valid for ttl (negative: already expired); extra claims override.
func (is *Issuer) MintUser(sub, name string, ttl time.Duration, extra map[string]any) (string, error) {
	now := time.Now()
	c := map[string]any{"sub": sub, "exp": now.Add(ttl).Unix()}
	if ttl < 0 {
		c["iat"] = now.Add(ttl - time.Hour).Unix()
		c["nbf"] = now.Add(ttl - time.Hour).Unix()
	}
	if name != "" {
		c["name"] = name
	}
	for k, v := range extra {
		c[k] = v
	}
	return is.Mint(jose.RS256, c)
}

// MintService mints a token for a back-end service holding role.
func (is *Issuer) MintService(clientID, role string) (string, error) {
	return is.Mint(jose.RS256, map[string]any{"sub": clientID, "azp": clientID, "roles": []string{role}})
}

func (is *Issuer) isDown(w http.ResponseWriter) bool {
	is.mu.Lock()
	down := is.down
	is.mu.Unlock()
	if down {
		http.Error(w, "identity provider unavailable", http.StatusServiceUnavailable)
	}
	return down
}

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	if is.isDown(w) {
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                is.url,
		"jwks_uri":                              is.url + "/keys",
		"authorization_endpoint":                is.url + "/authorize",
		"token_endpoint":                        is.url + "/token",
		"response_types_supported":              []string{"code", "id_token", "token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"claims_supported":                      []string{"sub", "name", "roles", "aud", "iss", "exp", "iat"},
	})
}

// JWKSFetches is how many times the key set was requested.
func (is *Issuer) JWKSFetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.jwksFetches
}

func (is *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	is.mu.Lock()
	is.jwksFetches++
	is.mu.Unlock()
	if is.isDown(w) {
		return
	}
	is.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	is.mu.Unlock()
	writeJSON(w, set)
}

// mintRoute is a development convenience, with no authentication at all:
// GET /token?sub=carol&name=Carol[&role=Switchboard.Service][&ttl=3600], or
// the same fields as a POST form.
func (is *Issuer) mintRoute(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	sub := q.Get("sub")
	if sub == "" {
		http.Error(w, "sub is required: /token?sub=carol&name=Carol", http.StatusBadRequest)
		return
	}
	ttl := time.Hour
	if s := q.Get("ttl"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			http.Error(w, "ttl must be a positive number of seconds", http.StatusBadRequest)
			return
		}
		ttl = time.Duration(n) * time.Second
	}
	extra := map[string]any{}
	if role := q.Get("role"); role != "" {
		extra["roles"] = []string{role}
	}
	tok, err := is.MintUser(sub, q.Get("name"), ttl, extra)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
