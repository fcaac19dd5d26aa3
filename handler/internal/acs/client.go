// Package acs owns Switchboard's REST clients for Azure Communication
// Services, built on the azcore pipeline: access-key (HMAC-SHA256) or Entra
// ID auth, retries with back-off honouring Retry-After, and ACS errors as
// *azcore.ResponseError. One file per ACS API: identity.go, rooms.go,
// callautomation.go (with its callback events and their verification).
package acs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/google/uuid"

	"switchboard/handler/internal/azhttp"
)

// APIVersion is the GA identity api-version this client speaks.
const APIVersion = "2023-10-01"

// RoomsAPIVersion and CallAutomationAPIVersion are what the official JS SDKs
// (@azure/communication-rooms 1.2.0, -call-automation 1.6.0) send.
const (
	RoomsAPIVersion          = "2025-03-13"
	CallAutomationAPIVersion = "2026-03-12"
)

// CallAutomationAPIVersions are the Call Automation api-versions the client
// may be set to speak (ClientOptions.CallAutomationAPIVersion): the newest
// GA, and the one before it that the .NET and Python SDKs still send.
// MoveParticipantsAPIVersion is the first with participants:moveHere.
var CallAutomationAPIVersions = []string{CallAutomationAPIVersion, "2025-06-15"}

const MoveParticipantsAPIVersion = "2026-03-12"

// Scope is the Entra ID scope of the ACS data plane; the double slash is ACS's own.
const Scope = "https://communication.azure.com//.default"

// Default retry and timeout settings; callers also bound each call with a
// context deadline. A throttled or failing answer is retried only while the
// wait it asks for (Retry-After, or our back-off) is at most
// DefaultMaxRetryWait and the call has not run longer than
// DefaultRetryBudget: past that the caller gets ACS's answer at once and
// passes ACS's Retry-After on, instead of holding its own client while we wait.
const (
	DefaultMaxRetries   = 3
	DefaultTryTimeout   = 10 * time.Second
	DefaultMaxRetryWait = 2 * time.Second
	DefaultRetryBudget  = 5 * time.Second
)

const (
	moduleName    = "switchboard/acs"
	moduleVersion = "v1.0.0"
)

// ClientOptions configures a Client; nil means defaults. Zero retry fields
// get DefaultMaxRetries, DefaultTryTimeout and (Retry.MaxRetryDelay)
// DefaultMaxRetryWait; the retried statuses are azcore's (408, 429, 500,
// 502, 503, 504) unless Retry.StatusCodes says otherwise. Retry.ShouldRetry
// is replaced by the retry budget.
type ClientOptions struct {
	azcore.ClientOptions
	// RetryBudget is how long one call may spend retrying; 0 means
	// DefaultRetryBudget. No retry starts whose wait would end after it.
	RetryBudget time.Duration
	// CallAutomationAPIVersion is one of CallAutomationAPIVersions; "" means
	// CallAutomationAPIVersion.
	CallAutomationAPIVersion string
}

// Client calls one ACS resource. It is safe for concurrent use.
type Client struct {
	endpoint  string
	pl        runtime.Pipeline
	caVersion string
}

// NewClientFromConnectionString builds a client that signs with the access
// key in an ACS connection string.
func NewClientFromConnectionString(connectionString string, opts *ClientOptions) (*Client, error) {
	endpoint, key, err := ParseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	return NewClientWithKey(endpoint, key, opts)
}

// NewClientWithKey builds a client that signs every request with key (HMAC-SHA256).
func NewClientWithKey(endpoint string, key []byte, opts *ClientOptions) (*Client, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("acs: access key is empty")
	}
	return newClient(endpoint, newHMACPolicy(key), opts)
}

// NewClientWithTokenCredential builds a client authenticating with Entra ID
// (azidentity; a managed identity in Azure) for Scope.
func NewClientWithTokenCredential(endpoint string, cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	if cred == nil {
		return nil, fmt.Errorf("acs: token credential is nil")
	}
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	// ParseEndpoint allows http only on loopback, so a token never crosses a network in clear text.
	bearer := runtime.NewBearerTokenPolicy(cred, []string{Scope}, &policy.BearerTokenOptions{
		InsecureAllowCredentialWithHTTP: strings.HasPrefix(ep, "http://"),
	})
	return newClient(ep, bearer, opts)
}

func newClient(endpoint string, auth policy.Policy, opts *ClientOptions) (*Client, error) {
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var co azcore.ClientOptions
	budget := DefaultRetryBudget
	caVersion := CallAutomationAPIVersion
	if opts != nil {
		co = opts.ClientOptions
		if opts.RetryBudget > 0 {
			budget = opts.RetryBudget
		}
		if opts.CallAutomationAPIVersion != "" {
			if !slices.Contains(CallAutomationAPIVersions, opts.CallAutomationAPIVersion) {
				return nil, fmt.Errorf("acs: Call Automation api-version %q: use one of %s", opts.CallAutomationAPIVersion, strings.Join(CallAutomationAPIVersions, ", "))
			}
			caVersion = opts.CallAutomationAPIVersion
		}
	}
	if co.Transport == nil {
		co.Transport = azhttp.Client()
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
	if co.Retry.StatusCodes == nil {
		co.Retry.StatusCodes = retriedStatuses
	}
	c, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		AllowedQueryParameters: []string{"api-version"},
		PerCall:                []policy.Policy{retryBudget{retry: co.Retry, budget: budget}},
		PerRetry:               []policy.Policy{auth},
	}, &co)
	if err != nil {
		return nil, fmt.Errorf("acs: build pipeline: %w", err)
	}
	return &Client{endpoint: ep, pl: c.Pipeline(), caVersion: caVersion}, nil
}

// retriedStatuses are azcore's defaults, spelled out because a ShouldRetry
// of our own replaces azcore's status check.
var retriedStatuses = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// retryBudget runs each call with its own ShouldRetry, which refuses a retry
// once the call has run for budget or when the wait ACS asks for would end
// after it. It sits before azcore's retry policy, which reads the options
// from the context.
type retryBudget struct {
	retry  policy.RetryOptions
	budget time.Duration
	now    func() time.Time // nil means time.Now
}

func (b retryBudget) Do(req *policy.Request) (*http.Response, error) {
	o := b.retry
	o.ShouldRetry = b.shouldRetry(b.clock()())
	return req.WithContext(policy.WithRetryOptions(req.Raw().Context(), o)).Next()
}

func (b retryBudget) clock() func() time.Time {
	if b.now != nil {
		return b.now
	}
	return time.Now
}

// shouldRetry decides for a call that started at start.
func (b retryBudget) shouldRetry(start time.Time) func(*http.Response, error) bool {
	now := b.clock()
	return func(resp *http.Response, err error) bool {
		spent := now().Sub(start)
		if spent >= b.budget {
			return false
		}
		if err != nil {
			return true
		}
		return slices.Contains(b.retry.StatusCodes, resp.StatusCode) && spent+retryAfter(resp.Header) <= b.budget
	}
}

// Endpoint is the resource endpoint the client calls, without a trailing slash.
func (c *Client) Endpoint() string { return c.endpoint }

// CallAutomationAPIVersion is the Call Automation api-version the client speaks.
func (c *Client) CallAutomationAPIVersion() string { return c.caVersion }

// do sends one ACS request: path is already escaped, body (if not nil) is
// JSON-encoded, and any status other than want is an *azcore.ResponseError.
func (c *Client) do(ctx context.Context, method, path, apiVersion string, body any, want int, out any) error {
	return c.send(ctx, request{method: method, url: c.endpoint + path + "?api-version=" + apiVersion, body: body, want: want}, out)
}

// request is one ACS call for send; url is absolute (a nextLink, or endpoint+path+query).
type request struct {
	method, url string
	body        any
	contentType string // default application/json
	// repeatable adds Repeatability-Request-ID/-First-Sent: ACS answers a
	// resend of the same id (our retries) with the first result instead of acting twice.
	repeatable bool
	// header is set on the request as given (Chat's repeatability-request-id).
	header http.Header
	// repeatID and firstSent, when set, are the repeatability pair to send
	// (a resend after a crash must carry the first attempt's pair).
	repeatID  string
	firstSent time.Time
	want      int
	// alsoWant is a second success status the operation declares (0: none).
	alsoWant int
}

func (c *Client) send(ctx context.Context, rq request, out any) error {
	req, err := runtime.NewRequest(ctx, rq.method, rq.url)
	if err != nil {
		return fmt.Errorf("acs: build %s %s: %w", rq.method, rq.url, err)
	}
	path := req.Raw().URL.Path
	req.Raw().Header.Set("Accept", "application/json")
	if rq.repeatable {
		// Set once here, not per try: every retry must carry the same pair.
		id, first := rq.repeatID, rq.firstSent
		if id == "" {
			id, first = uuid.NewString(), time.Now()
		}
		req.Raw().Header.Set("Repeatability-Request-ID", id)
		req.Raw().Header.Set("Repeatability-First-Sent", first.UTC().Format(http.TimeFormat))
	}
	for k, v := range rq.header {
		req.Raw().Header[k] = v
	}
	if rq.body != nil {
		b, err := json.Marshal(rq.body)
		if err != nil {
			return fmt.Errorf("acs: encode %s %s body: %w", rq.method, path, err)
		}
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(b)), ct); err != nil {
			return fmt.Errorf("acs: set %s %s body: %w", rq.method, path, err)
		}
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return fmt.Errorf("acs: %s %s: %w", rq.method, path, err)
	}
	if resp.StatusCode != rq.want && (rq.alsoWant == 0 || resp.StatusCode != rq.alsoWant) {
		return runtime.NewResponseError(resp)
	}
	if out == nil {
		return nil
	}
	if err := runtime.UnmarshalAsJSON(resp, out); err != nil {
		return fmt.Errorf("acs: decode %s %s response: %w", rq.method, path, err)
	}
	return nil
}

// escapeSegment percent-encodes s as one path segment, leaving only RFC 3986
// unreserved characters, so `8:acs:...` goes on the wire as `8%3Aacs%3A...`
// (url.PathEscape would keep the colons).
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
