package acs

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

func roomsClient(t *testing.T) (*Client, *acsemu.Emulator, *wireRecorder) {
	t.Helper()
	emu := startEmulator(t, acsemu.Options{})
	rec := &wireRecorder{}
	opts := fastRetries(2)
	opts.Transport = rec
	c, err := NewClientFromConnectionString(emu.ConnectionString(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, emu, rec
}

func newUsers(t *testing.T, c *Client, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		u, err := c.CreateIdentity(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

func TestRoomLifecycle(t *testing.T) {
	c, emu, rec := roomsClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	u := newUsers(t, c, 5)

	before := time.Now()
	room, err := c.CreateRoom(ctx, CreateRoomOptions{Participants: map[string]RoomRole{u[0]: RolePresenter, u[1]: RoleAttendee}})
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	if room.ID == "" || room.ValidFrom.Before(before.Add(-time.Second)) || room.ValidUntil.Sub(room.ValidFrom) != MaxRoomValidity {
		t.Errorf("CreateRoom with defaults = %+v, want valid from now for 180 days", room)
	}
	if !slices.Contains(rec.targets, "POST /rooms?api-version="+RoomsAPIVersion) {
		t.Errorf("requests %v lack POST /rooms with api-version %s", rec.targets, RoomsAPIVersion)
	}

	got, err := c.GetRoom(ctx, room.ID)
	if err != nil || got.ID != room.ID || !got.ValidUntil.Equal(room.ValidUntil) {
		t.Fatalf("GetRoom = %+v, %v; want %+v", got, err, room)
	}

	from := time.Now().Add(time.Hour).Truncate(time.Second)
	dial := true
	upd, err := c.UpdateRoom(ctx, room.ID, UpdateRoomOptions{ValidFrom: from, ValidUntil: from.Add(48 * time.Hour), PSTNDialOutEnabled: &dial})
	if err != nil {
		t.Fatalf("UpdateRoom: %v", err)
	}
	if !upd.ValidFrom.Equal(from) || !upd.ValidUntil.Equal(from.Add(48*time.Hour)) || !upd.PSTNDialOutEnabled {
		t.Errorf("UpdateRoom = %+v", upd)
	}
	// A merge-patch leaves out what it does not name.
	upd2, err := c.UpdateRoom(ctx, room.ID, UpdateRoomOptions{ValidUntil: from.Add(72 * time.Hour)})
	if err != nil || !upd2.ValidFrom.Equal(from) || !upd2.PSTNDialOutEnabled {
		t.Errorf("partial UpdateRoom = %+v, %v; want validFrom and dial-out kept", upd2, err)
	}
	if _, err := c.UpdateRoom(ctx, room.ID, UpdateRoomOptions{ValidUntil: from.Add(181 * 24 * time.Hour)}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("UpdateRoom past 180 days: err = %v, want 400", err)
	}

	if err := c.UpsertRoomParticipants(ctx, room.ID, map[string]RoomRole{u[1]: RoleConsumer, u[2]: RoleCollaborator, u[3]: RoleAttendee, u[4]: RoleAttendee}); err != nil {
		t.Fatalf("UpsertRoomParticipants: %v", err)
	}
	if err := c.RemoveRoomParticipants(ctx, room.ID, []string{u[3], "8:acs:" + emu.ResourceID() + "_never-there"}); err != nil {
		t.Fatalf("RemoveRoomParticipants: %v", err)
	}
	list, err := c.ListRoomParticipants(ctx, room.ID)
	if err != nil {
		t.Fatalf("ListRoomParticipants: %v", err)
	}
	want := map[string]RoomRole{u[0]: RolePresenter, u[1]: RoleConsumer, u[2]: RoleCollaborator, u[4]: RoleAttendee}
	gotMap := map[string]RoomRole{}
	for _, p := range list {
		gotMap[p.RawID] = p.Role
	}
	if len(list) != len(want) || len(gotMap) != len(want) {
		t.Fatalf("ListRoomParticipants = %v, want %v", list, want)
	}
	for id, role := range want {
		if gotMap[id] != role {
			t.Errorf("participant %s role = %q, want %q", id, gotMap[id], role)
		}
	}
	pages := 0
	for _, tg := range rec.targets {
		if strings.HasPrefix(tg, "GET /rooms/"+room.ID+"/participants") {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("listing 4 participants took %d requests, want 2 pages of %d", pages, acsemu.DefaultRoomPageSize)
	}
	st, _ := emu.Room(room.ID)
	if len(st.Participants) != 4 || st.Participants[u[2]] != "Collaborator" {
		t.Errorf("emulator room participants = %v", st.Participants)
	}

	if err := c.DeleteRoom(ctx, room.ID); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	if _, err := c.GetRoom(ctx, room.ID); !IsNotFound(err) {
		t.Errorf("GetRoom after delete: err = %v, want 404", err)
	}
	if err := c.DeleteRoom(ctx, room.ID); !IsNotFound(err) {
		t.Errorf("DeleteRoom twice: err = %v, want 404", err)
	}
}

func TestCreateRoomRefusals(t *testing.T) {
	c, emu, _ := roomsClient(t)
	u := newUsers(t, c, 1)
	now := time.Now()
	tests := []struct {
		name   string
		opts   CreateRoomOptions
		status int // 0: refused by the client before sending
	}{
		{"unknown participant", CreateRoomOptions{Participants: map[string]RoomRole{"8:acs:" + emu.ResourceID() + "_nobody": RoleAttendee}}, 400},
		{"validity over 180 days", CreateRoomOptions{ValidFrom: now, ValidUntil: now.Add(181 * 24 * time.Hour)}, 400},
		{"validity in the past", CreateRoomOptions{ValidFrom: now.Add(-2 * time.Hour), ValidUntil: now.Add(-time.Hour)}, 400},
		{"from after until", CreateRoomOptions{ValidFrom: now.Add(2 * time.Hour), ValidUntil: now.Add(time.Hour)}, 0},
		{"bad role", CreateRoomOptions{Participants: map[string]RoomRole{u[0]: "Owner"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := emu.Requests("CreateRoom")
			_, err := c.CreateRoom(t.Context(), tt.opts)
			if err == nil {
				t.Fatal("CreateRoom succeeded")
			}
			if got := statusOf(err); got != tt.status {
				t.Errorf("status = %d (%v), want %d", got, err, tt.status)
			}
			if sent := emu.Requests("CreateRoom") - before; (tt.status == 0) != (sent == 0) {
				t.Errorf("%d requests reached ACS", sent)
			}
		})
	}
	if n := len(emu.Rooms()); n != 0 {
		t.Errorf("%d rooms exist after refused creates", n)
	}
}

// TestCreateRoomRetryIsIdempotent loses the first answer (a 503 after
// nothing was created would not show it), so the retry replays the
// repeatability id and must get the same room back.
func TestCreateRoomRetryIsIdempotent(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	lose := &loseFirstAnswer{}
	opts := fastRetries(2)
	opts.Transport = lose
	c, err := NewClientFromConnectionString(emu.ConnectionString(), opts)
	if err != nil {
		t.Fatal(err)
	}
	room, err := c.CreateRoom(t.Context(), CreateRoomOptions{})
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	if emu.Requests("CreateRoom") != 2 {
		t.Errorf("CreateRoom requests = %d, want 2 (the lost one and the retry)", emu.Requests("CreateRoom"))
	}
	rooms := emu.Rooms()
	if len(rooms) != 1 || rooms[0].ID != room.ID {
		t.Errorf("emulator rooms = %+v, want only %s", rooms, room.ID)
	}
	if lose.ids[0] == "" || lose.ids[0] != lose.ids[1] {
		t.Errorf("Repeatability-Request-ID per try = %q, want one id on both tries", lose.ids)
	}
}

// loseFirstAnswer sends every request but turns the first answer into a
// 503, as if the response had been lost after ACS acted.
type loseFirstAnswer struct {
	ids []string
}

func (l *loseFirstAnswer) Do(r *http.Request) (*http.Response, error) {
	l.ids = append(l.ids, r.Header.Get("Repeatability-Request-ID"))
	// Send a copy, so net/http never touches the body azcore rewinds for the retry.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	cp := r.Clone(r.Context())
	cp.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(cp)
	if err != nil || len(l.ids) > 1 {
		return resp, err
	}
	resp.Body.Close()
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}
