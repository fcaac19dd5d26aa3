package graph

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Lobby bypass scopes (lobbyBypassSettings.scope). The last two are what
// Graph calls evolvable enum members.
var LobbyBypassScopes = []string{"organizer", "organization", "organizationAndFederated", "everyone", "invited", "organizationExcludingGuests"}

// OnlineMeeting is the part of Graph's onlineMeeting resource we use.
type OnlineMeeting struct {
	ID                    string                 `json:"id"`
	ExternalID            string                 `json:"externalId,omitempty"`
	Subject               string                 `json:"subject,omitempty"`
	StartDateTime         time.Time              `json:"startDateTime,omitzero"`
	EndDateTime           time.Time              `json:"endDateTime,omitzero"`
	JoinWebURL            string                 `json:"joinWebUrl"`
	JoinMeetingIDSettings *JoinMeetingIDSettings `json:"joinMeetingIdSettings,omitempty"`
	LobbyBypassSettings   *LobbyBypassSettings   `json:"lobbyBypassSettings,omitempty"`
	ChatInfo              *ChatInfo              `json:"chatInfo,omitempty"`
}

// JoinMeetingIDSettings is how a client joins by meeting id and passcode
// (the Calling SDK's TeamsMeetingIdLocator).
type JoinMeetingIDSettings struct {
	JoinMeetingID      string `json:"joinMeetingId,omitempty"`
	Passcode           string `json:"passcode,omitempty"`
	IsPasscodeRequired bool   `json:"isPasscodeRequired,omitempty"`
}

// LobbyBypassSettings says who skips the meeting lobby.
type LobbyBypassSettings struct {
	Scope                 string `json:"scope"`
	IsDialInBypassEnabled *bool  `json:"isDialInBypassEnabled,omitempty"`
}

// ChatInfo names the meeting's chat thread.
type ChatInfo struct {
	ThreadID  string `json:"threadId,omitempty"`
	MessageID string `json:"messageId,omitempty"`
}

// CreateOrGetRequest is the body of createOrGet: the only five fields it takes.
type CreateOrGetRequest struct {
	ExternalID    string    `json:"externalId"`
	Subject       string    `json:"subject,omitempty"`
	StartDateTime time.Time `json:"startDateTime,omitzero"`
	EndDateTime   time.Time `json:"endDateTime,omitzero"`
}

// MeetingPatch is a PATCH body; nil fields are left as they are.
type MeetingPatch struct {
	LobbyBypassSettings *LobbyBypassSettings `json:"lobbyBypassSettings,omitempty"`
}

func meetingsPath(organizer string) string {
	return "/users/" + url.PathEscape(organizer) + "/onlineMeetings"
}

// CreateOrGetMeeting creates the meeting organizer holds under
// req.ExternalID, or returns the one that exists: created says which.
// Retrying it (as the pipeline does) never makes a second meeting.
func (c *Client) CreateOrGetMeeting(ctx context.Context, organizer string, req CreateOrGetRequest) (m OnlineMeeting, created bool, err error) {
	status, err := c.do(ctx, http.MethodPost, meetingsPath(organizer)+"/createOrGet", req, &m, http.StatusCreated, http.StatusOK)
	return m, status == http.StatusCreated, err
}

// GetMeeting reads one of organizer's meetings.
func (c *Client) GetMeeting(ctx context.Context, organizer, id string) (OnlineMeeting, error) {
	var m OnlineMeeting
	_, err := c.do(ctx, http.MethodGet, meetingsPath(organizer)+"/"+url.PathEscape(id), nil, &m, http.StatusOK)
	return m, err
}

// UpdateMeeting patches one of organizer's meetings and returns it.
func (c *Client) UpdateMeeting(ctx context.Context, organizer, id string, patch MeetingPatch) (OnlineMeeting, error) {
	var m OnlineMeeting
	_, err := c.do(ctx, http.MethodPatch, meetingsPath(organizer)+"/"+url.PathEscape(id), patch, &m, http.StatusOK)
	return m, err
}

// DeleteMeeting deletes one of organizer's meetings.
func (c *Client) DeleteMeeting(ctx context.Context, organizer, id string) error {
	_, err := c.do(ctx, http.MethodDelete, meetingsPath(organizer)+"/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
	return err
}
