package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Identifier kinds on the wire.
const (
	KindCommunicationUser = "communicationUser"
	KindPhoneNumber       = "phoneNumber"
)

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// IsE164 reports whether s is a phone number in E.164 form (+ and 7 to 15 digits).
func IsE164(s string) bool { return e164Pattern.MatchString(s) }

// CommunicationIdentifier is ACS's CommunicationIdentifierModel, as sent and
// received: kind, rawId, and the part for the kind.
type CommunicationIdentifier struct {
	Kind              string                       `json:"kind,omitempty"`
	RawID             string                       `json:"rawId,omitempty"`
	CommunicationUser *CommunicationUserIdentifier `json:"communicationUser,omitempty"`
	PhoneNumber       *PhoneNumberIdentifier       `json:"phoneNumber,omitempty"`
}

// CommunicationUserIdentifier is an ACS user (8:acs:...).
type CommunicationUserIdentifier struct {
	ID string `json:"id"`
}

// PhoneNumberIdentifier is a PSTN number in E.164 form.
type PhoneNumberIdentifier struct {
	Value string `json:"value"`
}

// UserIdentifier is the identifier of ACS user id (8:acs:...).
func UserIdentifier(id string) CommunicationIdentifier {
	return CommunicationIdentifier{Kind: KindCommunicationUser, RawID: id, CommunicationUser: &CommunicationUserIdentifier{ID: id}}
}

// PhoneIdentifier is the identifier of an E.164 phone number.
func PhoneIdentifier(e164 string) CommunicationIdentifier {
	return CommunicationIdentifier{Kind: KindPhoneNumber, RawID: "4:" + e164, PhoneNumber: &PhoneNumberIdentifier{Value: e164}}
}

// ParseRawID reads a raw id: 8:... is an ACS user (8:acs:, 8:spool:...),
// 4:+... a phone number. Other kinds (Teams) are refused.
func ParseRawID(raw string) (CommunicationIdentifier, error) {
	switch {
	case strings.HasPrefix(raw, "8:") && len(raw) > len("8:"):
		return UserIdentifier(raw), nil
	case strings.HasPrefix(raw, "4:"):
		if n := strings.TrimPrefix(raw, "4:"); IsE164(n) {
			return PhoneIdentifier(n), nil
		}
		return CommunicationIdentifier{}, fmt.Errorf("acs: raw id %q is not an E.164 phone number", raw)
	}
	return CommunicationIdentifier{}, fmt.Errorf("acs: raw id %q is neither an ACS user (8:) nor a phone number (4:)", raw)
}

// Raw is the identifier's raw id, derived from its parts when rawId is absent.
func (id CommunicationIdentifier) Raw() string {
	switch {
	case id.RawID != "":
		return id.RawID
	case id.CommunicationUser != nil:
		return id.CommunicationUser.ID
	case id.PhoneNumber != nil:
		return "4:" + id.PhoneNumber.Value
	}
	return ""
}

// validate checks that an identifier we send is one ACS can route.
func (id CommunicationIdentifier) validate() error {
	raw := id.Raw()
	p, err := ParseRawID(raw)
	if err != nil {
		return err
	}
	if id.Kind != "" && id.Kind != p.Kind {
		return fmt.Errorf("acs: identifier %q has kind %q, want %q", raw, id.Kind, p.Kind)
	}
	return nil
}

// wire fills every part of a valid identifier, as the SDKs send it.
func (id CommunicationIdentifier) wire() CommunicationIdentifier {
	p, _ := ParseRawID(id.Raw())
	return p
}

// CallConnection is the application's leg of a call.
type CallConnection struct {
	ID            string                    `json:"callConnectionId"`
	ServerCallID  string                    `json:"serverCallId"`
	CorrelationID string                    `json:"correlationId"`
	State         string                    `json:"callConnectionState"`
	CallbackURI   string                    `json:"callbackUri"`
	Targets       []CommunicationIdentifier `json:"targets"`
	Source        *CommunicationIdentifier  `json:"source"`
	// SourceCallerID is the E.164 caller id shown to PSTN targets, if any.
	SourceCallerID *PhoneNumberIdentifier `json:"sourceCallerIdNumber"`
}

// CallParticipant is one participant of a call.
type CallParticipant struct {
	Identifier CommunicationIdentifier `json:"identifier"`
	IsMuted    bool                    `json:"isMuted"`
	IsOnHold   bool                    `json:"isOnHold"`
}

// CreateCallOptions describes an outbound call.
type CreateCallOptions struct {
	Targets []CommunicationIdentifier
	// CallbackURI receives the call's mid-call events; it should carry a
	// per-call secret, as the ACS docs advise.
	CallbackURI string
	// SourceCallerID is the E.164 number shown to PSTN targets; required when any target is a phone.
	SourceCallerID    string
	SourceDisplayName string
	OperationContext  string
}

// AnswerCallOptions answers an IncomingCall event.
type AnswerCallOptions struct {
	IncomingCallContext string
	CallbackURI         string
	OperationContext    string
	// CognitiveServicesEndpoint connects an Azure AI services resource, which
	// text-to-speech prompts need (callIntelligenceOptions).
	CognitiveServicesEndpoint string
	// RepeatabilityID and FirstSent make a resend of the same answer (after
	// a crash, or a redelivered IncomingCall) one answer at ACS; zero: fresh ones.
	RepeatabilityID string
	FirstSent       time.Time
}

// AddParticipantOptions invites one more participant into a call.
type AddParticipantOptions struct {
	Participant CommunicationIdentifier
	// SourceCallerID is the E.164 caller id, needed to invite a phone number
	// when the call has none.
	SourceCallerID    string
	SourceDisplayName string
	OperationContext  string
	// InvitationTimeout is how long the invitation rings, in whole seconds up to 180; 0 is ACS's default.
	InvitationTimeout time.Duration
	// OperationCallbackURI overrides the call's callback URI for this operation's events.
	OperationCallbackURI string
}

// AddParticipantResult is ACS's answer to an invitation; the outcome comes
// later as AddParticipantSucceeded or AddParticipantFailed.
type AddParticipantResult struct {
	Participant      CallParticipant `json:"participant"`
	OperationContext string          `json:"operationContext"`
	InvitationID     string          `json:"invitationId"`
}

// CreateCall places a call to targets; the call's events go to opts.CallbackURI.
func (c *Client) CreateCall(ctx context.Context, opts CreateCallOptions) (CallConnection, error) {
	if len(opts.Targets) == 0 {
		return CallConnection{}, errors.New("acs: create call: no targets")
	}
	if err := checkCallbackURI(opts.CallbackURI); err != nil {
		return CallConnection{}, err
	}
	body := struct {
		Targets              []CommunicationIdentifier `json:"targets"`
		SourceCallerIDNumber *PhoneNumberIdentifier    `json:"sourceCallerIdNumber,omitempty"`
		SourceDisplayName    string                    `json:"sourceDisplayName,omitempty"`
		OperationContext     string                    `json:"operationContext,omitempty"`
		CallbackURI          string                    `json:"callbackUri"`
	}{SourceDisplayName: opts.SourceDisplayName, OperationContext: opts.OperationContext, CallbackURI: opts.CallbackURI}
	phone := false
	for _, t := range opts.Targets {
		if err := t.validate(); err != nil {
			return CallConnection{}, fmt.Errorf("acs: create call target: %w", err)
		}
		w := t.wire()
		phone = phone || w.PhoneNumber != nil
		body.Targets = append(body.Targets, w)
	}
	var err error
	if body.SourceCallerIDNumber, err = callerID(opts.SourceCallerID, phone); err != nil {
		return CallConnection{}, fmt.Errorf("acs: create call: %w", err)
	}
	var out CallConnection
	if err := c.send(ctx, request{method: http.MethodPost, url: c.callingURL("/calling/callConnections"), body: body, repeatable: true, want: http.StatusCreated}, &out); err != nil {
		return CallConnection{}, err
	}
	return out, out.check()
}

// AnswerCall answers an incoming call (from its IncomingCall event's incomingCallContext).
func (c *Client) AnswerCall(ctx context.Context, opts AnswerCallOptions) (CallConnection, error) {
	if opts.IncomingCallContext == "" {
		return CallConnection{}, errors.New("acs: answer call: incomingCallContext is empty")
	}
	if err := checkCallbackURI(opts.CallbackURI); err != nil {
		return CallConnection{}, err
	}
	body := struct {
		IncomingCallContext     string                   `json:"incomingCallContext"`
		CallbackURI             string                   `json:"callbackUri"`
		OperationContext        string                   `json:"operationContext,omitempty"`
		CallIntelligenceOptions *callIntelligenceOptions `json:"callIntelligenceOptions,omitempty"`
	}{IncomingCallContext: opts.IncomingCallContext, CallbackURI: opts.CallbackURI, OperationContext: opts.OperationContext}
	if opts.CognitiveServicesEndpoint != "" {
		body.CallIntelligenceOptions = &callIntelligenceOptions{opts.CognitiveServicesEndpoint}
	}
	rq := request{method: http.MethodPost, url: c.callingURL("/calling/callConnections:answer"), body: body, repeatable: true, want: http.StatusOK,
		repeatID: opts.RepeatabilityID, firstSent: opts.FirstSent}
	var out CallConnection
	if err := c.send(ctx, rq, &out); err != nil {
		return CallConnection{}, err
	}
	return out, out.check()
}

// GetCall reads a call connection's properties.
func (c *Client) GetCall(ctx context.Context, callConnectionID string) (CallConnection, error) {
	p, err := callPath(callConnectionID, "")
	if err != nil {
		return CallConnection{}, err
	}
	var out CallConnection
	if err := c.send(ctx, request{method: http.MethodGet, url: c.callingURL(p), want: http.StatusOK}, &out); err != nil {
		return CallConnection{}, err
	}
	return out, out.check()
}

// AddParticipant invites opts.Participant into a call.
func (c *Client) AddParticipant(ctx context.Context, callConnectionID string, opts AddParticipantOptions) (AddParticipantResult, error) {
	p, err := callPath(callConnectionID, "/participants:add")
	if err != nil {
		return AddParticipantResult{}, err
	}
	if err := opts.Participant.validate(); err != nil {
		return AddParticipantResult{}, fmt.Errorf("acs: add participant: %w", err)
	}
	secs := int((opts.InvitationTimeout + time.Second - 1) / time.Second)
	if secs < 0 || secs > 180 {
		return AddParticipantResult{}, errors.New("acs: add participant: InvitationTimeout must be within 180 seconds")
	}
	if opts.OperationCallbackURI != "" {
		if err := checkCallbackURI(opts.OperationCallbackURI); err != nil {
			return AddParticipantResult{}, err
		}
	}
	body := struct {
		ParticipantToAdd           CommunicationIdentifier `json:"participantToAdd"`
		SourceCallerIDNumber       *PhoneNumberIdentifier  `json:"sourceCallerIdNumber,omitempty"`
		SourceDisplayName          string                  `json:"sourceDisplayName,omitempty"`
		InvitationTimeoutInSeconds int                     `json:"invitationTimeoutInSeconds,omitempty"`
		OperationContext           string                  `json:"operationContext,omitempty"`
		OperationCallbackURI       string                  `json:"operationCallbackUri,omitempty"`
	}{
		ParticipantToAdd: opts.Participant.wire(), SourceDisplayName: opts.SourceDisplayName,
		InvitationTimeoutInSeconds: secs, OperationContext: opts.OperationContext, OperationCallbackURI: opts.OperationCallbackURI,
	}
	// The call's own caller id may do for a phone participant: only check the form here.
	if body.SourceCallerIDNumber, err = callerID(opts.SourceCallerID, false); err != nil {
		return AddParticipantResult{}, fmt.Errorf("acs: add participant: %w", err)
	}
	var out AddParticipantResult
	if err := c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, repeatable: true, want: http.StatusAccepted}, &out); err != nil {
		return AddParticipantResult{}, err
	}
	return out, nil
}

// RemoveParticipant removes participant from a call; RemoveParticipantSucceeded follows as an event.
func (c *Client) RemoveParticipant(ctx context.Context, callConnectionID string, participant CommunicationIdentifier, operationContext string) error {
	p, err := callPath(callConnectionID, "/participants:remove")
	if err != nil {
		return err
	}
	if err := participant.validate(); err != nil {
		return fmt.Errorf("acs: remove participant: %w", err)
	}
	body := struct {
		ParticipantToRemove CommunicationIdentifier `json:"participantToRemove"`
		OperationContext    string                  `json:"operationContext,omitempty"`
	}{participant.wire(), operationContext}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, repeatable: true, want: http.StatusAccepted}, nil)
}

// ListParticipants returns everyone in a call now, following nextLink.
func (c *Client) ListParticipants(ctx context.Context, callConnectionID string) ([]CallParticipant, error) {
	p, err := callPath(callConnectionID, "/participants")
	if err != nil {
		return nil, err
	}
	var all []CallParticipant
	next := c.callingURL(p)
	for page := 0; next != ""; page++ {
		if page == maxParticipantPages {
			return nil, fmt.Errorf("acs: list call participants: more than %d pages", maxParticipantPages)
		}
		var out struct {
			Value    []CallParticipant `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := c.send(ctx, request{method: http.MethodGet, url: next, want: http.StatusOK}, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Value...)
		if next, err = c.nextLink(out.NextLink, c.caVersion); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// TerminateCall ends the call for everyone in it.
func (c *Client) TerminateCall(ctx context.Context, callConnectionID string) error {
	p, err := callPath(callConnectionID, ":terminate")
	if err != nil {
		return err
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), repeatable: true, want: http.StatusNoContent}, nil)
}

// HangUp takes the application out of the call; others stay if the call goes on without it.
func (c *Client) HangUp(ctx context.Context, callConnectionID string) error {
	p, err := callPath(callConnectionID, "")
	if err != nil {
		return err
	}
	return c.send(ctx, request{method: http.MethodDelete, url: c.callingURL(p), want: http.StatusNoContent}, nil)
}

func (c *Client) callingURL(path string) string {
	return c.endpoint + path + "?api-version=" + c.caVersion
}

// callPath is /calling/callConnections/{id}{suffix}; the id is escaped but
// an action suffix such as ":terminate" keeps its colon, as ACS expects.
func callPath(id, suffix string) (string, error) {
	if id == "" {
		return "", errors.New("acs: call connection id is empty")
	}
	return "/calling/callConnections/" + escapeSegment(id) + suffix, nil
}

func (cc CallConnection) check() error {
	if cc.ID == "" {
		return errors.New("acs: call connection response has no callConnectionId")
	}
	return nil
}

// callerID builds sourceCallerIdNumber from an E.164 number; needed says a PSTN target requires one.
func callerID(e164 string, needed bool) (*PhoneNumberIdentifier, error) {
	if e164 == "" {
		if needed {
			return nil, errors.New("calling a phone number needs SourceCallerID (an E.164 number of the resource)")
		}
		return nil, nil
	}
	if !IsE164(e164) {
		return nil, fmt.Errorf("source caller id %q is not an E.164 number", e164)
	}
	return &PhoneNumberIdentifier{Value: e164}, nil
}

// checkCallbackURI refuses a callback URI ACS could not reach securely:
// https only, except http on loopback for local development.
func checkCallbackURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("acs: callback URI: %w", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("acs: callback URI %q is not absolute", s)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("acs: callback URI %q must be https (http only on loopback)", s)
}
