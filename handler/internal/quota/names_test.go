package quota

import (
	"testing"
	"time"
)

// Every quota has its own property and the window its setting names.
func TestQuotaWindowsAndProperties(t *testing.T) {
	want := map[Name]time.Duration{
		Tokens: time.Minute, Calls: time.Hour, Invites: time.Hour, Dials: 24 * time.Hour, DeviceRegistrations: 24 * time.Hour,
		Relay: time.Hour, SMS: 24 * time.Hour, GuestCodeExchanges: time.Hour, GuestExchangeSources: time.Minute,
		Spaces: time.Hour, SpaceInvites: time.Hour, CallAutomation: time.Hour, Revocations: time.Hour, ChatPushes: time.Hour, GuestReplies: time.Hour,
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
