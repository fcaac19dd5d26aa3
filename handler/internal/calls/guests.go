package calls

import (
	"context"
	"time"
)

// Guest is an SMS guest of a room call, as its creator sees it in GET
// /api/calls/{id}. Package guests owns them.
type Guest struct {
	PhoneNumber string    `json:"phoneNumber"`
	DisplayName string    `json:"displayName,omitempty"`
	ACSUserID   string    `json:"acsUserId"`
	SMS         string    `json:"sms"` // queued, sent, delivered or failed
	SMSReason   string    `json:"smsReason,omitempty"`
	InvitedAt   time.Time `json:"invitedAt"`
}

// GuestLister lists a call's guests.
type GuestLister interface {
	Guests(ctx context.Context, callID string) ([]Guest, error)
}

// UseGuests makes GET /api/calls/{id} show the call's guests to its creator.
func (s *Service) UseGuests(g GuestLister) { s.guests = g }

// Info is what other capabilities (guests) need to know about a call.
type Info struct {
	ID         string
	Kind       string
	Creator    string
	Subject    string
	RoomID     string
	ValidUntil time.Time
	Ended      bool
	// Chat: the call has its own chat thread, which its guests join.
	Chat bool
}

// Info returns a call for its creator; anyone else (invitees included, and
// callers of calls that do not exist) gets the same 404 or 403 as Invite.
func (s *Service) Info(ctx context.Context, actor, id string) (Info, error) {
	c, _, invs, _, err := s.load(ctx, id)
	if err != nil {
		return Info{}, err
	}
	if actor != c.Creator {
		if _, invited := invs[actor]; !invited {
			return Info{}, callNotFound(id)
		}
		return Info{}, notCreator()
	}
	return infoOf(id, c), nil
}

// InfoAny returns a call whoever asks (the guest code exchange and
// housekeeping, which hold no user); a missing call is a 404 problem.
func (s *Service) InfoAny(ctx context.Context, id string) (Info, error) {
	c, _, _, _, err := s.load(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return infoOf(id, c), nil
}

func infoOf(id string, c call) Info {
	return Info{ID: id, Kind: c.Kind, Creator: c.Creator, Subject: c.Subject, RoomID: c.RoomID, ValidUntil: c.ValidUntil, Ended: c.State == "ended", Chat: c.Chat}
}

// ACSProblem maps an ACS failure to the problem the call routes answer
// (throttled, unavailable, credential rejected, refused), for capabilities
// built on calls (guests, bots).
func ACSProblem(err error) error { return acsError(err) }
