package acs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Mid-call event types ACS posts to a call's callback URI.
const (
	EventCallConnected              = "Microsoft.Communication.CallConnected"
	EventCallDisconnected           = "Microsoft.Communication.CallDisconnected"
	EventParticipantsUpdated        = "Microsoft.Communication.ParticipantsUpdated"
	EventAddParticipantSucceeded    = "Microsoft.Communication.AddParticipantSucceeded"
	EventAddParticipantFailed       = "Microsoft.Communication.AddParticipantFailed"
	EventRemoveParticipantSucceeded = "Microsoft.Communication.RemoveParticipantSucceeded"
	EventRemoveParticipantFailed    = "Microsoft.Communication.RemoveParticipantFailed"
)

const eventTypePrefix = "Microsoft.Communication."

// MaxCallbackEvents bounds one callback batch; ACS sends one event per POST.
const MaxCallbackEvents = 100

// CallbackEvent is one CloudEvent from a call's callback, with its data decoded.
type CallbackEvent struct {
	ID      string
	Source  string
	Subject string
	// Type is the full CloudEvents type, e.g. EventCallConnected.
	Type string
	Time time.Time
	Data CallEventData
	// RawData is the data as received, for event types CallEventData does not model.
	RawData json.RawMessage
}

// Kind is the type without its Microsoft.Communication. prefix, as the SDKs name events.
func (e CallbackEvent) Kind() string { return strings.TrimPrefix(e.Type, eventTypePrefix) }

// CallEventData holds the fields of the mid-call events Switchboard reads;
// fields an event type does not carry stay zero.
type CallEventData struct {
	CallConnectionID  string             `json:"callConnectionId"`
	ServerCallID      string             `json:"serverCallId"`
	CorrelationID     string             `json:"correlationId"`
	OperationContext  string             `json:"operationContext"`
	ResultInformation *ResultInformation `json:"resultInformation"`
	// Participants is everyone in the call now (ParticipantsUpdated).
	Participants []CallParticipant `json:"participants"`
	// SequenceNumber orders ParticipantsUpdated events of one call: a lower one arriving later is stale.
	SequenceNumber int `json:"sequenceNumber"`
	// Participant is the subject of Add/RemoveParticipant events.
	Participant *CommunicationIdentifier `json:"participant"`
}

// ResultInformation is the outcome ACS attaches to an event.
type ResultInformation struct {
	Code    int    `json:"code"`
	SubCode int    `json:"subCode"`
	Message string `json:"message"`
}

// ParseCallbackEvents reads a callback body: a JSON array of CloudEvents 1.0
// (a single object is accepted too). Every event must have an id, a
// Microsoft.Communication type and data naming its call connection.
func ParseCallbackEvents(body []byte) ([]CallbackEvent, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("acs: callback body is empty")
	}
	var raws []json.RawMessage
	if body[0] == '{' {
		raws = []json.RawMessage{body}
	} else if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("acs: callback body is not a JSON array of events: %w", err)
	}
	if len(raws) == 0 {
		return nil, errors.New("acs: callback body has no events")
	}
	if len(raws) > MaxCallbackEvents {
		return nil, fmt.Errorf("acs: callback body has %d events, more than %d", len(raws), MaxCallbackEvents)
	}
	out := make([]CallbackEvent, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseCallbackEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("acs: callback event %d: %w", i, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func parseCallbackEvent(raw json.RawMessage) (CallbackEvent, error) {
	var env struct {
		ID          string          `json:"id"`
		Source      string          `json:"source"`
		Subject     string          `json:"subject"`
		Type        string          `json:"type"`
		Time        string          `json:"time"`
		SpecVersion string          `json:"specversion"`
		Data        json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return CallbackEvent{}, fmt.Errorf("not a CloudEvent: %w", err)
	}
	switch {
	case env.SpecVersion != "1.0":
		return CallbackEvent{}, fmt.Errorf("specversion %q is not 1.0", env.SpecVersion)
	case env.ID == "":
		return CallbackEvent{}, errors.New("no id")
	case !strings.HasPrefix(env.Type, eventTypePrefix) || len(env.Type) == len(eventTypePrefix):
		return CallbackEvent{}, fmt.Errorf("type %q is not a Microsoft.Communication event", env.Type)
	case len(env.Data) == 0 || env.Data[0] != '{':
		return CallbackEvent{}, errors.New("data is not a JSON object")
	}
	ev := CallbackEvent{ID: env.ID, Source: env.Source, Subject: env.Subject, Type: env.Type, RawData: env.Data}
	if env.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, env.Time)
		if err != nil {
			return CallbackEvent{}, fmt.Errorf("time %q: %w", env.Time, err)
		}
		ev.Time = t
	}
	if err := json.Unmarshal(env.Data, &ev.Data); err != nil {
		return CallbackEvent{}, fmt.Errorf("data of %s: %w", env.Type, err)
	}
	if ev.Data.CallConnectionID == "" {
		return CallbackEvent{}, fmt.Errorf("data of %s has no callConnectionId", env.Type)
	}
	if ev.Data.SequenceNumber < 0 {
		return CallbackEvent{}, fmt.Errorf("data of %s has a negative sequenceNumber", env.Type)
	}
	return ev, nil
}
