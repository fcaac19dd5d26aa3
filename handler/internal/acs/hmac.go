package acs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// hmacPolicy signs requests with an ACS access key. It is a per-retry policy
// so that every attempt carries a fresh x-ms-date.
type hmacPolicy struct {
	key []byte
	now func() time.Time
}

func newHMACPolicy(key []byte) *hmacPolicy {
	return &hmacPolicy{key: append([]byte(nil), key...), now: time.Now}
}

func (p *hmacPolicy) Do(req *policy.Request) (*http.Response, error) {
	var body []byte
	if b := req.Body(); b != nil {
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("acs: rewind request body to sign it: %w", err)
		}
		var err error
		if body, err = io.ReadAll(b); err != nil {
			return nil, fmt.Errorf("acs: read request body to sign it: %w", err)
		}
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("acs: rewind request body after signing: %w", err)
		}
	}
	raw := req.Raw()
	host := raw.Host
	if host == "" {
		host = raw.URL.Host
	}
	date := p.now().UTC().Format(http.TimeFormat)
	sum := sha256.Sum256(body)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	// RequestURI is the path and query exactly as net/http puts them on the wire.
	toSign := strings.ToUpper(raw.Method) + "\n" + raw.URL.RequestURI() + "\n" + date + ";" + host + ";" + hash
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(toSign))
	raw.Header.Set("x-ms-date", date)
	raw.Header.Set("x-ms-content-sha256", hash)
	raw.Header.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+
		base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req.Next()
}
