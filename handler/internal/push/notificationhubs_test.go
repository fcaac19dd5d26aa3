package push

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseNHConnectionString(t *testing.T) {
	cases := []struct {
		name, in, endpoint, keyName, key string
	}{
		{"azure", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=abc+/=",
			"https://ns.servicebus.windows.net/", "DefaultFullSharedAccessSignature", "abc+/="},
		{"no trailing slash, spaces, order", " SharedAccessKey=k==; Endpoint=sb://ns.servicebus.windows.net ;SharedAccessKeyName=Listen;",
			"https://ns.servicebus.windows.net/", "Listen", "k=="},
		{"port kept", "Endpoint=sb://127.0.0.1:8443/;SharedAccessKeyName=n;SharedAccessKey=k", "https://127.0.0.1:8443/", "n", "k"},
		{"https accepted", "Endpoint=https://ns.example/;SharedAccessKeyName=n;SharedAccessKey=k", "https://ns.example/", "n", "k"},
		{"no key", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n", "", "", ""},
		{"no endpoint", "SharedAccessKeyName=n;SharedAccessKey=k", "", "", ""},
		{"http refused", "Endpoint=http://ns.example/;SharedAccessKeyName=n;SharedAccessKey=k", "", "", ""},
		{"no host", "Endpoint=sb:///;SharedAccessKeyName=n;SharedAccessKey=k", "", "", ""},
		{"query refused", "Endpoint=sb://ns.example/?x=1;SharedAccessKeyName=n;SharedAccessKey=k", "", "", ""},
		{"empty", "", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseNHConnectionString(tc.in)
			if tc.endpoint == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint != tc.endpoint || c.KeyName != tc.keyName || c.Key != tc.key {
				t.Fatalf("%+v", c)
			}
		})
	}
}

func FuzzParseNHConnectionString(f *testing.F) {
	f.Add("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey=k=")
	f.Add("Endpoint=sb://127.0.0.1:1/a;SharedAccessKeyName=;SharedAccessKey=k")
	f.Add(";;=;Endpoint==")
	f.Fuzz(func(t *testing.T, cs string) {
		c, err := ParseNHConnectionString(cs)
		if err != nil {
			return
		}
		if !strings.HasPrefix(c.Endpoint, "https://") || !strings.HasSuffix(c.Endpoint, "/") || c.KeyName == "" || c.Key == "" {
			t.Fatalf("accepted %q as %+v", cs, c)
		}
		// What we accept must also build a sender.
		if _, err := NewNotificationHub(NotificationHubsConfig{ConnectionString: cs, Hub: "h"}); err != nil {
			t.Fatalf("parsed but not usable: %v", err)
		}
	})
}

func TestNotificationHubsRetryAfter(t *testing.T) {
	e := emulators(t)
	hub, err := NewNotificationHub(NotificationHubsConfig{ConnectionString: e.ConnectionString(), Hub: e.Hub(), APNsVoIPTopic: "com.example.app.voip", Transport: trusting(e)})
	if err != nil {
		t.Fatal(err)
	}
	d := Device{Provider: FCM, Handle: "fcm-throttled"}

	// A short Retry-After is honoured and the retry delivers.
	e.FailNextRetryAfter(1, 429, time.Second)
	start := time.Now()
	if err := hub.Send(context.Background(), d, incoming()); err != nil {
		t.Fatalf("one 429 is retried: %v", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("retried after %s, before Retry-After", took)
	}
	if n := len(e.Received(d.Handle)); n != 1 {
		t.Fatalf("%d deliveries", n)
	}

	// Within a caller's deadline too short for the wait, the 429 is returned
	// (with its Retry-After) before the deadline, not a context error.
	e.FailNextRetryAfter(1, 429, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	err = hub.Send(ctx, d, incoming())
	if !IsTransient(err) || RetryAfter(err) != time.Second || ctx.Err() != nil {
		t.Fatalf("deadline-bound 429: %v (ctx %v)", err, ctx.Err())
	}

	// A slow hub: the deadline ends the send, as a transient failure.
	e.FailNext(0, 0)
	e.SetLatency(2 * time.Second)
	defer e.SetLatency(0)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start = time.Now()
	if err := hub.Send(ctx2, d, incoming()); !IsTransient(err) || time.Since(start) > time.Second {
		t.Fatalf("slow hub: %v after %s", err, time.Since(start))
	}
}
