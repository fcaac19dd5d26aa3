package acs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ParseConnectionString reads an ACS connection string,
// `endpoint=https://<resource>.communication.azure.com/;accesskey=<base64>`,
// with keys in any case and in any order. It returns the endpoint without its
// trailing slash and the decoded access key.
func ParseConnectionString(s string) (endpoint string, key []byte, err error) {
	var ep, ak string
	var haveEP, haveAK bool
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		// Split at the first '=' only: base64 keys end in '='.
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return "", nil, fmt.Errorf("acs: connection string part %q is not key=value", redact(k))
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			if haveEP {
				return "", nil, errors.New("acs: connection string has endpoint twice")
			}
			ep, haveEP = strings.TrimSpace(v), true
		case "accesskey":
			if haveAK {
				return "", nil, errors.New("acs: connection string has accesskey twice")
			}
			ak, haveAK = strings.TrimSpace(v), true
		default:
			return "", nil, fmt.Errorf("acs: connection string has an unknown key %q", k)
		}
	}
	if !haveEP || ep == "" {
		return "", nil, errors.New("acs: connection string has no endpoint")
	}
	if !haveAK || ak == "" {
		return "", nil, errors.New("acs: connection string has no accesskey")
	}
	endpoint, err = ParseEndpoint(ep)
	if err != nil {
		return "", nil, err
	}
	key, err = base64.StdEncoding.DecodeString(ak)
	if err != nil {
		return "", nil, fmt.Errorf("acs: connection string accesskey is not base64: %w", err)
	}
	if len(key) == 0 {
		return "", nil, errors.New("acs: connection string accesskey is empty")
	}
	return endpoint, key, nil
}

// ParseEndpoint checks an ACS resource endpoint and returns it without its
// trailing slash. It must be https, or http on a loopback host (an emulator),
// with no credentials, query or fragment.
func ParseEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("acs: endpoint %q is not a URL: %w", s, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("acs: endpoint %q has no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("acs: endpoint %q must not have user info, a query or a fragment", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("acs: endpoint %q uses plain http, which is allowed only for loopback hosts", s)
		}
	default:
		return "", fmt.Errorf("acs: endpoint %q must be https", s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact keeps an error message from echoing a whole secret.
func redact(s string) string {
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}
