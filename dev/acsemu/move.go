package acsemu

import (
	"fmt"
	"net/http"
	"strings"
)

// Call Automation move participants (api-version 2026-03-12 on):
// POST /calling/callConnections/{id}/participants:moveHere moves
// participants out of another call connection of this resource (fromCall)
// into the call {id} is connected to. The answer is 202 with the moved
// participants; MoveParticipantSucceeded (or MoveParticipantFailed) for
// each follows on {id}'s callback, and ParticipantsUpdated on both calls.

// MoveAPIVersion is the first api-version with participants:moveHere;
// older versions answer 404, as ACS does for a route it does not have.
const MoveAPIVersion = "2026-03-12"

func (e *Emulator) routeMove() {
	e.api.HandleFunc("POST /calling/callConnections/{id}/participants:moveHere", e.operation("MoveParticipants", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("api-version"); v < MoveAPIVersion {
			writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no ACS operation matches %s %s in api-version %s (participants:moveHere is in %s on)", r.Method, r.URL.Path, v, MoveAPIVersion))
			return
		}
		e.onCall(e.moveParticipants)(w, r)
	}))
}

func (e *Emulator) moveParticipants(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		TargetParticipants   []identifierJSON `json:"targetParticipants"`
		FromCall             string           `json:"fromCall"`
		OperationContext     string           `json:"operationContext"`
		OperationCallbackURI string           `json:"operationCallbackUri"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	if len(req.TargetParticipants) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "targetParticipants is required and must not be empty")
		return
	}
	if strings.TrimSpace(req.FromCall) == "" {
		writeError(w, http.StatusBadRequest, "BadRequest", "fromCall is required: the call connection id of the call to move the participants from")
		return
	}
	if req.FromCall == c.ID {
		writeError(w, http.StatusBadRequest, "BadRequest", "fromCall is the call the participants are moved into")
		return
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	targets := make([]identifierJSON, 0, len(req.TargetParticipants))
	for _, t := range req.TargetParticipants {
		p, err := canonical(t)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "targetParticipants: "+err.Error())
			return
		}
		targets = append(targets, p)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	from, ok := e.calls[req.FromCall]
	if !ok || from.ended {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("fromCall %q is not a live call connection of this resource", req.FromCall))
		return
	}
	moved := []participantJSON{}
	changed := false
	for _, p := range targets {
		extra := map[string]any{"participant": p, "fromCall": from.ID}
		if req.OperationContext != "" {
			extra["operationContext"] = req.OperationContext
		}
		i := from.indexOf(p.RawID)
		if i < 0 {
			// Like an invitation that fails: the request is accepted, the move fails.
			extra["resultInformation"] = map[string]any{"code": 404, "subCode": 0, "message": fmt.Sprintf("The participant %s is not in the call %s.", p.RawID, from.ID)}
			e.emit(c, "MoveParticipantFailed", extra, req.OperationCallbackURI)
			continue
		}
		from.participants = append(from.participants[:i:i], from.participants[i+1:]...)
		if c.indexOf(p.RawID) < 0 {
			c.participants = append(c.participants, p)
		}
		moved = append(moved, participantJSON{Identifier: p})
		changed = true
		e.emit(c, "MoveParticipantSucceeded", extra, req.OperationCallbackURI)
	}
	if changed {
		e.emitParticipants(from)
		e.emitParticipants(c)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"operationContext": req.OperationContext, "participants": moved, "fromCall": from.ID})
}
