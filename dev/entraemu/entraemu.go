// Package entraemu emulates the Microsoft Entra ID token endpoint for the
// client-credentials grant (the app-only flow Switchboard uses for Graph),
// over TLS as MSAL requires: tenant discovery, the JWKS, and
// POST /{tenant}/oauth2/v2.0/token checking the client id and secret (form
// or HTTP Basic), the grant type and a single {resource}/.default scope,
// and answering with an RS256 access token for Microsoft Graph that
// carries the app's application permissions in `roles`.
package entraemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"switchboard/dev/devtls"
)

// GraphResource is Microsoft Graph's identifier URI: the audience of the tokens for it.
const GraphResource = "https://graph.microsoft.com"

// GraphAppID is Microsoft Graph's well-known application id.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// TokenLifetime is what Entra gives app-only tokens (expires_in 3599).
const TokenLifetime = 3599 * time.Second

// Options configure the emulator.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// TLS is the certificate to serve; default a new one.
	TLS *devtls.Certificate
	// TenantID; default a random GUID.
	TenantID string
}

// App is an app registration with a client secret and the application
// permissions (app roles on Graph) an admin consented to.
type App struct {
	ClientID string
	Secret   string
	// ObjectID is the app's service principal in the tenant (the token's oid).
	ObjectID string
	Roles    []string
}

// Emulator is a running token endpoint.
type Emulator struct {
	url    string
	tenant string
	cert   *devtls.Certificate
	key    *rsa.PrivateKey
	kid    string
	srv    *http.Server

	mu        sync.Mutex
	apps      map[string]App
	resources map[string]string // identifier URI -> audience
	issued    int
}

// Start serves the emulator.
func Start(opts Options) (*Emulator, error) {
	var err error
	if opts.TLS == nil {
		if opts.TLS, err = devtls.New("Switchboard Entra emulator"); err != nil {
			return nil, err
		}
	}
	if opts.TenantID == "" {
		opts.TenantID = uuid.NewString()
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("entraemu: %w", err)
	}
	e := &Emulator{url: "https://" + ln.Addr().String() + "/", tenant: opts.TenantID, cert: opts.TLS, key: key, kid: uuid.NewString(),
		apps: map[string]App{}, resources: map[string]string{GraphResource: GraphResource, GraphAppID: GraphResource}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", e.discovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", e.jwks)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.token)
	e.srv = &http.Server{Handler: mux, TLSConfig: opts.TLS.ServerConfig(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.ServeTLS(ln, "", "") }()
	return e, nil
}

// Close stops the emulator.
func (e *Emulator) Close() error { return e.srv.Close() }

// AuthorityHost is the URL to give as the authority host (azidentity's
// cloud.Configuration.ActiveDirectoryAuthorityHost, @azure/identity's authorityHost).
func (e *Emulator) AuthorityHost() string { return e.url }

// TenantID is the emulated tenant.
func (e *Emulator) TenantID() string { return e.tenant }

// Issuer is the iss of the access tokens: Graph accepts v1.0 tokens, whose
// issuer is sts.windows.net.
func (e *Emulator) Issuer() string { return "https://sts.windows.net/" + e.tenant + "/" }

// PublicKey verifies the tokens (for the Graph emulator).
func (e *Emulator) PublicKey() *rsa.PublicKey { return &e.key.PublicKey }

// Certificate is the certificate the emulator serves.
func (e *Emulator) Certificate() *devtls.Certificate { return e.cert }

// Issued counts the tokens issued.
func (e *Emulator) Issued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issued
}

// RegisterApp adds or replaces an app registration; a missing ObjectID is generated.
func (e *Emulator) RegisterApp(app App) App {
	if app.ObjectID == "" {
		app.ObjectID = uuid.NewString()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.apps[app.ClientID] = app
	return app
}

// AddGraphIdentifier makes uri another identifier of Microsoft Graph, as a
// national cloud's Graph host is: a scope of uri + "/.default" gets a
// Graph token (audience GraphResource). The Graph emulator's origin goes here.
func (e *Emulator) AddGraphIdentifier(uri string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resources[strings.TrimRight(uri, "/")] = GraphResource
}

// AddResource registers another API (identifier URI) whose tokens carry
// audience aud, so tests can hand Graph a token meant for someone else.
func (e *Emulator) AddResource(uri, aud string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resources[strings.TrimRight(uri, "/")] = aud
}

func (e *Emulator) base(r *http.Request) string { return e.url + r.PathValue("tenant") }

func (e *Emulator) discovery(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != e.tenant {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	b := e.base(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              b + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                b + "/v2.0",
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (e *Emulator) jwks(w http.ResponseWriter, r *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.key.PublicKey, KeyID: e.kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	writeJSON(w, http.StatusOK, set)
}

func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != e.tenant {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+r.PathValue("tenant")+"' not found. Check to make sure you have the correct tenant ID.")
		return
	}
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	e.mu.Lock()
	app, known := e.apps[clientID]
	e.mu.Unlock()
	if !known {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '"+clientID+"' was not found in the directory '"+e.tenant+"'.")
		return
	}
	if r.PostForm.Get("client_assertion") != "" || secret == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
		return
	}
	// MSAL adds the OpenID Connect scopes to every request; Entra ignores them here.
	var scopes []string
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		switch s {
		case "openid", "profile", "offline_access", "email":
		default:
			scopes = append(scopes, s)
		}
	}
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
		oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope "+r.PostForm.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	resource := strings.TrimSuffix(scopes[0], "/.default")
	e.mu.Lock()
	aud, ok := e.resources[resource]
	e.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_resource", 500011,
			"The resource principal named "+resource+" was not found in the tenant named "+e.tenant+".")
		return
	}
	now := time.Now()
	claims := map[string]any{
		"aud": aud, "iss": e.Issuer(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(TokenLifetime).Unix(),
		"appid": app.ClientID, "appidacr": "1", "idp": e.Issuer(), "idtyp": "app", "oid": app.ObjectID, "sub": app.ObjectID,
		"tid": e.tenant, "ver": "1.0", "uti": uuid.NewString(),
	}
	if len(app.Roles) > 0 {
		claims["roles"] = app.Roles
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: e.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", e.kid))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.mu.Lock()
	e.issued++
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(TokenLifetime / time.Second), "ext_expires_in": int(TokenLifetime / time.Second), "access_token": tok,
	})
}

// oauthError answers as Entra does: an OAuth 2.0 error with AADSTS details.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, message string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, message, uuid.NewString(), uuid.NewString(), time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          uuid.NewString(),
		"correlation_id":    uuid.NewString(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
