package pushemu

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

type subscription struct {
	id      string
	private *ecdh.PrivateKey
	auth    []byte
}

// Subscription is what a browser's PushSubscription.toJSON() gives an app.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// NewSubscription creates a push subscription on the receiver: a real P-256
// key pair and auth secret, as a browser would.
func (e *Emulators) NewSubscription() (id string, s Subscription, err error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", s, err
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	id = uuid.NewString()
	e.mu.Lock()
	e.subs[id] = &subscription{id: id, private: priv, auth: auth}
	e.mu.Unlock()
	s.Endpoint = e.webURL + "/webpush/" + id
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(auth)
	return id, s, nil
}

func (e *Emulators) serveWebPush(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	sub := e.subs[id]
	e.mu.Unlock()
	if sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if err := checkVAPID(r.Header.Get("Authorization"), e.webURL); err != nil {
		http.Error(w, "VAPID: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		http.Error(w, "Content-Encoding must be aes128gcm", http.StatusBadRequest)
		return
	}
	if r.Header.Get("TTL") == "" {
		http.Error(w, "TTL is required", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil || len(body) > 4096 {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	plain, err := Decrypt(sub.private, sub.auth, body)
	if err != nil {
		http.Error(w, "cannot decrypt: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !e.gate(w, id) {
		return
	}
	e.record(Delivery{Provider: "webpush", Device: id, Headers: map[string]string{"ttl": r.Header.Get("TTL"), "urgency": r.Header.Get("Urgency")}, Body: plain})
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies `Authorization: vapid t=<jwt>, k=<key>` (RFC 8292):
// an ES256 JWT signed by k, for the push service's origin, expiring within 24 h.
func checkVAPID(h, origin string) error {
	scheme, params, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return errors.New("Authorization must use the vapid scheme")
	}
	var t, k string
	for _, p := range strings.Split(params, ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			t = v
		case "k":
			k = v
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k, "="))
	if err != nil {
		return errors.New("k is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("k is not a P-256 public key: %w", err)
	}
	tok, err := jwt.ParseSigned(t, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fmt.Errorf("t is not an ES256 JWT: %w", err)
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	u, _ := url.Parse(origin)
	if err := c.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{u.Scheme + "://" + u.Host}, Time: time.Now()}, time.Minute); err != nil {
		return err
	}
	if c.Expiry == nil || c.Expiry.Time().After(time.Now().Add(24*time.Hour)) {
		return errors.New("exp must be within 24 hours")
	}
	if !validContact(c.Subject) {
		return fmt.Errorf("sub must be a mailto: or https: contact, not %q", c.Subject)
	}
	return nil
}

// validContact checks a VAPID sub (RFC 8292 section 2.1): mailto: with one
// address, or an https: URL.
func validContact(sub string) bool {
	if addr, ok := strings.CutPrefix(sub, "mailto:"); ok {
		a, err := mail.ParseAddress(addr)
		return err == nil && a.Address == addr
	}
	u, err := url.Parse(sub)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// Decrypt opens an RFC 8291 aes128gcm Web Push message with the
// subscription's private key and auth secret.
func Decrypt(priv *ecdh.PrivateKey, authSecret, body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("truncated header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idLen := int(body[20])
	if len(body) < 21+idLen || rs < 18 {
		return nil, errors.New("malformed header")
	}
	senderPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idLen])
	if err != nil {
		return nil, fmt.Errorf("keyid is not the sender's P-256 key: %w", err)
	}
	ciphertext := body[21+idLen:]
	if len(ciphertext) > int(rs) {
		return nil, errors.New("more than one record is not supported")
	}
	shared, err := priv.ECDH(senderPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), priv.PublicKey().Bytes()...), senderPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, string(info), 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("authentication failed: %w", err)
	}
	// Strip the padding: zeros, then the last-record delimiter 0x02.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("missing last-record delimiter")
	}
	return plain[:i], nil
}
