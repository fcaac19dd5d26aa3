package acs

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

func TestParseConnectionString(t *testing.T) {
	const key = "c3dpdGNoYm9hcmQtdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="
	tests := []struct {
		name, in, endpoint, err string
	}{
		{name: "portal form", in: "endpoint=https://res.communication.azure.com/;accesskey=" + key, endpoint: "https://res.communication.azure.com"},
		{name: "mixed case keys, reordered", in: "AccessKey=" + key + ";Endpoint=https://res.communication.azure.com", endpoint: "https://res.communication.azure.com"},
		{name: "trailing semicolon and spaces", in: " endpoint=https://res.communication.azure.com/ ; accesskey=" + key + ";", endpoint: "https://res.communication.azure.com"},
		{name: "loopback http with port", in: "endpoint=http://127.0.0.1:36135/;accesskey=" + key, endpoint: "http://127.0.0.1:36135"},
		{name: "localhost http", in: "endpoint=http://localhost:8080;accesskey=" + key, endpoint: "http://localhost:8080"},
		{name: "ipv6 loopback", in: "endpoint=http://[::1]:8080/;accesskey=" + key, endpoint: "http://[::1]:8080"},
		{name: "https with port", in: "endpoint=https://res.communication.azure.com:8443/;accesskey=" + key, endpoint: "https://res.communication.azure.com:8443"},
		{name: "http on a remote host", in: "endpoint=http://res.communication.azure.com/;accesskey=" + key, err: "plain http"},
		{name: "other scheme", in: "endpoint=ftp://res/;accesskey=" + key, err: "must be https"},
		{name: "no scheme", in: "endpoint=res.communication.azure.com;accesskey=" + key, err: "no host"},
		{name: "query in endpoint", in: "endpoint=https://res/?a=b;accesskey=" + key, err: "query"},
		{name: "user info in endpoint", in: "endpoint=https://u:p@res/;accesskey=" + key, err: "user info"},
		{name: "missing endpoint", in: "accesskey=" + key, err: "no endpoint"},
		{name: "missing key", in: "endpoint=https://res/", err: "no accesskey"},
		{name: "empty key", in: "endpoint=https://res/;accesskey=", err: "no accesskey"},
		{name: "key not base64", in: "endpoint=https://res/;accesskey=not*base64", err: "not base64"},
		{name: "unknown key", in: "endpoint=https://res/;accesskey=" + key + ";sharedaccesskeyname=x", err: "unknown key"},
		{name: "duplicate endpoint", in: "endpoint=https://a/;endpoint=https://b/;accesskey=" + key, err: "twice"},
		{name: "part without equals", in: "endpoint=https://res/;accesskey=" + key + ";junk", err: "not key=value"},
		{name: "empty", in: "", err: "no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, k, err := ParseConnectionString(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ep != tt.endpoint {
				t.Errorf("endpoint = %q, want %q", ep, tt.endpoint)
			}
			if !bytes.Equal(k, []byte("switchboard-test-key-0123456789abcdef")) {
				t.Errorf("key = %q", k)
			}
		})
	}
}

func FuzzParseConnectionString(f *testing.F) {
	f.Add("endpoint=https://res.communication.azure.com/;accesskey=c3dpdGNoYm9hcmQ=")
	f.Add("Endpoint=http://127.0.0.1:1/;AccessKey=AAAA;")
	f.Add("endpoint=http://[::1]:80/x/;accesskey=QQ==")
	f.Add(";;=;")
	f.Fuzz(func(t *testing.T, s string) {
		ep, key, err := ParseConnectionString(s)
		if err != nil {
			return
		}
		if len(key) == 0 {
			t.Fatalf("accepted %q with an empty key", s)
		}
		again, err := ParseEndpoint(ep)
		if err != nil || again != ep {
			t.Fatalf("endpoint %q from %q does not round-trip: %q, %v", ep, s, again, err)
		}
		if strings.HasSuffix(ep, "/") {
			t.Fatalf("endpoint %q keeps a trailing slash", ep)
		}
		if u, err := url.Parse(ep); err != nil || (u.Scheme == "http" && !isLoopback(u.Hostname())) {
			t.Fatalf("endpoint %q from %q is plain http on a non-loopback host (%v)", ep, s, err)
		}
	})
}

func TestEscapeSegment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8:acs:1b5f0a2e-0000-4000-8000-000000000001_00000017-abcd", "8%3Aacs%3A1b5f0a2e-0000-4000-8000-000000000001_00000017-abcd"},
		{"a/b?c#d", "a%2Fb%3Fc%23d"},
		{"sp ace%", "sp%20ace%25"},
		{"ü", "%C3%BC"},
		{"AZaz09-._~", "AZaz09-._~"},
	}
	for _, tt := range tests {
		if got := escapeSegment(tt.in); got != tt.want {
			t.Errorf("escapeSegment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
