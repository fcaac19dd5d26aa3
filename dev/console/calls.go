package console

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Call is one call of the calls table: its row, invitees and roster.
type Call struct {
	ID           string           `json:"id"`
	Kind         string           `json:"kind"`
	State        string           `json:"state"`
	Creator      string           `json:"creator"`
	Subject      string           `json:"subject,omitempty"`
	GroupCallID  string           `json:"groupCallId,omitempty"`
	RoomID       string           `json:"roomId,omitempty"`
	CreatedAt    string           `json:"createdAt,omitempty"`
	Invitees     []map[string]any `json:"invitees"`
	Participants []map[string]any `json:"participants"`
	// Guests are the phone numbers invited by SMS (the guests table): the
	// text's state and, once they redeemed the code, their ACS id.
	Guests []Guest `json:"guests"`
	// People are whom events can be played for: the creator, the invitees
	// and whoever is on the roster (raw ACS ids).
	People []Person `json:"people"`
	// Playable: ACS call events name a group or room id the handler knows.
	Playable bool           `json:"playable"`
	Row      map[string]any `json:"row"`
}

// Guest is an SMS guest of a call.
type Guest struct {
	Phone       string `json:"phone"`
	DisplayName string `json:"displayName,omitempty"`
	ACSUserID   string `json:"acsUserId,omitempty"`
	InvitedBy   string `json:"invitedBy,omitempty"`
	SMS         string `json:"sms,omitempty"`
	SMSReason   string `json:"smsReason,omitempty"`
}

// Person is an ACS identity and the app user it is.
type Person struct {
	RawID       string `json:"rawId"`
	UserID      string `json:"userId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// CallsView is the Calls tab.
type CallsView struct {
	Calls []Call `json:"calls"`
	Users []User `json:"users"`
}

func (s *Server) calls(r *http.Request) (any, error) {
	ctx := r.Context()
	byACS, byID, err := s.userDirectory(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.scan(ctx, "calls")
	if err != nil {
		return nil, err
	}
	calls := map[string]*Call{}
	get := func(id string) *Call {
		if c := calls[id]; c != nil {
			return c
		}
		c := &Call{ID: id, Invitees: []map[string]any{}, Participants: []map[string]any{}, Guests: []Guest{}, People: []Person{}}
		calls[id] = c
		return c
	}
	for _, row := range rows {
		c := get(row.PK)
		switch {
		case row.RK == "call":
			c.Kind, c.State, c.Creator, c.Subject = row.str("kind"), row.str("state"), row.str("creator"), row.str("subject")
			c.GroupCallID, c.RoomID, c.CreatedAt = row.str("groupCallId"), row.str("roomId"), row.str("createdAt")
			delete(row.Props, "secretHash")
			c.Row = row.Props
		case strings.HasPrefix(row.RK, "i:"):
			m := map[string]any{"userId": strings.TrimPrefix(row.RK, "i:")}
			for k, v := range row.Props {
				m[k] = v
			}
			c.Invitees = append(c.Invitees, m)
		case strings.HasPrefix(row.RK, "p:"):
			m := map[string]any{"rawId": strings.TrimPrefix(row.RK, "p:")}
			for k, v := range row.Props {
				m[k] = v
			}
			c.Participants = append(c.Participants, m)
		}
	}
	guests, err := s.scan(ctx, "guests")
	if err != nil {
		return nil, err
	}
	for _, row := range guests {
		id, ok := strings.CutPrefix(row.PK, "call:")
		if !ok || calls[id] == nil {
			continue
		}
		calls[id].Guests = append(calls[id].Guests, Guest{Phone: row.RK, DisplayName: row.str("displayName"),
			ACSUserID: row.str("acsUserId"), InvitedBy: row.str("invitedBy"), SMS: row.str("sms"), SMSReason: row.str("smsReason")})
	}
	view := CallsView{Calls: []Call{}, Users: []User{}}
	for _, c := range calls {
		if c.Row == nil {
			continue // a call being created or erased
		}
		c.Playable = c.GroupCallID != "" || c.RoomID != ""
		seen := map[string]bool{}
		add := func(raw, userID, name string) {
			if raw == "" || seen[raw] {
				return
			}
			seen[raw] = true
			if u, ok := byACS[raw]; ok {
				userID, name = u.UserID, u.DisplayName
			}
			c.People = append(c.People, Person{RawID: raw, UserID: userID, DisplayName: name})
		}
		add(byID[c.Creator].ACSUserID, c.Creator, "")
		for _, inv := range c.Invitees {
			raw, _ := inv["acsUserId"].(string)
			uid, _ := inv["userId"].(string)
			add(raw, uid, "")
		}
		for _, g := range c.Guests {
			add(g.ACSUserID, "", cmp.Or(g.DisplayName, g.Phone)+" (guest)")
		}
		for _, p := range c.Participants {
			raw, _ := p["rawId"].(string)
			uid, _ := p["userId"].(string)
			name, _ := p["displayName"].(string)
			add(raw, uid, name)
		}
		sort.Slice(c.Participants, func(i, j int) bool {
			a, _ := c.Participants[i]["rawId"].(string)
			b, _ := c.Participants[j]["rawId"].(string)
			return a < b
		})
		view.Calls = append(view.Calls, *c)
	}
	sort.Slice(view.Calls, func(i, j int) bool { return view.Calls[i].CreatedAt > view.Calls[j].CreatedAt })
	for _, u := range byID {
		view.Users = append(view.Users, u)
	}
	sort.Slice(view.Users, func(i, j int) bool { return view.Users[i].UserID < view.Users[j].UserID })
	return view, nil
}

// CreateCallRequest is the body of POST /console/api/calls: the console
// creates the call as user As would, through POST /api/calls.
type CreateCallRequest struct {
	As       string   `json:"as"`
	Kind     string   `json:"kind"`
	Invitees []string `json:"invitees"`
	Subject  string   `json:"subject"`
}

// HandlerAnswer is what the function app answered a request the console sent.
type HandlerAnswer struct {
	Request string          `json:"request"`
	Status  int             `json:"status"`
	Body    json.RawMessage `json:"body"`
}

func (s *Server) createCall(r *http.Request) (any, error) {
	var req CreateCallRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.As == "" {
		return nil, badRequest("as (the app user who creates the call) is required")
	}
	if req.Kind == "" {
		req.Kind = "group"
	}
	if req.Invitees == nil {
		req.Invitees = []string{}
	}
	_, byID, err := s.userDirectory(r.Context())
	if err != nil {
		return nil, err
	}
	tok, err := s.token(req.As, byID[req.As].DisplayName, "")
	if err != nil {
		return nil, err
	}
	body := map[string]any{"kind": req.Kind, "invitees": req.Invitees}
	if req.Subject != "" {
		body["subject"] = req.Subject
	}
	b, _ := json.Marshal(body)
	status, answer, err := s.callHandler(r.Context(), "POST", "/api/calls", tok, string(b))
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "POST /api/calls: " + err.Error()}
	}
	return HandlerAnswer{Request: "POST /api/calls " + string(b), Status: status, Body: answer}, nil
}

// EventRequest is the body of POST /console/api/calls/{id}/events: ACS
// reports something about the call through Event Grid.
type EventRequest struct {
	// Type is CallStarted, CallParticipantAdded, CallParticipantRemoved or CallEnded.
	Type string `json:"type"`
	// Participant is the raw ACS id who joined or left.
	Participant string `json:"participant"`
	DisplayName string `json:"displayName"`
}

var eventTypes = map[string]bool{"CallStarted": true, "CallParticipantAdded": true, "CallParticipantRemoved": true, "CallEnded": true}

// EventAnswer is the event delivered and how the host answered.
type EventAnswer struct {
	Event     json.RawMessage `json:"event"`
	Delivered bool            `json:"delivered"`
	Error     string          `json:"error,omitempty"`
}

func (s *Server) playEvent(r *http.Request) (any, error) {
	var req EventRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if !eventTypes[req.Type] {
		return nil, badRequest("type must be CallStarted, CallParticipantAdded, CallParticipantRemoved or CallEnded")
	}
	participantEvent := strings.HasPrefix(req.Type, "CallParticipant")
	if participantEvent && !strings.HasPrefix(req.Participant, "8:") && !strings.HasPrefix(req.Participant, "4:") {
		return nil, badRequest("participant must be a raw ACS id (8:...) or phone (4:+...)")
	}
	view, err := s.calls(r)
	if err != nil {
		return nil, err
	}
	var call *Call
	for _, c := range view.(CallsView).Calls {
		if c.ID == r.PathValue("id") {
			call = &c
		}
	}
	if call == nil {
		return nil, &apiError{http.StatusNotFound, "no call " + r.PathValue("id")}
	}
	if !call.Playable {
		return nil, badRequest("a %s call has no ACS group or room id to report events about", call.Kind)
	}
	ev := CallEvent(req.Type, call.ID, call.GroupCallID, call.RoomID, participantIf(participantEvent, req.Participant), req.DisplayName, time.Now())
	answer := EventAnswer{Event: ev, Delivered: true}
	if err := s.st.Host.DeliverEventGrid(r.Context(), "callevents", ev); err != nil {
		answer.Delivered, answer.Error = false, err.Error()
	}
	return answer, nil
}

func participantIf(ok bool, p string) string {
	if ok {
		return p
	}
	return ""
}

// CallEvent is an ACS call event batch for a group or room call, as Event
// Grid delivers it (the shapes of the Event Grid schema's examples).
func CallEvent(typ, callID, groupCallID, roomID, participant, displayName string, at time.Time) []byte {
	data := map[string]any{"serverCallId": "console-" + callID, "correlationId": uuid.NewString()}
	if roomID != "" {
		data["isRoomsCall"] = true
		data["room"] = map[string]any{"id": roomID}
	} else {
		data["group"] = map[string]any{"id": groupCallID}
	}
	if typ == "CallStarted" {
		data["startedBy"] = map[string]any{"communicationIdentifier": identifier(DefaultCaller)}
	}
	if participant != "" {
		data["user"] = map[string]any{"communicationIdentifier": identifier(participant), "role": "Attendee"}
		data["participantId"] = uuid.NewString()
		if displayName != "" {
			data["displayName"] = displayName
		}
	}
	b, _ := json.Marshal([]map[string]any{{
		"id": uuid.NewString(), "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dev/providers/Microsoft.Communication/communicationServices/switchboard-dev",
		"subject": fmt.Sprintf("call/%s/startedBy/%s", "console-"+callID, DefaultCaller), "eventType": "Microsoft.Communication." + typ,
		"eventTime": at.UTC().Format(time.RFC3339Nano), "dataVersion": "1.0", "metadataVersion": "1", "data": data,
	}})
	return b
}

func identifier(raw string) map[string]any {
	if phone, ok := strings.CutPrefix(raw, "4:"); ok {
		return map[string]any{"rawId": raw, "phoneNumber": map[string]any{"value": phone}}
	}
	return map[string]any{"rawId": raw, "communicationUser": map[string]any{"id": raw}}
}
