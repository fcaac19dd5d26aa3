package bots

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/store"
)

// Housekeeping of the bot tables (the housekeeping timer calls Prune).
const (
	// ClaimRetention is how long a call's claim row is kept: Event Grid
	// redelivers an IncomingCall for up to 24 hours, so after twice that a
	// redelivery cannot come and the claim has nothing left to guard.
	ClaimRetention = 48 * time.Hour
	// DefaultCallLogRetention is how long a bot call stays in the call log
	// after its last change (BOT_CALL_LOG_RETENTION_DAYS).
	DefaultCallLogRetention = 30 * 24 * time.Hour
)

// Prune deletes claim rows older than ClaimRetention and bot calls that
// last changed longer ago than the call log's retention; it answers how
// many of each it deleted.
func (s *Service) Prune(ctx context.Context) (claims, calls int, err error) {
	now := s.now().UTC()
	claims, err = s.pruneTable(ctx, s.claims, func(decode func(any) error) (bool, error) {
		var c struct {
			claimRow
			// Claims written before claimedAt existed go by their write time.
			Timestamp time.Time `json:"Timestamp"`
		}
		if err := decode(&c); err != nil {
			return false, err
		}
		at := c.ClaimedAt
		if at.IsZero() {
			at = c.Timestamp
		}
		return !at.IsZero() && now.Sub(at) > ClaimRetention, nil
	})
	if err != nil {
		return claims, 0, err
	}
	keep := s.opts.CallLogRetention
	if keep <= 0 {
		keep = DefaultCallLogRetention
	}
	calls, err = s.pruneTable(ctx, s.calls, func(decode func(any) error) (bool, error) {
		var c callRow
		if err := decode(&c); err != nil {
			return false, err
		}
		return now.Sub(c.UpdatedAt) > keep, nil
	})
	return claims, calls, err
}

// pruneTable deletes the rows of t that old says are old.
func (s *Service) pruneTable(ctx context.Context, t *store.Table, old func(decode func(any) error) (bool, error)) (int, error) {
	type key struct{ pk, rk string }
	var doomed []key
	err := t.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		o, err := old(decode)
		if o {
			doomed = append(doomed, key{pk, rk})
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range doomed {
		if err := t.Delete(ctx, k.pk, k.rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}
