package identity

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Reach splits candidates into the users actor may reach, with their ACS
// ids, and the rest. An end user reaches mutual contacts, and the users in
// coMembers (accepted co-members of a space the caller checked) unless
// either blocked the other. A service caller reaches every user with an ACS
// identity. Unknown, unreachable and identity-less ids all land in the rest,
// in the order given, so an answer naming them cannot tell them apart.
// Cost: two partition queries, two more when a space is involved, and
// parallel point reads for ACS ids the contact rows do not hold.
func (s *Service) Reach(ctx context.Context, actor string, service bool, candidates []string, coMembers map[string]bool) ([]User, []string, error) {
	allowed := make(map[string]User, len(candidates))
	if !service {
		mutual, err := s.MutualContacts(ctx, actor)
		if err != nil {
			return nil, nil, storeError(err)
		}
		viaSpace := false
		for _, id := range candidates {
			if u, ok := mutual[id]; ok {
				allowed[id] = u
			} else if coMembers[id] {
				viaSpace = true
			}
		}
		if viaSpace {
			blocked, err := s.BlockedEitherWay(ctx, actor)
			if err != nil {
				return nil, nil, storeError(err)
			}
			for _, id := range candidates {
				if _, ok := allowed[id]; !ok && coMembers[id] && !blocked[id] {
					allowed[id] = User{UserID: id}
				}
			}
		}
	} else {
		for _, id := range candidates {
			allowed[id] = User{UserID: id}
		}
	}
	// ACS ids the rows did not carry come from the profiles.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(profileReadConcurrency)
	for id, u := range allowed {
		if u.ACSUserID != "" {
			continue
		}
		g.Go(func() error {
			p, err := s.optionalProfile(gctx, id)
			mu.Lock()
			defer mu.Unlock()
			if p.ACSUserID == "" {
				delete(allowed, id)
			} else {
				allowed[id] = p
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, storeError(err)
	}
	var reach []User
	var rest []string
	seen := map[string]bool{}
	for _, id := range candidates {
		if seen[id] {
			continue
		}
		seen[id] = true
		if u, ok := allowed[id]; ok {
			reach = append(reach, u)
		} else {
			rest = append(rest, id)
		}
	}
	return reach, rest, nil
}
