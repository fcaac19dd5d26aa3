package auth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// jwksThrottle spaces fetches of the JWKS: go-oidc refetches the key set for
// every token whose kid it does not know, so without this a stream of forged
// kids would turn each request into a call to the identity provider. Within
// the interval it answers with the last key set fetched.
type jwksThrottle struct {
	base     http.RoundTripper
	jwksURL  string
	interval time.Duration

	mu   sync.Mutex
	last time.Time
	body []byte
}

func (t *jwksThrottle) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.String() != t.jwksURL {
		return t.base.RoundTrip(req)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.body != nil && time.Since(t.last) < t.interval {
		return cachedResponse(req, t.body), nil
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the key set from %s: %w", t.jwksURL, err)
	}
	t.body, t.last = body, time.Now()
	return cachedResponse(req, body), nil
}

func cachedResponse(req *http.Request, body []byte) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
