package fanout

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Rings name the caller by what lasts: a user's fresh ACS id (after
// DELETE /api/me) is the same bucket; callers without an id share one
// bucket per callee; the application's own calls spend nothing, so nobody
// can exhaust a bucket that silences them.
func TestRingsNameTheLastingCallerAndSpareTheAppsCalls(t *testing.T) {
	s, _, p := newLimitedService(t, 1, 2)
	s.UseCallers(func(_ context.Context, caller string) (string, bool, error) {
		switch {
		case caller == "8:acs:app":
			return "", true, nil
		case strings.HasPrefix(caller, "8:acs:pest"):
			return "user:pest", false, nil
		}
		return "acs:" + caller, false, nil
	})
	ctx := context.Background()
	seq := 0
	ring := func(caller, callee string) {
		t.Helper()
		seq++
		if err := s.IncomingCall(ctx, incomingCallEvent(fmt.Sprintf("ring%d", seq), caller, callee)); err != nil {
			t.Fatalf("ring %d: %v", seq, err)
		}
	}
	pushes := func() int { p.mu.Lock(); defer p.mu.Unlock(); return p.sent["d00"] }

	// One user under two ACS ids: one bucket.
	ring("8:acs:pest-1", "8:acs:bob")
	ring("8:acs:pest-2", "8:acs:bob")
	ring("8:acs:pest-3", "8:acs:bob")
	if n := pushes(); n != 2 {
		t.Fatalf("%d pushes for a user's three rings under three ACS ids at a quota of 2", n)
	}
	// The app's own calls: never charged, never silenced.
	for range 3 {
		ring("8:acs:app", "8:acs:bob")
	}
	if n := pushes(); n != 5 {
		t.Fatalf("%d pushes; want the app's three calls on top", n)
	}
	// No caller id: one bucket per callee, not a bypass.
	for range 3 {
		ring("", "8:acs:bob")
	}
	if n := pushes(); n != 7 {
		t.Fatalf("%d pushes; want 2 of 3 rings without a caller id", n)
	}
}
