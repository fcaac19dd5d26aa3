package quota

import (
	"strings"
	"testing"
	"time"

	"switchboard/docs"
)

// Every quota has its own property and the window its setting names.
func TestQuotaWindowsAndProperties(t *testing.T) {
	want := map[Name]time.Duration{
		Tokens: time.Minute, Calls: time.Hour, Invites: time.Hour, Dials: 24 * time.Hour, DeviceRegistrations: 24 * time.Hour,
		Relay: time.Hour, SMS: 24 * time.Hour, GuestCodeExchanges: time.Hour, GuestExchangeSources: time.Minute,
		Spaces: time.Hour, SpaceInvites: time.Hour, CallAutomation: time.Hour, Revocations: time.Hour, ChatPushes: time.Hour, GuestReplies: time.Hour, Rings: time.Hour, TeamsMeetings: 24 * time.Hour,
	}
	seen := map[string]Name{}
	for _, n := range Names {
		if n.Window() != want[n] {
			t.Errorf("%s: window %v, want %v", n, n.Window(), want[n])
		}
		if other, dup := seen[n.property()]; dup {
			t.Errorf("%s and %s share the property %s", n, other, n.property())
		}
		seen[n.property()] = n
		if !quotaProperty(n.property()) {
			t.Errorf("%s: property %q is not a quota property", n, n.property())
		}
	}
	if len(want) != len(Names) {
		t.Errorf("Names has %d quotas, this test knows %d", len(Names), len(want))
	}
}

// Every quota a route can refuse is in the OpenAPI document's enum of the
// problem's quota member; the event-driven ones never reach a client.
func TestOpenAPIListsEveryRouteQuota(t *testing.T) {
	doc := string(docs.OpenAPI)
	for _, n := range Names {
		listed := strings.Contains(doc, "\n          - "+string(n)+"\n")
		if event := n == ChatPushes || n == GuestReplies || n == Rings; listed == event {
			t.Errorf("quota %s: listed in docs/openapi.yaml = %v, want %v", n, listed, !event)
		}
	}
}
