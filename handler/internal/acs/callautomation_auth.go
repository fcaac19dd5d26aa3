package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// CallbackOIDCConfigURL is where ACS publishes the issuer and keys that sign
// Call Automation callbacks.
const CallbackOIDCConfigURL = "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"

// CallbackVerifier checks the `Authorization: Bearer` JWT on a Call
// Automation callback: signed by ACS's callback issuer (RS256, keys from its
// JWKS, refreshed on rotation), not expired, audience our resource's immutable id.
type CallbackVerifier struct {
	issuer   string
	verifier *oidc.IDTokenVerifier
}

// NewCallbackVerifier reads the OpenID configuration at configURL
// (CallbackOIDCConfigURL in Azure, the emulator's locally) and verifies
// tokens for audience, the ACS resource id. ctx bounds the configuration
// fetch; keyCtx lives as long as the verifier and is used for key fetches
// (a nil httpClient means a 10 s timeout client).
func NewCallbackVerifier(ctx, keyCtx context.Context, configURL, audience string, httpClient *http.Client) (*CallbackVerifier, error) {
	if audience == "" {
		return nil, errors.New("acs: callback verifier: audience (the ACS resource id) is empty")
	}
	if err := checkCallbackURI(configURL); err != nil {
		return nil, fmt.Errorf("acs: callback OIDC configuration: %w", err)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, configURL, nil)
	if err != nil {
		return nil, fmt.Errorf("acs: callback OIDC configuration: %w", err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("acs: fetch callback OIDC configuration: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("acs: fetch callback OIDC configuration: status %d", resp.StatusCode)
	}
	var cfg struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&cfg); err != nil {
		return nil, fmt.Errorf("acs: decode callback OIDC configuration: %w", err)
	}
	if cfg.Issuer == "" {
		return nil, errors.New("acs: callback OIDC configuration has no issuer")
	}
	if err := checkCallbackURI(cfg.JWKSURI); err != nil {
		return nil, fmt.Errorf("acs: callback OIDC configuration jwks_uri: %w", err)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(keyCtx, httpClient), cfg.JWKSURI)
	return &CallbackVerifier{
		issuer:   cfg.Issuer,
		verifier: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.RS256}}),
	}, nil
}

// Issuer is the issuer tokens must carry.
func (v *CallbackVerifier) Issuer() string { return v.issuer }

// Verify checks one callback token.
func (v *CallbackVerifier) Verify(ctx context.Context, token string) error {
	if _, err := v.verifier.Verify(ctx, token); err != nil {
		return fmt.Errorf("acs: callback token: %w", err)
	}
	return nil
}

// VerifyRequest checks the bearer token of a callback request.
func (v *CallbackVerifier) VerifyRequest(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return errors.New("acs: callback has no bearer token")
	}
	return v.Verify(r.Context(), token)
}
