package spaces

import (
	"context"
	"errors"
	"net/http"
	"time"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// Meeting is the Teams meeting a space holds, with what the Calling SDK's
// TeamsMeetingLinkLocator (meetingLink) and TeamsMeetingIdLocator
// (meetingId, passcode) take. CallID is the Switchboard call behind it.
type Meeting struct {
	CallID      string    `json:"callId"`
	Subject     string    `json:"subject,omitempty"`
	MeetingLink string    `json:"meetingLink"`
	MeetingID   string    `json:"meetingId,omitempty"`
	Passcode    string    `json:"passcode,omitempty"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt"`
	SetBy       string    `json:"setBy"`
	SetAt       time.Time `json:"setAt"`
}

// meetingRow is Meeting flattened into the space row (Table Storage has no nested properties).
type meetingRow struct {
	MeetingCallID   string    `json:"meetingCallId,omitempty"`
	MeetingSubject  string    `json:"meetingSubject,omitempty"`
	MeetingLink     string    `json:"meetingLink,omitempty"`
	MeetingJoinID   string    `json:"meetingJoinId,omitempty"`
	MeetingPasscode string    `json:"meetingPasscode,omitempty"`
	MeetingStarts   time.Time `json:"meetingStartsAt,omitzero"`
	MeetingEnds     time.Time `json:"meetingEndsAt,omitzero"`
	MeetingSetBy    string    `json:"meetingSetBy,omitempty"`
	MeetingSetAt    time.Time `json:"meetingSetAt,omitzero"`
}

func (m meetingRow) view() *Meeting {
	if m.MeetingCallID == "" {
		return nil
	}
	return &Meeting{CallID: m.MeetingCallID, Subject: m.MeetingSubject, MeetingLink: m.MeetingLink, MeetingID: m.MeetingJoinID,
		Passcode: m.MeetingPasscode, StartsAt: m.MeetingStarts, EndsAt: m.MeetingEnds, SetBy: m.MeetingSetBy, SetAt: m.MeetingSetAt}
}

// SetMeeting shares a Teams meeting in the space, replacing the one it
// held; any accepted member may (the calls service checks the meeting is
// theirs to share).
func (s *Service) SetMeeting(ctx context.Context, actor, id string, m Meeting) (Space, error) {
	p, err := s.loadFor(ctx, actor, id)
	if err != nil {
		return Space{}, err
	}
	p.space.meetingRow = meetingRow{MeetingCallID: m.CallID, MeetingSubject: m.Subject, MeetingLink: m.MeetingLink, MeetingJoinID: m.MeetingID,
		MeetingPasscode: m.Passcode, MeetingStarts: m.StartsAt.UTC(), MeetingEnds: m.EndsAt.UTC(), MeetingSetBy: actor, MeetingSetAt: s.now().UTC()}
	etag, err := s.spaces.Replace(ctx, id, spaceRow, p.space, p.etag)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return s.SetMeeting(ctx, actor, id, m)
	}
	if err != nil {
		return Space{}, store.ProblemFor(err)
	}
	p.etag = etag
	return s.view(ctx, p)
}

// ClearMeeting takes the meeting of call callID out of space id (when the
// call ends); a space holding another meeting, or gone, is left alone.
func (s *Service) ClearMeeting(ctx context.Context, id, callID string) error {
	p, err := s.load(ctx, id)
	var prob *httpapi.Problem
	if errors.As(err, &prob) && prob.Status == http.StatusNotFound {
		return nil // the space is gone: nothing to clear
	}
	if err != nil {
		return err
	}
	if p.space.MeetingCallID != callID {
		return nil
	}
	p.space.meetingRow = meetingRow{}
	_, err = s.spaces.Replace(ctx, id, spaceRow, p.space, p.etag)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return s.ClearMeeting(ctx, id, callID)
	}
	return store.ProblemFor(err)
}
