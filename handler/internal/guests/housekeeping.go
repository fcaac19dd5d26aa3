package guests

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// Sweep is the housekeeping pass: guests of calls that ended, expired or
// no longer exist lose their ACS identity (which revokes their tokens) and
// every row; texts still queued for live calls are sent again (with a new
// code and its own repeatability id). It returns how many guests it deleted and resent.
func (s *Service) Sweep(ctx context.Context) (deleted, resent int, err error) {
	byCall := map[string][]guestRow{}
	err = s.table.Scan(ctx, func(pk, rk string, decode func(any) error) error {
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
			continue
		}
		for _, g := range guests {
			if g.SMS == SMSQueued && s.Configured() {
				s.resend(ctx, callID, info.Creator, g)
				resent++
			}
		}
	}
	return deleted, resent, nil
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
