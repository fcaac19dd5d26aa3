package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"switchboard/dev/pushemu"
	"switchboard/docs"
)

// Every push a device received must match the named schema in
// docs/openapi.yaml for its provider, so a payload that drifts from the
// document fails the run (TestMain checks st.Push.All() after the tests).
var pushSchemaOf = map[string]string{
	"webhook": "PushNotification", // the body as POSTed
	"webpush": "PushNotification", // the body the emulator decrypted
	"apns":    "ApnsPush",         // Notification Hubs direct send, format apple
	"fcm":     "FcmPush",          // Notification Hubs direct send, format fcmv1
}

var pushSchemas = struct {
	once    sync.Once
	schemas map[string]*base.Schema
	err     error
}{}

func loadPushSchemas() (map[string]*base.Schema, error) {
	pushSchemas.once.Do(func() {
		doc, err := libopenapi.NewDocument(docs.OpenAPI)
		if err != nil {
			pushSchemas.err = err
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			pushSchemas.err = fmt.Errorf("docs/openapi.yaml: %w", err)
			return
		}
		pushSchemas.schemas = map[string]*base.Schema{}
		for _, name := range pushSchemaOf {
			sp, ok := m.Model.Components.Schemas.Get(name)
			if !ok {
				pushSchemas.err = fmt.Errorf("docs/openapi.yaml has no schema %s", name)
				return
			}
			pushSchemas.schemas[name] = sp.Schema()
		}
	})
	return pushSchemas.schemas, pushSchemas.err
}

// pushDrift lists the deliveries whose body does not match its provider's schema.
func pushDrift(ds []pushemu.Delivery) ([]string, error) {
	schemas, err := loadPushSchemas()
	if err != nil {
		return nil, err
	}
	v := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	var out []string
	for _, d := range ds {
		name, ok := pushSchemaOf[d.Provider]
		if !ok {
			out = append(out, fmt.Sprintf("a %s push: no schema names this provider", d.Provider))
			continue
		}
		if ok, errs := v.ValidateSchemaBytes(schemas[name], d.Body); !ok {
			var b strings.Builder
			for _, e := range errs {
				fmt.Fprintf(&b, " %s: %s;", e.Message, e.Reason)
				for _, s := range e.SchemaValidationErrors {
					fmt.Fprintf(&b, " %s: %s;", s.FieldPath, s.Reason)
				}
			}
			out = append(out, fmt.Sprintf("a %s push to %s drifts from %s:%s body: %.1000s", d.Provider, d.Device, name, b.String(), d.Body))
		}
	}
	return out, nil
}

// The push check refuses payloads that drift from the document and
// accepts the shapes the senders make.
func TestPushContractCatchesDrift(t *testing.T) {
	cases := []struct {
		provider, body string
		ok             bool
	}{
		{"webhook", `{"type":"incomingCall","eventId":"e","incomingCallContext":"c","calleeId":"8:acs:x"}`, true},
		{"webhook", `{"type":"incomingCall","eventId":"e","calleeId":"8:acs:x"}`, false}, // no incomingCallContext
		{"webpush", `{"type":"invitation","eventId":"e","data":{"callId":"c","kind":"group"}}`, true},
		{"webpush", `{"type":"invitation","eventId":"e","data":{"callId":"c","kind":"group","n":1}}`, false}, // a non-string data value
		{"webhook", `{"type":"ringing","eventId":"e"}`, false},
		{"apns", `{"aps":{},"type":"incomingCall","eventId":"e","incomingCallContext":"c","calleeId":"8:acs:x"}`, true},
		{"apns", `{"type":"incomingCall","eventId":"e","incomingCallContext":"c","calleeId":"8:acs:x"}`, false}, // no aps
		{"apns", `{"aps":{"alert":{"title":"t","body":"b"},"sound":"default"},"type":"chatMessage","eventId":"e","data":{"threadId":"t","messageId":"m"}}`, true},
		{"fcm", `{"message":{"android":{"priority":"high","ttl":"30s"},"data":{"type":"invitation","eventId":"e","callId":"c"}}}`, true},
		{"fcm", `{"message":{"android":{"priority":"high"},"data":{"type":"invitation","eventId":"e","callId":1}}}`, false}, // FCM data is strings
		{"fcm", `{"message":{"data":{"eventId":"e"}}}`, false},
	}
	for _, tc := range cases {
		drift, err := pushDrift([]pushemu.Delivery{{Provider: tc.provider, Device: "d", Body: []byte(tc.body)}})
		if err != nil {
			t.Fatal(err)
		}
		if (len(drift) == 0) != tc.ok {
			t.Errorf("%s %s: drift %v, want ok %v", tc.provider, tc.body, drift, tc.ok)
		}
	}
}
