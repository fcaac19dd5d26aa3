package acs

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// recordingTransport answers with the queued statuses and keeps every request it was sent.
type recordingTransport struct {
	statuses []int
	reqs     []*http.Request
	bodies   [][]byte
}

func (rt *recordingTransport) Do(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
	}
	rt.reqs = append(rt.reqs, r)
	rt.bodies = append(rt.bodies, b)
	status := http.StatusOK
	if len(rt.statuses) > 0 {
		status, rt.statuses = rt.statuses[0], rt.statuses[1:]
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func sendSigned(t *testing.T, p *hmacPolicy, rt *recordingTransport, method, url string, body []byte) {
	t.Helper()
	pl := runtime.NewPipeline("test", "v0.0.1", runtime.PipelineOptions{PerRetry: []policy.Policy{p}},
		&policy.ClientOptions{Transport: rt, Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond}})
	req, err := runtime.NewRequest(t.Context(), method, url)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pl.Do(req); err != nil {
		t.Fatal(err)
	}
}

// TestHMACWorkedExample reproduces the worked example of ref/acs-rest.md byte for byte.
func TestHMACWorkedExample(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString("c3dpdGNoYm9hcmQtdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==")
	if err != nil {
		t.Fatal(err)
	}
	p := newHMACPolicy(key)
	at, _ := time.Parse(http.TimeFormat, "Tue, 24 Nov 2026 15:44:43 GMT")
	p.now = func() time.Time { return at }
	rt := &recordingTransport{}
	sendSigned(t, p, rt, http.MethodPost, "http://127.0.0.1:36135/identities?api-version=2023-10-01", []byte(`{"createTokenWithScopes":["voip"]}`))

	got := rt.reqs[0].Header
	want := map[string]string{
		"x-ms-date":           "Tue, 24 Nov 2026 15:44:43 GMT",
		"x-ms-content-sha256": "k4k9IoKBLYipoiXK3LctfBcfghISSb6AI45ji7ILZfg=",
		"Authorization":       "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=C7Ha6/IGTWJxNhQlm1uj+uYLPU/0opSaOx1mUN2og6E=",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if string(rt.bodies[0]) != `{"createTokenWithScopes":["voip"]}` {
		t.Errorf("body sent after signing = %q: signing must not consume it", rt.bodies[0])
	}
}

func TestHMACEmptyBodyHash(t *testing.T) {
	p := newHMACPolicy([]byte("k"))
	rt := &recordingTransport{}
	sendSigned(t, p, rt, http.MethodDelete, "http://127.0.0.1:1/identities/8%3Aacs%3Ax?api-version=2023-10-01", nil)
	if h := rt.reqs[0].Header.Get("x-ms-content-sha256"); h != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("empty body hash = %q", h)
	}
	if u := rt.reqs[0].URL.RequestURI(); u != "/identities/8%3Aacs%3Ax?api-version=2023-10-01" {
		t.Errorf("request target = %q: the percent-encoding must reach the wire", u)
	}
}

// TestHMACSignsEachAttempt checks that a retry carries a new date and a signature to match.
func TestHMACSignsEachAttempt(t *testing.T) {
	p := newHMACPolicy([]byte("k"))
	clock := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	p.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	rt := &recordingTransport{statuses: []int{http.StatusServiceUnavailable, http.StatusOK}}
	sendSigned(t, p, rt, http.MethodPost, "http://127.0.0.1:1/identities?api-version=2023-10-01", []byte(`{}`))
	if len(rt.reqs) != 2 {
		t.Fatalf("%d attempts, want 2", len(rt.reqs))
	}
	a, b := rt.reqs[0].Header, rt.reqs[1].Header
	if a.Get("x-ms-date") == b.Get("x-ms-date") || a.Get("Authorization") == b.Get("Authorization") {
		t.Errorf("retry reused the first attempt's date/signature: %q / %q", a.Get("x-ms-date"), b.Get("x-ms-date"))
	}
	if string(rt.bodies[1]) != `{}` {
		t.Errorf("retry body = %q, want the full body again", rt.bodies[1])
	}
}
