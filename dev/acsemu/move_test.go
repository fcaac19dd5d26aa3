package acsemu

import (
	"encoding/json"
	"slices"
	"testing"
)

// sentTypes lists the event types queued for a call, delivered or not.
func sentTypes(e *Emulator, id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.calls[id].sent {
		out = append(out, s.event.Type)
	}
	return out
}

// participants:moveHere exists from 2026-03-12 on, refuses what ACS
// refuses, and moves the caller between the two calls' rosters.
func TestMoveParticipants(t *testing.T) {
	e := start(t, Options{})
	botCall, caller := answered(t, e, false)
	status, _, resp := signed{method: "POST", target: "/calling/callConnections:connect?api-version=2026-03-12",
		body: `{"callLocator":{"kind":"groupCallLocator","groupCallId":"1b4d8a2e-8d6f-4c55-9a0e-2f4b1c7d9e10"},"callbackUri":"https://app.contoso.com/cb"}`}.do(t, e)
	var group struct{ CallConnectionID string }
	if status != 200 || json.Unmarshal(resp, &group) != nil {
		t.Fatalf("connect: %d %s", status, resp)
	}
	move := func(version string) string {
		return "/calling/callConnections/" + group.CallConnectionID + "/participants:moveHere?api-version=" + version
	}
	who := `{"kind":"communicationUser","communicationUser":{"id":"` + caller + `"}}`
	tests := []struct {
		name   string
		req    signed
		status int
	}{
		{"before 2026-03-12 there is no such route", signed{method: "POST", target: move("2025-06-15"), body: `{"targetParticipants":[` + who + `],"fromCall":"` + botCall + `"}`}, 404},
		{"no participants", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[],"fromCall":"` + botCall + `"}`}, 400},
		{"no fromCall", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `]}`}, 400},
		{"from itself", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `],"fromCall":"` + group.CallConnectionID + `"}`}, 400},
		{"from an unknown call", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `],"fromCall":"nope"}`}, 400},
		{"a bad identifier", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[{"kind":"microsoftTeamsUser"}],"fromCall":"` + botCall + `"}`}, 400},
		{"an unknown field", signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `],"fromCall":"` + botCall + `","x":1}`}, 400},
		{"into an unknown call", signed{method: "POST", target: "/calling/callConnections/nope/participants:moveHere?api-version=2026-03-12", body: `{"targetParticipants":[` + who + `],"fromCall":"` + botCall + `"}`}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := tt.req.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d %s, want %d", status, body, tt.status)
			}
			errorCode(t, body)
		})
	}
	status, _, resp = signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `],"fromCall":"` + botCall + `","operationContext":"op-1"}`}.do(t, e)
	var out struct {
		OperationContext string
		FromCall         string
		Participants     []participantJSON
	}
	if status != 202 || json.Unmarshal(resp, &out) != nil {
		t.Fatalf("move: %d %s", status, resp)
	}
	if out.OperationContext != "op-1" || out.FromCall != botCall || len(out.Participants) != 1 || out.Participants[0].Identifier.RawID != caller {
		t.Errorf("move answered %s", resp)
	}
	from, _ := e.Call(botCall)
	into, _ := e.Call(group.CallConnectionID)
	if slices.Contains(from.Participants, caller) || !slices.Contains(into.Participants, caller) {
		t.Errorf("after the move: bot's call %v, group call %v", from.Participants, into.Participants)
	}
	if types := sentTypes(e, group.CallConnectionID); !slices.Contains(types, "Microsoft.Communication.MoveParticipantSucceeded") {
		t.Errorf("group call events %v lack MoveParticipantSucceeded", types)
	}
	// Moving someone who is no longer there is accepted, and fails.
	status, _, resp = signed{method: "POST", target: move("2026-03-12"), body: `{"targetParticipants":[` + who + `],"fromCall":"` + botCall + `"}`}.do(t, e)
	if status != 202 {
		t.Fatalf("second move: %d %s", status, resp)
	}
	if types := sentTypes(e, group.CallConnectionID); !slices.Contains(types, "Microsoft.Communication.MoveParticipantFailed") {
		t.Errorf("group call events %v lack MoveParticipantFailed", types)
	}
}
