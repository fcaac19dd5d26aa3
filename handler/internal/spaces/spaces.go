// Package spaces keeps spaces (a team room or a scheduled event), their
// members, and the group call a member started in a client and shared
// there, so every member knows what to join. Membership is consent: the
// owner invites, the invited user accepts or declines, and only accepted
// members see the space or reach each other.
package spaces

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

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

// Membership states and roles.
const (
	StateInvited  = "invited"
	StateAccepted = "accepted"
	RoleOwner     = "owner"
	RoleMember    = "member"
)

// MaxMembers bounds a space's members and invitations together.
const MaxMembers = 1000

// MaxPendingInvitations bounds the invitations a user sees and has not
// answered, so other users' invitations cannot flood their GET /api/spaces.
// Which ones are shown is decided when read (the oldest MaxPendingInvitations
// unanswered ones, see visibleInvitations), not stored: declining some shows
// the next, so a stranger filling the list hides later invitations only
// until the invitee declines theirs. The owner's answer is the same
// "invited" either way, so it tells nothing about the invitee's other
// invitations.
const MaxPendingInvitations = 100

// Users is what spaces need from identity management.
type Users interface {
	Profile(ctx context.Context, userID string) (identity.User, error)
	HasBlocked(ctx context.Context, owner, target string) (bool, error)
}

// Service manages spaces.
type Service struct {
	spaces, memberships *store.Table
	users               Users
	chargeInvite        func(ctx context.Context, actor string) error
	chat                Chat
	now                 func() time.Time
}

// NewService wires the service.
func NewService(st *store.Store, users Users) *Service {
	return &Service{spaces: st.Table(SpacesTable), memberships: st.Table(MembershipsTable), users: users, now: time.Now,
		chargeInvite: func(context.Context, string) error { return nil }}
}

// UseInviteQuota sets what a new invitation or added bot spends (the
// route's quota.SpaceInvites); it is charged only when a row is written.
func (s *Service) UseInviteQuota(charge func(ctx context.Context, actor string) error) {
	s.chargeInvite = charge
}

type space struct {
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	CreatedAt   time.Time `json:"createdAt"`
	GroupCallID string    `json:"groupCallId,omitempty"`
	CallSetBy   string    `json:"callSetBy,omitempty"`
	CallSetAt   time.Time `json:"callSetAt,omitzero"`
	meetingRow
}

// member is a row in the space's partition. Hidden marks an invitation the
// invitee will never see, because they blocked the owner: the owner's view
// is the same as for anyone else who never answered.
type member struct {
	Role       string    `json:"role"`
	State      string    `json:"state"`
	AddedAt    time.Time `json:"addedAt"`
	AcceptedAt time.Time `json:"acceptedAt,omitzero"`
	Hidden     bool      `json:"hidden,omitempty"`
}

// membership is the same fact in the member's partition, with the space's
// name so a user's list is one query.
type membership struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	State   string    `json:"state"`
	AddedAt time.Time `json:"addedAt"`
	Hidden  bool      `json:"hidden,omitempty"`
}

// Space is what GET /api/spaces/{id} answers.
type Space struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Owner   string   `json:"owner"`
	Members []Member `json:"members"`
	Call    *Call    `json:"call,omitempty"`
	Meeting *Meeting `json:"meeting,omitempty"`
	// ChatThreadID is the space's chat thread (when chat is on).
	ChatThreadID string `json:"chatThreadId,omitempty"`
}

// Member is a member or an invited user. Only accepted members carry their
// ACS id (once they have one) and display name.
type Member struct {
	UserID      string `json:"userId"`
	ACSUserID   string `json:"acsUserId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Role        string `json:"role"`
	State       string `json:"state"`
}

// Summary is an entry of GET /api/spaces.
type Summary struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	State string `json:"state"`
}

// MemberState is what a membership change answers.
type MemberState struct {
	SpaceID string `json:"spaceId"`
	UserID  string `json:"userId"`
	State   string `json:"state"`
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
	if _, err := s.memberships.Upsert(ctx, owner, id, membership{Name: name, Role: RoleOwner, State: StateAccepted, AddedAt: now}); err != nil {
		return Space{}, store.ProblemFor(err)
	}
	err := s.spaces.Batch(ctx, id,
		store.InsertOp(spaceRow, space{Name: name, Owner: owner, CreatedAt: now}),
		store.InsertOp(memberPrefix+owner, member{Role: RoleOwner, State: StateAccepted, AddedAt: now, AcceptedAt: now}))
	if err != nil {
		return Space{}, store.ProblemFor(err)
	}
	// No chat thread yet: it is made on the first read that needs it, so a
	// burst of new spaces does not spend Chat's thread-creation rate.
	p, err := s.loadFor(ctx, owner, id)
	if err != nil {
		return Space{}, err
	}
	return s.view(ctx, p)
}

// partition is a space as read in one query.
type partition struct {
	id      string
	space   space
	etag    azcore.ETag
	members map[string]member
	etags   map[string]azcore.ETag
}

// accepted reports whether userID is an accepted member.
func (p *partition) accepted(userID string) bool {
	m, ok := p.members[userID]
	return ok && m.State == StateAccepted
}

// load reads a space partition: the space row and its members (one query).
func (s *Service) load(ctx context.Context, id string) (*partition, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, spaceNotFound(id)
	}
	p := &partition{id: id, members: map[string]member{}, etags: map[string]azcore.ETag{}}
	found := false
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
			p.space, p.etag, found = row.space, row.ETag, true
		case strings.HasPrefix(rk, memberPrefix):
			var row struct {
				member
				ETag azcore.ETag `json:"odata.etag"`
			}
			if err := decode(&row); err != nil {
				return err
			}
			uid := strings.TrimPrefix(rk, memberPrefix)
			p.members[uid], p.etags[uid] = row.member, row.ETag
		}
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	if !found {
		return nil, spaceNotFound(id)
	}
	return p, nil
}

// loadFor reads a space for an accepted member; to anyone else it does not exist.
func (s *Service) loadFor(ctx context.Context, viewer, id string) (*partition, error) {
	p, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.accepted(viewer) {
		return nil, spaceNotFound(id)
	}
	return p, nil
}

func spaceNotFound(id string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "space-not-found", "no space %q that you are a member of", id)
}

// Get returns a space to its accepted members: accepted members with their
// ACS ids, invited users without.
func (s *Service) Get(ctx context.Context, viewer, id string) (Space, error) {
	p, err := s.loadFor(ctx, viewer, id)
	if err != nil {
		return Space{}, err
	}
	sp, err := s.view(ctx, p)
	if err != nil {
		return Space{}, err
	}
	s.withThread(ctx, p, &sp, true)
	return sp, nil
}

func (s *Service) view(ctx context.Context, p *partition) (Space, error) {
	out := Space{ID: p.id, Name: p.space.Name, Owner: p.space.Owner, Members: make([]Member, 0, len(p.members))}
	for userID, m := range p.members {
		out.Members = append(out.Members, Member{UserID: userID, Role: m.Role, State: m.State})
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].UserID < out.Members[j].UserID })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range out.Members {
		if out.Members[i].State != StateAccepted {
			continue
		}
		g.Go(func() error {
			u, err := s.users.Profile(gctx, out.Members[i].UserID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			out.Members[i].ACSUserID, out.Members[i].DisplayName = u.ACSUserID, u.DisplayName
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Space{}, store.ProblemFor(err)
	}
	if p.space.GroupCallID != "" {
		out.Call = &Call{GroupCallID: p.space.GroupCallID, SetBy: p.space.CallSetBy, SetAt: p.space.CallSetAt}
	}
	out.Meeting = p.space.meetingRow.view()
	return out, nil
}

// List returns the spaces userID belongs to or is invited to: one query.
func (s *Service) List(ctx context.Context, userID string) ([]Summary, error) {
	out := []Summary{}
	type invited struct {
		sum Summary
		at  time.Time
	}
	var pending []invited
	err := s.memberships.QueryPartition(ctx, userID, func(id string, decode func(any) error) error {
		var m membership
		if err := decode(&m); err != nil {
			return err
		}
		sum := Summary{ID: id, Name: m.Name, Role: m.Role, State: m.State}
		switch {
		case m.Hidden:
		case m.State == StateInvited:
			pending = append(pending, invited{sum, m.AddedAt})
		default:
			out = append(out, sum)
		}
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	// The cap on unanswered invitations, applied now (visibleInvitations).
	vis := oldestInvitations(pending, func(p invited) (string, time.Time) { return p.sum.ID, p.at })
	for _, p := range pending {
		if vis[p.sum.ID] {
			out = append(out, p.sum)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PutMember is PUT /api/spaces/{id}/members/{userId}: the owner invites
// userID, or an invited user (actor == userID) accepts. A service caller
// acting for the owner (service set) adds a bot party (identity.BotParty)
// as an accepted member: a bot has no one to accept for it.
func (s *Service) PutMember(ctx context.Context, actor string, service bool, id, userID string) (MemberState, error) {
	if actor == userID {
		return s.accept(ctx, actor, id)
	}
	if service && identity.IsBotParty(userID) {
		return s.addBot(ctx, actor, id, userID)
	}
	return s.invite(ctx, actor, id, userID)
}

// addBot makes an existing bot an accepted member; a bot that does not
// exist, or one the owner blocked, is invited, as an unknown user is, and
// so never becomes a member (as AddBotContact refuses a blocked bot).
func (s *Service) addBot(ctx context.Context, actor, id, party string) (MemberState, error) {
	bot, err := s.users.Profile(ctx, party)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) || (err == nil && bot.ACSUserID == "") {
		return s.invite(ctx, actor, id, party)
	}
	if err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	blocked, err := s.users.HasBlocked(ctx, actor, party)
	if err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	if blocked {
		return s.invite(ctx, actor, id, party)
	}
	p, err := s.loadFor(ctx, actor, id)
	if err != nil {
		return MemberState{}, err
	}
	if p.space.Owner != actor {
		return MemberState{}, httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the space's owner may add members")
	}
	m, ok := p.members[party]
	if ok && m.State == StateAccepted {
		return MemberState{SpaceID: id, UserID: party, State: StateAccepted}, nil
	}
	if !ok && len(p.members) >= MaxMembers {
		return MemberState{}, httpapi.Problemf(http.StatusConflict, "too-many-members",
			"the space has %d members and invitations, the most it may: remove some first", len(p.members))
	}
	if err := s.chargeInvite(ctx, actor); err != nil {
		return MemberState{}, err
	}
	now := s.now().UTC()
	if !ok {
		m = member{Role: RoleMember, AddedAt: now}
	}
	m.State, m.AcceptedAt, m.Hidden = StateAccepted, now, false
	// The reverse index first, so erase finds every row naming the bot.
	if _, err := s.memberships.Upsert(ctx, party, id, membership{Name: p.space.Name, Role: m.Role, State: StateAccepted, AddedAt: m.AddedAt}); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	if _, err := s.spaces.Upsert(ctx, id, memberPrefix+party, m); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	s.syncChat(ctx, id)
	return MemberState{SpaceID: id, UserID: party, State: StateAccepted}, nil
}

// invite records an invitation. The answer is "invited" whether or not
// userID exists, has blocked the owner or has MaxPendingInvitations
// unanswered (then the invitation is hidden from them and cannot be
// accepted).
func (s *Service) invite(ctx context.Context, actor, id, userID string) (MemberState, error) {
	p, err := s.loadFor(ctx, actor, id)
	if err != nil {
		return MemberState{}, err
	}
	if p.space.Owner != actor {
		return MemberState{}, httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the space's owner may invite members")
	}
	if err := store.CheckKey(memberPrefix + userID); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	if m, ok := p.members[userID]; ok {
		return MemberState{SpaceID: id, UserID: userID, State: m.State}, nil
	}
	if len(p.members) >= MaxMembers {
		return MemberState{}, httpapi.Problemf(http.StatusConflict, "too-many-members",
			"the space has %d members and invitations, the most it may: remove some first", len(p.members))
	}
	var mine, theirs bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { mine, err = s.users.HasBlocked(gctx, actor, userID); return })
	g.Go(func() (err error) { theirs, err = s.users.HasBlocked(gctx, userID, actor); return })
	if err := g.Wait(); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	if mine {
		return MemberState{}, httpapi.NewProblem(http.StatusBadRequest, "member-blocked",
			"you have blocked this user: unblock them (DELETE /api/blocks/{userId}) before inviting them")
	}
	// Hidden from the invitee for good when they blocked the owner; the cap
	// on unanswered invitations is applied when read.
	hidden := theirs
	// Spent only for a new invitation row (an idempotent re-PUT spends
	// nothing), whoever the invitee is: the same for every invitee.
	if err := s.chargeInvite(ctx, actor); err != nil {
		return MemberState{}, err
	}
	now := s.now().UTC()
	// The reverse index first, so erase finds every row naming the invitee.
	if _, err := s.memberships.Upsert(ctx, userID, id, membership{Name: p.space.Name, Role: RoleMember, State: StateInvited, AddedAt: now, Hidden: hidden}); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	if _, err := s.spaces.Insert(ctx, id, memberPrefix+userID, member{Role: RoleMember, State: StateInvited, AddedAt: now, Hidden: hidden}); err != nil && !errors.Is(err, store.ErrConflict) {
		return MemberState{}, store.ProblemFor(err)
	}
	return MemberState{SpaceID: id, UserID: userID, State: StateInvited}, nil
}

// visibleInvitations returns which of userID's unanswered invitations
// (space ids) they see: the oldest MaxPendingInvitations not hidden by a
// block (one query of their list). Decided at read time, so declining or
// accepting some shows the next ones.
func (s *Service) visibleInvitations(ctx context.Context, userID string) (map[string]bool, error) {
	type pending struct {
		id string
		at time.Time
	}
	var all []pending
	err := s.memberships.QueryPartition(ctx, userID, func(id string, decode func(any) error) error {
		var m membership
		if err := decode(&m); err != nil {
			return err
		}
		if m.State == StateInvited && !m.Hidden {
			all = append(all, pending{id, m.AddedAt})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return oldestInvitations(all, func(p pending) (string, time.Time) { return p.id, p.at }), nil
}

// oldestInvitations picks the MaxPendingInvitations oldest (then by id).
func oldestInvitations[T any](all []T, key func(T) (string, time.Time)) map[string]bool {
	sort.Slice(all, func(i, j int) bool {
		a, at := key(all[i])
		b, bt := key(all[j])
		if !at.Equal(bt) {
			return at.Before(bt)
		}
		return a < b
	})
	out := map[string]bool{}
	for i, p := range all {
		if i >= MaxPendingInvitations {
			break
		}
		id, _ := key(p)
		out[id] = true
	}
	return out
}

// invitationVisible reports whether userID sees their invitation to id.
func (s *Service) invitationVisible(ctx context.Context, userID, id string, m member) (bool, error) {
	if m.Hidden {
		return false, nil
	}
	if m.State != StateInvited {
		return true, nil
	}
	vis, err := s.visibleInvitations(ctx, userID)
	if err != nil {
		return false, store.ProblemFor(err)
	}
	return vis[id], nil
}

// accept turns userID's visible invitation into membership; accepting
// again is not an error. Without an invitation the space does not exist.
func (s *Service) accept(ctx context.Context, userID, id string) (MemberState, error) {
	p, err := s.load(ctx, id)
	if err != nil {
		return MemberState{}, err
	}
	m, ok := p.members[userID]
	if !ok || m.Hidden {
		return MemberState{}, spaceNotFound(id)
	}
	if m.State == StateAccepted {
		return MemberState{SpaceID: id, UserID: userID, State: StateAccepted}, nil
	}
	if vis, err := s.invitationVisible(ctx, userID, id, m); err != nil {
		return MemberState{}, err
	} else if !vis {
		return MemberState{}, spaceNotFound(id)
	}
	now := s.now().UTC()
	if _, err := s.memberships.Upsert(ctx, userID, id, membership{Name: p.space.Name, Role: m.Role, State: StateAccepted, AddedAt: m.AddedAt}); err != nil {
		return MemberState{}, store.ProblemFor(err)
	}
	m.State, m.AcceptedAt = StateAccepted, now
	// Conditional: an owner who withdrew the invitation meanwhile wins.
	if _, err := s.spaces.Replace(ctx, id, memberPrefix+userID, m, p.etags[userID]); err != nil {
		if errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrNotFound) {
			return s.accept(ctx, userID, id)
		}
		return MemberState{}, store.ProblemFor(err)
	}
	s.syncChat(ctx, id)
	return MemberState{SpaceID: id, UserID: userID, State: StateAccepted}, nil
}

// RemoveMember is DELETE /api/spaces/{id}/members/{userId}: a member
// leaves, an invited user declines, or the owner removes anyone but
// themself.
func (s *Service) RemoveMember(ctx context.Context, actor, id, userID string) error {
	p, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if actor == userID {
		m, ok := p.members[actor]
		if !ok || m.Hidden {
			return spaceNotFound(id)
		}
		if vis, err := s.invitationVisible(ctx, actor, id, m); err != nil {
			return err
		} else if !vis {
			return spaceNotFound(id)
		}
		if actor == p.space.Owner {
			return httpapi.NewProblem(http.StatusBadRequest, "owner-cannot-leave", "the owner cannot leave their space")
		}
		return s.unlink(ctx, id, userID)
	}
	if !p.accepted(actor) {
		return spaceNotFound(id)
	}
	if actor != p.space.Owner {
		return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the owner may remove other members")
	}
	if err := store.CheckKey(memberPrefix + userID); err != nil {
		return store.ProblemFor(err)
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
	s.removeFromChat(ctx, id, userID)
	return nil
}

// SetCall shares a client-created group call in the space; any accepted member may.
func (s *Service) SetCall(ctx context.Context, actor, id, groupCallID string) (Space, error) {
	if _, err := uuid.Parse(groupCallID); err != nil {
		return Space{}, httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, "groupCallId: must be a UUID, as the calling SDK's GroupLocator takes")
	}
	p, err := s.loadFor(ctx, actor, id)
	if err != nil {
		return Space{}, err
	}
	p.space.GroupCallID, p.space.CallSetBy, p.space.CallSetAt = groupCallID, actor, s.now().UTC()
	etag, err := s.spaces.Replace(ctx, id, spaceRow, p.space, p.etag)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return s.SetCall(ctx, actor, id, groupCallID)
	}
	if err != nil {
		return Space{}, store.ProblemFor(err)
	}
	p.etag = etag
	return s.view(ctx, p)
}

// CurrentCall is the group call shared in space id now ("" for none), for
// a bot a service configured (it may name any space); store.ErrNotFound
// when there is no such space.
func (s *Service) CurrentCall(ctx context.Context, id string) (string, error) {
	p, err := s.load(ctx, id)
	var prob *httpapi.Problem
	if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return p.space.GroupCallID, nil
}

// AcceptedMembers returns the accepted members of space id when userID is
// one of them (for reachability: one partition query); store.ErrNotFound
// when the space does not exist or userID is not an accepted member.
func (s *Service) AcceptedMembers(ctx context.Context, id, userID string) (map[string]bool, error) {
	p, err := s.load(ctx, id)
	if err != nil {
		var prob *httpapi.Problem
		if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	if !p.accepted(userID) {
		return nil, store.ErrNotFound
	}
	out := map[string]bool{}
	for uid, m := range p.members {
		if m.State == StateAccepted && uid != userID {
			out[uid] = true
		}
	}
	return out, nil
}

// ShareSpace is an identity.Relation: viewer and target are accepted
// members of a common space (two partition queries, in parallel).
func (s *Service) ShareSpace(ctx context.Context, viewer, target string) (bool, error) {
	var mine, theirs map[string]bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { mine, err = s.acceptedSpaces(gctx, viewer); return })
	g.Go(func() (err error) { theirs, err = s.acceptedSpaces(gctx, target); return })
	if err := g.Wait(); err != nil {
		return false, err
	}
	for id := range mine {
		if theirs[id] {
			return true, nil
		}
	}
	return false, nil
}

func (s *Service) acceptedSpaces(ctx context.Context, userID string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.memberships.QueryPartition(ctx, userID, func(id string, decode func(any) error) error {
		var m membership
		if err := decode(&m); err != nil {
			return err
		}
		if m.State == StateAccepted {
			out[id] = true
		}
		return nil
	})
	if errors.Is(err, store.ErrInvalidKey) {
		return out, nil
	}
	return out, err
}

// EraseUser removes an erased user from every space and invitation (an
// identity.Eraser). A space they own passes to its longest-standing
// accepted member; one with no other member is deleted.
func (s *Service) EraseUser(ctx context.Context, userID, _ string) error {
	var ids []string
	if err := s.memberships.QueryPartition(ctx, userID, func(space string, _ func(any) error) error {
		ids = append(ids, space)
		return nil
	}); err != nil {
		return store.ProblemFor(err)
	}
	for _, id := range ids {
		p, err := s.load(ctx, id)
		var prob *httpapi.Problem
		if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
			err = nil // a leftover reverse row
		} else if err != nil {
			return err
		} else if p.space.Owner == userID {
			if err := s.handOver(ctx, p, userID); err != nil {
				return err
			}
		}
		if err := s.unlink(ctx, id, userID); err != nil {
			return err
		}
	}
	return nil
}

// handOver gives a departing owner's space to the member (not a bot) who
// accepted first, or deletes it (and every invitation to it) when there is
// none.
func (s *Service) handOver(ctx context.Context, p *partition, owner string) error {
	heir := ""
	for uid, m := range p.members {
		// A bot is a member no one acts as: it never owns a space.
		if uid == owner || m.State != StateAccepted || identity.IsBotParty(uid) {
			continue
		}
		if heir == "" || m.AcceptedAt.Before(p.members[heir].AcceptedAt) || m.AcceptedAt.Equal(p.members[heir].AcceptedAt) && uid < heir {
			heir = uid
		}
	}
	if heir == "" {
		return s.deleteSpace(ctx, p)
	}
	m := p.members[heir]
	m.Role = RoleOwner
	sp := p.space
	sp.Owner = heir
	if sp.CallSetBy == owner {
		sp.CallSetBy = heir
	}
	if _, err := s.memberships.Upsert(ctx, heir, p.id, membership{Name: sp.Name, Role: RoleOwner, State: StateAccepted, AddedAt: m.AddedAt}); err != nil {
		return store.ProblemFor(err)
	}
	// One partition: the space row and the heir's row change together.
	err := s.spaces.Batch(ctx, p.id, store.ReplaceOp(spaceRow, sp, p.etag), store.ReplaceOp(memberPrefix+heir, m, p.etags[heir]))
	if errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrNotFound) {
		fresh, err := s.load(ctx, p.id)
		if err != nil {
			return err
		}
		return s.handOver(ctx, fresh, owner)
	}
	return store.ProblemFor(err)
}

// deleteSpace removes a space, its members' reverse rows first.
func (s *Service) deleteSpace(ctx context.Context, p *partition) error {
	rks := []string{spaceRow}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for uid := range p.members {
		rks = append(rks, memberPrefix+uid)
		g.Go(func() error {
			if err := s.memberships.Delete(gctx, uid, p.id, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return store.ProblemFor(err)
	}
	if err := s.spaces.DeleteRows(ctx, p.id, rks); err != nil {
		return store.ProblemFor(err)
	}
	return nil
}
