// Package webhooksig signs and verifies Switchboard's webhook pushes, for
// the handler and for receivers written in Go: the Switchboard-Signature
// header is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers a webhook push carries.
const (
	SignatureHeader = "Switchboard-Signature"
	EventIDHeader   = "Switchboard-Event-Id"
)

// Sign returns the signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body, refusing timestamps
// further than tolerance from now (replays).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature header")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp %s is outside the %s tolerance", t.UTC().Format(time.RFC3339), tolerance)
	}
	if !hmac.Equal([]byte(Sign(secret, t, body)), []byte("t="+ts+",v1="+strings.ToLower(sig))) {
		return errors.New("signature does not match")
	}
	return nil
}
