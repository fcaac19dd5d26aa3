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
// rows (erasers), contacts, requests and blocks in both directions, and the
// mapping rows last, so that a failed erase can simply be repeated. Erasing
// an unknown user is not an error.
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
	// Requests made and received, and blocks in both directions.
	if err := s.erasePairs(ctx, s.contacts, s.contactOf, userID); err != nil {
		return err
	}
	if err := s.erasePairs(ctx, s.blocks, s.blockedBy, userID); err != nil {
		return err
	}
	// Cached tokens (revoked above) go with the mapping rows.
	if err := s.dropCache(ctx, userID); err != nil {
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

// erasePairs deletes every row naming userID in a table and its reverse
// index (primary PK a, RK b <=> reverse PK b, RK a): the rows others keep
// about userID first, then userID's own.
func (s *Service) erasePairs(ctx context.Context, primary, reverse *store.Table, userID string) error {
	for _, t := range [2][2]*store.Table{{reverse, primary}, {primary, reverse}} {
		var others []string
		err := t[0].QueryPartition(ctx, userID, func(rk string, _ func(any) error) error {
			others = append(others, rk)
			return nil
		})
		if err != nil {
			return storeError(err)
		}
		for _, o := range others {
			if err := t[1].Delete(ctx, o, userID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
				return storeError(err)
			}
		}
		if err := s.deletePartition(ctx, t[0], userID); err != nil {
			return err
		}
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
	if err := t.DeleteRows(ctx, pk, rks); err != nil {
		return storeError(err)
	}
	return nil
}
