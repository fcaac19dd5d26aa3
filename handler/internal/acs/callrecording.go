package acs

import (
	"context"
	"errors"
	"net/http"
)

// CallLocator names an existing call to connect to: exactly one of a
// group call id, a room id or a server call id.
type CallLocator struct {
	GroupCallID  string
	RoomID       string
	ServerCallID string
}

type wireLocator struct {
	Kind         string `json:"kind"`
	GroupCallID  string `json:"groupCallId,omitempty"`
	RoomID       string `json:"roomId,omitempty"`
	ServerCallID string `json:"serverCallId,omitempty"`
}

func (l CallLocator) wire() (wireLocator, error) {
	n := 0
	for _, v := range []string{l.GroupCallID, l.RoomID, l.ServerCallID} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return wireLocator{}, errors.New("acs: a call locator names exactly one of a group call, a room or a server call")
	case l.GroupCallID != "":
		return wireLocator{Kind: "groupCallLocator", GroupCallID: l.GroupCallID}, nil
	case l.RoomID != "":
		return wireLocator{Kind: "roomCallLocator", RoomID: l.RoomID}, nil
	}
	return wireLocator{Kind: "serverCallLocator", ServerCallID: l.ServerCallID}, nil
}

// ConnectOptions joins the application to an existing call.
type ConnectOptions struct {
	Locator                   CallLocator
	CallbackURI               string
	OperationContext          string
	CognitiveServicesEndpoint string
}

// ConnectCall joins an existing call (CallConnected follows), answering the application's new connection.
func (c *Client) ConnectCall(ctx context.Context, opts ConnectOptions) (CallConnection, error) {
	loc, err := opts.Locator.wire()
	if err != nil {
		return CallConnection{}, err
	}
	if err := checkCallbackURI(opts.CallbackURI); err != nil {
		return CallConnection{}, err
	}
	body := struct {
		CallLocator             wireLocator              `json:"callLocator"`
		CallbackURI             string                   `json:"callbackUri"`
		OperationContext        string                   `json:"operationContext,omitempty"`
		CallIntelligenceOptions *callIntelligenceOptions `json:"callIntelligenceOptions,omitempty"`
	}{CallLocator: loc, CallbackURI: opts.CallbackURI, OperationContext: opts.OperationContext}
	if opts.CognitiveServicesEndpoint != "" {
		body.CallIntelligenceOptions = &callIntelligenceOptions{opts.CognitiveServicesEndpoint}
	}
	var out CallConnection
	if err := c.send(ctx, request{method: http.MethodPost, url: c.callingURL("/calling/callConnections:connect"), body: body, repeatable: true, want: http.StatusOK, alsoWant: http.StatusAccepted}, &out); err != nil {
		return CallConnection{}, err
	}
	return out, out.check()
}

// RecordingState is a recording's id and state (active or inactive).
type RecordingState struct {
	ID    string `json:"recordingId"`
	State string `json:"recordingState"`
	Kind  string `json:"recordingKind"`
}

// StartRecording records the call of a connection (rooms can only be
// recorded so); RecordingStateChanged goes to the connection's callback URI.
func (c *Client) StartRecording(ctx context.Context, callConnectionID string) (RecordingState, error) {
	if callConnectionID == "" {
		return RecordingState{}, errors.New("acs: start recording: call connection id is empty")
	}
	body := struct {
		CallConnectionID string `json:"callConnectionId"`
	}{callConnectionID}
	var out RecordingState
	// ACS declares both 200 and 202 for a start.
	err := c.send(ctx, request{method: http.MethodPost, url: c.callingURL("/calling/recordings"), body: body, repeatable: true, want: http.StatusOK, alsoWant: http.StatusAccepted}, &out)
	if err != nil {
		return RecordingState{}, err
	}
	if out.ID == "" {
		return RecordingState{}, errors.New("acs: start recording response has no recordingId")
	}
	return out, nil
}

// StopRecording ends a recording (204); the file follows as RecordingFileStatusUpdated on Event Grid.
func (c *Client) StopRecording(ctx context.Context, recordingID string) error {
	if recordingID == "" {
		return errors.New("acs: stop recording: recording id is empty")
	}
	return c.send(ctx, request{method: http.MethodDelete, url: c.callingURL("/calling/recordings/" + escapeSegment(recordingID)), want: http.StatusNoContent}, nil)
}
