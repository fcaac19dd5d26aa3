package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

func TestLoadTokenCache(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenCacheKey != nil || c.TokenCacheKeyPrevious != nil {
		t.Fatalf("no key, no cache: %v %v", c.TokenCacheKey, c.TokenCacheKeyPrevious)
	}
	key := bytes.Repeat([]byte{0xfb}, 32) // 0xfb makes + and / in standard base64
	prev := bytes.Repeat([]byte{7}, 32)
	for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "raw std": base64.RawStdEncoding, "url": base64.URLEncoding, "raw url": base64.RawURLEncoding} {
		env := base()
		env["TOKEN_CACHE_KEY"] = " " + enc.EncodeToString(key) + " "
		env["TOKEN_CACHE_KEY_PREVIOUS"] = enc.EncodeToString(prev)
		c, err := load(env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(c.TokenCacheKey, key) || !bytes.Equal(c.TokenCacheKeyPrevious, prev) {
			t.Fatalf("%s: keys %x %x", name, c.TokenCacheKey, c.TokenCacheKeyPrevious)
		}
	}
}

func TestLoadRejectsTokenCache(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	cases := []struct {
		name    string
		set     map[string]string
		setting string
	}{
		{"not base64", map[string]string{"TOKEN_CACHE_KEY": "not base64 at all!"}, "TOKEN_CACHE_KEY"},
		{"16 bytes", map[string]string{"TOKEN_CACHE_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "TOKEN_CACHE_KEY"},
		{"33 bytes", map[string]string{"TOKEN_CACHE_KEY": base64.StdEncoding.EncodeToString(make([]byte, 33))}, "TOKEN_CACHE_KEY"},
		{"a passphrase", map[string]string{"TOKEN_CACHE_KEY": "correct horse battery staple 1234"}, "TOKEN_CACHE_KEY"},
		{"unresolved Key Vault reference", map[string]string{"TOKEN_CACHE_KEY": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/token-cache-key/)"}, "TOKEN_CACHE_KEY"},
		{"previous without current", map[string]string{"TOKEN_CACHE_KEY_PREVIOUS": k}, "TOKEN_CACHE_KEY"},
		{"previous equals current", map[string]string{"TOKEN_CACHE_KEY": k, "TOKEN_CACHE_KEY_PREVIOUS": k}, "TOKEN_CACHE_KEY_PREVIOUS"},
		{"previous malformed", map[string]string{"TOKEN_CACHE_KEY": k, "TOKEN_CACHE_KEY_PREVIOUS": "abc"}, "TOKEN_CACHE_KEY_PREVIOUS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := base()
			for k, v := range tc.set {
				env[k] = v
			}
			_, err := load(env)
			var ce *Error
			if !errors.As(err, &ce) || ce.Setting != tc.setting {
				t.Fatalf("err = %v, want one naming %s", err, tc.setting)
			}
		})
	}
}
