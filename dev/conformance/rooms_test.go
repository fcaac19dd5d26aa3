package conformance

import (
	"slices"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

// TestRoomsSDK drives the ACS emulator's Rooms API with @azure/communication-rooms.
func TestRoomsSDK(t *testing.T) {
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })

	type room struct {
		ID, CreatedOn, ValidFrom, ValidUntil string
		PSTNDialOutEnabled                   bool
	}
	type participant struct{ ID, Role string }
	type failure struct {
		Status        int
		Code, Message string
	}
	var res struct {
		Users                 []string
		CreateRoom, GetRoom   room
		UpdateRoom            room
		AfterAdd, AfterRemove []participant
		TooLong, GetDeleted   failure
	}
	runNode(t, "rooms.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString()}, &res,
		"@azure/communication-rooms", "@azure/communication-identity")

	if len(res.Users) != 4 {
		t.Fatalf("users = %v", res.Users)
	}
	u := res.Users
	if res.CreateRoom.ID == "" || res.GetRoom != res.CreateRoom || !res.CreateRoom.PSTNDialOutEnabled {
		t.Errorf("createRoom = %+v, getRoom = %+v", res.CreateRoom, res.GetRoom)
	}
	from, _ := time.Parse(time.RFC3339, res.CreateRoom.ValidFrom)
	until, _ := time.Parse(time.RFC3339, res.UpdateRoom.ValidUntil)
	if until.Sub(from) != 48*time.Hour || res.UpdateRoom.ValidFrom != res.CreateRoom.ValidFrom {
		t.Errorf("updateRoom = %+v, want validity of 48 h from %s", res.UpdateRoom, res.CreateRoom.ValidFrom)
	}
	sorted := func(ps []participant) []participant {
		return slices.SortedFunc(slices.Values(ps), func(a, b participant) int {
			if a.ID < b.ID {
				return -1
			}
			if a.ID > b.ID {
				return 1
			}
			return 0
		})
	}
	wantAdd := sorted([]participant{{u[0], "Presenter"}, {u[1], "Consumer"}, {u[2], "Collaborator"}, {u[3], "Attendee"}})
	if got := sorted(res.AfterAdd); !slices.Equal(got, wantAdd) {
		t.Errorf("participants after addOrUpdate = %v, want %v (read across %d-item pages)", got, wantAdd, acsemu.DefaultRoomPageSize)
	}
	wantRemove := sorted([]participant{{u[0], "Presenter"}, {u[1], "Consumer"}, {u[2], "Collaborator"}})
	if got := sorted(res.AfterRemove); !slices.Equal(got, wantRemove) {
		t.Errorf("participants after remove = %v, want %v", got, wantRemove)
	}
	if res.TooLong.Status != 400 {
		t.Errorf("a 200-day room = %+v, want 400", res.TooLong)
	}
	if res.GetDeleted.Status != 404 {
		t.Errorf("getRoom after delete = %+v, want 404", res.GetDeleted)
	}
	if n := len(emu.Rooms()); n != 0 {
		t.Errorf("emulator holds %d rooms, want 0", n)
	}
	want := map[string]int{"CreateRoom": 2, "GetRoom": 2, "UpdateRoom": 1, "UpdateRoomParticipants": 2, "ListRoomParticipants": 4, "DeleteRoom": 1}
	for op, n := range want {
		if got := emu.Requests(op); got != n {
			t.Errorf("%s requests = %d, want %d", op, got, n)
		}
	}
}
