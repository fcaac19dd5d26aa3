package conformance

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"

	"switchboard/dev/pushemu"
)

func startPush(t *testing.T) *pushemu.Emulators {
	t.Helper()
	e, err := pushemu.Start(pushemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestNotificationHubsSDK(t *testing.T) {
	e := startPush(t)
	apns := strings.Repeat("ab", 32)
	var out struct {
		Apple struct {
			TrackingID *string `json:"trackingId"`
			Location   *string `json:"location"`
		} `json:"apple"`
		FCM      struct{ TrackingID *string } `json:"fcm"`
		WrongKey struct {
			Status *int `json:"status"`
		} `json:"wrongKey"`
		Gone struct {
			Status *int `json:"status"`
		} `json:"gone"`
	}
	e.MarkGone("fcm-gone-token")
	runNode(t, "notificationhubs.mjs", []string{
		"NH_CONNECTION_STRING=" + e.ConnectionString(),
		"NH_WRONG_CONNECTION_STRING=" + strings.Replace(e.ConnectionString(), "SharedAccessKey=", "SharedAccessKey=wrong", 1),
		"NH_HUB=" + e.Hub(),
		"APNS_TOKEN=" + apns,
		"FCM_TOKEN=fcm-sdk-token",
		"GONE_TOKEN=fcm-gone-token",
		"NODE_EXTRA_CA_CERTS=" + e.CAFile(),
	}, &out, "@azure/notification-hubs")
	if out.Apple.TrackingID == nil || out.Apple.Location == nil || out.FCM.TrackingID == nil {
		t.Errorf("the SDK did not read the emulator's answer: %+v", out)
	}
	if out.WrongKey.Status == nil || *out.WrongKey.Status != 401 {
		t.Errorf("wrong key: %+v", out.WrongKey)
	}
	if out.Gone.Status == nil || *out.Gone.Status != 410 {
		t.Errorf("gone handle: %+v", out.Gone)
	}
	a := e.Received(apns)
	if len(a) != 1 || a[0].Headers["apns-push-type"] != "voip" || !strings.Contains(string(a[0].Body), "sdk-ctx") {
		t.Errorf("apple delivery: %+v", a)
	}
	if f := e.Received("fcm-sdk-token"); len(f) != 1 {
		t.Errorf("fcm delivery: %+v", f)
	}
}

func TestWebPushPackageToOurReceiver(t *testing.T) {
	e := startPush(t)
	id, sub, err := e.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	subJSON, _ := json.Marshal(sub)
	var out struct{ Status int }
	runNode(t, "webpush.mjs", []string{"MODE=send", "NODE_EXTRA_CA_CERTS=" + e.CAFile(), "SUBSCRIPTION=" + string(subJSON), `PAYLOAD={"type":"incomingCall","serverCallId":"from-node"}`}, &out, "web-push")
	if out.Status != 201 {
		t.Fatalf("web-push got %d", out.Status)
	}
	got := e.Received(id)
	if len(got) != 1 || string(got[0].Body) != `{"type":"incomingCall","serverCallId":"from-node"}` {
		t.Fatalf("our receiver decrypted: %+v", got)
	}
}

func TestOurWebPushDecryptedByHTTPECE(t *testing.T) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	vpriv, vpub, _ := webpush.GenerateVAPIDKeys()
	// The same library and options our sender uses (handler/internal/push).
	resp, err := webpush.SendNotificationWithContext(context.Background(), []byte(`{"type":"incomingCall","serverCallId":"from-go"}`),
		&webpush.Subscription{Endpoint: srv.URL + "/sub", Keys: webpush.Keys{
			P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
			Auth:   base64.RawURLEncoding.EncodeToString(auth),
		}},
		&webpush.Options{Subscriber: "conformance@example.com", TTL: 30, Urgency: webpush.UrgencyHigh, VAPIDPublicKey: vpub, VAPIDPrivateKey: vpriv})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var out struct{ Plaintext string }
	runNode(t, "webpush.mjs", []string{"MODE=decrypt",
		"BODY_B64=" + base64.StdEncoding.EncodeToString(body),
		"PRIVATE_KEY_B64URL=" + base64.RawURLEncoding.EncodeToString(priv.Bytes()),
		"AUTH_B64URL=" + base64.RawURLEncoding.EncodeToString(auth),
	}, &out, "http_ece")
	if out.Plaintext != `{"type":"incomingCall","serverCallId":"from-go"}` {
		t.Fatalf("http_ece decrypted %q", out.Plaintext)
	}
	// And our receiver's decryption agrees with http_ece on the same bytes.
	plain, err := pushemu.Decrypt(priv, auth, body)
	if err != nil || string(plain) != out.Plaintext {
		t.Fatalf("pushemu.Decrypt: %q %v", plain, err)
	}
}
