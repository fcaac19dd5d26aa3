package config

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// TokenCacheKeySize is the size of a TOKEN_CACHE_KEY: an AES-256 key.
const TokenCacheKeySize = 32

// tokenCache reads TOKEN_CACHE_KEY and TOKEN_CACHE_KEY_PREVIOUS. Without a
// key nothing is cached; the previous key only opens rows sealed before a
// rotation.
func (r *reader) tokenCache(c *Config) {
	c.TokenCacheKey = r.aesKey("TOKEN_CACHE_KEY")
	c.TokenCacheKeyPrevious = r.aesKey("TOKEN_CACHE_KEY_PREVIOUS")
	if c.TokenCacheKeyPrevious != nil {
		if c.TokenCacheKey == nil {
			r.fail("TOKEN_CACHE_KEY", "is required when TOKEN_CACHE_KEY_PREVIOUS is set")
		}
		if bytes.Equal(c.TokenCacheKey, c.TokenCacheKeyPrevious) {
			r.fail("TOKEN_CACHE_KEY_PREVIOUS", "equals TOKEN_CACHE_KEY; during a rotation it holds the old key, otherwise leave it empty")
		}
	}
}

// aesKey reads an optional 32-byte key in base64 (standard or URL alphabet,
// padded or not), refusing a Key Vault reference App Service left unresolved.
func (r *reader) aesKey(name string) []byte {
	v := r.str(name)
	if v == "" {
		return nil
	}
	if strings.HasPrefix(strings.ToLower(v), keyVaultReferencePrefix) {
		r.fail(name, "is an unresolved Key Vault reference: give the app's identity the Key Vault Secrets User role and set keyVaultReferenceIdentity")
		return nil
	}
	raw := strings.TrimRight(v, "=")
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(raw)
	}
	if err != nil || len(b) != TokenCacheKeySize {
		r.fail(name, "must be 32 random bytes in base64 (`openssl rand -base64 32`)")
		return nil
	}
	return b
}
