package quota

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/handler/internal/httpapi"
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
	sender := Other("acs:sender")

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
	if _, err := b.TakeOnce(ctx, "chat:m5", Other("acs:other"), Cost{ChatPushes, 1}); err != nil {
		t.Fatal(err)
	}
	// Decisions expire with housekeeping once Event Grid can no longer redeliver.
	clk.Add(onceTTL)
	n, err := a.DeleteExpired(ctx)
	if err != nil || n < 6 {
		t.Fatalf("DeleteExpired removed %d rows (%v); want the decisions and the sender rows", n, err)
	}
	if d, err := a.decision(ctx, oncePrefix+"chat:m3"); err != nil || d.found {
		t.Fatalf("an expired decision is still stored: %+v %v", d, err)
	}
}

// ACS raises a message's events for every recipient at once: however many
// deliveries race, here and on another instance, the message spends once,
// one delivery decides, and all get its answer.
func TestTakeOnceConcurrentDeliveriesSpendOnce(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	l := limits(3)
	a := newInstance(t, prefix, Config{User: l, Service: l})
	b := newInstance(t, prefix, Config{User: l, Service: l})
	sender := Other("acs:busy")
	var firsts, fails atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := in.TakeOnce(ctx, "chat:big", sender, Cost{ChatPushes, 1})
			if err != nil {
				fails.Add(1)
				t.Errorf("delivery: %v", err)
			}
			if first {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if firsts.Load() != 1 || fails.Load() != 0 {
		t.Fatalf("%d deliveries decided, %d failed; want one deciding and none failing", firsts.Load(), fails.Load())
	}
	// One spent: two more messages fit, the third does not.
	for _, op := range []string{"chat:next1", "chat:next2"} {
		if _, err := a.TakeOnce(ctx, op, sender, Cost{ChatPushes, 1}); err != nil {
			t.Fatalf("%s: %v; the racing deliveries spent more than once", op, err)
		}
	}
	_, err := b.TakeOnce(ctx, "chat:next3", sender, Cost{ChatPushes, 1})
	rateLimited(t, err, ChatPushes)
}

// A claim whose delivery died is taken over once stale; until then other
// deliveries wait, then answer 503 (Event Grid redelivers).
func TestTakeOnceStaleClaimIsTakenOver(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	l := newInstance(t, newPrefix(), Config{User: limits(3), Service: limits(3), Now: clk.Now})
	l.onceWait = 0 // answer at once rather than wait for the claim
	key := oncePrefix + "chat:orphan"
	if _, err := l.table.Insert(ctx, key, rowKey, l.onceEntity(pendingPrefix+strconv.FormatInt(clk.Now().Unix(), 10))); err != nil {
		t.Fatal(err)
	}
	_, err := l.TakeOnce(ctx, "chat:orphan", Other("acs:x"), Cost{ChatPushes, 1})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || IsRateLimited(err) {
		t.Fatalf("a fresh claim of another delivery: %v, want 503", err)
	}
	clk.Add(onceStale + time.Second)
	if first, err := l.TakeOnce(ctx, "chat:orphan", Other("acs:x"), Cost{ChatPushes, 1}); err != nil || !first {
		t.Fatalf("a stale claim: first=%v %v, want taken over and admitted", first, err)
	}
	if d, err := l.decision(ctx, key); err != nil || !d.decided || d.refusal != nil {
		t.Fatalf("decision %+v %v, want admitted", d, err)
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

// A live claimant's worst case (its Take waits for the batch being settled,
// then its own, then it records the decision) fits well within onceStale,
// so no other delivery takes a live claim over.
func TestTakeOnceStaleOutlastsTheClaimant(t *testing.T) {
	if onceClaimantWorst < 3*writeTimeout || onceStale <= onceClaimantWorst {
		t.Fatalf("onceStale %v, claimant's worst case %v (writeTimeout %v)", onceStale, onceClaimantWorst, writeTimeout)
	}
}

// When the spend cannot be decided (contention, storage down), the claim is
// released and nothing is recorded or spent: the next delivery decides.
func TestTakeOnceContentionAndStorageFailuresRecordNothing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  func() error
		code string
	}{
		{"contention", func() error {
			p := httpapi.NewProblem(http.StatusTooManyRequests, CodeRateLimited, "too many requests at once").WithCause(errContended)
			p.Quota = string(ChatPushes)
			return p
		}, "quota-contended"},
		{"storage down", func() error { return unavailable(errors.New("connection refused")) }, "storage-unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newInstance(t, newPrefix(), Config{User: limits(1), Service: limits(1)})
			l.takeHook = func(context.Context, Subject, ...Cost) error { return tc.err() }
			sender := Other("acs:" + strings.ReplaceAll(tc.name, " ", "-"))
			_, err := l.TakeOnce(ctx, "chat:x", sender, Cost{ChatPushes, 1})
			var p *httpapi.Problem
			if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || p.Code != tc.code || IsRateLimited(err) {
				t.Fatalf("err %v, want 503 %s", err, tc.code)
			}
			if d, err := l.decision(ctx, oncePrefix+"chat:x"); err != nil || d.found {
				t.Fatalf("a row is left: %+v %v", d, err)
			}
			if _, row, err := l.read(ctx, sender.key()); err != nil || len(row.windows) != 0 {
				t.Fatalf("something was spent: %+v %v", row, err)
			}
			l.takeHook = nil
			if first, err := l.TakeOnce(ctx, "chat:x", sender, Cost{ChatPushes, 1}); err != nil || !first {
				t.Fatalf("the redelivery: first=%v %v, want it to decide and admit", first, err)
			}
		})
	}
}

// The deciding delivery's context ending mid-decision neither cuts the
// spend short nor releases the claim: the decision is finished and
// recorded, and a delivery that joins or comes later gets it without
// spending again.
func TestTakeOnceCancelledDeciderStillRecords(t *testing.T) {
	l := newInstance(t, newPrefix(), Config{User: limits(1), Service: limits(1)})
	sender := Other("acs:cancelled")
	entered, release := make(chan struct{}), make(chan struct{})
	l.takeHook = func(ctx context.Context, s Subject, costs ...Cost) error {
		close(entered)
		<-release
		if ctx.Err() != nil {
			return ctx.Err() // the old behaviour: the caller's cancellation reaches the spend
		}
		return l.Take(ctx, s, costs...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.TakeOnce(ctx, "chat:c", sender, Cost{ChatPushes, 1}); done <- err }()
	<-entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled delivery answered nil before its decision was made")
	}
	later := make(chan error, 1)
	go func() {
		first, err := l.TakeOnce(context.Background(), "chat:c", sender, Cost{ChatPushes, 1})
		if first {
			err = errors.New("decided again")
		}
		later <- err
	}()
	close(release)
	if err := <-later; err != nil {
		t.Fatalf("the next delivery: %v, want the recorded admission", err)
	}
	if d, err := l.decision(context.Background(), oncePrefix+"chat:c"); err != nil || !d.decided || d.refusal != nil {
		t.Fatalf("decision %+v %v, want admitted", d, err)
	}
	// One spend in all: the quota of 1 is used up.
	l.takeHook = nil
	_, err := l.TakeOnce(context.Background(), "chat:d", sender, Cost{ChatPushes, 1})
	rateLimited(t, err, ChatPushes)
}
