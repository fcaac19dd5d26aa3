// Package fanout wakes a callee's devices when ACS reports an incoming call:
// one partition query for the devices, one batch of delivery claims (event
// id x device) so each device is pushed once however often Event Grid
// redelivers, parallel sends under a deadline, pruning of gone handles, and
// a failed invocation (so Event Grid retries) only for devices that failed
// transiently, whose claims are released.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"switchboard/handler/internal/events"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// DeliveriesTable holds the claims: PartitionKey = event id, RowKey = device id.
const DeliveriesTable = "deliveries"

// Tuning: the caller is waiting for a phone to ring, and Event Grid waits
// 30 s for an answer.
const (
	sendDeadline = 10 * time.Second
	// workers covers the largest device cap (MAX_DEVICES_PER_USER is at most
	// 100), so a callee's devices are all pushed in one provider round trip.
	workers = 100
	// A pending claim older than this belongs to an invocation that died: take it over.
	staleClaim = 45 * time.Second
)

// Devices is what the fan-out needs from device registrations.
type Devices interface {
	ForACSUser(ctx context.Context, acsID string) ([]push.Device, error)
	Remove(ctx context.Context, acsID, deviceID string) error
}

// Sender delivers one notification to one device.
type Sender interface {
	Send(ctx context.Context, d push.Device, n push.Notification) error
}

// Limiter spends quotas (quota.Limiter).
type Limiter interface {
	Take(ctx context.Context, s quota.Subject, costs ...quota.Cost) error
}

// Service fans notifications out.
type Service struct {
	devices    Devices
	sender     Sender
	limits     Limiter
	deliveries *store.Table
	callers    Callers
	now        func() time.Time
}

// NewService wires the fan-out; incoming-call pushes spend limits.
func NewService(st *store.Store, devices Devices, sender Sender, limits Limiter) *Service {
	return &Service{devices: devices, sender: sender, limits: limits, deliveries: st.Table(DeliveriesTable), now: time.Now}
}

// claim is the exactly-once record of one device for one event.
type claim struct {
	State     string    `json:"state"` // pending, sent, gone, failed
	ClaimedAt time.Time `json:"claimedAt"`
	Provider  string    `json:"provider"`
	Detail    string    `json:"detail,omitempty"`
}

// IncomingCall handles Microsoft.Communication.IncomingCall. Any client
// with a voip token may call any ACS user directly, so each ring spends one
// of quota.Rings for that caller and callee: one caller cannot keep
// one callee's phone ringing, and since a user sees only their contacts' and
// co-members' ACS ids, whom they can ring at all is bounded too. The caller
// is named by what lasts (RingSubject: the app user, not the ACS id that
// DELETE /api/me replaces; a phone by its number; callers without an id
// share one bucket per callee). The application's own calls (dial calls,
// placed for every user from one identity, paid for at their route) spend
// nothing, so nobody can silence them by ringing. Over it the callee's
// devices are not woken (an app that is online still rings), which is
// logged, and the event is acknowledged. One Take, not TakeOnce: each
// event is one ring and the ring is the latency-critical path; only a
// redelivery after a failed delivery counts twice.
func (s *Service) IncomingCall(ctx context.Context, ev events.Event) error {
	var data azsystemevents.ACSIncomingCallEventData
	if err := ev.DecodeData(&data); err != nil {
		// A malformed event will not improve on redelivery: acknowledge it.
		httpapi.Logger(ctx).Error("malformed IncomingCall event dropped", "eventId", ev.ID, "err", err)
		return nil
	}
	callee := RawID(data.ToCommunicationIdentifier)
	if data.ToCommunicationIdentifier == nil || data.ToCommunicationIdentifier.CommunicationUser == nil {
		httpapi.Logger(ctx).Info("incoming call for a callee that is not an ACS user; nothing to push", "eventId", ev.ID, "to", callee)
		return nil
	}
	n := push.Notification{
		Type:                "incomingCall",
		EventID:             ev.ID,
		IncomingCallContext: deref(data.IncomingCallContext),
		ServerCallID:        deref(data.ServerCallID),
		CallerID:            RawID(data.FromCommunicationIdentifier),
		CalleeID:            callee,
		CallerDisplayName:   deref(data.CallerDisplayName),
		CorrelationID:       deref(data.CorrelationID),
	}
	// Every ring is spent (an empty caller in one bucket per callee).
	caller := n.CallerID
	// The ring is named and spent while the callee's devices are read
	// (neither needs the other); nothing is claimed or sent until it is settled.
	spent := make(chan error, 1)
	go func() {
		subject, spend, err := RingSubject(ctx, s.callers, caller, callee)
		if err != nil {
			spent <- fmt.Errorf("caller: %w", err)
			return
		}
		if !spend {
			spent <- nil
			return
		}
		spent <- s.limits.Take(ctx, subject, quota.Cost{Quota: quota.Rings, N: 1})
	}()
	gate := func() error {
		err := <-spent
		if quota.IsRateLimited(err) {
			httpapi.Logger(ctx).Warn("incoming-call push skipped: the caller is over the rings quota", "eventId", ev.ID, "caller", caller, "callee", callee)
			return errSkip
		}
		if err != nil {
			return fmt.Errorf("rings quota: %w", err)
		}
		return nil
	}
	_, err := s.fanOut(ctx, ev.ID, callee, n, gate)
	if errors.Is(err, errSkip) {
		return nil
	}
	return err
}

// errSkip is a gate's answer for "acknowledge without pushing".
var errSkip = errors.New("fan-out skipped")

// UseCallers sets how rings name their caller (see Callers).
func (s *Service) UseCallers(c Callers) { s.callers = c }

// Result counts what one fan-out did.
type Result struct {
	Sent, AlreadySent, Gone, Failed, Retry int
}

// FanOut pushes n to every device of acsID once per key (the event id).
// It returns an error when some devices must be tried again later.
func (s *Service) FanOut(ctx context.Context, key, acsID string, n push.Notification) (Result, error) {
	return s.fanOut(ctx, key, acsID, n, nil)
}

// fanOut is FanOut with a gate (nil: none), waited for once the devices are
// read and before anything is claimed: its error ends the fan-out.
func (s *Service) fanOut(ctx context.Context, key, acsID string, n push.Notification, gate func() error) (Result, error) {
	var res Result
	log := httpapi.Logger(ctx).With("eventId", key, "callee", acsID)
	devices, err := s.devices.ForACSUser(ctx, acsID)
	if gate != nil {
		if gerr := gate(); gerr != nil {
			return res, gerr
		}
	}
	if err != nil {
		return res, fmt.Errorf("devices of %s: %w", acsID, err)
	}
	if n.Alert != nil {
		// Something to show, not a call: PushKit tokens must not get it.
		devices = slices.DeleteFunc(devices, func(d push.Device) bool { return d.VoIP })
	}
	if len(devices) == 0 {
		log.Info("callee has no registered devices")
		return res, nil
	}
	todo, busy, err := s.claim(ctx, key, devices, &res)
	if err != nil {
		return res, err
	}

	results := s.send(ctx, todo, n)

	var ops []store.Op
	for i, d := range todo {
		err := results[i]
		c := claim{ClaimedAt: s.now().UTC(), Provider: d.Provider}
		switch {
		case err == nil:
			c.State = "sent"
			res.Sent++
		case push.IsGone(err):
			c.State, c.Detail = "gone", err.Error()
			res.Gone++
			if rerr := s.devices.Remove(ctx, acsID, d.ID); rerr != nil {
				log.Warn("could not prune a gone device", "deviceId", d.ID, "err", rerr)
			}
		case push.IsTransient(err):
			res.Retry++
			ops = append(ops, store.DeleteOp(d.ID, azcore.ETagAny)) // release: redelivery sends again
			log.Warn("push failed; will retry on redelivery", "deviceId", d.ID, "provider", d.Provider, "err", err)
			continue
		default:
			c.State, c.Detail = "failed", err.Error()
			res.Failed++
			log.Warn("push failed permanently", "deviceId", d.ID, "provider", d.Provider, "err", err)
		}
		ops = append(ops, store.UpsertOp(d.ID, c))
	}
	if err := s.deliveries.Batch(ctx, key, ops...); err != nil {
		return res, fmt.Errorf("record deliveries of %s: %w", key, err)
	}
	log.Info("fan-out done", "sent", res.Sent, "alreadySent", res.AlreadySent, "gone", res.Gone, "failed", res.Failed, "retry", res.Retry, "busy", busy)
	if res.Retry > 0 || busy > 0 {
		return res, fmt.Errorf("%d devices to retry, %d being sent by another delivery", res.Retry, busy)
	}
	return res, nil
}

// claim reserves the devices this invocation will send to. The usual first
// delivery is one batch insert; on redelivery the existing claims decide:
// sent ones are skipped, fresh pending ones belong to a concurrent delivery
// (busy), stale pending ones are taken over.
func (s *Service) claim(ctx context.Context, key string, devices []push.Device, res *Result) (todo []push.Device, busy int, err error) {
	now := s.now().UTC()
	ops := make([]store.Op, len(devices))
	for i, d := range devices {
		ops[i] = store.InsertOp(d.ID, claim{State: "pending", ClaimedAt: now, Provider: d.Provider})
	}
	err = s.deliveries.Batch(ctx, key, ops...)
	if err == nil {
		return devices, 0, nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return nil, 0, fmt.Errorf("claim deliveries of %s: %w", key, err)
	}
	type existing struct {
		claim
		ETag azcore.ETag `json:"odata.etag"`
	}
	have := map[string]existing{}
	err = s.deliveries.QueryPartition(ctx, key, func(rk string, decode func(any) error) error {
		var c existing
		if err := decode(&c); err != nil {
			return err
		}
		have[rk] = c
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read claims of %s: %w", key, err)
	}
	for _, d := range devices {
		c, ok := have[d.ID]
		var err error
		switch {
		case !ok:
			_, err = s.deliveries.Insert(ctx, key, d.ID, claim{State: "pending", ClaimedAt: now, Provider: d.Provider})
		case c.State == "pending" && now.Sub(c.ClaimedAt) > staleClaim:
			_, err = s.deliveries.Replace(ctx, key, d.ID, claim{State: "pending", ClaimedAt: now, Provider: d.Provider}, c.ETag)
		case c.State == "pending":
			busy++
			continue
		default:
			res.AlreadySent++
			continue
		}
		switch {
		case err == nil:
			todo = append(todo, d)
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrPreconditionFailed):
			busy++ // another delivery claimed it just now
		default:
			return nil, 0, fmt.Errorf("claim delivery of %s to %s: %w", key, d.ID, err)
		}
	}
	return todo, busy, nil
}

// send pushes to every device in parallel, bounded by workers and sendDeadline.
func (s *Service) send(ctx context.Context, devices []push.Device, n push.Notification) []error {
	ctx, cancel := context.WithTimeout(ctx, sendDeadline)
	defer cancel()
	results := make([]error, len(devices))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = s.sender.Send(ctx, d, n)
		}()
	}
	wg.Wait()
	return results
}

// Prune deletes claims older than keep: Event Grid stops redelivering after 24 hours.
func (s *Service) Prune(ctx context.Context, keep time.Duration) (int, error) {
	cutoff := s.now().Add(-keep)
	type key struct{ pk, rk string }
	var old []key
	err := s.deliveries.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		var c claim
		if err := decode(&c); err != nil {
			return err
		}
		if c.ClaimedAt.Before(cutoff) {
			old = append(old, key{pk, rk})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := s.deliveries.Delete(ctx, k.pk, k.rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
	}
	return len(old), nil
}

// RawID is an event identifier's raw id (8:acs:..., 4:+1...), from its parts when rawId is absent.
func RawID(id *azsystemevents.CommunicationIdentifierModel) string {
	if id == nil {
		return ""
	}
	if id.RawID != nil && *id.RawID != "" {
		return *id.RawID
	}
	if id.CommunicationUser != nil && id.CommunicationUser.ID != nil {
		return *id.CommunicationUser.ID
	}
	if id.PhoneNumber != nil && id.PhoneNumber.Value != nil {
		return "4:" + *id.PhoneNumber.Value
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
