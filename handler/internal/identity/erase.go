package identity

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/store"
)

// Erase removes everything Switchboard holds for userID: ACS tokens are
// revoked and the identity deleted, then devices and other capabilities'
// rows (erasers), contacts in both directions, and the mapping rows last,
// so that a failed erase can simply be repeated. Erasing an unknown user is
// not an error.
func (s *Service) Erase(ctx context.Context, userID string) error {
	var p profile
	_, err := s.users.Get(ctx, userID, profileRow, &p)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	if p.ACSUserID != "" {
		if err := s.acs.RevokeTokens(ctx, p.ACSUserID); err != nil && !acs.IsNotFound(err) {
			return acsError(err)
		}
		if err := s.acs.DeleteIdentity(ctx, p.ACSUserID); err != nil && !acs.IsNotFound(err) {
			return acsError(err)
		}
	}
	for _, erase := range s.erasers {
		if err := erase(ctx, userID, p.ACSUserID); err != nil {
			return err
		}
	}
	// Everyone who has this user as a contact loses them.
	var owners []string
	err = s.contactOf.QueryPartition(ctx, userID, func(owner string, _ func(any) error) error {
		owners = append(owners, owner)
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	for _, owner := range owners {
		if err := s.contacts.Delete(ctx, owner, userID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeError(err)
		}
	}
	if err := s.deletePartition(ctx, s.contactOf, userID); err != nil {
		return err
	}
	// This user's own contacts, and their entries in others' reverse index.
	var contacts []string
	err = s.contacts.QueryPartition(ctx, userID, func(contact string, _ func(any) error) error {
		contacts = append(contacts, contact)
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	for _, c := range contacts {
		if err := s.contactOf.Delete(ctx, c, userID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeError(err)
		}
	}
	if err := s.deletePartition(ctx, s.contacts, userID); err != nil {
		return err
	}
	if p.ACSUserID != "" {
		if err := s.users.Delete(ctx, p.ACSUserID, reverseRow, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeError(err)
		}
	}
	if err := s.users.Delete(ctx, userID, profileRow, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	return nil
}

// deletePartition deletes every row of one partition, in batches of at most 100.
func (s *Service) deletePartition(ctx context.Context, t *store.Table, pk string) error {
	var rks []string
	err := t.QueryPartition(ctx, pk, func(rk string, _ func(any) error) error {
		rks = append(rks, rk)
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	for len(rks) > 0 {
		n := min(len(rks), 100)
		ops := make([]store.Op, 0, n)
		for _, rk := range rks[:n] {
			ops = append(ops, store.DeleteOp(rk, azcore.ETagAny))
		}
		err := t.Batch(ctx, pk, ops...)
		if errors.Is(err, store.ErrNotFound) {
			// A row went meanwhile, which fails the whole batch: delete one by one.
			for _, rk := range rks[:n] {
				if err := t.Delete(ctx, pk, rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
					return storeError(err)
				}
			}
		} else if err != nil {
			return storeError(err)
		}
		rks = rks[n:]
	}
	return nil
}
