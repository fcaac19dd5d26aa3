// Package events receives the events ACS publishes through Event Grid: it
// parses Event Grid and CloudEvents envelopes (one event or a batch, data
// as an object or a JSON string), answers the webhook handshakes, and
// dispatches each event to the capability registered for its type.
package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"switchboard/handler/internal/httpapi"
)

// Event is one event, whichever schema it came in.
type Event struct {
	ID      string
	Type    string
	Source  string // Event Grid topic or CloudEvents source
	Subject string
	Time    time.Time
	// Data is the event's data as JSON (unwrapped if it came as a JSON string).
	Data json.RawMessage
	// CloudEvent reports the schema the event came in.
	CloudEvent bool
}

// SubscriptionValidation is the type of Event Grid's webhook handshake.
const SubscriptionValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"

// wire holds the fields of both schemas.
type wire struct {
	// Event Grid schema
	ID        string          `json:"id"`
	Topic     string          `json:"topic"`
	Subject   string          `json:"subject"`
	EventType string          `json:"eventType"`
	EventTime string          `json:"eventTime"`
	Data      json.RawMessage `json:"data"`
	// CloudEvents 1.0
	SpecVersion string `json:"specversion"`
	Type        string `json:"type"`
	Source      string `json:"source"`
	Time        string `json:"time"`
}

// Parse reads one event or a batch (a JSON array) in either schema.
func Parse(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid("the event body is empty")
	}
	var raws []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, invalid("the event batch is not a JSON array of events: " + err.Error())
		}
		if len(raws) == 0 {
			return nil, invalid("the event batch is empty")
		}
	} else {
		raws = []json.RawMessage{body}
	}
	out := make([]Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseOne(raw)
		if err != nil {
			return nil, invalid(fmt.Sprintf("event %d: %v", i, err))
		}
		out = append(out, ev)
	}
	return out, nil
}

func parseOne(raw json.RawMessage) (Event, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Event{}, fmt.Errorf("not a JSON event object: %w", err)
	}
	var ev Event
	var ts string
	if w.SpecVersion != "" {
		if w.SpecVersion != "1.0" {
			return Event{}, fmt.Errorf("CloudEvents specversion %q is not 1.0", w.SpecVersion)
		}
		ev = Event{ID: w.ID, Type: w.Type, Source: w.Source, Subject: w.Subject, CloudEvent: true}
		ts = w.Time
		if w.Source == "" {
			return Event{}, fmt.Errorf("CloudEvent %q has no source", w.ID)
		}
	} else {
		ev = Event{ID: w.ID, Type: w.EventType, Source: w.Topic, Subject: w.Subject}
		ts = w.EventTime
	}
	if ev.ID == "" {
		return Event{}, fmt.Errorf("the event has no id")
	}
	if ev.Type == "" {
		return Event{}, fmt.Errorf("event %q has no type", ev.ID)
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, fmt.Errorf("event %q has a malformed time %q", ev.ID, ts)
		}
		ev.Time = t
	}
	data := bytes.TrimSpace(w.Data)
	if len(data) > 0 && data[0] == '"' {
		// Data sent as a JSON string holding JSON.
		var s string
		if err := json.Unmarshal(data, &s); err == nil && json.Valid([]byte(s)) {
			data = bytes.TrimSpace([]byte(s))
		}
	}
	ev.Data = data
	return ev, nil
}

// DecodeData decodes the event's data into dst.
func (e Event) DecodeData(dst any) error {
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return invalid(fmt.Sprintf("event %s (%s) has no data", e.ID, e.Type))
	}
	if err := json.Unmarshal(e.Data, dst); err != nil {
		return invalid(fmt.Sprintf("event %s (%s) has malformed data: %v", e.ID, e.Type, err))
	}
	return nil
}

func invalid(detail string) *httpapi.Problem {
	return httpapi.NewProblem(http.StatusBadRequest, "invalid-event", detail)
}
