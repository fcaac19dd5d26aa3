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
	// Declining one frees room for the next invitation.
	if err := s.RemoveMember(ctx, "victim", ids[0], "victim"); err != nil {
		t.Fatal(err)
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
	// Accepted spaces do not count: the list now has one accepted and 99 invited.
	if list, err = s.List(ctx, "victim"); err != nil || len(list) != MaxPendingInvitations {
		t.Fatalf("the invitee sees %d entries (%v), want %d", len(list), err, MaxPendingInvitations)
	}
}

func isStatus(err error, status int) bool {
	var p *httpapi.Problem
	return errors.As(err, &p) && p.Status == status
}
