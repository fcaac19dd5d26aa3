package acsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Call Automation connect (join an existing group, room or server call)
// and call recording: POST /calling/callConnections:connect,
// POST /calling/recordings, GET and DELETE /calling/recordings/{id}.

// RecordingState is one recording as the emulator holds it, for tests.
type RecordingState struct {
	ID               string
	CallConnectionID string
	// Locator is "serverCall:<id>" or "groupCall:<id>" when started by locator.
	Locator string
	State   string // active or inactive
}

type recording struct {
	RecordingState
	stateURI string
	started  time.Time
}

type callLocatorJSON struct {
	Kind         string `json:"kind"`
	GroupCallID  string `json:"groupCallId,omitempty"`
	ServerCallID string `json:"serverCallId,omitempty"`
	RoomID       string `json:"roomId,omitempty"`
}

// locator checks a CallLocator: its kind and the one id that kind needs.
func (l callLocatorJSON) locator() (string, error) {
	switch l.Kind {
	case "groupCallLocator":
		if _, err := uuid.Parse(l.GroupCallID); err != nil {
			return "", fmt.Errorf("callLocator.groupCallId %q is not a GUID", l.GroupCallID)
		}
		return "groupCall:" + l.GroupCallID, nil
	case "serverCallLocator":
		if l.ServerCallID == "" {
			return "", fmt.Errorf("callLocator.serverCallId is required")
		}
		return "serverCall:" + l.ServerCallID, nil
	case "roomCallLocator":
		if l.RoomID == "" {
			return "", fmt.Errorf("callLocator.roomId is required")
		}
		return "roomCall:" + l.RoomID, nil
	}
	return "", fmt.Errorf("callLocator.kind %q is not groupCallLocator, serverCallLocator or roomCallLocator", l.Kind)
}

func (e *Emulator) routeRecording() {
	e.api.HandleFunc("POST /calling/callConnections:connect", e.operation("Connect", e.connect))
	e.api.HandleFunc("POST /calling/recordings", e.operation("StartRecording", e.startRecording))
	e.api.HandleFunc("GET /calling/recordings/{id}", e.operation("GetRecordingProperties", e.getRecording))
	e.api.HandleFunc("DELETE /calling/recordings/{id}", e.operation("StopRecording", e.stopRecording))
}

func (e *Emulator) connect(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CallLocator            *callLocatorJSON `json:"callLocator"`
		CallbackURI            string           `json:"callbackUri"`
		OperationContext       string           `json:"operationContext"`
		CallIntelligenceOption json.RawMessage  `json:"callIntelligenceOptions"`
		MediaStreamingOptions  json.RawMessage  `json:"mediaStreamingOptions"`
		TranscriptionOptions   json.RawMessage  `json:"transcriptionOptions"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	repeat, ok := repeatability(w, r, e.opts.Now())
	if !ok || !validCallbackURI(w, req.CallbackURI) {
		return
	}
	if req.CallLocator == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "callLocator is required")
		return
	}
	loc, err := req.CallLocator.locator()
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	cognitive, ok := cognitiveEndpoint(w, req.CallIntelligenceOption)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.callRepeats["connect:"+repeat]; ok && repeat != "" {
		writeJSON(w, http.StatusOK, e.calls[id].wire())
		return
	}
	if req.CallLocator.Kind == "roomCallLocator" {
		if _, ok := e.rooms[req.CallLocator.RoomID]; !ok {
			writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("room %q does not exist", req.CallLocator.RoomID))
			return
		}
	}
	app := userIdentifier(e.appID)
	c := e.newCallHeld(r, app, nil, req.CallbackURI, req.OperationContext, -1)
	c.participants = []identifierJSON{app}
	c.answered, c.CognitiveServicesEndpoint, c.Locator = true, cognitive, loc
	if repeat != "" {
		e.callRepeats["connect:"+repeat] = c.ID
	}
	writeJSON(w, http.StatusOK, c.wire())
}

// Recordings returns every recording, for tests.
func (e *Emulator) Recordings() []RecordingState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RecordingState, 0, len(e.recordings))
	for _, id := range e.recordingOrder {
		out = append(out, e.recordings[id].RecordingState)
	}
	return out
}

func (e *Emulator) startRecording(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CallLocator                     *callLocatorJSON `json:"callLocator"`
		CallConnectionID                string           `json:"callConnectionId"`
		RecordingStateCallbackURI       string           `json:"recordingStateCallbackUri"`
		RecordingContentType            string           `json:"recordingContentType"`
		RecordingChannelType            string           `json:"recordingChannelType"`
		RecordingFormatType             string           `json:"recordingFormatType"`
		AudioChannelParticipantOrdering []identifierJSON `json:"audioChannelParticipantOrdering"`
		ChannelAffinity                 json.RawMessage  `json:"channelAffinity"`
		PauseOnStart                    bool             `json:"pauseOnStart"`
		ExternalStorage                 json.RawMessage  `json:"externalStorage"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	switch {
	case (req.CallLocator == nil) == (req.CallConnectionID == ""):
		writeError(w, http.StatusBadRequest, "BadRequest", "give exactly one of callLocator or callConnectionId")
		return
	case req.CallLocator != nil && req.CallLocator.Kind == "roomCallLocator":
		writeError(w, http.StatusBadRequest, "BadRequest", "roomCallLocator is not supported for start recording: use callConnectionId")
		return
	case req.RecordingStateCallbackURI != "" && !validCallbackURI(w, req.RecordingStateCallbackURI):
		return
	}
	for name, v := range map[string][]string{
		"recordingContentType": {"", "audio", "audioVideo"}, "recordingChannelType": {"", "mixed", "unmixed"}, "recordingFormatType": {"", "wav", "mp3", "mp4"},
	} {
		val := map[string]string{"recordingContentType": req.RecordingContentType, "recordingChannelType": req.RecordingChannelType, "recordingFormatType": req.RecordingFormatType}[name]
		if !contains(v, val) {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("%s %q is not one of %v", name, val, v[1:]))
			return
		}
	}
	rec := &recording{RecordingState: RecordingState{ID: uuid.NewString(), CallConnectionID: req.CallConnectionID, State: "active"},
		stateURI: req.RecordingStateCallbackURI, started: e.opts.Now().UTC()}
	e.mu.Lock()
	defer e.mu.Unlock()
	if req.CallLocator != nil {
		loc, err := req.CallLocator.locator()
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		rec.Locator = loc
	} else if c, ok := e.calls[req.CallConnectionID]; !ok || c.ended {
		writeError(w, http.StatusNotFound, "8522", fmt.Sprintf("call connection %q does not exist or has ended", req.CallConnectionID))
		return
	}
	for _, other := range e.recordings {
		if other.State == "active" && ((rec.CallConnectionID != "" && other.CallConnectionID == rec.CallConnectionID) || (rec.Locator != "" && other.Locator == rec.Locator)) {
			writeError(w, http.StatusBadRequest, "8511", "the call is being recorded already")
			return
		}
	}
	e.recordings[rec.ID] = rec
	e.recordingOrder = append(e.recordingOrder, rec.ID)
	e.emitRecordingState(rec)
	writeJSON(w, http.StatusOK, rec.wire())
}

func (rec *recording) wire() map[string]any {
	return map[string]any{"recordingId": rec.ID, "recordingState": rec.State, "recordingKind": "azureCommunicationServices"}
}

// emitRecordingState sends RecordingStateChanged to the recording's state
// callback, else its call's callback URI; the caller holds e.mu.
func (e *Emulator) emitRecordingState(rec *recording) {
	c, ok := e.calls[rec.CallConnectionID]
	if !ok {
		return // started by locator with no connection of ours: nowhere to call back
	}
	e.emit(c, "RecordingStateChanged", map[string]any{"recordingId": rec.ID, "state": rec.State, "recordingKind": "azureCommunicationServices",
		"startDateTime": rec.started.Format(time.RFC3339Nano), "operationContext": nil}, rec.stateURI)
}

func (e *Emulator) getRecording(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok := e.recordings[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "no recording "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, rec.wire())
}

func (e *Emulator) stopRecording(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok := e.recordings[r.PathValue("id")]
	if !ok || rec.State != "active" {
		writeError(w, http.StatusNotFound, "NotFound", "no active recording "+r.PathValue("id"))
		return
	}
	rec.State = "inactive"
	e.emitRecordingState(rec)
	serverCallID := ""
	if c, ok := e.calls[rec.CallConnectionID]; ok {
		serverCallID = c.ServerCallID
	}
	// ACS publishes the file's metadata on the system topic once it is ready.
	go e.publishRecordingFile(rec.RecordingState, serverCallID, rec.started, e.opts.Now().UTC())
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) publishRecordingFile(rec RecordingState, serverCallID string, start, end time.Time) {
	e.mu.Lock()
	sink := e.eventGrid
	e.mu.Unlock()
	if sink == nil {
		return
	}
	base := e.endpoint + "/recordings/" + rec.ID
	ev := []map[string]any{{
		"id": uuid.NewString(), "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/acsemu/providers/Microsoft.Communication/communicationServices/acsemu",
		"subject":   "/recording/call/" + uuid.NewString() + "/serverCallId/" + serverCallID + "/recordingId/" + rec.ID,
		"eventType": "Microsoft.Communication.RecordingFileStatusUpdated", "eventTime": end.Format(time.RFC3339Nano), "dataVersion": "1.0", "metadataVersion": "1",
		"data": map[string]any{
			"recordingStorageInfo": map[string]any{"recordingChunks": []map[string]any{{
				"documentId": rec.ID + "-0", "index": 0, "endReason": "SessionEnded",
				"contentLocation": base + "/content", "metadataLocation": base + "/metadata", "deleteLocation": base,
			}}},
			"recordingStartTime": start.Format(time.RFC3339Nano), "recordingDurationMs": end.Sub(start).Milliseconds(),
			"recordingContentType": "audio", "recordingChannelType": "mixed", "recordingFormatType": "wav", "sessionEndReason": "CallEnded",
		},
	}}
	b, _ := json.Marshal(ev)
	if err := sink(e.bg, b); err != nil {
		e.log.Info("acsemu: RecordingFileStatusUpdated not delivered", "recording", rec.ID, "err", err)
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
