package acsemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// CallbackTokenLifetime is how long the JWT on each callback is valid, as with ACS.
const CallbackTokenLifetime = 5 * time.Minute

// OIDCConfigPath is where the emulator serves its callback-signing OpenID
// configuration, at the same path as ACS's acscallautomation host.
const OIDCConfigPath = "/calling/.well-known/acsopenidconfiguration"

const jwksPath = "/calling/keys"

// Delivery is the outcome of one callback POST.
type Delivery struct {
	CallConnectionID string
	EventID          string
	EventType        string
	URL              string
	// Status is the HTTP status the receiver answered, 0 when no answer came.
	Status int
	Err    string
	At     time.Time
}

// cloudEvent is one CloudEvents 1.0 envelope as ACS posts it.
type cloudEvent struct {
	ID          string         `json:"id"`
	Source      string         `json:"source"`
	Type        string         `json:"type"`
	Subject     string         `json:"subject"`
	Time        string         `json:"time"`
	SpecVersion string         `json:"specversion"`
	DataType    string         `json:"datacontenttype"`
	Data        map[string]any `json:"data"`
}

// routeOIDC serves the callback issuer's configuration and keys, unauthenticated like ACS's.
func (e *Emulator) routeOIDC() {
	e.api.HandleFunc("GET "+OIDCConfigPath, func(w http.ResponseWriter, r *http.Request) {
		base := e.baseURL(r)
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                base,
			"jwks_uri":                              base + jwksPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	e.api.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, r *http.Request) {
		pub := e.callbackKey.PublicKey
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": e.callbackKID,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
}

// OIDCConfigURL is the URL to verify callbacks against, e.g. as ACS_CALLBACK_OIDC_CONFIG (empty before Start).
func (e *Emulator) OIDCConfigURL() string {
	if e.endpoint == "" {
		return ""
	}
	return e.baseURL(nil) + OIDCConfigPath
}

// callbackToken signs a fresh RS256 JWT for one callback: issuer the
// emulator, audience the resource id, valid CallbackTokenLifetime.
func (e *Emulator) callbackToken(issuer string) (string, error) {
	now := e.opts.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    issuer,
		Audience:  jwt.ClaimStrings{e.resourceID},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(CallbackTokenLifetime)),
		ID:        uuid.NewString(),
	})
	tok.Header["kid"] = e.callbackKID
	s, err := tok.SignedString(e.callbackKey)
	if err != nil {
		return "", fmt.Errorf("acsemu: sign callback token: %w", err)
	}
	return s, nil
}

// post delivers one event to url as a one-element JSON array, as ACS does.
func (e *Emulator) post(ctx context.Context, issuer, url, callID string, ev cloudEvent) Delivery {
	d := Delivery{CallConnectionID: callID, EventID: ev.ID, EventType: ev.Type, URL: url, At: e.opts.Now()}
	body, err := json.Marshal([]cloudEvent{ev})
	if err != nil {
		d.Err = err.Error()
		return d
	}
	tok, err := e.callbackToken(issuer)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		d.Err = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.callbackClient.Do(req)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	_ = resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}

// Callbacks returns the delivery results of every callback sent for a call so far, in order.
func (e *Emulator) Callbacks(callConnectionID string) []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.calls[callConnectionID]
	if !ok {
		return nil
	}
	return append([]Delivery(nil), c.deliveries...)
}

// ReplayOptions says how ReplayCallbacks re-sends a call's events.
type ReplayOptions struct {
	// Shuffle sends the events in a random order (seeded by Seed).
	Shuffle bool
	Seed    uint64
	// Duplicates sends each event this many extra times.
	Duplicates int
}

// ReplayCallbacks re-sends every event already sent for a call, with fresh
// tokens, to test that a receiver is idempotent and order-tolerant (ACS
// delivers at least once and does not promise order). It waits for the
// deliveries and returns their results; they are also recorded in Callbacks.
func (e *Emulator) ReplayCallbacks(ctx context.Context, callConnectionID string, opts ReplayOptions) ([]Delivery, error) {
	e.mu.Lock()
	c, ok := e.calls[callConnectionID]
	var sent []sentEvent
	if ok {
		sent = append(sent, c.sent...)
	}
	e.mu.Unlock()
	if !ok {
		return nil, errors.New("acsemu: no call " + callConnectionID)
	}
	var plan []sentEvent
	for _, s := range sent {
		for range 1 + max(opts.Duplicates, 0) {
			plan = append(plan, s)
		}
	}
	if opts.Shuffle {
		rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
		rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	}
	out := make([]Delivery, 0, len(plan))
	for _, s := range plan {
		d := e.post(ctx, c.issuer, s.url, callConnectionID, s.event)
		out = append(out, d)
		e.mu.Lock()
		c.deliveries = append(c.deliveries, d)
		e.mu.Unlock()
	}
	return out, nil
}
