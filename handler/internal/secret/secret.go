// Package secret makes the random credentials Switchboard hands out once
// (join codes, callback secrets) and the hashes it keeps of them instead.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// New is n random bytes, base64url without padding (16 bytes: 22
// characters; 32 bytes: 43).
func New(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is the stored form of a secret: SHA-256 of its text, lower-case hex
// (64 characters). A secret is 128 bits or more of randomness, so a plain,
// unsalted hash is enough: nobody can guess one to test against it.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
