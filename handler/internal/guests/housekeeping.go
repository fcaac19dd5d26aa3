package guests

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// codeOrphanGrace is how old a code row its guest does not list must be
// before the sweep deletes it: a resend writes the code row before the
// guest row names it.
const codeOrphanGrace = 10 * time.Minute

// Sweep is the housekeeping pass: guests of calls that ended, expired or
// no longer exist lose their ACS identity (which revokes their tokens) and
// every row; texts still queued for live calls are sent again (with a new
// code, its own repeatability id). Then code rows nothing else deletes go:
// expired ones, those of calls that ended or are gone, and those their
// guest does not list (past codeOrphanGrace: a crash between writes, a
// failed delete). It returns how many guests it deleted and resent.
func (s *Service) Sweep(ctx context.Context) (deleted, resent int, err error) {
	byCall := map[string][]guestRow{}
	var codes []codeEntry
	err = s.table.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		if hash, ok := strings.CutPrefix(pk, codePrefix); ok && rk == codeRow {
			var e codeEntry
			if err := decode(&e); err != nil {
				return err
			}
			e.CodeHash = hash
			codes = append(codes, e)
			return nil
		}
		callID, ok := strings.CutPrefix(pk, callPrefix)
		if !ok {
			return nil
		}
		var g guestRow
		if err := decode(&g); err != nil {
			return err
		}
		byCall[callID] = append(byCall[callID], g)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	live := map[string]bool{} // call id -> takes guests still
	for callID, guests := range byCall {
		info, err := s.calls.InfoAny(ctx, callID)
		var p *httpapi.Problem
		gone := errors.As(err, &p) && p.Status == http.StatusNotFound
		if err != nil && !gone {
			return deleted, resent, err
		}
		if gone || s.ended(info) {
			for _, g := range guests {
				if err := s.deleteGuest(ctx, callID, g); err != nil {
					return deleted, resent, err
				}
				deleted++
			}
			live[callID] = false
			continue
		}
		live[callID] = true
		for _, g := range guests {
			if g.SMS == SMSQueued && s.Configured() {
				s.resend(ctx, callID, info, g)
				resent++
			}
		}
	}
	if err := s.sweepCodes(ctx, codes, live); err != nil {
		return deleted, resent, err
	}
	return deleted, resent, nil
}

// sweepCodes deletes the code rows no guest keeps (see Sweep); live holds
// what the guest pass learnt of each call.
func (s *Service) sweepCodes(ctx context.Context, codes []codeEntry, live map[string]bool) error {
	now := s.now()
	n := 0
	for _, e := range codes {
		drop := !e.Expires.IsZero() && !now.Before(e.Expires)
		if !drop {
			isLive, known := live[e.CallID]
			if !known {
				info, err := s.calls.InfoAny(ctx, e.CallID)
				var p *httpapi.Problem
				gone := errors.As(err, &p) && p.Status == http.StatusNotFound
				if err != nil && !gone {
					return err
				}
				isLive = !gone && !s.ended(info)
				live[e.CallID] = isLive
			}
			drop = !isLive
		}
		if !drop && now.Sub(e.CreatedAt) >= codeOrphanGrace {
			var g guestRow
			_, err := s.table.Get(ctx, callPrefix+e.CallID, e.Phone, &g)
			switch {
			case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidKey):
				drop = true
			case err != nil:
				return err
			default:
				drop = !g.hasCode(e.CodeHash)
			}
		}
		if !drop {
			continue
		}
		if err := s.table.Delete(ctx, codePrefix+e.CodeHash, codeRow, ""); err != nil && !isNotFound(err) {
			return err
		}
		n++
	}
	if n > 0 {
		httpapi.Logger(ctx).Info("guest code rows swept", "count", n)
	}
	return nil
}

// deleteGuest removes a guest: identity first, then the rows that find it,
// the guest row last (so a failed sweep finds it again).
func (s *Service) deleteGuest(ctx context.Context, callID string, g guestRow) error {
	if g.ACSUserID != "" {
		if err := s.acs.DeleteIdentity(ctx, g.ACSUserID); err != nil && !isNotFound(err) {
			return err
		}
	}
	keys := [][2]string{}
	for _, h := range g.hashes() {
		keys = append(keys, [2]string{codePrefix + h, codeRow})
	}
	keys = append(keys, [2]string{phonePrefix + g.Phone, callPrefix + callID}, [2]string{callPrefix + callID, g.Phone})
	for _, k := range keys {
		if err := s.table.Delete(ctx, k[0], k[1], ""); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || acs.IsNotFound(err)
}
