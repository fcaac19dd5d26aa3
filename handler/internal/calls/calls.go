// Package calls is the Call Management Service of the ACS architecture:
// calls the service creates (group calls, and the kinds built on Rooms and
// Call Automation), invitations pushed to invitees' devices, and a live
// participant roster that converges whatever order, and however often, ACS
// reports events in.
package calls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/publish"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/secret"
	"switchboard/handler/internal/store"
)

// Tables: calls (PK call id; RK "call", "i:<userId>" invitees, "p:<raw id>"
// participants) and callindex (PK "group:<id>", "room:<id>" or
// "conn:<id>": which call an ACS event is about).
const (
	CallsTable = "calls"
	IndexTable = "callindex"
	callRow    = "call"
	invPrefix  = "i:"
	partPrefix = "p:"
)

// Kinds of calls.
const (
	KindGroup = "group"
	KindRoom  = "room"
	KindDial  = "dial"
)

// Users resolves app users and whom a caller may reach.
type Users interface {
	Profile(ctx context.Context, userID string) (identity.User, error)
	UserByACSID(ctx context.Context, acsUserID string) (string, error)
	Reach(ctx context.Context, actor string, service bool, candidates []string, coMembers map[string]bool) ([]identity.User, []string, error)
}

// Spaces answers who the accepted members of a space are.
type Spaces interface {
	AcceptedMembers(ctx context.Context, spaceID, userID string) (map[string]bool, error)
}

// ACS is what calls need from Rooms and Call Automation.
type ACS interface {
	CreateRoom(ctx context.Context, opts acs.CreateRoomOptions) (acs.Room, error)
	UpsertRoomParticipants(ctx context.Context, roomID string, participants map[string]acs.RoomRole) error
	DeleteRoom(ctx context.Context, id string) error
	CreateCall(ctx context.Context, opts acs.CreateCallOptions) (acs.CallConnection, error)
	AddParticipant(ctx context.Context, callConnectionID string, opts acs.AddParticipantOptions) (acs.AddParticipantResult, error)
	TerminateCall(ctx context.Context, callConnectionID string) error
}

// Options configure the kinds of calls that need more than a group id.
type Options struct {
	// PublicBaseURL is where ACS posts Call Automation callbacks (PUBLIC_BASE_URL).
	PublicBaseURL string
	// PSTNCallerID is the caller id for dialling phones (ACS_PSTN_CALLER_ID).
	PSTNCallerID string
	// PSTN is who may dial which numbers (pstn.go); the routes check it.
	PSTN PSTNPolicy
	// Callbacks verifies the JWT ACS signs callbacks with; nil when
	// ACS_RESOURCE_ID is not set.
	Callbacks *CallbackAuth
}

// Inviter pushes an invitation to a user's devices (the fan-out does).
type Inviter interface {
	FanOut(ctx context.Context, key, acsID string, n push.Notification) (fanout.Result, error)
}

// Service manages calls.
type Service struct {
	calls, index *store.Table
	userCalls    *store.Table
	users        Users
	spaces       Spaces
	inviter      Inviter
	pub          *publish.Publisher
	acs          ACS
	chat         Chat
	opts         Options
	teams        *TeamsOptions // nil: Teams meetings not configured
	now          func() time.Time
	guests       GuestLister // nil: no SMS guests (guests.go)
}

// NewService wires the service; pub may be nil (publishing off).
func NewService(st *store.Store, users Users, spaces Spaces, inviter Inviter, pub *publish.Publisher, client ACS, opts Options) *Service {
	return &Service{calls: st.Table(CallsTable), index: st.Table(IndexTable), userCalls: st.Table(UserCallsTable), users: users, spaces: spaces, inviter: inviter,
		pub: pub, acs: client, opts: opts, now: time.Now}
}

type call struct {
	Kind        string    `json:"kind"`
	Creator     string    `json:"creator"`
	Subject     string    `json:"subject,omitempty"`
	SpaceID     string    `json:"spaceId,omitempty"`
	GroupCallID string    `json:"groupCallId,omitempty"`
	RoomID      string    `json:"roomId,omitempty"`
	ValidUntil  time.Time `json:"validUntil,omitzero"`
	// CallConnectionID is the Call Automation connection of a dial call.
	CallConnectionID string `json:"callConnectionId,omitempty"`
	// SecretHash is the SHA-256 of the per-call secret in the callback URL.
	SecretHash string    `json:"secretHash,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	// State is created, active or ended; StateAt and StateEvent order the
	// events that set it, so late or repeated events cannot move it back.
	State      string    `json:"state"`
	StateAt    time.Time `json:"stateAt"`
	StateEvent string    `json:"stateEvent,omitempty"`
	teamsMeeting
	// Chat gives the call its own chat thread, with its creator and invitees.
	Chat bool `json:"chat,omitempty"`
}

type invitee struct {
	ACSUserID string    `json:"acsUserId"`
	InvitedBy string    `json:"invitedBy"`
	InvitedAt time.Time `json:"invitedAt"`
}

type participant struct {
	UserID      string    `json:"userId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	State       string    `json:"state"` // joined or left
	At          time.Time `json:"at"`
	Event       string    `json:"event"`
}

// CreateRequest is the body of POST /api/calls.
type CreateRequest struct {
	Kind         string     `json:"kind"`
	Invitees     []string   `json:"invitees"`
	PhoneNumbers []string   `json:"phoneNumbers"`
	SpaceID      string     `json:"spaceId"`
	Subject      string     `json:"subject"`
	ValidUntil   *time.Time `json:"validUntil"`
	StartsAt     *time.Time `json:"startsAt"`
	EndsAt       *time.Time `json:"endsAt"`
	Chat         bool       `json:"chat"`
}

// Call is what the call routes answer.
type Call struct {
	ID           string        `json:"id"`
	Kind         string        `json:"kind"`
	State        string        `json:"state"`
	Creator      string        `json:"creator"`
	Subject      string        `json:"subject,omitempty"`
	SpaceID      string        `json:"spaceId,omitempty"`
	GroupCallID  string        `json:"groupCallId,omitempty"`
	RoomID       string        `json:"roomId,omitempty"`
	ValidUntil   *time.Time    `json:"validUntil,omitempty"`
	StartsAt     *time.Time    `json:"startsAt,omitempty"`
	EndsAt       *time.Time    `json:"endsAt,omitempty"`
	Teams        *TeamsJoin    `json:"teams,omitempty"`
	PhoneNumbers []string      `json:"phoneNumbers,omitempty"`
	Invitees     []Invitee     `json:"invitees"`
	Participants []Participant `json:"participants"`
	ChatThreadID string        `json:"chatThreadId,omitempty"`
	// Guests are SMS guests, shown to the creator only.
	Guests []Guest `json:"guests,omitempty"`
	// Recording is set once the call was recorded (recording.go).
	Recording *Recording `json:"recording,omitempty"`
}

// Invitee is an invited user.
type Invitee struct {
	UserID    string `json:"userId"`
	ACSUserID string `json:"acsUserId"`
}

// Participant is a roster entry.
type Participant struct {
	RawID       string    `json:"rawId"`
	UserID      string    `json:"userId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	State       string    `json:"state"`
	Since       time.Time `json:"since"`
}

// Create makes a call for creator and invites the invitees, who must be
// reachable by the creator (see identity.Service.Reach); service callers
// (service set) may invite any user.
func (s *Service) Create(ctx context.Context, creator string, service bool, req CreateRequest) (Call, error) {
	switch req.Kind {
	case KindGroup, KindRoom, KindDial:
	case KindTeams:
		return s.createTeams(ctx, creator, service, req)
	default:
		return Call{}, fieldProblem("kind", "must be group, room, dial or teams")
	}
	if req.StartsAt != nil || req.EndsAt != nil {
		return Call{}, fieldProblem("startsAt", "only teams meetings take startsAt and endsAt")
	}
	for _, n := range req.PhoneNumbers {
		if !acs.IsE164(n) {
			return Call{}, fieldProblem("phoneNumbers", fmt.Sprintf("%q is not an E.164 number such as +14255550100", n))
		}
	}
	if len(req.PhoneNumbers) > maxPhoneNumbers {
		return Call{}, fieldProblem("phoneNumbers", fmt.Sprintf("at most %d per call", maxPhoneNumbers))
	}
	if len(req.PhoneNumbers) > 0 && req.Kind != KindDial {
		return Call{}, fieldProblem("phoneNumbers", "only dial calls take phone numbers")
	}
	if req.Kind == KindDial {
		if s.opts.PublicBaseURL == "" {
			return Call{}, httpapi.NotConfigured("dial calls (Call Automation callbacks)", "PUBLIC_BASE_URL")
		}
		if s.opts.Callbacks == nil {
			return Call{}, httpapi.NotConfigured("dial calls (verifying Call Automation callbacks)", "ACS_RESOURCE_ID")
		}
		if len(req.PhoneNumbers) > 0 && s.opts.PSTNCallerID == "" {
			return Call{}, httpapi.NotConfigured("dialling phone numbers", "ACS_PSTN_CALLER_ID")
		}
		if len(req.Invitees)+len(req.PhoneNumbers) == 0 {
			return Call{}, fieldProblem("invitees", "a dial call needs someone to dial")
		}
	}
	if req.Chat && s.chat == nil {
		return Call{}, httpapi.NotConfigured("chat threads", "TOKEN_SCOPES to include chat")
	}
	if httpapi.TooLong(req.Subject, 200) {
		return Call{}, fieldProblem("subject", "at most 200 characters")
	}
	validUntil := s.now().Add(24 * time.Hour).UTC()
	if req.ValidUntil != nil {
		if !req.ValidUntil.After(s.now()) || req.ValidUntil.After(s.now().Add(180*24*time.Hour)) {
			return Call{}, fieldProblem("validUntil", "must be in the future and at most 180 days ahead")
		}
		validUntil = req.ValidUntil.UTC()
	}
	invitees, err := s.resolve(ctx, creator, service, req.SpaceID, req.Invitees)
	if err != nil {
		return Call{}, err
	}
	id := uuid.NewString()
	now := s.now().UTC()
	c := call{Kind: req.Kind, Creator: creator, Subject: req.Subject, SpaceID: req.SpaceID, CreatedAt: now, State: "created", Chat: req.Chat}
	creatorUser, err := s.users.Profile(ctx, creator)
	if req.Kind == KindRoom && (err != nil || creatorUser.ACSUserID == "") {
		return Call{}, httpapi.NewProblem(http.StatusConflict, "no-acs-identity", "you need an ACS identity to join the room: call POST /api/token first")
	}
	var secret string
	switch req.Kind {
	case KindGroup:
		c.GroupCallID = uuid.NewString()
		// The index first: an event for the call must find it as soon as anyone can join.
		if _, err := s.index.Upsert(ctx, "group:"+c.GroupCallID, "call", indexRow{CallID: id}); err != nil {
			return Call{}, store.ProblemFor(err)
		}
	case KindRoom:
		participants := map[string]acs.RoomRole{creatorUser.ACSUserID: acs.RolePresenter}
		for _, u := range invitees {
			participants[u.ACSUserID] = acs.RoleAttendee
		}
		room, err := s.acs.CreateRoom(ctx, acs.CreateRoomOptions{ValidFrom: now, ValidUntil: validUntil, Participants: participants})
		if err != nil {
			return Call{}, acsError(err)
		}
		c.RoomID, c.ValidUntil = room.ID, room.ValidUntil
		if _, err := s.index.Upsert(ctx, "room:"+room.ID, "call", indexRow{CallID: id}); err != nil {
			return Call{}, store.ProblemFor(err)
		}
	case KindDial:
		secret = newSecret()
		c.SecretHash = hashSecret(secret)
	}
	var named []string
	for _, inv := range invitees {
		named = append(named, inv.UserID)
	}
	if err := s.indexUsers(ctx, id, creator, named); err != nil {
		return Call{}, err
	}
	ops := []store.Op{store.InsertOp(callRow, c)}
	for _, inv := range invitees {
		ops = append(ops, store.InsertOp(invPrefix+inv.UserID, invitee{ACSUserID: inv.ACSUserID, InvitedBy: creator, InvitedAt: now}))
	}
	for _, n := range req.PhoneNumbers {
		ops = append(ops, store.InsertOp(invPrefix+"4:"+n, invitee{ACSUserID: "4:" + n, InvitedBy: creator, InvitedAt: now}))
	}
	if err := s.calls.Batch(ctx, id, ops...); err != nil {
		return Call{}, store.ProblemFor(err)
	}
	if req.Kind == KindDial {
		// The call row exists before ACS can call back about it.
		if err := s.dial(ctx, id, secret, invitees, req.PhoneNumbers); err != nil {
			return Call{}, err
		}
	}
	s.pub.Publish(ctx, publish.CallCreated, "calls/"+id, map[string]any{"callId": id, "kind": c.Kind, "creator": creator, "groupCallId": c.GroupCallID, "roomId": c.RoomID, "spaceId": c.SpaceID})
	s.invite(ctx, id, c, creator, invitees)
	return s.Get(ctx, creator, id)
}

// dial asks Call Automation to call the invitees, with callbacks to this call.
func (s *Service) dial(ctx context.Context, id, secret string, users []identity.User, phones []string) error {
	var targets []acs.CommunicationIdentifier
	for _, u := range users {
		targets = append(targets, acs.UserIdentifier(u.ACSUserID))
	}
	for _, n := range phones {
		targets = append(targets, acs.PhoneIdentifier(n))
	}
	cc, err := s.acs.CreateCall(ctx, acs.CreateCallOptions{
		Targets:          targets,
		CallbackURI:      s.callbackURL(id, secret),
		SourceCallerID:   s.opts.PSTNCallerID,
		OperationContext: id,
	})
	if err != nil {
		s.endCall(ctx, id, "create-call-failed")
		return acsError(err)
	}
	if cc.Source != nil {
		s.rememberAppSource(ctx, cc.Source.Raw())
	}
	for range 5 {
		var c call
		etag, err := s.calls.Get(ctx, id, callRow, &c)
		if err != nil {
			return store.ProblemFor(err)
		}
		c.CallConnectionID = cc.ID
		_, err = s.calls.Replace(ctx, id, callRow, c, etag)
		if !errors.Is(err, store.ErrPreconditionFailed) {
			return store.ProblemFor(err)
		}
	}
	return nil
}

func (s *Service) callbackURL(id, secret string) string {
	return s.opts.PublicBaseURL + "/api/callbacks/" + id + "?sig=" + url.QueryEscape(secret)
}

type indexRow struct {
	CallID string `json:"callId"`
}

// Limits keep a call and its invitees within one batch (100 rows).
const (
	maxInvitees     = 50
	maxPhoneNumbers = 10
)

// resolve checks that actor may reach every invitee: a mutual contact, or
// an accepted co-member of spaceID (which actor must belong to). The
// problem lists the others, unknown and unreachable alike.
func (s *Service) resolve(ctx context.Context, actor string, service bool, spaceID string, ids []string) ([]identity.User, error) {
	if len(ids) > maxInvitees {
		return nil, fieldProblem("invitees", fmt.Sprintf("at most %d per request", maxInvitees))
	}
	var coMembers map[string]bool
	if spaceID != "" {
		var err error
		coMembers, err = s.spaces.AcceptedMembers(ctx, spaceID, actor)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
			return nil, httpapi.Problemf(http.StatusNotFound, "space-not-found", "no space %q that you are a member of", spaceID)
		}
		if err != nil {
			return nil, store.ProblemFor(err)
		}
	}
	var candidates []string
	for _, id := range ids {
		if id != actor && !slices.Contains(candidates, id) {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	out, refused, err := s.users.Reach(ctx, actor, service, candidates, coMembers)
	if err != nil {
		return nil, err
	}
	if len(refused) > 0 {
		p := httpapi.NewProblem(http.StatusBadRequest, "invitees-not-reachable",
			"you can invite only your mutual contacts and accepted members of the call's space; not: "+strings.Join(refused, ", "))
		for _, m := range refused {
			p.Errors = append(p.Errors, httpapi.FieldError{Field: "invitees", Detail: m})
		}
		return nil, p
	}
	return out, nil
}

// invite pushes an invitation to each invitee's devices. A push that fails
// now is logged, not fatal: the invitee still sees the call in GET.
func (s *Service) invite(ctx context.Context, id string, c call, by string, invitees []identity.User) {
	for _, u := range invitees {
		n := push.Notification{Type: "invitation", EventID: "invite-" + id + "-" + u.ACSUserID, CalleeID: u.ACSUserID,
			Data: map[string]string{"callId": id, "kind": c.Kind, "groupCallId": c.GroupCallID, "roomId": c.RoomID, "invitedBy": by, "subject": c.Subject}}
		c.pushData(n.Data)
		if _, err := s.inviter.FanOut(ctx, n.EventID, u.ACSUserID, n); err != nil {
			httpapi.Logger(ctx).Warn("invitation push incomplete", "callId", id, "userId", u.UserID, "err", err)
		}
		s.pub.Publish(ctx, publish.InvitationSent, "calls/"+id, map[string]any{"callId": id, "userId": u.UserID, "invitedBy": by})
	}
}

// load reads a call partition: the call, invitees and roster (one query).
func (s *Service) load(ctx context.Context, id string) (call, azcore.ETag, map[string]invitee, map[string]participant, error) {
	var c call
	var etag azcore.ETag
	found := false
	invs := map[string]invitee{}
	parts := map[string]participant{}
	if _, err := uuid.Parse(id); err != nil {
		return c, "", nil, nil, callNotFound(id)
	}
	err := s.calls.QueryPartition(ctx, id, func(rk string, decode func(any) error) error {
		switch {
		case rk == callRow:
			var row struct {
				call
				ETag azcore.ETag `json:"odata.etag"`
			}
			if err := decode(&row); err != nil {
				return err
			}
			c, etag, found = row.call, row.ETag, true
		case strings.HasPrefix(rk, invPrefix):
			var v invitee
			if err := decode(&v); err != nil {
				return err
			}
			invs[strings.TrimPrefix(rk, invPrefix)] = v
		case strings.HasPrefix(rk, partPrefix):
			var p participant
			if err := decode(&p); err != nil {
				return err
			}
			parts[strings.TrimPrefix(rk, partPrefix)] = p
		}
		return nil
	})
	if err != nil {
		return c, "", nil, nil, store.ProblemFor(err)
	}
	if !found {
		return c, "", nil, nil, callNotFound(id)
	}
	return c, etag, invs, parts, nil
}

// notCreator refuses an invitee who tries what only the creator may.
func notCreator() *httpapi.Problem {
	return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the call's creator may invite")
}

func callNotFound(id string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "call-not-found", "no call %q that you were invited to", id)
}

func fieldProblem(field, detail string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, field+": "+detail)
	p.Errors = []httpapi.FieldError{{Field: field, Detail: detail}}
	return p
}

// Get returns a call to its creator and invitees; to anyone else it does not exist.
func (s *Service) Get(ctx context.Context, viewer, id string) (Call, error) {
	c, _, invs, parts, err := s.load(ctx, id)
	if err != nil {
		return Call{}, err
	}
	if _, invited := invs[viewer]; viewer != c.Creator && !invited {
		return Call{}, callNotFound(id)
	}
	out := Call{ID: id, Kind: c.Kind, State: c.State, Creator: c.Creator, Subject: c.Subject, SpaceID: c.SpaceID, GroupCallID: c.GroupCallID,
		Invitees: []Invitee{}, Participants: []Participant{}}
	out.RoomID = c.RoomID
	c.teamsView(&out)
	if !c.ValidUntil.IsZero() {
		out.ValidUntil = &c.ValidUntil
	}
	for uid, v := range invs {
		if phone, ok := strings.CutPrefix(uid, "4:"); ok {
			out.PhoneNumbers = append(out.PhoneNumbers, phone)
			continue
		}
		out.Invitees = append(out.Invitees, Invitee{UserID: uid, ACSUserID: v.ACSUserID})
	}
	slices.SortFunc(out.Invitees, func(a, b Invitee) int { return strings.Compare(a.UserID, b.UserID) })
	for raw, p := range parts {
		out.Participants = append(out.Participants, Participant{RawID: raw, UserID: p.UserID, DisplayName: p.DisplayName, State: p.State, Since: p.At})
	}
	slices.SortFunc(out.Participants, func(a, b Participant) int { return strings.Compare(a.RawID, b.RawID) })
	out.ChatThreadID = s.withThread(ctx, id, c, invs)
	if viewer == c.Creator && s.guests != nil {
		if out.Guests, err = s.guests.Guests(ctx, id); err != nil {
			return Call{}, err
		}
	}
	out.Recording = s.recordingOf(ctx, id, viewer == c.Creator)
	return out, nil
}

// Invite adds invitees to a call; only its creator may, and only users
// they may reach (as for Create).
func (s *Service) Invite(ctx context.Context, actor string, service bool, id string, userIDs []string) (Call, error) {
	c, _, invs, _, err := s.load(ctx, id)
	if err != nil {
		return Call{}, err
	}
	if actor != c.Creator {
		if _, invited := invs[actor]; !invited {
			return Call{}, callNotFound(id)
		}
		return Call{}, notCreator()
	}
	if c.State == "ended" {
		return Call{}, httpapi.NewProblem(http.StatusConflict, "call-ended", "the call has ended")
	}
	users, err := s.resolve(ctx, actor, service, c.SpaceID, userIDs)
	if err != nil {
		return Call{}, err
	}
	var fresh []identity.User
	now := s.now().UTC()
	for _, u := range users {
		if _, ok := invs[u.UserID]; ok {
			continue
		}
		if err := s.indexUsers(ctx, id, "", []string{u.UserID}); err != nil {
			return Call{}, err
		}
		if err := s.addToCall(ctx, c, u); err != nil {
			return Call{}, err
		}
		if _, err := s.calls.Upsert(ctx, id, invPrefix+u.UserID, invitee{ACSUserID: u.ACSUserID, InvitedBy: actor, InvitedAt: now}); err != nil {
			return Call{}, store.ProblemFor(err)
		}
		fresh = append(fresh, u)
	}
	s.invite(ctx, id, c, actor, fresh)
	return s.Get(ctx, actor, id)
}

// End ends a call; only its creator may. Ending twice is not an error.
func (s *Service) End(ctx context.Context, actor, id string) error {
	c, etag, invs, _, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if actor != c.Creator {
		if _, invited := invs[actor]; !invited {
			return callNotFound(id)
		}
		return httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the call's creator may end it")
	}
	if c.State == "ended" {
		return nil
	}
	switch {
	case c.RoomID != "":
		if err := s.acs.DeleteRoom(ctx, c.RoomID); err != nil && !acs.IsNotFound(err) {
			return acsError(err)
		}
	case c.CallConnectionID != "":
		if err := s.acs.TerminateCall(ctx, c.CallConnectionID); err != nil && !acs.IsNotFound(err) {
			return acsError(err)
		}
	case c.TeamsMeetingID != "":
		if err := s.endMeeting(ctx, id, c); err != nil {
			return err
		}
	}
	c.State, c.StateAt, c.StateEvent = "ended", s.now().UTC(), "ended-by-creator"
	_, err = s.calls.Replace(ctx, id, callRow, c, etag)
	if errors.Is(err, store.ErrPreconditionFailed) {
		return s.End(ctx, actor, id) // a roster event changed the call meanwhile: read it again
	}
	if err != nil {
		return store.ProblemFor(err)
	}
	s.pub.Publish(ctx, publish.CallEnded, "calls/"+id, map[string]any{"callId": id, "endedBy": actor})
	return nil
}

// addToCall lets a new invitee in: a room participant, or a dial-out.
func (s *Service) addToCall(ctx context.Context, c call, u identity.User) error {
	switch {
	case c.RoomID != "":
		return acsError(s.acs.UpsertRoomParticipants(ctx, c.RoomID, map[string]acs.RoomRole{u.ACSUserID: acs.RoleAttendee}))
	case c.CallConnectionID != "":
		_, err := s.acs.AddParticipant(ctx, c.CallConnectionID, acs.AddParticipantOptions{Participant: acs.UserIdentifier(u.ACSUserID)})
		return acsError(err)
	}
	return nil
}

// endCall marks a call ended without ACS (its creation failed).
func (s *Service) endCall(ctx context.Context, id, reason string) {
	var c call
	etag, err := s.calls.Get(ctx, id, callRow, &c)
	if err == nil {
		c.State, c.StateAt, c.StateEvent = "ended", s.now().UTC(), reason
		_, err = s.calls.Replace(ctx, id, callRow, c, etag)
	}
	if err != nil {
		httpapi.Logger(ctx).Warn("could not mark a failed call ended", "callId", id, "err", err)
	}
}

// newSecret is a callback secret: 256 random bits (43 characters).
func newSecret() string { return secret.New(32) }

// hashSecret is what a call row keeps of its secret.
func hashSecret(s string) string { return secret.Hash(s) }

// acsError maps an ACS failure to a problem the client can act on.
func acsError(err error) error {
	switch {
	case err == nil:
		return nil
	case acs.IsAuthFailure(err):
		return httpapi.NewProblem(http.StatusBadGateway, "acs-credential-rejected",
			"Azure Communication Services rejected Switchboard's credential; check ACS_CONNECTION_STRING (or the managed identity's role on the ACS resource)").WithCause(err)
	case acs.IsThrottled(err):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, "acs-throttled", "Azure Communication Services is throttling requests; retry after the delay in Retry-After").WithCause(err)
		p.RetryAfter = acs.RetryAfterSeconds(err)
		return p
	case acs.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable, "Azure Communication Services is unavailable; retry shortly").WithCause(err)
		p.RetryAfter = acs.RetryAfterSeconds(err)
		return p
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
		return httpapi.NewProblem(http.StatusBadRequest, "acs-rejected", "Azure Communication Services refused the request: "+re.ErrorCode).WithCause(err)
	}
	return httpapi.NewProblem(http.StatusBadGateway, httpapi.CodeUpstreamFailed, "Azure Communication Services refused the request").WithCause(err)
}
