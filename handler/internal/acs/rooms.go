package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RoomRole is a participant's role in an ACS room.
type RoomRole string

// Roles ACS Rooms accepts.
const (
	RolePresenter    RoomRole = "Presenter"
	RoleAttendee     RoomRole = "Attendee"
	RoleConsumer     RoomRole = "Consumer"
	RoleCollaborator RoomRole = "Collaborator"
)

// MaxRoomValidity is the longest a room may be valid, and its default validity from now.
const MaxRoomValidity = 180 * 24 * time.Hour

// maxParticipantPages bounds nextLink paging so a looping service cannot hold us forever.
const maxParticipantPages = 1000

// Valid reports whether ACS accepts r as a room role.
func (r RoomRole) Valid() bool {
	switch r {
	case RolePresenter, RoleAttendee, RoleConsumer, RoleCollaborator:
		return true
	}
	return false
}

// Room is an ACS room.
type Room struct {
	ID                 string
	CreatedAt          time.Time
	ValidFrom          time.Time
	ValidUntil         time.Time
	PSTNDialOutEnabled bool
}

// RoomParticipant is one member of a room, by raw ACS id.
type RoomParticipant struct {
	RawID string
	Role  RoomRole
}

// CreateRoomOptions describes a new room; zero times take ACS's defaults
// (valid from now, for MaxRoomValidity).
type CreateRoomOptions struct {
	ValidFrom          time.Time
	ValidUntil         time.Time
	PSTNDialOutEnabled bool
	// Participants maps raw ACS ids (8:acs:...) to roles.
	Participants map[string]RoomRole
}

// UpdateRoomOptions is a merge-patch of a room: zero or nil fields stay as they are.
type UpdateRoomOptions struct {
	ValidFrom          time.Time
	ValidUntil         time.Time
	PSTNDialOutEnabled *bool
}

type wireRoom struct {
	ID                 string    `json:"id"`
	CreatedAt          time.Time `json:"createdAt"`
	ValidFrom          time.Time `json:"validFrom"`
	ValidUntil         time.Time `json:"validUntil"`
	PSTNDialOutEnabled bool      `json:"pstnDialOutEnabled"`
}

func (w wireRoom) room() (Room, error) {
	if w.ID == "" {
		return Room{}, errors.New("acs: room response has no id")
	}
	return Room(w), nil
}

type wireRole struct {
	Role RoomRole `json:"role"`
}

// timeOrNil leaves a zero time out of a request, so ACS applies its default.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func roleMap(participants map[string]RoomRole) (map[string]*wireRole, error) {
	out := make(map[string]*wireRole, len(participants))
	for id, role := range participants {
		if id == "" {
			return nil, errors.New("acs: room participant id is empty")
		}
		if !role.Valid() {
			return nil, fmt.Errorf("acs: room participant %s: role %q is not Presenter, Attendee, Consumer or Collaborator", id, role)
		}
		out[id] = &wireRole{Role: role}
	}
	return out, nil
}

// CreateRoom creates a room. It is sent with repeatability headers, so a
// retry after a lost answer returns the same room instead of a second one.
func (c *Client) CreateRoom(ctx context.Context, opts CreateRoomOptions) (Room, error) {
	if !opts.ValidFrom.IsZero() && !opts.ValidUntil.IsZero() && !opts.ValidFrom.Before(opts.ValidUntil) {
		return Room{}, errors.New("acs: create room: ValidFrom must be before ValidUntil")
	}
	participants, err := roleMap(opts.Participants)
	if err != nil {
		return Room{}, err
	}
	body := struct {
		ValidFrom          *time.Time           `json:"validFrom,omitempty"`
		ValidUntil         *time.Time           `json:"validUntil,omitempty"`
		PSTNDialOutEnabled bool                 `json:"pstnDialOutEnabled"`
		Participants       map[string]*wireRole `json:"participants,omitempty"`
	}{timeOrNil(opts.ValidFrom), timeOrNil(opts.ValidUntil), opts.PSTNDialOutEnabled, participants}
	var out wireRoom
	if err := c.send(ctx, request{method: http.MethodPost, url: c.roomsURL(""), body: body, repeatable: true, want: http.StatusCreated}, &out); err != nil {
		return Room{}, err
	}
	return out.room()
}

// GetRoom reads room id.
func (c *Client) GetRoom(ctx context.Context, id string) (Room, error) {
	if id == "" {
		return Room{}, errors.New("acs: get room: room id is empty")
	}
	var out wireRoom
	if err := c.send(ctx, request{method: http.MethodGet, url: c.roomsURL(id), want: http.StatusOK}, &out); err != nil {
		return Room{}, err
	}
	return out.room()
}

// UpdateRoom merge-patches a room's validity and PSTN dial-out, returning the room as updated.
func (c *Client) UpdateRoom(ctx context.Context, id string, opts UpdateRoomOptions) (Room, error) {
	if id == "" {
		return Room{}, errors.New("acs: update room: room id is empty")
	}
	body := struct {
		ValidFrom          *time.Time `json:"validFrom,omitempty"`
		ValidUntil         *time.Time `json:"validUntil,omitempty"`
		PSTNDialOutEnabled *bool      `json:"pstnDialOutEnabled,omitempty"`
	}{timeOrNil(opts.ValidFrom), timeOrNil(opts.ValidUntil), opts.PSTNDialOutEnabled}
	var out wireRoom
	rq := request{method: http.MethodPatch, url: c.roomsURL(id), body: body, contentType: "application/merge-patch+json", want: http.StatusOK}
	if err := c.send(ctx, rq, &out); err != nil {
		return Room{}, err
	}
	return out.room()
}

// DeleteRoom deletes room id.
func (c *Client) DeleteRoom(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("acs: delete room: room id is empty")
	}
	return c.send(ctx, request{method: http.MethodDelete, url: c.roomsURL(id), want: http.StatusNoContent}, nil)
}

// UpsertRoomParticipants adds participants to room roomID, or changes the role of those already in it.
func (c *Client) UpsertRoomParticipants(ctx context.Context, roomID string, participants map[string]RoomRole) error {
	m, err := roleMap(participants)
	if err != nil {
		return err
	}
	return c.patchParticipants(ctx, roomID, m)
}

// RemoveRoomParticipants removes participants (raw ids) from room roomID; ids not in it are ignored.
func (c *Client) RemoveRoomParticipants(ctx context.Context, roomID string, ids []string) error {
	m := make(map[string]*wireRole, len(ids))
	for _, id := range ids {
		if id == "" {
			return errors.New("acs: remove room participants: participant id is empty")
		}
		m[id] = nil // JSON null removes the key in a merge-patch
	}
	return c.patchParticipants(ctx, roomID, m)
}

func (c *Client) patchParticipants(ctx context.Context, roomID string, m map[string]*wireRole) error {
	if roomID == "" {
		return errors.New("acs: room participants: room id is empty")
	}
	if len(m) == 0 {
		return nil
	}
	body := struct {
		Participants map[string]*wireRole `json:"participants"`
	}{m}
	rq := request{method: http.MethodPatch, url: c.roomsURL(roomID + "/participants"), body: body, contentType: "application/merge-patch+json", want: http.StatusOK}
	return c.send(ctx, rq, nil)
}

// ListRoomParticipants returns every participant of room roomID, following nextLink.
func (c *Client) ListRoomParticipants(ctx context.Context, roomID string) ([]RoomParticipant, error) {
	if roomID == "" {
		return nil, errors.New("acs: list room participants: room id is empty")
	}
	var all []RoomParticipant
	next := c.roomsURL(roomID + "/participants")
	for page := 0; next != ""; page++ {
		if page == maxParticipantPages {
			return nil, fmt.Errorf("acs: list room participants: more than %d pages", maxParticipantPages)
		}
		var out struct {
			Value []struct {
				RawID string   `json:"rawId"`
				Role  RoomRole `json:"role"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := c.send(ctx, request{method: http.MethodGet, url: next, want: http.StatusOK}, &out); err != nil {
			return nil, err
		}
		for _, p := range out.Value {
			all = append(all, RoomParticipant{RawID: p.RawID, Role: p.Role})
		}
		var err error
		if next, err = c.nextLink(out.NextLink, RoomsAPIVersion); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// roomsURL is /rooms or /rooms/{id}[/sub] with the Rooms api-version; rest
// is "{id}" or "{id}/participants" and only its first segment is escaped.
func (c *Client) roomsURL(rest string) string {
	p := "/rooms"
	if rest != "" {
		id, sub, _ := strings.Cut(rest, "/")
		p += "/" + escapeSegment(id)
		if sub != "" {
			p += "/" + sub
		}
	}
	return c.endpoint + p + "?api-version=" + RoomsAPIVersion
}

// nextLink checks that a page link stays on our resource: the request is
// signed with our key, which must never be sent elsewhere.
func (c *Client) nextLink(link, apiVersion string) (string, error) {
	if link == "" {
		return "", nil
	}
	if strings.HasPrefix(link, "/") {
		link = c.endpoint + link
	}
	if !strings.HasPrefix(link, c.endpoint+"/") {
		return "", fmt.Errorf("acs: nextLink %q is not on the resource endpoint %s", link, c.endpoint)
	}
	if !strings.Contains(link, "api-version=") {
		sep := "?"
		if strings.Contains(link, "?") {
			sep = "&"
		}
		link += sep + "api-version=" + apiVersion
	}
	return link, nil
}
