package calls

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"switchboard/handler/internal/events"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/publish"
	"switchboard/handler/internal/store"
)

// Events registers the ACS call events that drive the roster.
func (s *Service) Events(d *events.Dispatcher) {
	d.Handle(azsystemevents.TypeACSCallStarted, s.callStarted)
	d.Handle(azsystemevents.TypeACSCallEnded, s.callEnded)
	d.Handle(azsystemevents.TypeACSCallParticipantAdded, s.participantAdded)
	d.Handle(azsystemevents.TypeACSCallParticipantRemoved, s.participantRemoved)
}

// later orders events: by time, then by id, so every replica of the roster
// agrees on which of two events is the newer and a duplicate is a no-op.
func later(at time.Time, id string, thanAt time.Time, thanID string) bool {
	if !at.Equal(thanAt) {
		return at.After(thanAt)
	}
	return id > thanID
}

// callFor finds the call an event's group (or room) id belongs to; "" if none of ours.
func (s *Service) callFor(ctx context.Context, group *azsystemevents.ACSCallGroupProperties, room *azsystemevents.ACSCallRoomProperties) (string, error) {
	var key string
	switch {
	case group != nil && group.ID != nil:
		key = "group:" + *group.ID
	case room != nil && room.ID != nil:
		key = "room:" + *room.ID
	default:
		return "", nil
	}
	var ix indexRow
	_, err := s.index.Get(ctx, key, "call", &ix)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return "", nil
	}
	return ix.CallID, err
}

func (s *Service) callStarted(ctx context.Context, ev events.Event) error {
	var d azsystemevents.ACSCallStartedEventData
	if err := ev.DecodeData(&d); err != nil {
		return nil // malformed events do not improve on redelivery
	}
	return s.setState(ctx, ev, d.Group, d.Room, "active")
}

func (s *Service) callEnded(ctx context.Context, ev events.Event) error {
	var d azsystemevents.ACSCallEndedEventData
	if err := ev.DecodeData(&d); err != nil {
		return nil
	}
	return s.setState(ctx, ev, d.Group, d.Room, "ended")
}

func (s *Service) setState(ctx context.Context, ev events.Event, group *azsystemevents.ACSCallGroupProperties, room *azsystemevents.ACSCallRoomProperties, state string) error {
	id, err := s.callFor(ctx, group, room)
	if err != nil || id == "" {
		return err
	}
	return s.setCallState(ctx, id, state, ev.Time, ev.ID)
}

func (s *Service) participantAdded(ctx context.Context, ev events.Event) error {
	var d azsystemevents.ACSCallParticipantAddedEventData
	if err := ev.DecodeData(&d); err != nil {
		return nil
	}
	return s.setParticipant(ctx, ev, d.Group, d.Room, d.User, d.DisplayName, "joined")
}

func (s *Service) participantRemoved(ctx context.Context, ev events.Event) error {
	var d azsystemevents.ACSCallParticipantRemovedEventData
	if err := ev.DecodeData(&d); err != nil {
		return nil
	}
	return s.setParticipant(ctx, ev, d.Group, d.Room, d.User, d.DisplayName, "left")
}

// setParticipant applies one roster event with ETag-conditional writes; the
// newest event (by time, then id) wins, whatever order they arrive in.
func (s *Service) setParticipant(ctx context.Context, ev events.Event, group *azsystemevents.ACSCallGroupProperties, room *azsystemevents.ACSCallRoomProperties,
	user *azsystemevents.ACSCallParticipantProperties, name *string, state string) error {
	id, err := s.callFor(ctx, group, room)
	if err != nil || id == "" {
		return err
	}
	if user == nil || user.CommunicationIdentifier == nil || user.CommunicationIdentifier.RawID == nil {
		httpapi.Logger(ctx).Warn("participant event without a participant", "eventId", ev.ID)
		return nil
	}
	displayName := ""
	if name != nil {
		displayName = *name
	}
	return s.applyParticipant(ctx, id, *user.CommunicationIdentifier.RawID, displayName, state, ev.Time, ev.ID)
}

// applyParticipant applies one roster change with ETag-conditional writes;
// the newest change (by time, then event id) wins, whatever order they
// arrive in.
func (s *Service) applyParticipant(ctx context.Context, id, raw, displayName, state string, at time.Time, eventID string) error {
	p := participant{State: state, At: at, Event: eventID, DisplayName: displayName}
	if uid, err := s.users.UserByACSID(ctx, raw); err == nil {
		p.UserID = uid
	}
	for range 5 {
		var cur participant
		etag, err := s.calls.Get(ctx, id, partPrefix+raw, &cur)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = s.calls.Insert(ctx, id, partPrefix+raw, p)
			if err == nil {
				s.publishParticipant(ctx, id, raw, p)
			}
			if !errors.Is(err, store.ErrConflict) {
				return err
			}
		case err != nil:
			return err
		case !later(p.At, p.Event, cur.At, cur.Event):
			return nil
		default:
			if p.DisplayName == "" {
				p.DisplayName = cur.DisplayName
			}
			_, err = s.calls.Replace(ctx, id, partPrefix+raw, p, etag)
			if err == nil && cur.State != p.State {
				s.publishParticipant(ctx, id, raw, p)
			}
			if !errors.Is(err, store.ErrPreconditionFailed) {
				return err
			}
		}
	}
	return fmt.Errorf("participant %s of call %s %w", raw, id, errChanging)
}

func (s *Service) publishParticipant(ctx context.Context, callID, raw string, p participant) {
	typ := publish.ParticipantJoined
	if p.State == "left" {
		typ = publish.ParticipantLeft
	}
	s.pub.Publish(ctx, typ, "calls/"+callID, map[string]any{"callId": callID, "rawId": raw, "userId": p.UserID})
}
