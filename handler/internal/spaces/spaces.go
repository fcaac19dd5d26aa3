// Package spaces keeps spaces (a team room or a scheduled event) and their
// members, and the group call a member started in a client and shared
// there, so every member knows what to join. Members may look each other up.
package spaces

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/store"
)

// Tables: spaces (PK space id; RK "space" or "m:<userId>") and memberships
// (PK user id, RK space id), the reverse index a user's spaces are read from.
const (
	SpacesTable      = "spaces"
	MembershipsTable = "memberships"
	spaceRow         = "space"
	memberPrefix     = "m:"
)

// Users resolves app users (identity.Service does).
type Users interface {
	Profile(ctx context.Context, userID string) (identity.User, error)
}

// Service manages spaces.
type Service struct {
	spaces, memberships *store.Table
	users               Users
	now                 func() time.Time
}

// NewService wires the service.
func NewService(st *store.Store, users Users) *Service {
	return &Service{spaces: st.Table(SpacesTable), memberships: st.Table(MembershipsTable), users: users, now: time.Now}
}

type space struct {
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	CreatedAt   time.Time `json:"createdAt"`
	GroupCallID string    `json:"groupCallId,omitempty"`
	CallSetBy   string    `json:"callSetBy,omitempty"`
	CallSetAt   time.Time `json:"callSetAt,omitzero"`
}

type member struct {
	Role    string    `json:"role"` // owner or member
	AddedAt time.Time `json:"addedAt"`
}

type membership struct {
	AddedAt time.Time `json:"addedAt"`
}

// Space is what GET /api/spaces/{id} answers.
type Space struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Owner   string   `json:"owner"`
	Members []Member `json:"members"`
	Call    *Call    `json:"call,omitempty"`
}

// Member is a member with their ACS id (empty until their first token).
type Member struct {
	identity.User
	Role string `json:"role"`
}

// Call is the group call shared in a space.
type Call struct {
	GroupCallID string    `json:"groupCallId"`
	SetBy       string    `json:"setBy"`
	SetAt       time.Time `json:"setAt"`
}

// Create makes a space owned by owner.
func (s *Service) Create(ctx context.Context, owner, name string) (Space, error) {
	name = strings.TrimSpace(name)
	if name == "" || httpapi.TooLong(name, 200) {
		return Space{}, httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, "name: must be 1 to 200 characters")
	}
	id := uuid.NewString()
	now := s.now().UTC()
	// Reverse index first: a space nobody can reach is the worse leftover.
	if _, err := s.memberships.Upsert(ctx, owner, id, membership{AddedAt: now}); err != nil {
		return Space{}, store.ProblemFor(err)
	}
	err := s.spaces.Batch(ctx, id,
		store.InsertOp(spaceRow, space{Name: name, Owner: owner, CreatedAt: now}),
		store.InsertOp(memberPrefix+owner, member{Role: "owner", AddedAt: now}))
	if err != nil {
		return Space{}, store.ProblemFor(err)
	}
	return s.Get(ctx, owner, id)
}

// load reads a space partition: the space row and its members (one query).
func (s *Service) load(ctx context.Context, id string) (space, azcore.ETag, map[string]member, error) {
	var sp space
	var etag azcore.ETag
	found := false
	members := map[string]member{}
	if _, err := uuid.Parse(id); err != nil {
		return sp, "", nil, spaceNotFound(id)
	}
	err := s.spaces.QueryPartition(ctx, id, func(rk string, decode func(any) error) error {
		switch {
		case rk == spaceRow:
			var row struct {
				space
				ETag azcore.ETag `json:"odata.etag"`
			}
			if err := decode(&row); err != nil {
				return err
			}
			sp, etag, found = row.space, row.ETag, true
		case strings.HasPrefix(rk, memberPrefix):
			var m member
			if err := decode(&m); err != nil {
				return err
			}
			members[strings.TrimPrefix(rk, memberPrefix)] = m
		}
		return nil
	})
	if err != nil {
		return sp, "", nil, store.ProblemFor(err)
	}
	if !found {
		return sp, "", nil, spaceNotFound(id)
	}
	return sp, etag, members, nil
}

func spaceNotFound(id string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "space-not-found", "no space %q that you are a member of", id)
}

// Get returns a space to one of its members; to anyone else it does not exist.
func (s *Service) Get(ctx context.Context, viewer, id string) (Space, error) {
	sp, _, members, err := s.load(ctx, id)
	if err != nil {
		return Space{}, err
	}
	if _, ok := members[viewer]; !ok {
		return Space{}, spaceNotFound(id)
	}
	out := Space{ID: id, Name: sp.Name, Owner: sp.Owner, Members: []Member{}}
	for userID, m := range members {
		u, err := s.users.Profile(ctx, userID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Space{}, store.ProblemFor(err)
		}
		u.UserID = userID
		out.Members = append(out.Members, Member{User: u, Role: m.Role})
	}
	if sp.GroupCallID != "" {
		out.Call = &Call{GroupCallID: sp.GroupCallID, SetBy: sp.CallSetBy, SetAt: sp.CallSetAt}
	}
	return out, nil
}

// AddMember adds userID to a space; only the owner may.
func (s *Service) AddMember(ctx context.Context, actor, id, userID string) error {
	sp, _, _, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if sp.Owner != actor {
		return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the space's owner may change its members")
	}
	if _, err := s.users.Profile(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return httpapi.Problemf(http.StatusNotFound, "user-not-found", "no user %q", userID)
	} else if err != nil {
		return store.ProblemFor(err)
	}
	now := s.now().UTC()
	if _, err := s.memberships.Upsert(ctx, userID, id, membership{AddedAt: now}); err != nil {
		return store.ProblemFor(err)
	}
	if _, err := s.spaces.Upsert(ctx, id, memberPrefix+userID, member{Role: "member", AddedAt: now}); err != nil {
		return store.ProblemFor(err)
	}
	return nil
}

// RemoveMember removes userID; the owner may remove anyone but themself,
// a member may leave.
func (s *Service) RemoveMember(ctx context.Context, actor, id, userID string) error {
	sp, _, _, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if actor != sp.Owner && actor != userID {
		return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the owner may remove other members")
	}
	if userID == sp.Owner {
		return httpapi.NewProblem(http.StatusBadRequest, "owner-cannot-leave", "the owner cannot leave their space")
	}
	return s.unlink(ctx, id, userID)
}

func (s *Service) unlink(ctx context.Context, id, userID string) error {
	if err := s.spaces.Delete(ctx, id, memberPrefix+userID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	if err := s.memberships.Delete(ctx, userID, id, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	return nil
}

// SetCall shares a client-created group call in the space; any member may.
func (s *Service) SetCall(ctx context.Context, actor, id, groupCallID string) (Space, error) {
	if _, err := uuid.Parse(groupCallID); err != nil {
		return Space{}, httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, "groupCallId: must be a UUID, as the calling SDK's GroupLocator takes")
	}
	sp, etag, members, err := s.load(ctx, id)
	if err != nil {
		return Space{}, err
	}
	if _, ok := members[actor]; !ok {
		return Space{}, httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only members may set a space's call")
	}
	sp.GroupCallID, sp.CallSetBy, sp.CallSetAt = groupCallID, actor, s.now().UTC()
	if _, err := s.spaces.Replace(ctx, id, spaceRow, sp, etag); err != nil {
		return Space{}, store.ProblemFor(err)
	}
	return s.Get(ctx, actor, id)
}

// IsMember reports whether userID belongs to space id.
func (s *Service) IsMember(ctx context.Context, id, userID string) (bool, error) {
	var m member
	_, err := s.spaces.Get(ctx, id, memberPrefix+userID, &m)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ShareSpace is an identity.Relation: viewer and target are members of a common space.
func (s *Service) ShareSpace(ctx context.Context, viewer, target string) (bool, error) {
	mine := map[string]bool{}
	if err := s.memberships.QueryPartition(ctx, viewer, func(space string, _ func(any) error) error {
		mine[space] = true
		return nil
	}); err != nil {
		return false, err
	}
	if len(mine) == 0 {
		return false, nil
	}
	shared := false
	err := s.memberships.QueryPartition(ctx, target, func(space string, _ func(any) error) error {
		shared = shared || mine[space]
		return nil
	})
	return shared, err
}

// EraseUser removes an erased user from every space (an identity.Eraser).
// Spaces they own stay, for the other members.
func (s *Service) EraseUser(ctx context.Context, userID, _ string) error {
	var ids []string
	if err := s.memberships.QueryPartition(ctx, userID, func(space string, _ func(any) error) error {
		ids = append(ids, space)
		return nil
	}); err != nil {
		return store.ProblemFor(err)
	}
	for _, id := range ids {
		if err := s.unlink(ctx, id, userID); err != nil {
			return err
		}
	}
	return nil
}
