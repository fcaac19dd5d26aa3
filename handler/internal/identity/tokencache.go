package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The token cache keeps one row per user and exact scope set in the users
// table, next to the profile (PK = app user id, RK = tokenRowPrefix +
// sorted scopes), so a known user's token request reads both in one query.
// ACS allows 1000 issuances per 30 s per resource: reusing a token while it
// has half its life left is what keeps a morning peak under that.
const tokenRowPrefix = "token:"

// Timing of the cache: a request issuing a replacement holds the row's
// claim at most claimStale (longer than the ACS call's own bounds) before
// another may take over; a token is served under throttling only while it
// has at least minServable left.
const (
	claimStale  = 15 * time.Second
	minServable = time.Minute
)

// tokenRowKey is the cache row key for a scope set (order and duplicates
// do not matter: ["voip","chat"] and ["chat","voip"] share a row).
func tokenRowKey(scopes []string) string {
	return tokenRowPrefix + strings.Join(slices.Compact(slices.Sorted(slices.Values(scopes))), ",")
}

// cachedToken is a token cache row. The token itself is sealed with
// AES-256-GCM; the additional data binds it to the user, scope set, ACS
// identity, lifetime and expiry, so a row copied to another user or scope
// set, or edited, does not open.
type cachedToken struct {
	// Sealed is base64(nonce || ciphertext || tag); empty while only a claim stands.
	Sealed string `json:"sealed,omitempty"`
	// KeyID names the key that sealed it (see keyID), so rotation picks the right one.
	KeyID     string    `json:"keyId,omitempty"`
	Minutes   int       `json:"minutes,omitempty"`
	ExpiresOn time.Time `json:"expiresOn,omitzero"`
	// IssuingSince is set while one request issues a replacement: the
	// others wait for it instead of calling ACS too.
	IssuingSince time.Time `json:"issuingSince,omitzero"`
	// ThrottledUntil is the end of the wait ACS asked for when it last
	// throttled a replacement: until then nobody asks ACS for this row.
	ThrottledUntil time.Time `json:"throttledUntil,omitzero"`
}

// reusable reports whether the row's token may answer a request for the
// same scopes and lifetime at now: at least half of its lifetime left, so
// the ACS SDK's refresh 10 minutes before expiry gets a fresh-enough token
// and never loops.
func (c cachedToken) reusable(now time.Time, minutes int) bool {
	return c.Sealed != "" && c.Minutes == minutes && 2*c.ExpiresOn.Sub(now) >= time.Duration(minutes)*time.Minute
}

// servable reports whether the row's token may stand in for a token ACS
// refused to issue (429): still valid for a while, and no longer-lived
// than asked for.
func (c cachedToken) servable(now time.Time, minutes int) bool {
	return c.Sealed != "" && c.Minutes <= minutes && c.ExpiresOn.Sub(now) >= minServable
}

// claimed reports whether another request is issuing a replacement now.
func (c cachedToken) claimed(now time.Time) bool {
	return !c.IssuingSince.IsZero() && now.Sub(c.IssuingSince) < claimStale
}

// tokenSealer seals tokens with the current key and opens rows sealed with
// the current or the previous one.
type tokenSealer struct {
	current, previous cipher.AEAD
	currentID         string
	previousID        string
}

// errCacheKey means a row was sealed with a key this instance does not
// hold, or does not open (edited, or copied from another user): the row is
// dropped and a fresh token issued.
var errCacheKey = errors.New("token cache row does not open with TOKEN_CACHE_KEY or TOKEN_CACHE_KEY_PREVIOUS")

func newTokenSealer(current, previous []byte) (*tokenSealer, error) {
	if current == nil {
		return nil, nil
	}
	s := &tokenSealer{currentID: keyID(current)}
	var err error
	if s.current, err = newGCM(current); err != nil {
		return nil, fmt.Errorf("TOKEN_CACHE_KEY: %w", err)
	}
	if previous != nil {
		s.previousID = keyID(previous)
		if s.previous, err = newGCM(previous); err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_KEY_PREVIOUS: %w", err)
		}
	}
	return s, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("an AES-256 key is 32 bytes, not %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// keyID is a short public name for a key: the first 8 bytes of
// SHA-256("switchboard token cache key id" || key), in hex.
func keyID(key []byte) string {
	h := sha256.Sum256(append([]byte("switchboard token cache key id\x00"), key...))
	return hex.EncodeToString(h[:8])
}

// additionalData binds a sealed token to everything its row claims about it.
func additionalData(userID, rowKey, acsUserID string, c cachedToken) []byte {
	ad, _ := json.Marshal([]string{"switchboard-token-cache-v1", userID, rowKey, acsUserID,
		strconv.Itoa(c.Minutes), strconv.FormatInt(c.ExpiresOn.Unix(), 10)})
	return ad
}

// seal fills c.Sealed and c.KeyID (c.Minutes and c.ExpiresOn set first).
func (s *tokenSealer) seal(userID, rowKey, acsUserID, token string, c *cachedToken) {
	nonce := make([]byte, s.current.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	out := s.current.Seal(nonce, nonce, []byte(token), additionalData(userID, rowKey, acsUserID, *c))
	c.Sealed, c.KeyID = base64.StdEncoding.EncodeToString(out), s.currentID
}

// open returns the row's token, or errCacheKey.
func (s *tokenSealer) open(userID, rowKey, acsUserID string, c cachedToken) (string, error) {
	var aead cipher.AEAD
	switch c.KeyID {
	case s.currentID:
		aead = s.current
	case s.previousID:
		aead = s.previous
	}
	if aead == nil || c.KeyID == "" {
		return "", errCacheKey
	}
	raw, err := base64.StdEncoding.DecodeString(c.Sealed)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", errCacheKey
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], additionalData(userID, rowKey, acsUserID, c))
	if err != nil {
		return "", errCacheKey
	}
	return string(plain), nil
}
