package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/azurite"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// devicesOf is a fixed device list (registrations are tested in devices).
type devicesOf struct {
	mu      sync.Mutex
	list    []push.Device
	removed []string
}

func (d *devicesOf) ForACSUser(context.Context, string) ([]push.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []push.Device
	for _, x := range d.list {
		gone := false
		for _, r := range d.removed {
			gone = gone || r == x.ID
		}
		if !gone {
			out = append(out, x)
		}
	}
	return out, nil
}

func (d *devicesOf) Remove(_ context.Context, _, id string) error {
	d.mu.Lock()
	d.removed = append(d.removed, id)
	d.mu.Unlock()
	return nil
}

// provider answers per device, as a push service would, and counts sends.
type provider struct {
	mu     sync.Mutex
	sent   map[string]int
	answer map[string]error
	delay  time.Duration
	inSend atomic.Int32
	peak   atomic.Int32
}

func (p *provider) Send(ctx context.Context, d push.Device, _ push.Notification) error {
	n := p.inSend.Add(1)
	defer p.inSend.Add(-1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	time.Sleep(p.delay)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.answer[d.ID]; err != nil {
		return err
	}
	p.sent[d.ID]++
	return nil
}

var seq atomic.Int32

func newService(t *testing.T, n int) (*Service, *devicesOf, *provider) {
	t.Helper()
	return newLimitedService(t, n, 1000)
}

func newLimitedService(t *testing.T, n, rings int) (*Service, *devicesOf, *provider) {
	t.Helper()
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: fmt.Sprintf("fan%d", seq.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	devs := &devicesOf{}
	for i := range n {
		devs.list = append(devs.list, push.Device{ID: fmt.Sprintf("d%02d", i), Provider: push.Webhook})
	}
	p := &provider{sent: map[string]int{}, answer: map[string]error{}}
	l := quota.Every(1000, quota.Limits{quota.Rings: rings})
	lim, err := quota.New(st, quota.Config{User: l, Service: l})
	if err != nil {
		t.Fatal(err)
	}
	return NewService(st, devs, p, lim), devs, p
}

func incomingCallEvent(id, caller, callee string) events.Event {
	data, _ := json.Marshal(map[string]any{
		"to":                  map[string]any{"rawId": callee, "communicationUser": map[string]string{"id": callee}},
		"from":                map[string]any{"rawId": caller},
		"incomingCallContext": "ctx-" + id, "serverCallId": "srv-" + id,
	})
	return events.Event{ID: id, Type: "Microsoft.Communication.IncomingCall", Data: data}
}

// Each ring spends one of the caller's rings for that callee; over
// it the devices are not woken and the event is acknowledged. Other pairs
// are unaffected.
func TestIncomingRingsSpendPerCallerAndCallee(t *testing.T) {
	s, _, p := newLimitedService(t, 1, 2)
	ctx := context.Background()
	ring := func(id, caller, callee string) {
		t.Helper()
		if err := s.IncomingCall(ctx, incomingCallEvent(id, caller, callee)); err != nil {
			t.Fatalf("ring %s: %v", id, err)
		}
	}
	for i := range 3 {
		ring(fmt.Sprintf("ring%d", i), "8:acs:pest", "8:acs:bob")
	}
	if n := p.sent["d00"]; n != 2 {
		t.Fatalf("%d pushes for three rings at a quota of 2", n)
	}
	ring("friend", "8:acs:friend", "8:acs:bob")
	ring("other-callee", "8:acs:pest", "8:acs:carol")
	if n := p.sent["d00"]; n != 4 {
		t.Fatalf("%d pushes; want another caller's ring and another callee's on top", n)
	}
}

func TestFanOutOncePerDeviceAcrossRedeliveries(t *testing.T) {
	s, devs, p := newService(t, 4)
	ctx := context.Background()
	p.answer["d01"] = &push.SendError{Provider: "webhook", Status: 503, Transient: true, Err: errors.New("busy")}
	p.answer["d02"] = &push.SendError{Provider: "webhook", Status: 410, Gone: true, Err: errors.New("gone")}
	p.answer["d03"] = &push.SendError{Provider: "webhook", Status: 400, Err: errors.New("bad")}
	res, err := s.FanOut(ctx, "ev1", "8:acs:u", push.Notification{})
	if err == nil || res.Sent != 1 || res.Retry != 1 || res.Gone != 1 || res.Failed != 1 {
		t.Fatalf("first delivery: %+v %v", res, err)
	}
	if len(devs.removed) != 1 || devs.removed[0] != "d02" {
		t.Fatalf("pruned %v", devs.removed)
	}
	delete(p.answer, "d01")
	res, err = s.FanOut(ctx, "ev1", "8:acs:u", push.Notification{})
	if err != nil || res.Sent != 1 || res.AlreadySent != 2 {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	res, err = s.FanOut(ctx, "ev1", "8:acs:u", push.Notification{})
	if err != nil || res.Sent != 0 {
		t.Fatalf("third delivery: %+v %v", res, err)
	}
	if p.sent["d00"] != 1 || p.sent["d01"] != 1 || p.sent["d03"] != 0 {
		t.Fatalf("sends %v", p.sent)
	}
}

func TestConcurrentDeliveriesSendOnce(t *testing.T) {
	s, _, p := newService(t, 10)
	p.delay = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.FanOut(context.Background(), "ev-concurrent", "8:acs:u", push.Notification{})
		}()
	}
	wg.Wait()
	for id, n := range p.sent {
		if n != 1 {
			t.Fatalf("device %s pushed %d times by concurrent deliveries", id, n)
		}
	}
	if len(p.sent) != 10 {
		t.Fatalf("%d of 10 devices pushed", len(p.sent))
	}
}

func TestStalePendingClaimIsTakenOver(t *testing.T) {
	s, _, p := newService(t, 2)
	ctx := context.Background()
	// An invocation claimed d00 and died before sending.
	old := claim{State: "pending", ClaimedAt: time.Now().Add(-2 * staleClaim).UTC(), Provider: push.Webhook}
	if _, err := s.deliveries.Insert(ctx, "ev-stale", "d00", old); err != nil {
		t.Fatal(err)
	}
	fresh := claim{State: "pending", ClaimedAt: time.Now().UTC(), Provider: push.Webhook}
	if _, err := s.deliveries.Insert(ctx, "ev-stale", "d01", fresh); err != nil {
		t.Fatal(err)
	}
	res, err := s.FanOut(ctx, "ev-stale", "8:acs:u", push.Notification{})
	if err == nil || res.Sent != 1 || p.sent["d00"] != 1 || p.sent["d01"] != 0 {
		t.Fatalf("stale claim taken over, fresh one left to its owner: %+v %v %v", res, err, p.sent)
	}
}

func TestSendsRunInParallel(t *testing.T) {
	s, _, p := newService(t, 40)
	p.delay = 100 * time.Millisecond
	if _, err := s.FanOut(context.Background(), "ev-par", "8:acs:u", push.Notification{}); err != nil {
		t.Fatal(err)
	}
	if peak := p.peak.Load(); peak < 2 || peak > workers {
		t.Fatalf("peak concurrency %d, want between 2 and %d", peak, workers)
	}
}

func TestPrune(t *testing.T) {
	s, _, _ := newService(t, 1)
	ctx := context.Background()
	if _, err := s.deliveries.Insert(ctx, "old", "d", claim{State: "sent", ClaimedAt: time.Now().Add(-72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FanOut(ctx, "new", "8:acs:u", push.Notification{}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, 48*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	var c claim
	if _, err := s.deliveries.Get(ctx, "new", "d00", &c); err != nil {
		t.Fatalf("a recent claim was pruned: %v", err)
	}
}

func TestAlertsSkipVoIPDevices(t *testing.T) {
	s, devs, p := newService(t, 2)
	devs.list[0].Provider, devs.list[0].VoIP = push.APNs, true
	res, err := s.FanOut(context.Background(), "chat-1", "8:acs:u", push.Notification{Type: "chatMessage", Alert: &push.Alert{Title: "a"}})
	if err != nil || res.Sent != 1 || p.sent["d00"] != 0 || p.sent["d01"] != 1 {
		t.Fatalf("an alert fan-out: %+v %v, sent %v; want only the non-VoIP device", res, err, p.sent)
	}
}
