package calls

import (
	"context"
	"testing"

	"switchboard/handler/internal/identity"
)

// chatUsers knows every user by id.
type chatUsers struct{ Users }

func (chatUsers) Profile(_ context.Context, userID string) (identity.User, error) {
	return identity.User{UserID: userID, ACSUserID: "8:acs:" + userID}, nil
}

// A call's thread holds its creator and invited app users, not dialled
// phones and not bots (as a space's thread leaves bots out).
func TestCallChatLeavesBotsOut(t *testing.T) {
	s := &Service{users: chatUsers{}}
	invs := map[string]invitee{
		"bob":            {ACSUserID: "8:acs:bob"},
		"bot:reception":  {ACSUserID: "8:acs:bot-reception"},
		"4:+14255550123": {},
	}
	_, members, err := s.chatOf(t.Context(), "c1", call{Creator: "alice"}, invs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range members {
		got[m.UserID] = true
	}
	if len(got) != 2 || !got["alice"] || !got["bob"] {
		t.Errorf("the call's thread members = %+v; want alice and bob", members)
	}
}
