package acsemu

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// DefaultCallHoldTime is how long a call the emulator plays out stays up
// before every target hangs up, unless Options.CallHoldTime says otherwise.
const DefaultCallHoldTime = 2 * time.Second

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// identifierJSON is ACS's CommunicationIdentifierModel.
type identifierJSON struct {
	Kind               string          `json:"kind,omitempty"`
	RawID              string          `json:"rawId,omitempty"`
	CommunicationUser  *userJSON       `json:"communicationUser,omitempty"`
	PhoneNumber        *phoneJSON      `json:"phoneNumber,omitempty"`
	MicrosoftTeamsUser json.RawMessage `json:"microsoftTeamsUser,omitempty"`
	MicrosoftTeamsApp  json.RawMessage `json:"microsoftTeamsApp,omitempty"`
	TeamsExtensionUser json.RawMessage `json:"teamsExtensionUser,omitempty"`
}

type userJSON struct {
	ID string `json:"id"`
}

type phoneJSON struct {
	Value       string `json:"value"`
	IsAnonymous *bool  `json:"isAnonymous,omitempty"`
	AssertedID  string `json:"assertedId,omitempty"`
}

func userIdentifier(id string) identifierJSON {
	return identifierJSON{Kind: "communicationUser", RawID: id, CommunicationUser: &userJSON{ID: id}}
}

func phoneIdentifier(v string) identifierJSON {
	return identifierJSON{Kind: "phoneNumber", RawID: "4:" + v, PhoneNumber: &phoneJSON{Value: v}}
}

// canonical checks an identifier's parts against each other and returns it
// in the full form ACS answers with. Only ACS users and phone numbers are served.
func canonical(id identifierJSON) (identifierJSON, error) {
	switch {
	case id.CommunicationUser != nil:
		if !strings.HasPrefix(id.CommunicationUser.ID, "8:") {
			return id, fmt.Errorf("communicationUser.id %q is not an ACS user id", id.CommunicationUser.ID)
		}
		if (id.Kind != "" && !strings.EqualFold(id.Kind, "communicationUser")) || (id.RawID != "" && id.RawID != id.CommunicationUser.ID) {
			return id, fmt.Errorf("identifier %q: kind or rawId contradicts communicationUser", id.CommunicationUser.ID)
		}
		return userIdentifier(id.CommunicationUser.ID), nil
	case id.PhoneNumber != nil:
		if !e164.MatchString(id.PhoneNumber.Value) {
			return id, fmt.Errorf("phone number %q is not in E.164 form", id.PhoneNumber.Value)
		}
		if (id.Kind != "" && !strings.EqualFold(id.Kind, "phoneNumber")) || (id.RawID != "" && id.RawID != "4:"+id.PhoneNumber.Value) {
			return id, fmt.Errorf("identifier %q: kind or rawId contradicts phoneNumber", id.PhoneNumber.Value)
		}
		return phoneIdentifier(id.PhoneNumber.Value), nil
	case strings.HasPrefix(id.RawID, "8:"):
		return canonical(identifierJSON{Kind: id.Kind, CommunicationUser: &userJSON{ID: id.RawID}})
	case strings.HasPrefix(id.RawID, "4:"):
		return canonical(identifierJSON{Kind: id.Kind, PhoneNumber: &phoneJSON{Value: strings.TrimPrefix(id.RawID, "4:")}})
	}
	return id, errors.New("the identifier is neither a communication user nor a phone number (the only kinds this emulator serves)")
}

// participantJSON is ACS's CallParticipant.
type participantJSON struct {
	Identifier identifierJSON `json:"identifier"`
	IsMuted    bool           `json:"isMuted"`
	IsOnHold   bool           `json:"isOnHold"`
}

// CallState is a copy of one call connection as the emulator holds it, for tests.
type CallState struct {
	ID               string
	ServerCallID     string
	CorrelationID    string
	CallbackURI      string
	OperationContext string
	// State is connecting, connected or disconnected.
	State string
	// Source is the raw id of the caller (the application for calls it created).
	Source  string
	Targets []string
	// Participants are the raw ids in the call now.
	Participants []string
	// CognitiveServicesEndpoint is the callIntelligenceOptions the call was answered with.
	CognitiveServicesEndpoint string
	// Media is every play and recognize asked for, in order (media.go).
	Media []MediaOp
	// Recognizing is the operationContext of the recognize waiting for keys, if any.
	Recognizing string
	// Transfers are the raw ids the call was transferred to.
	Transfers []string
	// Locator is the call a connect joined ("groupCall:<id>", "roomCall:<id>", "serverCall:<id>").
	Locator string
}

type sentEvent struct {
	url   string
	event cloudEvent
}

type call struct {
	CallState
	source         identifierJSON
	targets        []identifierJSON
	sourceCallerID *phoneJSON
	participants   []identifierJSON
	issuer         string
	seq            int

	pending    []sentEvent
	sent       []sentEvent
	deliveries []Delivery
	wake       chan struct{}
	stop       chan struct{}
	ended      bool

	answered  bool
	recognize *recognizeOp
}

func (c *call) copyState() CallState {
	s := c.CallState
	s.Targets = append([]string(nil), c.Targets...)
	s.Media = append([]MediaOp(nil), c.Media...)
	s.Transfers = append([]string(nil), c.Transfers...)
	if c.recognize != nil {
		s.Recognizing = c.recognize.opCtx
	}
	s.Participants = make([]string, len(c.participants))
	for i, p := range c.participants {
		s.Participants[i] = p.RawID
	}
	return s
}

func (c *call) wire() map[string]any {
	out := map[string]any{
		"callConnectionId":    c.ID,
		"serverCallId":        c.ServerCallID,
		"correlationId":       c.CorrelationID,
		"callConnectionState": c.State,
		"callbackUri":         c.CallbackURI,
		"targets":             c.targets,
		"source":              c.source,
	}
	if c.sourceCallerID != nil {
		out["sourceCallerIdNumber"] = c.sourceCallerID
	}
	return out
}

func (c *call) participantList() []participantJSON {
	out := make([]participantJSON, len(c.participants))
	for i, p := range c.participants {
		out[i] = participantJSON{Identifier: p}
	}
	return out
}

func (c *call) indexOf(raw string) int {
	for i, p := range c.participants {
		if p.RawID == raw {
			return i
		}
	}
	return -1
}

// IncomingCall is a call ringing the application, as the IncomingCall Event
// Grid event describes it; answer it with its IncomingCallContext.
type IncomingCall struct {
	From, To            string
	IncomingCallContext string
	ServerCallID        string
	CorrelationID       string
}

func (e *Emulator) routeCallAutomation() {
	e.api.HandleFunc("POST /calling/callConnections", e.operation("CreateCall", e.createCall))
	e.api.HandleFunc("POST /calling/callConnections:answer", e.operation("AnswerCall", e.answerCall))
	e.api.HandleFunc("GET /calling/callConnections/{id}", e.operation("GetCall", e.onCall(e.getCall)))
	e.api.HandleFunc("DELETE /calling/callConnections/{id}", e.operation("HangUpCall", e.onCall(e.hangUp)))
	// Go patterns cannot hold a wildcard and a literal in one segment, so `{id}:terminate` is split here.
	actions := e.mediaActions()
	actions[":terminate"] = callAction{"TerminateCall", e.terminate}
	e.api.HandleFunc("POST /calling/callConnections/{idAction}", func(w http.ResponseWriter, r *http.Request) {
		idAction := r.PathValue("idAction")
		if i := strings.LastIndexByte(idAction, ':'); i > 0 {
			if a, ok := actions[idAction[i:]]; ok {
				r.SetPathValue("id", idAction[:i])
				e.operation(a.name, e.onCall(a.handle))(w, r)
				return
			}
		}
		writeError(w, http.StatusNotFound, "NotFound", "no ACS operation matches "+r.Method+" "+r.URL.Path)
	})
	e.api.HandleFunc("GET /calling/callConnections/{id}/participants", e.operation("ListCallParticipants", e.onCall(e.listCallParticipants)))
	e.api.HandleFunc("POST /calling/callConnections/{id}/participants:add", e.operation("AddCallParticipant", e.onCall(e.addCallParticipant)))
	e.api.HandleFunc("POST /calling/callConnections/{id}/participants:remove", e.operation("RemoveCallParticipant", e.onCall(e.removeCallParticipant)))
	e.control.HandleFunc("GET /emulator/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Calls())
	})
	e.control.HandleFunc("GET /emulator/calls/{id}/callbacks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Callbacks(r.PathValue("id")))
	})
}

// Calls returns a copy of every call connection, ended ones included.
func (e *Emulator) Calls() []CallState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CallState, 0, len(e.calls))
	for _, id := range e.callOrder {
		out = append(out, e.calls[id].copyState())
	}
	return out
}

// Call returns a copy of one call connection.
func (e *Emulator) Call(id string) (CallState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.calls[id]
	if !ok {
		return CallState{}, false
	}
	return c.copyState(), true
}

// SetCallHoldTime sets how long calls created from now on stay up before
// the targets hang up; a negative d keeps them up until the API ends them.
func (e *Emulator) SetCallHoldTime(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.holdTime = d
}

// DisconnectCall ends a call from the far side now: everyone leaves and the
// application gets ParticipantsUpdated and CallDisconnected.
func (e *Emulator) DisconnectCall(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.calls[id]
	if !ok || c.ended {
		return fmt.Errorf("acsemu: no live call %s", id)
	}
	e.endCall(c, true)
	return nil
}

// NewIncomingCall rings the application with a call from one ACS user or
// phone number to another (raw ids); answer it with AnswerCall.
func (e *Emulator) NewIncomingCall(from, to string) (IncomingCall, error) {
	f, err := canonical(identifierJSON{RawID: from})
	if err != nil {
		return IncomingCall{}, fmt.Errorf("acsemu: caller: %w", err)
	}
	t, err := canonical(identifierJSON{RawID: to})
	if err != nil {
		return IncomingCall{}, fmt.Errorf("acsemu: callee: %w", err)
	}
	in := IncomingCall{
		From: f.RawID, To: t.RawID,
		IncomingCallContext: newIncomingCallContext(),
		ServerCallID:        newServerCallID(),
		CorrelationID:       uuid.NewString(),
	}
	e.mu.Lock()
	e.incoming[in.IncomingCallContext] = in
	e.mu.Unlock()
	return in, nil
}

func (e *Emulator) createCall(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Targets                []identifierJSON `json:"targets"`
		SourceCallerIDNumber   *phoneJSON       `json:"sourceCallerIdNumber"`
		SourceDisplayName      string           `json:"sourceDisplayName"`
		Source                 *userJSON        `json:"source"`
		OperationContext       string           `json:"operationContext"`
		CallbackURI            string           `json:"callbackUri"`
		CallIntelligenceOption json.RawMessage  `json:"callIntelligenceOptions"`
		MediaStreamingOptions  json.RawMessage  `json:"mediaStreamingOptions"`
		TranscriptionOptions   json.RawMessage  `json:"transcriptionOptions"`
		TeamsAppSource         json.RawMessage  `json:"teamsAppSource"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	repeat, ok := repeatability(w, r, e.opts.Now())
	if !ok || !validCallbackURI(w, req.CallbackURI) {
		return
	}
	if len(req.Targets) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "targets is required and must not be empty")
		return
	}
	if req.SourceCallerIDNumber != nil && !e164.MatchString(req.SourceCallerIDNumber.Value) {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("sourceCallerIdNumber %q is not in E.164 form", req.SourceCallerIDNumber.Value))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh, ok := e.trackRepeat(w, r, "createCall", repeat, req, e.opts.Now())
	if !ok {
		return
	}
	if id, ok := e.callRepeats[repeat]; ok && repeat != "" && !fresh {
		writeJSON(w, http.StatusCreated, e.calls[id].wire())
		return
	}
	targets := make([]identifierJSON, 0, len(req.Targets))
	for _, t := range req.Targets {
		if !e.validCallTarget(w, &t, req.SourceCallerIDNumber) {
			return
		}
		targets = append(targets, t)
	}
	src := userIdentifier(e.appID)
	if req.Source != nil {
		src = userIdentifier(req.Source.ID)
	}
	c := e.newCall(r, src, targets, req.CallbackURI, req.OperationContext)
	c.sourceCallerID = req.SourceCallerIDNumber
	c.participants = append([]identifierJSON{src}, targets...)
	if repeat != "" {
		e.callRepeats[repeat] = c.ID
	}
	writeJSON(w, http.StatusCreated, c.wire())
}

func (e *Emulator) answerCall(w http.ResponseWriter, r *http.Request) {
	var req struct {
		IncomingCallContext    string          `json:"incomingCallContext"`
		CallbackURI            string          `json:"callbackUri"`
		OperationContext       string          `json:"operationContext"`
		AnsweredBy             *userJSON       `json:"answeredBy"`
		CallIntelligenceOption json.RawMessage `json:"callIntelligenceOptions"`
		MediaStreamingOptions  json.RawMessage `json:"mediaStreamingOptions"`
		TranscriptionOptions   json.RawMessage `json:"transcriptionOptions"`
		CustomCallingContext   json.RawMessage `json:"customCallingContext"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	repeat, ok := repeatability(w, r, e.opts.Now())
	if !ok || !validCallbackURI(w, req.CallbackURI) {
		return
	}
	cognitive, ok := cognitiveEndpoint(w, req.CallIntelligenceOption)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A resend with the first answer's Repeatability-Request-ID gets the
	// first answer, if it is the same request (else 400).
	fresh, ok := e.trackRepeat(w, r, "answer", repeat, req, e.opts.Now())
	if !ok {
		return
	}
	if id, ok := e.callRepeats["answer:"+repeat]; ok && repeat != "" && !fresh {
		writeJSON(w, http.StatusOK, e.calls[id].wire())
		return
	}
	in, ok := e.incoming[req.IncomingCallContext]
	if !ok {
		writeError(w, http.StatusBadRequest, "BadRequest", "incomingCallContext does not name a ringing call (it was answered already, or never rang)")
		return
	}
	delete(e.incoming, req.IncomingCallContext)
	from, _ := canonical(identifierJSON{RawID: in.From})
	to, _ := canonical(identifierJSON{RawID: in.To})
	// The caller stays on an answered call until the API or the control
	// routes (hang up, transfer) end it.
	c := e.newCallHeld(r, from, []identifierJSON{to}, req.CallbackURI, req.OperationContext, -1)
	c.ServerCallID, c.CorrelationID = in.ServerCallID, in.CorrelationID
	c.participants = []identifierJSON{from, to}
	c.answered, c.CognitiveServicesEndpoint = true, cognitive
	if repeat != "" {
		e.callRepeats["answer:"+repeat] = c.ID
	}
	writeJSON(w, http.StatusOK, c.wire())
}

// newCall registers a call and starts playing it out; the caller holds e.mu.
func (e *Emulator) newCall(r *http.Request, src identifierJSON, targets []identifierJSON, callbackURI, opCtx string) *call {
	return e.newCallHeld(r, src, targets, callbackURI, opCtx, e.holdTime)
}

// newCallHeld is newCall with its own hold time; the caller holds e.mu.
func (e *Emulator) newCallHeld(r *http.Request, src identifierJSON, targets []identifierJSON, callbackURI, opCtx string, hold time.Duration) *call {
	c := &call{
		CallState: CallState{
			ID: uuid.NewString(), ServerCallID: newServerCallID(), CorrelationID: uuid.NewString(),
			CallbackURI: callbackURI, OperationContext: opCtx, State: "connecting", Source: src.RawID,
		},
		source: src, targets: targets, issuer: e.baseURL(r),
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	for _, t := range targets {
		c.Targets = append(c.Targets, t.RawID)
	}
	e.calls[c.ID] = c
	e.callOrder = append(e.callOrder, c.ID)
	go e.deliverCallbacks(c)
	go e.playCall(c, hold)
	return c
}

// playCall is the far side of a call: it connects, everyone joins, and after
// hold (unless the API ended the call first) the targets hang up.
func (e *Emulator) playCall(c *call, hold time.Duration) {
	e.mu.Lock()
	if !c.ended {
		c.State = "connected"
		e.emit(c, "CallConnected", nil, "")
		e.emitParticipants(c)
	}
	e.mu.Unlock()
	var timeout <-chan time.Time
	if hold >= 0 {
		t := time.NewTimer(hold)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		e.mu.Lock()
		e.endCall(c, true)
		e.mu.Unlock()
	case <-c.stop:
	case <-e.bg.Done():
	}
}

// endCall disconnects c; the caller holds e.mu.
func (e *Emulator) endCall(c *call, everyoneLeft bool) {
	if c.ended {
		return
	}
	if everyoneLeft {
		c.participants = nil
		e.emitParticipants(c)
	}
	c.State = "disconnected"
	e.emit(c, "CallDisconnected", nil, "")
	c.ended = true
	close(c.stop)
	e.wakeDelivery(c)
}

// emit queues one event for c in order; url "" means the call's callback
// URI. The caller holds e.mu.
func (e *Emulator) emit(c *call, name string, extra map[string]any, url string) {
	if url == "" {
		url = c.CallbackURI
	}
	data := map[string]any{
		"callConnectionId":  c.ID,
		"serverCallId":      c.ServerCallID,
		"correlationId":     c.CorrelationID,
		"resultInformation": map[string]any{"code": 200, "subCode": 0, "message": name + "."},
	}
	if c.OperationContext != "" {
		data["operationContext"] = c.OperationContext
	}
	for k, v := range extra {
		if v == nil {
			delete(data, k) // the event carries no such field (RecordingStateChanged: no operationContext)
			continue
		}
		data[k] = v
	}
	ev := cloudEvent{
		ID: uuid.NewString(), Source: "calling/callConnections/" + c.ID, Subject: "calling/callConnections/" + c.ID,
		Type: "Microsoft.Communication." + name, Time: e.opts.Now().UTC().Format(time.RFC3339Nano),
		SpecVersion: "1.0", DataType: "application/json", Data: data,
	}
	s := sentEvent{url: url, event: ev}
	c.pending = append(c.pending, s)
	c.sent = append(c.sent, s)
	e.wakeDelivery(c)
}

func (e *Emulator) emitParticipants(c *call) {
	c.seq++
	e.emit(c, "ParticipantsUpdated", map[string]any{"sequenceNumber": c.seq, "participants": c.participantList()}, "")
}

func (e *Emulator) wakeDelivery(c *call) {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliverCallbacks posts c's events one at a time, in order, until the call
// has ended and every event was tried.
func (e *Emulator) deliverCallbacks(c *call) {
	for {
		e.mu.Lock()
		if len(c.pending) == 0 {
			ended := c.ended
			e.mu.Unlock()
			if ended {
				return
			}
			select {
			case <-c.wake:
			case <-e.bg.Done():
				return
			}
			continue
		}
		s := c.pending[0]
		c.pending = c.pending[1:]
		e.mu.Unlock()
		d := e.post(e.bg, c.issuer, s.url, c.ID, s.event)
		if d.Err != "" || d.Status >= 300 {
			e.log.Info("acsemu: callback not accepted", "call", c.ID, "type", d.EventType, "status", d.Status, "err", d.Err)
		}
		e.mu.Lock()
		c.deliveries = append(c.deliveries, d)
		e.mu.Unlock()
	}
}

// onCall resolves the live call in the path, answering 404 for an unknown or ended one.
func (e *Emulator) onCall(h func(http.ResponseWriter, *http.Request, *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		e.mu.Lock()
		c, ok := e.calls[id]
		e.mu.Unlock()
		if !ok || c.ended {
			writeError(w, http.StatusNotFound, "8522", fmt.Sprintf("call connection %q does not exist or has ended", id))
			return
		}
		h(w, r, c)
	}
}

func (e *Emulator) getCall(w http.ResponseWriter, _ *http.Request, c *call) {
	e.mu.Lock()
	out := c.wire()
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) hangUp(w http.ResponseWriter, _ *http.Request, c *call) {
	// The application leaving ends a call it created: the emulator plays no group calls.
	e.mu.Lock()
	e.endCall(c, false)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) terminate(w http.ResponseWriter, r *http.Request, c *call) {
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	e.mu.Lock()
	e.endCall(c, true)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) listCallParticipants(w http.ResponseWriter, _ *http.Request, c *call) {
	e.mu.Lock()
	out := map[string]any{"value": c.participantList()}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) addCallParticipant(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		SourceCallerIDNumber       *phoneJSON      `json:"sourceCallerIdNumber"`
		SourceDisplayName          string          `json:"sourceDisplayName"`
		ParticipantToAdd           *identifierJSON `json:"participantToAdd"`
		InvitationTimeoutInSeconds *int            `json:"invitationTimeoutInSeconds"`
		OperationContext           string          `json:"operationContext"`
		OperationCallbackURI       string          `json:"operationCallbackUri"`
		CustomCallingContext       json.RawMessage `json:"customCallingContext"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	if req.ParticipantToAdd == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "participantToAdd is required")
		return
	}
	if t := req.InvitationTimeoutInSeconds; t != nil && (*t < 1 || *t > 180) {
		writeError(w, http.StatusBadRequest, "BadRequest", "invitationTimeoutInSeconds must be within [1, 180]")
		return
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	p, err := canonical(*req.ParticipantToAdd)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "participantToAdd: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	callerID := req.SourceCallerIDNumber
	if callerID == nil {
		callerID = c.sourceCallerID
	}
	if p.PhoneNumber != nil && callerID == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "adding a phone number needs sourceCallerIdNumber")
		return
	}
	extra := map[string]any{"participant": p}
	if req.OperationContext != "" {
		extra["operationContext"] = req.OperationContext
	}
	_, live := e.liveIdentity(p.RawID)
	switch {
	case p.CommunicationUser != nil && !live:
		// Unknown users fail the invitation, not the request, as in ACS.
		extra["resultInformation"] = map[string]any{"code": 404, "subCode": 0, "message": "The participant is not a communication user of this resource."}
		e.emit(c, "AddParticipantFailed", extra, req.OperationCallbackURI)
	default:
		if c.indexOf(p.RawID) < 0 {
			c.participants = append(c.participants, p)
		}
		e.emit(c, "AddParticipantSucceeded", extra, req.OperationCallbackURI)
		e.emitParticipants(c)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"participant":      participantJSON{Identifier: p},
		"operationContext": req.OperationContext,
		"invitationId":     uuid.NewString(),
	})
}

func (e *Emulator) removeCallParticipant(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		ParticipantToRemove  *identifierJSON `json:"participantToRemove"`
		OperationContext     string          `json:"operationContext"`
		OperationCallbackURI string          `json:"operationCallbackUri"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	if req.ParticipantToRemove == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "participantToRemove is required")
		return
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	p, err := canonical(*req.ParticipantToRemove)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "participantToRemove: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i := c.indexOf(p.RawID)
	if i < 0 {
		writeError(w, http.StatusNotFound, "8523", fmt.Sprintf("participant %q is not in the call", p.RawID))
		return
	}
	c.participants = append(c.participants[:i:i], c.participants[i+1:]...)
	extra := map[string]any{"participant": p}
	if req.OperationContext != "" {
		extra["operationContext"] = req.OperationContext
	}
	e.emit(c, "RemoveParticipantSucceeded", extra, req.OperationCallbackURI)
	e.emitParticipants(c)
	writeJSON(w, http.StatusAccepted, map[string]any{"operationContext": req.OperationContext})
}

// validCallTarget canonicalises t in place: an existing ACS user, or an
// E.164 phone number when the call has a caller id. The caller holds e.mu.
func (e *Emulator) validCallTarget(w http.ResponseWriter, t *identifierJSON, callerID *phoneJSON) bool {
	c, err := canonical(*t)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "target: "+err.Error())
		return false
	}
	if c.PhoneNumber != nil && callerID == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "calling a phone number needs sourceCallerIdNumber")
		return false
	}
	if c.CommunicationUser != nil {
		if _, ok := e.liveIdentity(c.RawID); !ok {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("target %q is not a communication user of this resource", c.RawID))
			return false
		}
	}
	*t = c
	return true
}

// validCallbackURI accepts an absolute https URL, or http on a loopback
// host (local development); ACS itself requires https.
func validCallbackURI(w http.ResponseWriter, s string) bool {
	u, err := url.Parse(s)
	ok := err == nil && u.IsAbs() && u.Host != "" && u.User == nil
	if ok && u.Scheme != "https" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		ok = u.Scheme == "http" && (host == "localhost" || (ip != nil && ip.IsLoopback()))
	}
	if !ok {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("callbackUri %q must be an absolute https URL (http only on loopback)", s))
	}
	return ok
}

// newIncomingCallContext makes an opaque context, as ACS's signed one is to applications.
func newIncomingCallContext() string { return base64.RawURLEncoding.EncodeToString(randomBytes(48)) }

// newServerCallID makes an id in ACS's form: base64url of a conversation URL.
func newServerCallID() string {
	return base64.RawURLEncoding.EncodeToString([]byte("https://acsemu.local/conv/" + uuid.NewString()))
}

// AppID is the raw id the emulator's Call Automation application calls from
// (the source of calls created without an explicit source).
func (e *Emulator) AppID() string { return e.appID }
