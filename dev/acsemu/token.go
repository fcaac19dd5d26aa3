package acsemu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Claims is what Verify reads out of an emulator-issued access token.
type Claims struct {
	// ID is the ACS identity the token is for (8:acs:...).
	ID         string    `json:"id"`
	Scopes     []string  `json:"scopes"`
	ResourceID string    `json:"resourceId"`
	IssuedAt   time.Time `json:"issuedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// tokenClaims mirrors the claims of a real ACS token (skypeid, scp, csi,
// acsScope, resourceId, exp, iat) plus rev, the emulator's revocation counter.
type tokenClaims struct {
	SkypeID    string `json:"skypeid"`
	Scp        int    `json:"scp"`
	CSI        string `json:"csi"`
	ACSScope   string `json:"acsScope"`
	ResourceID string `json:"resourceId"`
	// Rev must equal the identity's revision: revoking bumps it, so every
	// earlier token fails even when issued within the same second.
	Rev int `json:"rev"`
	jwt.RegisteredClaims
}

// issueToken signs a token for id; the caller holds e.mu.
func (e *Emulator) issueToken(id string, ident *identity, scopes []string, minutes int) (string, time.Time, error) {
	now := e.opts.Now().UTC().Truncate(time.Second)
	exp := now.Add(time.Duration(minutes) * time.Minute)
	claims := tokenClaims{
		SkypeID:    strings.TrimPrefix(id, "8:"),
		Scp:        1792,
		CSI:        strconv.FormatInt(now.Unix(), 10),
		ACSScope:   strings.Join(scopes, ","),
		ResourceID: e.resourceID,
		Rev:        ident.revision,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(e.tokenKey)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("acsemu: sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks that token was issued by this emulator, is not expired, and
// that its identity still exists and has not had its tokens revoked since.
func (e *Emulator) Verify(token string) (Claims, error) {
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return e.tokenKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(e.opts.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt())
	if err != nil {
		return Claims{}, fmt.Errorf("acsemu: token rejected: %w", err)
	}
	id := "8:" + tc.SkypeID
	e.mu.Lock()
	ident, ok := e.identities[id]
	var deleted, revoked bool
	if ok {
		deleted, revoked = ident.deleted, ident.revision != tc.Rev
	}
	e.mu.Unlock()
	switch {
	case !ok:
		return Claims{}, fmt.Errorf("acsemu: token for unknown identity %s", id)
	case deleted:
		return Claims{}, fmt.Errorf("acsemu: identity %s was deleted", id)
	case revoked:
		return Claims{}, errors.New("acsemu: token was revoked")
	}
	var scopes []string
	if tc.ACSScope != "" {
		scopes = strings.Split(tc.ACSScope, ",")
	}
	return Claims{
		ID:         id,
		Scopes:     scopes,
		ResourceID: tc.ResourceID,
		IssuedAt:   tc.IssuedAt.Time.UTC(),
		ExpiresAt:  tc.ExpiresAt.Time.UTC(),
	}, nil
}
