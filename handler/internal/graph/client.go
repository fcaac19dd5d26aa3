// Package graph is Switchboard's Microsoft Graph client for Teams online
// meetings: the five onlineMeetings operations it needs, called on the
// azcore pipeline (bearer token from azidentity, retries honouring
// Retry-After) instead of the 194 MB msgraph-sdk-go. Graph's errors come
// back as *Error with Graph's code and message.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// DefaultEndpoint is the public cloud's Graph, version included.
const DefaultEndpoint = "https://graph.microsoft.com/v1.0"

// DefaultAuthorityHost is the public cloud's Entra ID authority host.
const DefaultAuthorityHost = "https://login.microsoftonline.com/"

// Retry settings: Graph asks throttled clients to wait Retry-After seconds.
// A wait up to DefaultMaxRetryWait is waited out here; a longer one goes
// back to our caller as a 503 with the same Retry-After.
const (
	DefaultMaxRetries   = 3
	DefaultTryTimeout   = 10 * time.Second
	DefaultMaxRetryWait = 4 * time.Second
)

const (
	moduleName    = "switchboard/graph"
	moduleVersion = "v1.0.0"
)

// Scope is the client-credentials scope for a Graph endpoint: its origin
// plus /.default (https://graph.microsoft.com/.default for the public cloud).
func Scope(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("graph: endpoint %q is not an absolute URL", endpoint)
	}
	return u.Scheme + "://" + u.Host + "/.default", nil
}

// ClientOptions configures a Client; nil means defaults.
type ClientOptions struct {
	azcore.ClientOptions
}

// Client calls one Graph endpoint for one app. Safe for concurrent use.
type Client struct {
	endpoint string
	pl       runtime.Pipeline
}

// NewClient builds a client for endpoint (for example DefaultEndpoint)
// whose requests carry a token from cred for Scope(endpoint).
func NewClient(endpoint string, cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	if cred == nil {
		return nil, errors.New("graph: token credential is nil")
	}
	endpoint = strings.TrimRight(endpoint, "/")
	scope, err := Scope(endpoint)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(endpoint)
	loopbackHTTP := u.Scheme == "http" && isLoopback(u.Hostname())
	if u.Scheme != "https" && !loopbackHTTP {
		return nil, fmt.Errorf("graph: endpoint %q must use https", endpoint)
	}
	var co azcore.ClientOptions
	if opts != nil {
		co = opts.ClientOptions
	}
	if co.Retry.MaxRetries == 0 {
		co.Retry.MaxRetries = DefaultMaxRetries
	}
	if co.Retry.TryTimeout == 0 {
		co.Retry.TryTimeout = DefaultTryTimeout
	}
	if co.Retry.MaxRetryDelay == 0 {
		// azcore does not retry an answer whose Retry-After exceeds this.
		co.Retry.MaxRetryDelay = DefaultMaxRetryWait
	}
	bearer := runtime.NewBearerTokenPolicy(cred, []string{scope}, &policy.BearerTokenOptions{
		InsecureAllowCredentialWithHTTP: loopbackHTTP,
	})
	c, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{PerRetry: []policy.Policy{bearer}}, &co)
	if err != nil {
		return nil, fmt.Errorf("graph: build pipeline: %w", err)
	}
	return &Client{endpoint: endpoint, pl: c.Pipeline()}, nil
}

// Endpoint is the Graph endpoint the client calls, version included.
func (c *Client) Endpoint() string { return c.endpoint }

// do sends one request; path is already escaped, body (if not nil) is
// JSON, any status not in want is an *Error, and out (if not nil) is
// decoded from the answer. It returns the status Graph answered.
func (c *Client) do(ctx context.Context, method, path string, body any, out any, want ...int) (int, error) {
	req, err := runtime.NewRequest(ctx, method, c.endpoint+path)
	if err != nil {
		return 0, fmt.Errorf("graph: build %s %s: %w", method, path, err)
	}
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("graph: encode %s %s: %w", method, path, err)
		}
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(b)), "application/json"); err != nil {
			return 0, fmt.Errorf("graph: %s %s body: %w", method, path, err)
		}
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return 0, fmt.Errorf("graph: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("graph: read %s %s answer: %w", method, path, err)
	}
	ok := false
	for _, s := range want {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, newError(method, path, resp, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("graph: decode %s %s answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Error is a Graph error answer: {"error":{"code","message"}}.
type Error struct {
	Method, Path string
	StatusCode   int
	Code         string
	Message      string
	// RetryAfter is the wait Graph asked for on a 429 or 503, or 0.
	RetryAfter time.Duration
	// RequestID is Graph's request-id header, for a support case.
	RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("graph: %s %s: %d %s: %s (request-id %s)", e.Method, e.Path, e.StatusCode, e.Code, e.Message, e.RequestID)
}

func newError(method, path string, resp *http.Response, raw []byte) *Error {
	e := &Error{Method: method, Path: path, StatusCode: resp.StatusCode, RequestID: resp.Header.Get("request-id"),
		RetryAfter: retryAfter(resp.Header)}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	if e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	return e
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := time.Until(at); d > 0 {
			return d
		}
	}
	return 0
}

// StatusOf is the HTTP status of a Graph error answer, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether Graph answered 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsAccessPolicyMissing reports a 403 that names the app as not authorized
// to act on behalf of the organizer: the Teams application access policy
// is not granted to that user (or has not taken effect yet).
func IsAccessPolicyMissing(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "not authorized") && strings.Contains(m, "on behalf of")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	return host == "::1" || strings.HasPrefix(host, "127.")
}
