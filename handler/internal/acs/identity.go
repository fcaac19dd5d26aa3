package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Token scopes the ACS identity API accepts.
const (
	ScopeChat            = "chat"
	ScopeVoIP            = "voip"
	ScopeChatJoin        = "chat.join"
	ScopeChatJoinLimited = "chat.join.limited"
	ScopeVoIPJoin        = "voip.join"
)

// Token lifetime bounds of the identity API; 0 asks ACS for its default (1440).
const (
	MinTokenMinutes = 60
	MaxTokenMinutes = 1440
)

var scopes = []string{ScopeChat, ScopeVoIP, ScopeChatJoin, ScopeChatJoinLimited, ScopeVoIPJoin}

// IsValidScope reports whether ACS accepts s as a token scope.
func IsValidScope(s string) bool { return slices.Contains(scopes, s) }

// AccessToken is an ACS user access token. It is a credential: never store it.
type AccessToken struct {
	Token     string
	ExpiresOn time.Time
}

// CreateIdentityOptions asks for a token together with the new identity.
type CreateIdentityOptions struct {
	// Scopes, when not empty, makes CreateIdentity also issue a token.
	Scopes []string
	// ExpiresInMinutes is the token lifetime in [60, 1440]; 0 means ACS's default.
	ExpiresInMinutes int
}

// CreateIdentityResult is a new identity, with its token when scopes were asked for.
type CreateIdentityResult struct {
	ID    string
	Token *AccessToken
}

type wireToken struct {
	Token     string `json:"token"`
	ExpiresOn string `json:"expiresOn"`
}

func (w wireToken) accessToken() (AccessToken, error) {
	if w.Token == "" {
		return AccessToken{}, errors.New("acs: response has no token")
	}
	exp, err := time.Parse(time.RFC3339, w.ExpiresOn)
	if err != nil {
		return AccessToken{}, fmt.Errorf("acs: token expiresOn %q: %w", w.ExpiresOn, err)
	}
	return AccessToken{Token: w.Token, ExpiresOn: exp}, nil
}

// CreateIdentity creates an ACS identity, and a token for it when opts has scopes.
func (c *Client) CreateIdentity(ctx context.Context, opts *CreateIdentityOptions) (CreateIdentityResult, error) {
	var body struct {
		CreateTokenWithScopes []string `json:"createTokenWithScopes,omitempty"`
		ExpiresInMinutes      int      `json:"expiresInMinutes,omitempty"`
	}
	if opts != nil && len(opts.Scopes) > 0 {
		body.CreateTokenWithScopes = opts.Scopes
		body.ExpiresInMinutes = opts.ExpiresInMinutes
	}
	var out struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
		AccessToken *wireToken `json:"accessToken"`
	}
	if err := c.do(ctx, http.MethodPost, "/identities", APIVersion, body, http.StatusCreated, &out); err != nil {
		return CreateIdentityResult{}, err
	}
	if out.Identity.ID == "" {
		return CreateIdentityResult{}, errors.New("acs: create identity response has no identity id")
	}
	res := CreateIdentityResult{ID: out.Identity.ID}
	if out.AccessToken != nil {
		tok, err := out.AccessToken.accessToken()
		if err != nil {
			return CreateIdentityResult{}, err
		}
		res.Token = &tok
	}
	if len(body.CreateTokenWithScopes) > 0 && res.Token == nil {
		return CreateIdentityResult{}, errors.New("acs: create identity response has no access token although scopes were asked for")
	}
	return res, nil
}

// IssueToken issues a token for identity id with scopes; expiresInMinutes 0 means ACS's default.
func (c *Client) IssueToken(ctx context.Context, id string, scopes []string, expiresInMinutes int) (AccessToken, error) {
	if id == "" {
		return AccessToken{}, errors.New("acs: issue token: identity id is empty")
	}
	body := struct {
		Scopes           []string `json:"scopes"`
		ExpiresInMinutes int      `json:"expiresInMinutes,omitempty"`
	}{scopes, expiresInMinutes}
	var out wireToken
	if err := c.do(ctx, http.MethodPost, "/identities/"+escapeSegment(id)+"/:issueAccessToken", APIVersion, body, http.StatusOK, &out); err != nil {
		return AccessToken{}, err
	}
	return out.accessToken()
}

// RevokeTokens revokes every token issued to identity id so far.
func (c *Client) RevokeTokens(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("acs: revoke tokens: identity id is empty")
	}
	return c.do(ctx, http.MethodPost, "/identities/"+escapeSegment(id)+"/:revokeAccessTokens", APIVersion, nil, http.StatusNoContent, nil)
}

// DeleteIdentity deletes identity id with its data, revoking its tokens.
func (c *Client) DeleteIdentity(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("acs: delete identity: identity id is empty")
	}
	return c.do(ctx, http.MethodDelete, "/identities/"+escapeSegment(id), APIVersion, nil, http.StatusNoContent, nil)
}
