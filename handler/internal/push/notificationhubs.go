package push

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"switchboard/handler/internal/azhttp"
)

// NotificationHubsAPIVersion is what the official SDKs send.
const NotificationHubsAPIVersion = "2020-06"

// NotificationHubsConfig configures direct sends.
type NotificationHubsConfig struct {
	ConnectionString string // Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...
	Hub              string
	APNsVoIPTopic    string // <bundle id>.voip
	// Transport overrides the HTTP client (nil: the shared azhttp client, system roots).
	Transport policy.Transporter
}

// NotificationHub sends to one hub with the azcore pipeline and a SAS policy.
type NotificationHub struct {
	baseURL string // https://<ns>.servicebus.windows.net/
	hub     string
	topic   string
	pl      runtime.Pipeline
	retry   policy.RetryOptions
}

// NHConnection is a parsed Notification Hubs (Service Bus) connection string.
type NHConnection struct {
	// Endpoint is the https:// form of the sb:// endpoint, ending in "/".
	Endpoint string
	KeyName  string
	Key      string
}

// ParseNHConnectionString reads
// Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...
// Like the official SDKs, the sb:// endpoint is reached over https at the same host and port.
func ParseNHConnectionString(cs string) (NHConnection, error) {
	var c NHConnection
	var endpoint string
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		// Cut at the first "=" keeps a base64 key's trailing "=" padding in v.
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			endpoint = strings.TrimSpace(v)
		case "sharedaccesskeyname":
			c.KeyName = strings.TrimSpace(v)
		case "sharedaccesskey":
			c.Key = strings.TrimSpace(v)
		}
	}
	if endpoint == "" || c.KeyName == "" || c.Key == "" {
		return c, errors.New("notification hub connection string needs Endpoint, SharedAccessKeyName and SharedAccessKey")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "sb" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return c, fmt.Errorf("notification hub endpoint %q is not an sb:// or https:// URL", endpoint)
	}
	u.Scheme = "https"
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c.Endpoint = u.String()
	return c, nil
}

// NewNotificationHub parses the connection string; no network.
func NewNotificationHub(cfg NotificationHubsConfig) (*NotificationHub, error) {
	conn, err := ParseNHConnectionString(cfg.ConnectionString)
	if err != nil {
		return nil, err
	}
	if cfg.Hub == "" {
		return nil, errors.New("a notification hub name is required")
	}
	// The caller is waiting for a phone to ring: retry little, quickly. A
	// Retry-After beyond MaxRetryDelay is not waited for but reported (RetryAfter).
	retry := policy.RetryOptions{MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second, TryTimeout: 5 * time.Second}
	transport := cfg.Transport
	if transport == nil {
		transport = azhttp.Client()
	}
	opts := &policy.ClientOptions{Transport: transport, Retry: retry}
	pl := runtime.NewPipeline("switchboard-push", "1.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{&sasPolicy{keyName: conn.KeyName, key: conn.Key, audience: conn.Endpoint}},
	}, opts)
	return &NotificationHub{baseURL: conn.Endpoint, hub: cfg.Hub, topic: cfg.APNsVoIPTopic, pl: pl, retry: retry}, nil
}

// withinDeadline shrinks the retry budget to what ctx leaves, so a wait for a
// retry never outlives the caller and the provider's answer is not lost to a
// context error.
func (h *NotificationHub) withinDeadline(ctx context.Context) context.Context {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	o := h.retry
	left := time.Until(dl)
	// Keep half the time for the attempt after the wait.
	if o.MaxRetryDelay > left/2 {
		o.MaxRetryDelay = left / 2
	}
	if o.TryTimeout > left {
		o.TryTimeout = left
	}
	if o.MaxRetryDelay < 10*time.Millisecond || o.TryTimeout <= 0 {
		o.MaxRetries = -1 // no time to retry at all
		o.MaxRetryDelay, o.TryTimeout = time.Millisecond, time.Millisecond
		if left > 0 {
			o.TryTimeout = left
		}
	}
	if o.RetryDelay > o.MaxRetryDelay {
		o.RetryDelay = o.MaxRetryDelay
	}
	return policy.WithRetryOptions(ctx, o)
}

// sasPolicy signs each attempt with a fresh SharedAccessSignature: HMAC-SHA256
// keyed with the key string's bytes over url-encoded(lowercased audience) + "\n" + expiry.
type sasPolicy struct {
	keyName, key, audience string
}

func (p *sasPolicy) Do(req *policy.Request) (*http.Response, error) {
	req.Raw().Header.Set("Authorization", SASToken(p.keyName, p.key, p.audience, time.Now().Add(time.Hour)))
	return req.Next()
}

// SASToken builds a Service Bus / Notification Hubs SAS token.
func SASToken(keyName, key, audience string, expiry time.Time) string {
	sr := url.QueryEscape(strings.ToLower(audience))
	se := strconv.FormatInt(expiry.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + url.QueryEscape(keyName)
}

// ErrAlertToVoIP refuses an alert notification for a PushKit (VoIP) token;
// the fan-out skips such devices before it gets here.
var ErrAlertToVoIP = errors.New("an alert notification cannot go to a VoIP (PushKit) token")

// Send delivers n to an APNs or FCM device by direct send.
func (h *NotificationHub) Send(ctx context.Context, d Device, n Notification) error {
	var body []byte
	var err error
	headers := map[string]string{}
	switch d.Provider {
	case APNs:
		body, err = APNsBody(n, d.VoIP)
		headers["ServiceBusNotification-Format"] = "apple"
		switch {
		case d.VoIP && n.Alert != nil:
			return &SendError{Provider: APNs, Err: ErrAlertToVoIP}
		case n.Alert != nil:
			headers["apns-push-type"] = "alert"
			headers["apns-priority"] = "10"
		case d.VoIP:
			if h.topic == "" {
				return &SendError{Provider: APNs, Err: fmt.Errorf("%w: APNS_VOIP_TOPIC is not set", ErrProviderNotConfigured)}
			}
			headers["apns-push-type"] = "voip"
			headers["apns-priority"] = "10"
			headers["apns-topic"] = h.topic
			headers["apns-expiration"] = strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10)
		default:
			headers["apns-push-type"] = "background"
			headers["apns-priority"] = "5"
		}
	case FCM:
		body, err = FCMBody(n)
		headers["ServiceBusNotification-Format"] = "fcmv1"
	default:
		return fmt.Errorf("notification hubs cannot send to %s devices", d.Provider)
	}
	if err != nil {
		return &SendError{Provider: d.Provider, Err: err}
	}
	u := h.baseURL + url.PathEscape(h.hub) + "/messages/?api-version=" + NotificationHubsAPIVersion + "&direct=true"
	req, err := runtime.NewRequest(h.withinDeadline(ctx), http.MethodPost, u)
	if err != nil {
		return err
	}
	raw := req.Raw()
	for k, v := range headers {
		raw.Header.Set(k, v)
	}
	raw.Header.Set("ServiceBusNotification-DeviceHandle", d.Handle)
	raw.Header.Set("x-ms-version", NotificationHubsAPIVersion)
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json;charset=utf-8"); err != nil {
		return err
	}
	resp, err := h.pl.Do(req)
	if err != nil {
		return &SendError{Provider: d.Provider, Transient: true, Err: fmt.Errorf("notification hubs direct send: %w", err)}
	}
	defer resp.Body.Close()
	// 410: the handle is gone; 404 here is an unknown hub, a deployment error.
	return classify(d.Provider, resp, http.StatusGone)
}
