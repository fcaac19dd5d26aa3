package pushemu

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func start(t *testing.T) *Emulators {
	t.Helper()
	e, err := Start(Options{KeyName: "rule", Key: "c2VjcmV0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// sas is written out here, independently of the sender in handler/internal/push.
func sas(sr, key, keyName string, se int64) string {
	esr := url.QueryEscape(sr)
	s := strconv.FormatInt(se, 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(esr + "\n" + s))
	return "SharedAccessSignature sr=" + esr + "&sig=" + url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil))) + "&se=" + s + "&skn=" + keyName
}

func TestCheckSAS(t *testing.T) {
	e := start(t)
	res := strings.ToLower(e.nhURL)
	later := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name, header string
		ok           bool
	}{
		{"valid", sas(res, "c2VjcmV0", "rule", later), true},
		{"valid for the hub path", sas(res+"switchboard", "c2VjcmV0", "rule", later), true},
		{"base64-decoded key is not the key", sas(res, "secret", "rule", later), false},
		{"wrong key name", sas(res, "c2VjcmV0", "other", later), false},
		{"expired", sas(res, "c2VjcmV0", "rule", time.Now().Add(-time.Minute).Unix()), false},
		{"another namespace", sas("https://other.servicebus.windows.net/", "c2VjcmV0", "rule", later), false},
		{"not SAS", "Bearer x", false},
		{"missing fields", "SharedAccessSignature sr=a&sig=b", false},
		{"tampered expiry", strings.Replace(sas(res, "c2VjcmV0", "rule", later), "&se=", "&se=1", 1), false},
	}
	for _, tc := range cases {
		if got := e.checkSAS(tc.header); (got == "") != tc.ok {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

func FuzzCheckSAS(f *testing.F) {
	f.Add("SharedAccessSignature sr=https%3a%2f%2f127.0.0.1%2f&sig=abc%3d&se=99999999999&skn=rule")
	f.Add("SharedAccessSignature &&&===")
	e, err := Start(Options{KeyName: "rule", Key: "k"})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	f.Fuzz(func(t *testing.T, h string) {
		if e.checkSAS(h) == "" {
			t.Fatalf("accepted a header not signed with the key: %q", h)
		}
	})
}

func TestNHRejects(t *testing.T) {
	e := start(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool()}}}
	auth := sas(strings.ToLower(e.nhURL), "c2VjcmV0", "rule", time.Now().Add(time.Hour).Unix())
	post := func(path, format, ctype, body string, extra ...string) int {
		req, _ := http.NewRequest("POST", e.nhURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("ServiceBusNotification-Format", format)
		req.Header.Set("ServiceBusNotification-DeviceHandle", "h1")
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const direct = "switchboard/messages/?api-version=2020-06&direct=true"
	const js = "application/json;charset=utf-8"
	cases := []struct {
		name                      string
		path, format, ctype, body string
		extra                     []string
		want                      int
	}{
		{"fcm ok", direct, "fcmv1", js, `{"message":{"data":{"a":"b"}}}`, nil, 201},
		{"unknown hub", "other/messages/?api-version=2020-06&direct=true", "fcmv1", js, `{"message":{}}`, nil, 404},
		{"not direct", "switchboard/messages/?api-version=2020-06", "fcmv1", js, `{"message":{}}`, nil, 400},
		{"fcm data not strings", direct, "fcmv1", js, `{"message":{"data":{"a":1}}}`, nil, 400},
		{"fcm legacy shape", direct, "fcmv1", js, `{"data":{"a":"b"}}`, nil, 400},
		{"apple without aps", direct, "apple", js, `{"a":1}`, nil, 400},
		{"voip without .voip topic", direct, "apple", js, `{"aps":{}}`, []string{"apns-push-type", "voip", "apns-topic", "com.example"}, 400},
		{"apple too large", direct, "apple", js, `{"aps":{},"x":"` + strings.Repeat("x", 4100) + `"}`, nil, 413},
		{"voip up to 5120", direct, "apple", js, `{"aps":{},"x":"` + strings.Repeat("x", 4100) + `"}`, []string{"apns-push-type", "voip", "apns-topic", "com.example.voip"}, 201},
		{"text body", direct, "fcmv1", "text/plain", `{"message":{}}`, nil, 400},
		{"unknown format", direct, "gcm", js, `{}`, nil, 400},
	}
	for _, tc := range cases {
		if got := post(tc.path, tc.format, tc.ctype, tc.body, tc.extra...); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// The developer route lists what the accepted pushes delivered.
	resp, err := client.Get(e.DeliveriesURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []Delivery
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil || len(all) != 2 || all[0].Device != "h1" || all[0].Provider != "fcm" {
		t.Fatalf("deliveries %+v %v", all, err)
	}
}

func TestWebPushReceiverChecksVAPID(t *testing.T) {
	e := start(t)
	id, sub, err := e.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool()}}}
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	send := func(o webpush.Options) int {
		o.HTTPClient, o.VAPIDPrivateKey, o.VAPIDPublicKey, o.TTL = client, priv, pub, 30
		resp, err := webpush.SendNotificationWithContext(context.Background(), []byte(`{"type":"incomingCall"}`),
			&webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth}}, &o)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send(webpush.Options{Subscriber: "ops@example.com"}); got != 201 {
		t.Fatalf("valid push: %d", got)
	}
	if got := e.Received(id); len(got) != 1 || string(got[0].Body) != `{"type":"incomingCall"}` {
		t.Fatalf("%+v", got)
	}
	// webpush-go turns a full mailto: URI into mailto:mailto:..., which a push service refuses.
	if got := send(webpush.Options{Subscriber: "mailto:ops@example.com"}); got != 401 {
		t.Fatalf("doubled mailto: %d", got)
	}
	e.MarkGone(id)
	if got := send(webpush.Options{Subscriber: "ops@example.com"}); got != 410 {
		t.Fatalf("gone: %d", got)
	}
}

// FuzzDecrypt: arbitrary bodies never panic the receiver, and a real
// aes128gcm message from webpush-go decrypts to its plaintext.
func FuzzDecrypt(f *testing.F) {
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	var real []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		real, _ = io.ReadAll(r.Body)
		w.WriteHeader(201)
	}))
	vpriv, vpub, _ := webpush.GenerateVAPIDKeys()
	resp, err := webpush.SendNotification([]byte("hello"), &webpush.Subscription{Endpoint: srv.URL, Keys: webpush.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}},
		&webpush.Options{HTTPClient: srv.Client(), Subscriber: "ops@example.com", TTL: 30, VAPIDPrivateKey: vpriv, VAPIDPublicKey: vpub})
	srv.Close()
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	if plain, err := Decrypt(priv, auth, real); err != nil || string(plain) != "hello" {
		f.Fatalf("webpush-go message: %q %v", plain, err)
	}
	f.Add(real)
	f.Add(real[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		plain, err := Decrypt(priv, auth, body)
		if err == nil && len(plain) >= len(body) {
			t.Fatalf("decrypted %d bytes from %d", len(plain), len(body))
		}
	})
}

func TestCheckVAPID(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const origin = "https://127.0.0.1:4443"
	now := time.Now()
	header := func(signer *ecdsa.PrivateKey, c jwt.Claims, scheme string) string {
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signer}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(sig).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := key.PublicKey.Bytes()
		return scheme + " t=" + tok + ", k=" + base64.RawURLEncoding.EncodeToString(pub)
	}
	good := jwt.Claims{Audience: jwt.Audience{origin}, Expiry: jwt.NewNumericDate(now.Add(12 * time.Hour)), Subject: "mailto:ops@example.com"}
	with := func(f func(*jwt.Claims)) jwt.Claims { c := good; f(&c); return c }
	cases := []struct {
		name, header string
		ok           bool
	}{
		{"valid", header(key, good, "vapid"), true},
		{"https contact", header(key, with(func(c *jwt.Claims) { c.Subject = "https://example.com/ops" }), "vapid"), true},
		{"exp beyond 24 h", header(key, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(25 * time.Hour)) }), "vapid"), false},
		{"expired", header(key, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) }), "vapid"), false},
		{"no exp", header(key, with(func(c *jwt.Claims) { c.Expiry = nil }), "vapid"), false},
		{"other origin", header(key, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://fcm.googleapis.com"} }), "vapid"), false},
		{"no sub", header(key, with(func(c *jwt.Claims) { c.Subject = "" }), "vapid"), false},
		{"doubled mailto", header(key, with(func(c *jwt.Claims) { c.Subject = "mailto:mailto:ops@example.com" }), "vapid"), false},
		{"signed by another key", header(other, good, "vapid"), false},
		{"WebPush scheme (draft)", header(key, good, "WebPush"), false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		if err := checkVAPID(tc.header, origin+"/webpush/x"); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
