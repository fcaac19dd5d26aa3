package push

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"switchboard/dev/pushemu"
	"switchboard/handler/internal/egress"
)

const apnsToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

func emulators(t *testing.T) *pushemu.Emulators {
	t.Helper()
	e, err := pushemu.Start(pushemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// trusting is a transport that trusts only the emulator's certificate.
func trusting(e *pushemu.Emulators) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool()}}, Timeout: 5 * time.Second}
}

// devGuard is the egress rule of local development (loopback allowed),
// trusting only the emulator's certificate.
func devGuard(e *pushemu.Emulators) *egress.Guard {
	return egress.New(&egress.Options{AllowLoopback: true, TLSConfig: &tls.Config{RootCAs: e.CertPool()}})
}

// loopbackHosts is WEBPUSH_ALLOWED_HOSTS for the emulators.
var loopbackHosts, _ = egress.ParseHostList("127.0.0.1,localhost")

func incoming() Notification {
	return Notification{Type: "incomingCall", EventID: "ev-1", IncomingCallContext: "ctx-blob", ServerCallID: "srv-1",
		CallerID: "8:acs:r_caller", CalleeID: "8:acs:r_callee", CallerDisplayName: "Alice", CorrelationID: "corr-1"}
}

func TestValidate(t *testing.T) {
	e := emulators(t)
	_, sub, _ := e.NewSubscription()
	good := WebPushSubscription{Endpoint: sub.Endpoint}
	good.Keys.P256dh, good.Keys.Auth = sub.Keys.P256dh, sub.Keys.Auth
	badKey := good
	badKey.Keys.P256dh = "AAAA"
	offCurve := good
	offCurve.Keys.P256dh = "BA" + strings.Repeat("A", 85) // 0x04 then zeros: 65 bytes, not on the curve
	badAuth := good
	badAuth.Keys.Auth = "AAAA"
	cases := []struct {
		name  string
		d     Device
		field string
	}{
		{"apns voip", Device{Provider: APNs, Handle: apnsToken, VoIP: true}, ""},
		{"apns short", Device{Provider: APNs, Handle: "abcd"}, "handle"},
		{"apns not hex", Device{Provider: APNs, Handle: strings.Repeat("zz", 32)}, "handle"},
		{"apns odd", Device{Provider: APNs, Handle: apnsToken + "a"}, "handle"},
		{"fcm", Device{Provider: FCM, Handle: "fcm-token_1:APA91b"}, ""},
		{"fcm empty", Device{Provider: FCM}, "handle"},
		{"fcm spaces", Device{Provider: FCM, Handle: "a b"}, "handle"},
		{"fcm voip", Device{Provider: FCM, Handle: "t", VoIP: true}, "provider"},
		{"webpush", Device{Provider: WebPush, Subscription: &good}, ""},
		{"webpush no sub", Device{Provider: WebPush}, "subscription"},
		{"webpush bad key", Device{Provider: WebPush, Subscription: &badKey}, "subscription.keys.p256dh"},
		{"webpush off-curve key", Device{Provider: WebPush, Subscription: &offCurve}, "subscription.keys.p256dh"},
		{"webpush short auth", Device{Provider: WebPush, Subscription: &badAuth}, "subscription.keys.auth"},
		{"webpush loopback http", Device{Provider: WebPush, Subscription: &WebPushSubscription{Endpoint: "http://127.0.0.1:1/x", Keys: good.Keys}}, ""},
		{"apns max", Device{Provider: APNs, Handle: strings.Repeat("ab", 100)}, ""},
		{"apns too long", Device{Provider: APNs, Handle: strings.Repeat("ab", 101)}, "handle"},
		{"fcm too long", Device{Provider: FCM, Handle: strings.Repeat("a", 4097)}, "handle"},
		{"webhook relative", Device{Provider: Webhook, URL: "/ring"}, "url"},
		{"webhook no url", Device{Provider: Webhook}, "url"},
		{"webhook too long", Device{Provider: Webhook, URL: "https://hooks.example.com/" + strings.Repeat("a", 2048)}, "url"},
		{"webhook localhost http", Device{Provider: Webhook, URL: "http://localhost:8080/ring"}, ""},
		{"webhook https", Device{Provider: Webhook, URL: "https://hooks.example.com/ring"}, ""},
		{"webhook loopback http", Device{Provider: Webhook, URL: "http://127.0.0.1:9/x"}, ""},
		{"unknown provider", Device{Provider: "sms"}, "provider"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want an error naming %s, got %v", tc.field, err)
			}
		})
	}
}

func TestNotificationHubs(t *testing.T) {
	e := emulators(t)
	hub, err := NewNotificationHub(NotificationHubsConfig{ConnectionString: e.ConnectionString(), Hub: e.Hub(), APNsVoIPTopic: "com.example.app.voip", Transport: trusting(e)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	voip := Device{Provider: APNs, Handle: apnsToken, VoIP: true}
	if err := hub.Send(ctx, voip, incoming()); err != nil {
		t.Fatal(err)
	}
	got := e.Received(apnsToken)
	if len(got) != 1 || got[0].Headers["apns-push-type"] != "voip" || got[0].Headers["apns-topic"] != "com.example.app.voip" || got[0].Headers["apns-priority"] != "10" {
		t.Fatalf("apns delivery: %+v", got)
	}
	var body map[string]any
	_ = json.Unmarshal(got[0].Body, &body)
	if body["incomingCallContext"] != "ctx-blob" || body["aps"] == nil {
		t.Fatalf("apns body: %s", got[0].Body)
	}

	fcm := Device{Provider: FCM, Handle: "fcm-token-1"}
	if err := hub.Send(ctx, fcm, incoming()); err != nil {
		t.Fatal(err)
	}
	f := e.Received("fcm-token-1")
	if len(f) != 1 || !strings.Contains(string(f[0].Body), `"priority":"high"`) || !strings.Contains(string(f[0].Body), `"incomingCallContext":"ctx-blob"`) {
		t.Fatalf("fcm delivery: %+v", f)
	}

	e.MarkGone("fcm-token-1")
	if err := hub.Send(ctx, fcm, incoming()); !IsGone(err) {
		t.Fatalf("gone handle: %v", err)
	}
	e.FailNextRetryAfter(5, 429, 30*time.Second)
	start := time.Now()
	err = hub.Send(ctx, voip, incoming())
	if !IsTransient(err) || IsGone(err) || RetryAfter(err) != 30*time.Second || time.Since(start) > time.Second {
		t.Fatalf("throttled for longer than we wait: %v after %s", err, time.Since(start))
	}
	e.FailNext(0, 0)
	e.FailNext(1, 503)
	if err := hub.Send(ctx, voip, incoming()); err != nil {
		t.Fatalf("one 503 is retried: %v", err)
	}

	wrong := strings.Replace(e.ConnectionString(), "SharedAccessKey=", "SharedAccessKey=x", 1)
	bad, _ := NewNotificationHub(NotificationHubsConfig{ConnectionString: wrong, Hub: e.Hub(), APNsVoIPTopic: "com.example.app.voip", Transport: trusting(e)})
	var se *SendError
	if err := bad.Send(ctx, voip, incoming()); !errors.As(err, &se) || se.Status != 401 || IsTransient(err) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestOversizePayloadDropsOptionalFieldsFirst(t *testing.T) {
	n := incoming()
	n.CallerDisplayName = strings.Repeat("N", 1000)
	n.IncomingCallContext = strings.Repeat("c", APNsVoIPLimit-600)
	b, err := APNsBody(n, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > APNsVoIPLimit || !strings.Contains(string(b), n.IncomingCallContext) || strings.Contains(string(b), "NNNN") {
		t.Fatalf("%d bytes; context kept: %v", len(b), strings.Contains(string(b), n.IncomingCallContext))
	}
	n.IncomingCallContext = strings.Repeat("c", APNsVoIPLimit)
	if _, err := APNsBody(n, true); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := FCMBody(n); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("fcm too large: %v", err)
	}
}

func TestWebPushEndToEnd(t *testing.T) {
	e := emulators(t)
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewWebPushSender(WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@example.com", AllowedHosts: loopbackHosts, Guard: devGuard(e)})
	if err != nil {
		t.Fatal(err)
	}
	id, sub, err := e.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	d := Device{Provider: WebPush, Subscription: &WebPushSubscription{Endpoint: sub.Endpoint}}
	d.Subscription.Keys.P256dh, d.Subscription.Keys.Auth = sub.Keys.P256dh, sub.Keys.Auth
	if err := s.Send(context.Background(), d, incoming()); err != nil {
		t.Fatal(err)
	}
	got := e.Received(id)
	if len(got) != 1 || !strings.Contains(string(got[0].Body), `"serverCallId":"srv-1"`) || got[0].Headers["urgency"] != "high" || got[0].Headers["ttl"] != "30" {
		t.Fatalf("web push delivery: %+v", got)
	}
	e.MarkGone(id)
	if err := s.Send(context.Background(), d, incoming()); !IsGone(err) {
		t.Fatalf("gone subscription: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	e := emulators(t)
	id, url := e.NewWebhook()
	secret := NewWebhookSecret()
	e.SetSecret(id, secret)
	s := NewWebhookSender(devGuard(e))
	if err := s.Send(context.Background(), Device{Provider: Webhook, URL: url, Secret: secret}, incoming()); err != nil {
		t.Fatal(err)
	}
	if got := e.Received(id); len(got) != 1 || got[0].Headers["event-id"] != "ev-1" {
		t.Fatalf("webhook delivery: %+v", got)
	}
	e.MarkGone(id)
	if err := s.Send(context.Background(), Device{Provider: Webhook, URL: url, Secret: secret}, incoming()); !IsGone(err) || !errors.Is(err, ErrGone) {
		t.Fatalf("gone webhook: %v", err)
	}
	err := s.Send(context.Background(), Device{Provider: Webhook, URL: url, Secret: "wrong"}, incoming())
	var se *SendError
	if !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("wrong secret: %v", err)
	}
}
