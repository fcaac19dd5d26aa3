package calls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/graph"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/publish"
	"switchboard/handler/internal/spaces"
	"switchboard/handler/internal/store"
)

// KindTeams is a Teams meeting Switchboard creates through Microsoft Graph;
// ACS clients join it as anonymous externals with its join details.
const KindTeams = "teams"

// maxMeetingAhead bounds how far ahead a meeting may end.
const maxMeetingAhead = 366 * 24 * time.Hour

// Meetings is what Teams calls need from Graph's onlineMeetings.
type Meetings interface {
	CreateOrGetMeeting(ctx context.Context, organizer string, req graph.CreateOrGetRequest) (graph.OnlineMeeting, bool, error)
	UpdateMeeting(ctx context.Context, organizer, id string, patch graph.MeetingPatch) (graph.OnlineMeeting, error)
	DeleteMeeting(ctx context.Context, organizer, id string) error
}

// MeetingSpaces is where a meeting is shared with a space's members.
type MeetingSpaces interface {
	SetMeeting(ctx context.Context, actor, spaceID string, m spaces.Meeting) (spaces.Space, error)
	ClearMeeting(ctx context.Context, spaceID, callID string) error
}

// TeamsOptions turn Teams meetings on (TEAMS_ORGANIZER_ID and GRAPH_*).
type TeamsOptions struct {
	Graph  Meetings
	Spaces MeetingSpaces
	// Organizer is the Entra object id every meeting is organized by.
	Organizer string
	// LobbyBypass is lobbyBypassSettings.scope (TEAMS_LOBBY_BYPASS).
	LobbyBypass string
	// AppID is the app (client) id Graph sees, for the access-policy advice; may be empty.
	AppID string
}

// EnableTeams turns on the teams kind.
func (s *Service) EnableTeams(o TeamsOptions) { s.teams = &o }

// teamsMeeting is a Teams call's meeting, flattened into the call row.
type teamsMeeting struct {
	TeamsMeetingID     string    `json:"teamsMeetingId,omitempty"`
	TeamsOrganizer     string    `json:"teamsOrganizer,omitempty"`
	TeamsJoinURL       string    `json:"teamsJoinUrl,omitempty"`
	TeamsJoinMeetingID string    `json:"teamsJoinMeetingId,omitempty"`
	TeamsPasscode      string    `json:"teamsPasscode,omitempty"`
	StartsAt           time.Time `json:"startsAt,omitzero"`
	EndsAt             time.Time `json:"endsAt,omitzero"`
	// TeamsSharedIn is the space the meeting was last shared in with PUT
	// /api/spaces/{id}/meeting (besides SpaceID), to clear when it ends.
	TeamsSharedIn string `json:"teamsSharedIn,omitempty"`
}

// TeamsJoin is what a client joins a Teams meeting with: meetingLink for
// TeamsMeetingLinkLocator, meetingId and passcode for TeamsMeetingIdLocator.
type TeamsJoin struct {
	MeetingLink string `json:"meetingLink"`
	MeetingID   string `json:"meetingId,omitempty"`
	Passcode    string `json:"passcode,omitempty"`
}

func (m teamsMeeting) join() *TeamsJoin {
	if m.TeamsJoinURL == "" {
		return nil
	}
	return &TeamsJoin{MeetingLink: m.TeamsJoinURL, MeetingID: m.TeamsJoinMeetingID, Passcode: m.TeamsPasscode}
}

// teamsView fills a call's answer with its meeting's times and join details.
func (m teamsMeeting) teamsView(out *Call) {
	out.Teams = m.join()
	if !m.StartsAt.IsZero() {
		out.StartsAt, out.EndsAt = &m.StartsAt, &m.EndsAt
	}
}

// pushData adds the join details to an invitation's data.
func (m teamsMeeting) pushData(data map[string]string) {
	if m.TeamsJoinURL == "" {
		return
	}
	data["meetingLink"], data["meetingId"], data["passcode"] = m.TeamsJoinURL, m.TeamsJoinMeetingID, m.TeamsPasscode
	data["startsAt"], data["endsAt"] = m.StartsAt.Format(time.RFC3339), m.EndsAt.Format(time.RFC3339)
}

func (s *Service) teamsNotConfigured() *httpapi.Problem {
	return httpapi.NotConfigured("Teams meetings (Microsoft Graph)",
		"TEAMS_ORGANIZER_ID and GRAPH_TENANT_ID (with GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET, or the managed identity)")
}

// createTeams is Create for kind teams: the call row first, then the
// meeting (createOrGet keyed by the call id, so Graph retries never make
// two), its lobby bypass, then the invitations with the join details.
func (s *Service) createTeams(ctx context.Context, creator string, service bool, req CreateRequest) (Call, error) {
	if s.teams == nil {
		return Call{}, s.teamsNotConfigured()
	}
	if len(req.PhoneNumbers) > 0 {
		return Call{}, fieldProblem("phoneNumbers", "only dial calls take phone numbers")
	}
	if req.ValidUntil != nil {
		return Call{}, fieldProblem("validUntil", "a Teams meeting takes startsAt and endsAt")
	}
	if httpapi.TooLong(req.Subject, 200) {
		return Call{}, fieldProblem("subject", "at most 200 characters")
	}
	now := s.now().UTC()
	startsAt, endsAt, err := meetingTimes(now, req.StartsAt, req.EndsAt)
	if err != nil {
		return Call{}, err
	}
	invitees, err := s.resolve(ctx, creator, service, req.SpaceID, req.Invitees)
	if err != nil {
		return Call{}, err
	}
	id := uuid.NewString()
	c := call{Kind: KindTeams, Creator: creator, Subject: req.Subject, SpaceID: req.SpaceID, CreatedAt: now, State: "created",
		teamsMeeting: teamsMeeting{TeamsOrganizer: s.teams.Organizer, StartsAt: startsAt, EndsAt: endsAt}}
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
	if err := s.calls.Batch(ctx, id, ops...); err != nil {
		return Call{}, store.ProblemFor(err)
	}
	m, err := s.createMeeting(ctx, id, c)
	if err != nil {
		s.endCall(ctx, id, "create-meeting-failed")
		return Call{}, err
	}
	c.TeamsMeetingID, c.TeamsJoinURL = m.ID, m.JoinWebURL
	if js := m.JoinMeetingIDSettings; js != nil {
		c.TeamsJoinMeetingID, c.TeamsPasscode = js.JoinMeetingID, js.Passcode
	}
	if err := s.saveMeeting(ctx, id, c.teamsMeeting); err != nil {
		return Call{}, err
	}
	if req.SpaceID != "" {
		if _, err := s.teams.Spaces.SetMeeting(ctx, creator, req.SpaceID, c.spaceMeeting(id)); err != nil {
			return Call{}, err
		}
	}
	s.pub.Publish(ctx, publish.CallCreated, "calls/"+id, map[string]any{"callId": id, "kind": c.Kind, "creator": creator, "spaceId": c.SpaceID, "teamsMeetingId": c.TeamsMeetingID})
	s.invite(ctx, id, c, creator, invitees)
	return s.Get(ctx, creator, id)
}

// meetingTimes checks startsAt/endsAt: start defaults to now, end to an
// hour after start; the end must follow the start, not be past, and be at
// most maxMeetingAhead away.
func meetingTimes(now time.Time, start, end *time.Time) (time.Time, time.Time, error) {
	s := now.Truncate(time.Second)
	if start != nil {
		s = start.UTC()
	}
	e := s.Add(time.Hour)
	if end != nil {
		e = end.UTC()
	}
	switch {
	case !e.After(s):
		return s, e, fieldProblem("endsAt", "must be after startsAt")
	case !e.After(now):
		return s, e, fieldProblem("endsAt", "must be in the future")
	case e.After(now.Add(maxMeetingAhead)):
		return s, e, fieldProblem("endsAt", "must be at most 366 days ahead")
	}
	return s, e, nil
}

// createMeeting makes (or finds, on a retry) the meeting for call id and
// sets who bypasses its lobby. A meeting whose lobby cannot be set is
// deleted again: ACS users would wait there for an admit.
func (s *Service) createMeeting(ctx context.Context, id string, c call) (graph.OnlineMeeting, error) {
	m, _, err := s.teams.Graph.CreateOrGetMeeting(ctx, c.TeamsOrganizer, graph.CreateOrGetRequest{
		ExternalID: id, Subject: c.Subject, StartDateTime: c.StartsAt, EndDateTime: c.EndsAt,
	})
	if err != nil {
		return m, s.graphError(err, "create the meeting")
	}
	if m.LobbyBypassSettings == nil || m.LobbyBypassSettings.Scope != s.teams.LobbyBypass {
		up, err := s.teams.Graph.UpdateMeeting(ctx, c.TeamsOrganizer, m.ID, graph.MeetingPatch{LobbyBypassSettings: &graph.LobbyBypassSettings{Scope: s.teams.LobbyBypass}})
		if err != nil {
			if derr := s.teams.Graph.DeleteMeeting(ctx, c.TeamsOrganizer, m.ID); derr != nil && !graph.IsNotFound(derr) {
				httpapi.Logger(ctx).Warn("could not delete a meeting whose lobby could not be set", "callId", id, "meetingId", m.ID, "err", derr)
			}
			return m, s.graphError(err, "set the meeting's lobby bypass")
		}
		if up.JoinWebURL != "" {
			m = up
		}
	}
	return m, nil
}

// saveMeeting records the meeting on the call row (ETag-conditional: a
// roster event may change the row meanwhile).
func (s *Service) saveMeeting(ctx context.Context, id string, m teamsMeeting) error {
	for range 5 {
		var c call
		etag, err := s.calls.Get(ctx, id, callRow, &c)
		if err != nil {
			return store.ProblemFor(err)
		}
		c.teamsMeeting = m
		_, err = s.calls.Replace(ctx, id, callRow, c, etag)
		if !errors.Is(err, store.ErrPreconditionFailed) {
			return store.ProblemFor(err)
		}
	}
	return httpapi.NewProblem(http.StatusConflict, httpapi.CodeConflict, "the call changed while its meeting was recorded; retry")
}

func (c call) spaceMeeting(id string) spaces.Meeting {
	return spaces.Meeting{CallID: id, Subject: c.Subject, MeetingLink: c.TeamsJoinURL, MeetingID: c.TeamsJoinMeetingID,
		Passcode: c.TeamsPasscode, StartsAt: c.StartsAt, EndsAt: c.EndsAt}
}

// endMeeting deletes an ending call's meeting in Graph (already gone is
// fine) and takes it out of its space.
func (s *Service) endMeeting(ctx context.Context, id string, c call) error {
	if s.teams == nil {
		return s.teamsNotConfigured()
	}
	if err := s.teams.Graph.DeleteMeeting(ctx, c.TeamsOrganizer, c.TeamsMeetingID); err != nil && !graph.IsNotFound(err) {
		return s.graphError(err, "delete the meeting")
	}
	for _, sp := range []string{c.SpaceID, c.TeamsSharedIn} {
		if sp == "" {
			continue
		}
		if err := s.teams.Spaces.ClearMeeting(ctx, sp, id); err != nil {
			return err
		}
	}
	return nil
}

// eraseMeeting is endMeeting for an erased creator's call. With Teams no
// longer configured the meeting cannot be reached: erase goes on without it
// (the meeting expires 60 days after its end) rather than never finishing.
func (s *Service) eraseMeeting(ctx context.Context, id string, c call) error {
	if s.teams == nil {
		httpapi.Logger(ctx).Warn("erase leaves a Teams meeting in place: Teams meetings are not configured", "callId", id, "meetingId", c.TeamsMeetingID)
		return nil
	}
	return s.endMeeting(ctx, id, c)
}

// ShareMeeting is PUT /api/spaces/{id}/meeting: the creator of a Teams
// call shares its meeting in a space they are an accepted member of.
func (s *Service) ShareMeeting(ctx context.Context, actor, spaceID, callID string) (spaces.Space, error) {
	if s.teams == nil {
		return spaces.Space{}, s.teamsNotConfigured()
	}
	c, _, invs, _, err := s.load(ctx, callID)
	if err != nil {
		return spaces.Space{}, err
	}
	if actor != c.Creator {
		if _, invited := invs[actor]; !invited {
			return spaces.Space{}, callNotFound(callID)
		}
		return spaces.Space{}, httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the meeting's creator may share it in a space")
	}
	if c.Kind != KindTeams || c.TeamsJoinURL == "" {
		return spaces.Space{}, fieldProblem("callId", "must be a Teams call (kind teams)")
	}
	if c.State == "ended" {
		return spaces.Space{}, httpapi.NewProblem(http.StatusConflict, "call-ended", "the call has ended")
	}
	sp, err := s.teams.Spaces.SetMeeting(ctx, actor, spaceID, c.spaceMeeting(callID))
	if err != nil || spaceID == c.SpaceID {
		return sp, err
	}
	c.TeamsSharedIn = spaceID
	return sp, s.saveMeeting(ctx, callID, c.teamsMeeting)
}

// graphError maps a Graph failure to a problem the caller (or the
// operator) can act on.
func (s *Service) graphError(err error, doing string) error {
	var af *azidentity.AuthenticationFailedError
	ge := &graph.Error{}
	isGraph := errors.As(err, &ge)
	switch {
	case errors.As(err, &af):
		return httpapi.NewProblem(http.StatusBadGateway, "graph-credential-rejected",
			"Entra ID refused Switchboard's Graph credential; check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET (or the managed identity)").WithCause(err)
	case graph.IsAccessPolicyMissing(err):
		app := s.teams.AppID
		if app == "" {
			app = "<the app's client id>"
		}
		return httpapi.Problemf(http.StatusBadGateway, "graph-access-policy-missing",
			"Microsoft Graph refused to %s on behalf of the organizer %s: a Teams administrator must grant the app an application access policy "+
				"(New-CsApplicationAccessPolicy -Identity Switchboard-policy -AppIds \"%s\", then Grant-CsApplicationAccessPolicy -PolicyName Switchboard-policy -Identity \"%s\"; "+
				"changes take up to 30 minutes). Graph said: %s", doing, s.teams.Organizer, app, s.teams.Organizer, ge.Message).WithCause(err)
	case isGraph && ge.StatusCode == http.StatusForbidden:
		return httpapi.Problemf(http.StatusBadGateway, "graph-permission-missing",
			"Microsoft Graph refused to %s: the app needs the application permission OnlineMeetings.ReadWrite.All with admin consent. Graph said: %s", doing, ge.Message).WithCause(err)
	case isGraph && ge.StatusCode == http.StatusUnauthorized:
		return httpapi.Problemf(http.StatusBadGateway, "graph-credential-rejected",
			"Microsoft Graph refused Switchboard's token: %s", ge.Message).WithCause(err)
	case isGraph && ge.StatusCode == http.StatusNotFound:
		return httpapi.Problemf(http.StatusBadGateway, "graph-organizer-not-found",
			"Microsoft Graph could not %s for the organizer TEAMS_ORGANIZER_ID=%s (it must be a user of the tenant with a Teams licence). Graph said: %s", doing, s.teams.Organizer, ge.Message).WithCause(err)
	case isGraph && ge.StatusCode == http.StatusTooManyRequests:
		p := httpapi.Problemf(http.StatusServiceUnavailable, "graph-throttled",
			"Microsoft Graph is throttling meeting requests (an organizer may create 2,000 meetings a month); retry after the delay in Retry-After. Graph said: %s", ge.Message).WithCause(err)
		p.RetryAfter = acs.WholeSeconds(ge.RetryAfter)
		return p
	case isGraph && ge.StatusCode >= 500, errors.Is(err, context.DeadlineExceeded):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable, "Microsoft Graph is unavailable; retry shortly").WithCause(err)
		if ge != nil {
			p.RetryAfter = acs.WholeSeconds(ge.RetryAfter)
		} else {
			p.RetryAfter = 1
		}
		return p
	case errors.As(err, &ge):
		return httpapi.Problemf(http.StatusBadGateway, httpapi.CodeUpstreamFailed, "Microsoft Graph refused to %s: %s %s", doing, ge.Code, ge.Message).WithCause(err)
	}
	return httpapi.NewProblem(http.StatusBadGateway, httpapi.CodeUpstreamFailed, fmt.Sprintf("could not reach Microsoft Graph to %s", doing)).WithCause(err)
}
