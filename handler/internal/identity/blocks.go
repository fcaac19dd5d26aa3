package identity

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/errgroup"

	"switchboard/handler/internal/httpapi"
)

// Blocks: a blocked user's request disappears from the blocker's requests,
// any contact between the two ends, and neither reaches the other through a
// shared space. To the blocked user it looks as if the blocker never
// answered: their own requests still read "requested".
//
//	blocks    PK blocker, RK blocked: the blocker's list
//	blockedby PK blocked, RK blocker: who blocked me (reach checks, erase)

type blockRow struct {
	BlockedAt time.Time `json:"blockedAt"`
}

// Block is an entry of GET /api/blocks.
type Block struct {
	UserID    string    `json:"userId"`
	BlockedAt time.Time `json:"blockedAt"`
}

// BlockUser makes owner block target, ending owner's side of any contact.
// Blocking again is not an error.
func (s *Service) BlockUser(ctx context.Context, owner, target string) (Block, error) {
	if owner == target {
		return Block{}, httpapi.NewProblem(http.StatusBadRequest, "block-is-self", "you cannot block yourself")
	}
	if err := checkUserID(target); err != nil {
		return Block{}, err
	}
	var existing blockRow
	if _, err := s.blocks.Get(ctx, owner, target, &existing); err == nil {
		return Block{UserID: target, BlockedAt: existing.BlockedAt}, nil
	} else if !isNotFound(err) {
		return Block{}, storeError(err)
	}
	row := blockRow{BlockedAt: s.opts.Now().UTC()}
	// The reverse row first: erase finds the pair even if the second write fails.
	if _, err := s.blockedBy.Upsert(ctx, target, owner, row); err != nil {
		return Block{}, storeError(err)
	}
	if _, err := s.blocks.Upsert(ctx, owner, target, row); err != nil {
		return Block{}, storeError(err)
	}
	// Owner's request goes; target's stays, unanswered and hidden from owner.
	if err := s.RemoveContact(ctx, owner, target); err != nil {
		return Block{}, err
	}
	return Block{UserID: target, BlockedAt: row.BlockedAt}, nil
}

// UnblockUser lifts owner's block of target; target's old request shows
// again. Unblocking someone not blocked is not an error.
func (s *Service) UnblockUser(ctx context.Context, owner, target string) error {
	if err := checkUserID(target); err != nil {
		return err
	}
	if err := s.blocks.Delete(ctx, owner, target, azcore.ETagAny); err != nil && !isNotFound(err) {
		return storeError(err)
	}
	if err := s.blockedBy.Delete(ctx, target, owner, azcore.ETagAny); err != nil && !isNotFound(err) {
		return storeError(err)
	}
	return nil
}

// GetBlock answers whether owner blocked target (404 when not).
func (s *Service) GetBlock(ctx context.Context, owner, target string) (Block, error) {
	if err := checkUserID(target); err != nil {
		return Block{}, err
	}
	var row blockRow
	if _, err := s.blocks.Get(ctx, owner, target, &row); isNotFound(err) {
		return Block{}, httpapi.Problemf(http.StatusNotFound, "block-not-found", "you have not blocked %q", truncate(target, 64))
	} else if err != nil {
		return Block{}, storeError(err)
	}
	return Block{UserID: target, BlockedAt: row.BlockedAt}, nil
}

// Blocks lists the users owner blocked: one partition query.
func (s *Service) Blocks(ctx context.Context, owner string) ([]Block, error) {
	out := []Block{}
	err := s.blocks.QueryPartition(ctx, owner, func(rk string, decode func(any) error) error {
		var b blockRow
		if err := decode(&b); err != nil {
			return err
		}
		out = append(out, Block{UserID: rk, BlockedAt: b.BlockedAt})
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// HasBlocked reports whether owner blocked target: one point read.
func (s *Service) HasBlocked(ctx context.Context, owner, target string) (bool, error) {
	return s.exists(ctx, s.blocks, owner, target)
}

// EitherBlocked reports whether a blocked b or b blocked a: two point reads.
func (s *Service) EitherBlocked(ctx context.Context, a, b string) (bool, error) {
	var ab, ba bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { ab, err = s.HasBlocked(gctx, a, b); return })
	g.Go(func() (err error) { ba, err = s.HasBlocked(gctx, b, a); return })
	if err := g.Wait(); err != nil {
		return false, err
	}
	return ab || ba, nil
}

// blockList is the set of users owner blocked.
func (s *Service) blockList(ctx context.Context, owner string) (map[string]bool, error) {
	return s.keySet(ctx, s.blocks, owner)
}

// BlockedEitherWay is the set of users owner blocked or who blocked owner:
// two partition queries, in parallel.
func (s *Service) BlockedEitherWay(ctx context.Context, owner string) (map[string]bool, error) {
	var mine, theirs map[string]bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { mine, err = s.keySet(gctx, s.blocks, owner); return })
	g.Go(func() (err error) { theirs, err = s.keySet(gctx, s.blockedBy, owner); return })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for k := range theirs {
		mine[k] = true
	}
	return mine, nil
}

func (s *Service) keySet(ctx context.Context, t interface {
	QueryPartition(context.Context, string, func(string, func(any) error) error) error
}, pk string) (map[string]bool, error) {
	out := map[string]bool{}
	err := t.QueryPartition(ctx, pk, func(rk string, _ func(any) error) error {
		out[rk] = true
		return nil
	})
	return out, err
}
