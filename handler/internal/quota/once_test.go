package quota

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// One operation delivered many times, on two instances, spends once and
// gets one answer; a refused operation stays refused.
func TestTakeOnceDecidesOncePerOperation(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	prefix := newPrefix()
	l := limits(3)
	a := newInstance(t, prefix, Config{User: l, Service: l, Now: clk.Now})
	b := newInstance(t, prefix, Config{User: l, Service: l, Now: clk.Now})
	sender := Subject{User: "acs:sender"}

	for i := range 3 {
		op := fmt.Sprintf("chat:m%d", i)
		first, err := a.TakeOnce(ctx, op, sender, Cost{ChatPushes, 1})
		if err != nil || !first {
			t.Fatalf("message %d: first=%v %v, want the first delivery to decide and admit", i, first, err)
		}
		// The other recipients' deliveries, on either instance, spend nothing.
		for _, in := range []*instance{a, b, b} {
			if first, err := in.TakeOnce(ctx, op, sender, Cost{ChatPushes, 1}); err != nil || first {
				t.Fatalf("message %d again: first=%v %v, want the recorded admission", i, first, err)
			}
		}
	}
	// Three messages spent three: the fourth is over the quota, once.
	first, err := b.TakeOnce(ctx, "chat:m3", sender, Cost{ChatPushes, 1})
	if !first {
		t.Fatal("the fourth message's first delivery did not decide")
	}
	rateLimited(t, err, ChatPushes)
	for _, in := range []*instance{a, b} {
		first, err := in.TakeOnce(ctx, "chat:m3", sender, Cost{ChatPushes, 1})
		if first {
			t.Fatal("a later delivery of a refused message decided again")
		}
		rateLimited(t, err, ChatPushes)
	}
	// When the window frees, the refused message stays refused (its
	// deliveries agree) and a new one is admitted.
	clk.Add(2 * time.Hour)
	rateLimited(t, func() error { _, err := a.TakeOnce(ctx, "chat:m3", sender, Cost{ChatPushes, 1}); return err }(), ChatPushes)
	if _, err := a.TakeOnce(ctx, "chat:m4", sender, Cost{ChatPushes, 1}); err != nil {
		t.Fatalf("a new message after the window: %v", err)
	}
	// Another sender is unaffected.
	if _, err := b.TakeOnce(ctx, "chat:m5", Subject{User: "acs:other"}, Cost{ChatPushes, 1}); err != nil {
		t.Fatal(err)
	}
	// Decisions expire with housekeeping once Event Grid can no longer redeliver.
	clk.Add(onceTTL)
	n, err := a.DeleteExpired(ctx)
	if err != nil || n < 6 {
		t.Fatalf("DeleteExpired removed %d rows (%v); want the decisions and the sender rows", n, err)
	}
	if refusal, found, err := a.decision(ctx, oncePrefix+"chat:m3"); err != nil || found || refusal != nil {
		t.Fatalf("an expired decision is still stored: %v %v %v", refusal, found, err)
	}
}

// A decision is made only from a checked quota: a key Table Storage cannot
// hold is refused before anything is spent.
func TestTakeOnceInvalidOperation(t *testing.T) {
	l := newInstance(t, newPrefix(), Config{User: limits(3), Service: limits(3)})
	if _, err := l.TakeOnce(context.Background(), strings.Repeat("x", 600), Subject{User: "x"}, Cost{ChatPushes, 1}); err == nil || IsRateLimited(err) {
		t.Fatalf("want an invalid-key problem, got %v", err)
	}
	if _, row, err := l.read(context.Background(), Subject{User: "x"}.key()); err != nil || len(row.windows) != 0 {
		t.Fatalf("something was spent for an invalid operation: %v %v", row, err)
	}
}
