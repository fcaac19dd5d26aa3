package spaces

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"switchboard/dev/azurite"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// users knows everyone and nobody blocks anyone.
type users struct{}

func (users) Profile(_ context.Context, userID string) (identity.User, error) {
	return identity.User{UserID: userID, ACSUserID: "8:acs:" + userID}, nil
}
func (users) HasBlocked(context.Context, string, string) (bool, error) { return false, nil }

func newService(t *testing.T) *Service {
	t.Helper()
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: fmt.Sprintf("spc%d", time.Now().UnixNano()%1e9)})
	if err != nil {
		t.Fatal(err)
	}
	return NewService(st, users{})
}

// Invitations past MaxPendingInvitations unanswered ones do not reach the
// invitee's list, and the inviter's answer is the same as for any other.
func TestPendingInvitationsPerInviteeAreCapped(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	var ids []string
	for i := range MaxPendingInvitations + 1 {
		owner := fmt.Sprintf("owner%d", i%7)
		sp, err := s.Create(ctx, owner, fmt.Sprintf("space %d", i))
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.PutMember(ctx, owner, false, sp.ID, "victim")
		if err != nil || st.State != StateInvited {
			t.Fatalf("invitation %d: %+v %v; want invited", i, st, err)
		}
		ids = append(ids, sp.ID)
	}
	list, err := s.List(ctx, "victim")
	if err != nil || len(list) != MaxPendingInvitations {
		t.Fatalf("the invitee sees %d invitations (%v), want %d", len(list), err, MaxPendingInvitations)
	}
	last, lastOwner := ids[MaxPendingInvitations], fmt.Sprintf("owner%d", MaxPendingInvitations%7)
	for _, e := range list {
		if e.ID == last {
			t.Fatal("the invitation past the cap is listed")
		}
	}
	// The owner sees it as any other unanswered invitation.
	sp, err := s.Get(ctx, lastOwner, last)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range sp.Members {
		found = found || m.UserID == "victim" && m.State == StateInvited
	}
	if !found {
		t.Fatalf("the owner's view %+v does not show the invitation", sp.Members)
	}
	// The invitee cannot accept what they cannot see.
	if _, err := s.PutMember(ctx, "victim", false, last, "victim"); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("accepting a hidden invitation: %v, want 404", err)
	}
	// The cap is decided when read: declining one shows the invitation
	// that was past it (a stranger filling the list hides later ones only
	// until the invitee declines theirs).
	if err := s.RemoveMember(ctx, "victim", ids[0], "victim"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "victim", false, last, "victim"); err != nil {
		t.Fatalf("the invitation past the cap is not visible after a decline: %v", err)
	}
	sp2, err := s.Create(ctx, "owner0", "after")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "owner0", false, sp2.ID, "victim"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "victim", false, sp2.ID, "victim"); err != nil {
		t.Fatalf("an invitation after a decline is not visible: %v", err)
	}
	// Accepted spaces do not count: the list now has two accepted and 99 invited.
	if list, err = s.List(ctx, "victim"); err != nil || len(list) != MaxPendingInvitations+1 {
		t.Fatalf("the invitee sees %d entries (%v), want %d", len(list), err, MaxPendingInvitations+1)
	}
}

// The space-invites quota is spent only when a new invitation row is
// written: an idempotent re-PUT, a non-owner and an unknown space spend
// nothing; a new invitation spends whoever the invitee is.
func TestInviteQuotaSpentOnlyForNewInvitations(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	spent := 0
	s.UseInviteQuota(func(context.Context, string) error { spent++; return nil })
	sp, err := s.Create(ctx, "owner", "q")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.PutMember(ctx, "owner", false, sp.ID, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	if spent != 1 {
		t.Fatalf("spent %d for one invitation PUT three times, want 1", spent)
	}
	_, _ = s.PutMember(ctx, "mallory", false, sp.ID, "carol")
	_, _ = s.PutMember(ctx, "owner", false, "no-such-space", "carol")
	if spent != 1 {
		t.Fatalf("spent %d after refused invitations, want 1", spent)
	}
	if _, err := s.PutMember(ctx, "owner", false, sp.ID, "nobody-at-all"); err != nil || spent != 2 {
		t.Fatalf("an invitation of an unknown user: %v, spent %d; want the same as for anyone (2)", err, spent)
	}
}

func isStatus(err error, status int) bool {
	var p *httpapi.Problem
	return errors.As(err, &p) && p.Status == status
}

// botUsers knows every user and the bots in bots; blocks[owner+">"+target]
// is a block.
type botUsers struct {
	bots   map[string]bool
	blocks map[string]bool
}

func (u botUsers) Profile(_ context.Context, userID string) (identity.User, error) {
	if identity.IsBotParty(userID) && !u.bots[userID] {
		return identity.User{}, fmt.Errorf("bot %q: %w", userID, store.ErrNotFound)
	}
	return identity.User{UserID: userID, ACSUserID: "8:acs:" + userID}, nil
}
func (u botUsers) HasBlocked(_ context.Context, owner, target string) (bool, error) {
	return u.blocks[owner+">"+target], nil
}

func memberState(t *testing.T, s *Service, viewer, id, userID string) string {
	t.Helper()
	sp, err := s.Get(context.Background(), viewer, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sp.Members {
		if m.UserID == userID {
			return m.State
		}
	}
	return ""
}

// A service adds an existing bot as an accepted member; an end user's
// invitation of a bot, or one naming a bot that does not exist, stays an
// invitation no one accepts; a bot the owner blocked is refused as a
// blocked user is; only the owner adds.
func TestAddBot(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	s.users = botUsers{bots: map[string]bool{"bot:reception": true, "bot:blocked": true}, blocks: map[string]bool{"alice>bot:blocked": true}}
	sp, err := s.Create(ctx, "alice", "front desk")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "alice", false, sp.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "bob", false, sp.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, actor, bot string
		service          bool
		want             string
		status           int
	}{
		{"service for the owner", "alice", "bot:reception", true, StateAccepted, 0},
		{"again", "alice", "bot:reception", true, StateAccepted, 0},
		{"end user", "alice", "bot:other", false, StateInvited, 0},
		{"unknown bot", "alice", "bot:nobody", true, StateInvited, 0},
		{"blocked bot", "alice", "bot:blocked", true, "", http.StatusBadRequest},
		{"not the owner", "bob", "bot:reception", true, "", http.StatusForbidden},
	} {
		st, err := s.PutMember(ctx, tc.actor, tc.service, sp.ID, tc.bot)
		if tc.status != 0 {
			if !isStatus(err, tc.status) {
				t.Errorf("%s: %+v %v, want %d", tc.name, st, err, tc.status)
			}
			continue
		}
		if err != nil || st.State != tc.want {
			t.Errorf("%s: %+v %v, want %s", tc.name, st, err, tc.want)
		}
		if got := memberState(t, s, "alice", sp.ID, tc.bot); got != tc.want {
			t.Errorf("%s: the space lists the bot as %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := memberState(t, s, "alice", sp.ID, "bot:blocked"); got != "" {
		t.Errorf("the blocked bot is listed as %q", got)
	}
	if list, _ := s.List(ctx, "bot:blocked"); len(list) != 0 {
		t.Errorf("the blocked bot has memberships %+v", list)
	}
}

// A departing owner's space passes to the first human member, never to a
// bot; with only bots left it is deleted.
func TestBotNeverInheritsASpace(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	s.users = botUsers{bots: map[string]bool{"bot:reception": true}}
	now := time.Now()
	s.now = func() time.Time { return now }
	shared, err := s.Create(ctx, "alice", "shared")
	if err != nil {
		t.Fatal(err)
	}
	botsOnly, err := s.Create(ctx, "alice", "bots only")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{shared.ID, botsOnly.ID} {
		if _, err := s.PutMember(ctx, "alice", true, id, "bot:reception"); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute) // bob accepts after the bot joined
	if _, err := s.PutMember(ctx, "alice", false, shared.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, "bob", false, shared.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	sp, err := s.Get(ctx, "bob", shared.ID)
	if err != nil || sp.Owner != "bob" {
		t.Errorf("the shared space after alice left: %+v %v; want bob to own it", sp, err)
	}
	if _, err := s.load(ctx, botsOnly.ID); !isStatus(err, http.StatusNotFound) {
		t.Errorf("the space with only the bot left: %v, want deleted", err)
	}
	list, err := s.List(ctx, "bot:reception")
	if err != nil || len(list) != 1 || list[0].ID != shared.ID || list[0].Role != RoleMember {
		t.Errorf("the bot's memberships = %+v %v; want only the shared space, as a member", list, err)
	}
}
