package push

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"

	"switchboard/handler/internal/egress"
	"switchboard/handler/internal/httpapi"
)

// zone answers lookups from a table, as a DNS server its owner controls would.
type zone struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
}

func (z *zone) point(name string, addrs ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.names == nil {
		z.names = map[string][]netip.Addr{}
	}
	z.names[name] = nil
	for _, a := range addrs {
		z.names[name] = append(z.names[name], netip.MustParseAddr(a))
	}
}

func (z *zone) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if strings.HasPrefix(host, "flaky.") {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	if a, ok := z.names[strings.TrimSuffix(host, ".")]; ok {
		return append([]netip.Addr(nil), a...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func sendersWith(t *testing.T, guard *egress.Guard) *Senders {
	t.Helper()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := egress.ParseHostList("fcm.googleapis.com,*.push.apple.com")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := NewWebPushSender(WebPushConfig{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@example.com", AllowedHosts: hosts, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	return &Senders{WebPush: wp, Webhook: NewWebhookSender(guard)}
}

func TestCheckTarget(t *testing.T) {
	z := &zone{}
	z.point("hooks.example.com", "8.8.8.8")
	z.point("fcm.googleapis.com", "142.250.180.10", "2a00:1450:4001:80b::200a")
	z.point("web.push.apple.com", "17.188.180.10")
	z.point("internal.example.com", "10.0.0.5")
	z.point("mixed.example.com", "8.8.8.8", "169.254.169.254")
	z.point("loop.example.com", "127.0.0.1")
	z.point("wns2.push.apple.com", "::ffff:127.0.0.1")
	s := sendersWith(t, egress.New(&egress.Options{Resolver: z}))
	keys := WebPushSubscription{}.Keys
	webhook := func(u string) Device { return Device{Provider: Webhook, URL: u} }
	browser := func(u string) Device {
		return Device{Provider: WebPush, Subscription: &WebPushSubscription{Endpoint: u, Keys: keys}}
	}
	cases := []struct {
		d     Device
		field string // "" for allowed
	}{
		{webhook("https://hooks.example.com/ring"), ""},
		{browser("https://fcm.googleapis.com/wp/abc"), ""},
		{browser("https://web.push.apple.com/QO3x"), ""},
		{Device{Provider: FCM, Handle: "t"}, ""},
		{webhook("http://hooks.example.com/ring"), "url"},
		{webhook("ftp://hooks.example.com/"), "url"},
		{webhook("https://u:p@hooks.example.com/"), "url"},
		{webhook("http://127.0.0.1:7071/internal"), "url"},
		{webhook("http://localhost:7071/housekeeping"), "url"},
		{webhook("https://169.254.169.254/metadata"), "url"},
		{webhook("http://[::1]:7071/"), "url"},
		{webhook("http://2130706433/"), "url"},
		{webhook("https://internal.example.com/"), "url"},
		{webhook("https://mixed.example.com/"), "url"},
		{webhook("https://loop.example.com/"), "url"},
		{webhook("https://nowhere.example.com/"), "url"},
		{browser("https://127.0.0.1:7704/webpush/x"), "subscription.endpoint"},
		{browser("https://hooks.example.com/webpush/x"), "subscription.endpoint"},
		{browser("http://fcm.googleapis.com/wp/abc"), "subscription.endpoint"},
		{browser("https://wns2.push.apple.com/x"), "subscription.endpoint"},
	}
	for _, tc := range cases {
		err := s.CheckTarget(context.Background(), tc.d)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.d, err)
			}
			continue
		}
		var p *httpapi.Problem
		if !errors.As(err, &p) || p.Status != 400 || p.Code != CodeURLNotAllowed || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
			t.Errorf("%s %s: want 400 %s on %s, got %v", tc.d.Provider, tc.d.URL+endpoint(tc.d), CodeURLNotAllowed, tc.field, err)
		}
	}
}

// A lookup that fails for a while is not a refusal: the client may retry.
func TestCheckTargetLookupFailureIs503(t *testing.T) {
	s := sendersWith(t, egress.New(&egress.Options{Resolver: &zone{}}))
	err := s.CheckTarget(context.Background(), Device{Provider: Webhook, URL: "https://flaky.example.com/ring"})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != 503 || p.Code != httpapi.CodeUpstreamUnavailable || p.RetryAfter == 0 {
		t.Fatalf("a failing lookup: %v", err)
	}
}

func endpoint(d Device) string {
	if d.Subscription != nil {
		return d.Subscription.Endpoint
	}
	return ""
}

// A webhook registered under a public name whose owner then points it at
// loopback (where the emulator listens) is refused at send, permanently.
func TestWebhookRebindingRefusedAtSend(t *testing.T) {
	e := emulators(t)
	id, hookURL := e.NewWebhook()
	secret := NewWebhookSecret()
	e.SetSecret(id, secret)
	z := &zone{}
	z.point("hooks.example.com", "8.8.8.8")
	s := sendersWith(t, egress.New(&egress.Options{Resolver: z}))
	port := hookURL[strings.LastIndex(hookURL, ":")+1 : strings.Index(hookURL, "/webhook")]
	d := Device{Provider: Webhook, URL: "https://hooks.example.com:" + port + "/webhook/" + id, Secret: secret}
	if err := s.CheckTarget(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	z.point("hooks.example.com", "127.0.0.1")
	err := s.Send(context.Background(), d, incoming())
	if !errors.Is(err, egress.ErrRefused) || IsTransient(err) || IsGone(err) {
		t.Fatalf("send to a name rebound to loopback: %v (transient %v)", err, IsTransient(err))
	}
	if got := e.Received(id); len(got) != 0 {
		t.Fatalf("the receiver on loopback got %d pushes", len(got))
	}
	// Stored rows are judged at send too: the emulator's own loopback URL
	// is refused by the strict rule and delivered to under the dev rule.
	d.URL = hookURL
	if err := s.Send(context.Background(), d, incoming()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("strict send to %s: %v", hookURL, err)
	}
	if err := NewWebhookSender(devGuard(e)).Send(context.Background(), d, incoming()); err != nil {
		t.Fatal(err)
	}
	if got := e.Received(id); len(got) != 1 {
		t.Fatalf("the receiver got %d pushes under the dev rule", len(got))
	}
}

// A Web Push subscription stored before WEBPUSH_ALLOWED_HOSTS changed is
// refused at send when its push service is no longer on the list.
func TestWebPushSendChecksAllowedHosts(t *testing.T) {
	e := emulators(t)
	id, sub, err := e.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	d := Device{Provider: WebPush, Subscription: &WebPushSubscription{Endpoint: sub.Endpoint, Keys: sub.Keys}}
	strictHosts := sendersWith(t, devGuard(e)) // allows fcm and Apple only
	if err := strictHosts.Send(context.Background(), d, incoming()); !errors.Is(err, egress.ErrRefused) || IsTransient(err) {
		t.Fatalf("send to a push service off the list: %v", err)
	}
	if err := webPushSender(t, devGuard(e)).Send(context.Background(), d, incoming()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Received(id)); n != 1 {
		t.Fatalf("the subscription got %d pushes", n)
	}
}
