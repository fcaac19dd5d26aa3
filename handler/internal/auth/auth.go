// Package auth decides who a caller is: an OIDC bearer JWT from the app's
// identity provider (discovered lazily, keys cached and refreshed on an
// unknown kid), or App Service Authentication's principal header when, and
// only when, AUTH_EASYAUTH is on. It also says whom a service caller acts for.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"switchboard/handler/internal/httpapi"
)

// clockSkew is how far past `exp` a token is still accepted (go-oidc checks
// `exp` strictly and allows 5 minutes on `nbf`).
const clockSkew = time.Minute

// discoveryRetry spaces discovery attempts while the provider is failing, so
// an outage does not turn every request into a provider call.
const discoveryRetry = 5 * time.Second

// keyRefreshInterval is the least time between two JWKS fetches (see jwksThrottle).
const keyRefreshInterval = 10 * time.Second

// Algorithms are the only signature algorithms accepted.
var Algorithms = []string{oidc.RS256, oidc.ES256}

// Config configures an Authenticator.
type Config struct {
	Issuer      string
	Audience    string
	UserClaim   string // default "sub"
	EasyAuth    bool
	ServiceRole string // default "Switchboard.Service"
	HTTPClient  *http.Client
}

// Principal is an authenticated caller.
type Principal struct {
	UserID  string
	Name    string
	Roles   []string
	Service bool   // Roles holds the service role
	Source  string // "bearer" or "easyauth"
	// Claims are the verified token's claims (bearer only), for routes that
	// need more than the fields above.
	Claims map[string]any
}

// Authenticator authenticates requests.
type Authenticator struct {
	cfg    Config
	client *http.Client
	// retry and keyRefresh are discoveryRetry and keyRefreshInterval; tests shorten them.
	retry, keyRefresh time.Duration

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	keys     *oidc.RemoteKeySet
	lastErr  error
	lastTry  time.Time
}

// New validates cfg; it does not touch the network.
func New(cfg Config) (*Authenticator, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an absolute URL", cfg.Issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("issuer %q must use https (plain http only for loopback hosts)", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, errors.New("an audience is required")
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.ServiceRole == "" {
		cfg.ServiceRole = "Switchboard.Service"
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Authenticator{cfg: cfg, client: client, retry: discoveryRetry, keyRefresh: keyRefreshInterval}, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Check reports whether the identity provider's discovery document could be read.
func (a *Authenticator) Check(ctx context.Context) error {
	_, err := a.verifierFor(ctx)
	return err
}

// warmUpToken is a well-formed JWS whose kid no provider uses: checking it
// makes the key set fetch the provider's keys, and nothing verifies with it.
const warmUpToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6InN3aXRjaGJvYXJkLXdhcm0tdXAifQ.e30.AA"

// Warm discovers the provider and fetches its key set, so the first
// request does not wait for either. It is meant to run in the background
// at start; a failure is only logged by the caller, and the first request
// tries again as it would have.
func (a *Authenticator) Warm(ctx context.Context) error {
	if _, err := a.verifierFor(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	keys := a.keys
	a.mu.Unlock()
	if _, err := keys.VerifySignature(ctx, warmUpToken); err != nil && !strings.Contains(err.Error(), "failed to verify") {
		return err
	}
	return nil
}

// verifierFor discovers the provider on first use and caches the result.
func (a *Authenticator) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		return a.verifier, nil
	}
	if a.lastErr != nil && time.Since(a.lastTry) < a.retry {
		return nil, a.lastErr
	}
	a.lastTry = time.Now()
	// One caller hanging up must not record a failure for everyone else.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pc, err := a.discover(dctx)
	if err != nil {
		a.lastErr = fmt.Errorf("identity provider discovery at %s: %w", a.cfg.Issuer, err)
		return nil, a.lastErr
	}
	pc.Algorithms = Algorithms
	// The key set outlives this request: it refreshes keys on an unknown kid,
	// at most once per keyRefresh.
	keyClient := *a.client
	base := keyClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	keyClient.Transport = &jwksThrottle{base: base, jwksURL: pc.JWKSURL, interval: a.keyRefresh}
	keyCtx := oidc.ClientContext(context.Background(), &keyClient)
	a.keys = oidc.NewRemoteKeySet(keyCtx, pc.JWKSURL)
	a.verifier = oidc.NewVerifier(pc.IssuerURL, a.keys, &oidc.Config{
		ClientID:             a.cfg.Audience,
		SupportedSigningAlgs: Algorithms,
		Now:                  func() time.Time { return time.Now().Add(-clockSkew) },
	})
	a.lastErr = nil
	return a.verifier, nil
}

func (a *Authenticator) discover(ctx context.Context) (*oidc.ProviderConfig, error) {
	wellKnown := strings.TrimSuffix(a.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", wellKnown, resp.Status)
	}
	var pc oidc.ProviderConfig
	if err := json.Unmarshal(body, &pc); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	if pc.IssuerURL != a.cfg.Issuer {
		return nil, fmt.Errorf("discovery document names issuer %q, not %q (AUTH_ISSUER must match exactly)", pc.IssuerURL, a.cfg.Issuer)
	}
	if u, err := url.Parse(pc.JWKSURL); err != nil || u.Host == "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, fmt.Errorf("discovery document's jwks_uri %q is not an https URL", pc.JWKSURL)
	}
	return &pc, nil
}

// Authenticate returns the caller, or a 401 problem (503 when the identity
// provider cannot be reached to check the token).
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	if a.cfg.EasyAuth {
		if h := r.Header.Get("X-MS-CLIENT-PRINCIPAL"); h != "" {
			p, err := parseEasyAuth(h, a.cfg.UserClaim)
			if err != nil {
				return nil, unauthenticated("invalid_token", "the App Service Authentication principal is malformed")
			}
			p.Service = slices.Contains(p.Roles, a.cfg.ServiceRole)
			return p, nil
		}
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, unauthenticated("", "a bearer token from the app's identity provider is required")
	}
	scheme, token, ok := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, unauthenticated("invalid_request", "the Authorization header must be `Bearer <token>`")
	}
	v, err := a.verifierFor(r.Context())
	if err != nil {
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable,
			"the identity provider cannot be reached to check the token; retry shortly").WithCause(err)
		p.RetryAfter = 5
		return nil, p
	}
	idt, err := v.Verify(r.Context(), token)
	if err != nil {
		if strings.HasPrefix(err.Error(), "failed to verify signature: fetching keys") {
			p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable,
				"the identity provider's signing keys cannot be fetched to check the token; retry shortly").WithCause(err)
			p.RetryAfter = 5
			return nil, p
		}
		return nil, unauthenticated("invalid_token", describe(err))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, unauthenticated("invalid_token", "the token's claims are malformed")
	}
	p := &Principal{Source: "bearer", Claims: claims}
	p.UserID, _ = claims[a.cfg.UserClaim].(string)
	if p.UserID == "" {
		return nil, unauthenticated("invalid_token", fmt.Sprintf("the token has no %q claim naming the user", a.cfg.UserClaim))
	}
	p.Name, _ = claims["name"].(string)
	p.Roles = stringList(claims["roles"])
	p.Service = slices.Contains(p.Roles, a.cfg.ServiceRole)
	return p, nil
}

// describe says what is wrong with a token without leaking internals. It
// matches go-oidc's messages by prefix, as only expiry has an error type, and
// the rest of a message may quote the token's own (attacker-chosen) claims.
func describe(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "the token has expired"
	case strings.HasPrefix(msg, "oidc: expected audience"):
		return "the token is for another audience"
	case strings.HasPrefix(msg, "oidc: id token issued by a different provider"):
		return "the token is from another issuer"
	case strings.HasPrefix(msg, "oidc: current time") && strings.Contains(msg, "nbf"):
		return "the token is not valid yet"
	case strings.HasPrefix(msg, "oidc: malformed jwt: unexpected signature algorithm"):
		return "the token is signed with an algorithm that is not accepted (RS256 or ES256 only)"
	case strings.HasPrefix(msg, "failed to verify signature"):
		return "the token's signature does not verify"
	default:
		return "the token is malformed"
	}
}

func unauthenticated(errCode, detail string) *httpapi.Problem {
	challenge := `Bearer realm="switchboard"`
	if errCode != "" {
		challenge += fmt.Sprintf(`, error=%q, error_description=%q`, errCode, detail)
	}
	return httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, detail).WithHeader("WWW-Authenticate", challenge)
}

func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

type principalKey struct{}

// Require runs next only for authenticated callers, with the principal in the context.
func (a *Authenticator) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// FromContext returns the principal Require stored.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// OnBehalfOfHeader names the user a service caller acts for.
const OnBehalfOfHeader = "X-On-Behalf-Of"

// BotPartyPrefix starts the party id of a bot ("bot:<botId>") wherever
// users are named (contacts, space members, invitees). No request acts as
// one: a user id with this prefix is refused here, so bot parties and users
// cannot collide.
const BotPartyPrefix = "bot:"

// IsBotParty reports whether id names a bot party rather than a user.
func IsBotParty(id string) bool { return strings.HasPrefix(id, BotPartyPrefix) }

// ActingUser is the user a request acts for: an end user acts for
// themselves (naming anyone else in X-On-Behalf-Of is 403); a service caller
// acts for the user it names, or for nobody (""). Neither may act as a bot
// party (BotPartyPrefix).
func ActingUser(r *http.Request, p *Principal) (string, error) {
	obo := strings.TrimSpace(r.Header.Get(OnBehalfOfHeader))
	if IsBotParty(obo) {
		return "", httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest,
			OnBehalfOfHeader+" names a bot party ("+BotPartyPrefix+"...): requests act for users only")
	}
	if p.Service {
		return obo, nil
	}
	if IsBotParty(p.UserID) {
		return "", httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden,
			"user ids starting with "+BotPartyPrefix+" are reserved for bot parties")
	}
	if obo != "" && obo != p.UserID {
		return "", httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden,
			"only service callers may act on behalf of another user ("+OnBehalfOfHeader+")")
	}
	return p.UserID, nil
}

// User returns the authenticated principal and the user the request acts
// for (see ActingUser); a service caller that names no user gets a 400.
func User(r *http.Request) (string, *Principal, error) {
	p, ok := FromContext(r.Context())
	if !ok {
		return "", nil, httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated, "authentication is required")
	}
	userID, err := ActingUser(r, p)
	if err != nil {
		return "", p, err
	}
	if userID == "" {
		return "", p, OnBehalfOfRequired()
	}
	return userID, p, nil
}

// OnBehalfOfRequired is the answer to a service caller that names no user
// where a route needs one.
func OnBehalfOfRequired() *httpapi.Problem {
	return httpapi.NewProblem(http.StatusBadRequest, "on-behalf-of-required",
		"a service caller must name the user it acts for in the "+OnBehalfOfHeader+" header")
}

// UserHandler serves f for authenticated callers, passing the user the
// request acts for (see User), with the request bounded by timeout.
func (a *Authenticator) UserHandler(timeout time.Duration, f func(w http.ResponseWriter, r *http.Request, userID string) error) http.Handler {
	return a.Require(httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		userID, _, err := User(r)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		return f(w, r.WithContext(ctx), userID)
	}))
}

// IsService reports whether r carries a valid service caller's credentials.
// Any failure (no token, a bad one, an unreachable provider) is just false:
// for routes that answer everyone and tell service callers more.
func (a *Authenticator) IsService(r *http.Request) bool {
	p, err := a.Authenticate(r)
	return err == nil && p.Service
}
