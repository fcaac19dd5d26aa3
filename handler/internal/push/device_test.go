package push

import (
	"encoding/hex"
	"encoding/json"
	"testing"
)

// FuzzValidate: a device registration decoded from a client's JSON either
// fails with a problem or is usable by its provider's sender.
func FuzzValidate(f *testing.F) {
	f.Add(`{"provider":"apns","handle":"` + apnsToken + `","voip":true}`)
	f.Add(`{"provider":"fcm","handle":"abc:APA91b-_."}`)
	f.Add(`{"provider":"webpush","subscription":{"endpoint":"https://push.example/x","keys":{"p256dh":"BHLDkxZe96uFFL1DnDl1KvF92tN1aowpPHvtdp5y8zAFP5kWzXZvrEO3pRuD3tcXShvjnCwm2ipj9N2WYAP6Dvg","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}}`)
	f.Add(`{"provider":"webhook","url":"http://[::1]:80/x"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var d Device
		if json.Unmarshal([]byte(body), &d) != nil {
			return
		}
		if err := d.Validate(); err != nil {
			return
		}
		switch d.Provider {
		case APNs:
			if b, err := hex.DecodeString(d.Handle); err != nil || len(b) < 32 || len(b) > 100 {
				t.Fatalf("accepted APNs token %q", d.Handle)
			}
		case FCM:
			if d.Handle == "" || len(d.Handle) > 4096 {
				t.Fatalf("accepted FCM token %q", d.Handle)
			}
		case WebPush:
			k, err1 := decodeB64URL(d.Subscription.Keys.P256dh)
			a, err2 := decodeB64URL(d.Subscription.Keys.Auth)
			if err1 != nil || err2 != nil || len(k) != 65 || len(a) != 16 || checkURL(d.Subscription.Endpoint) != nil {
				t.Fatalf("accepted subscription %+v", d.Subscription)
			}
		case Webhook:
			if checkURL(d.URL) != nil {
				t.Fatalf("accepted URL %q", d.URL)
			}
		default:
			t.Fatalf("accepted provider %q", d.Provider)
		}
	})
}
