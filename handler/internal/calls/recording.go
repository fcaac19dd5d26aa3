package calls

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Recording of a call, and the connection other capabilities (bots) join
// a call through: a room can only be recorded through a call connection, so
// recording a group or room call needs a bot joined first.

// recordingRow is the call partition's RK "recording"; the index names the
// call of a recording id ("rec:<id>") for RecordingFileStatusUpdated.
const recordingRow = "recording"

type recordingEntity struct {
	RecordingID string    `json:"recordingId"`
	State       string    `json:"state"` // active or inactive
	At          time.Time `json:"at"`
	Event       string    `json:"event"`
	Files       string    `json:"files,omitempty"` // JSON []RecordingFile
}

// Recording is a call's recording state; Files only for the creator.
type Recording struct {
	State string          `json:"state"`
	Files []RecordingFile `json:"files,omitempty"`
}

// RecordingFile is one file ACS reported ready (RecordingFileStatusUpdated).
type RecordingFile struct {
	ContentLocation  string    `json:"contentLocation"`
	MetadataLocation string    `json:"metadataLocation"`
	DeleteLocation   string    `json:"deleteLocation,omitempty"`
	DurationMs       int64     `json:"durationMs"`
	StartedAt        time.Time `json:"startedAt"`
	ContentType      string    `json:"contentType,omitempty"`
	FormatType       string    `json:"formatType,omitempty"`
}

// Recorder is what recording needs from Call Automation.
type Recorder interface {
	StartRecording(ctx context.Context, callConnectionID string) (acs.RecordingState, error)
	StopRecording(ctx context.Context, recordingID string) error
}

// Joinable is what a bot needs to join a call: its locator, checked for the creator.
type Joinable struct {
	Locator acs.CallLocator
	Kind    string
}

// creatorCall loads a call for its creator: invitees get 403, everyone else 404.
func (s *Service) creatorCall(ctx context.Context, actor, id, what string) (call, error) {
	c, _, invs, _, err := s.load(ctx, id)
	if err != nil {
		return call{}, err
	}
	if actor != c.Creator {
		if _, invited := invs[actor]; !invited {
			return call{}, callNotFound(id)
		}
		return call{}, httpapi.NewProblem(http.StatusForbidden, httpapi.CodeForbidden, "only the call's creator may "+what)
	}
	if c.State == "ended" {
		return call{}, httpapi.NewProblem(http.StatusConflict, "call-ended", "the call has ended")
	}
	return c, nil
}

// Joinable returns where a bot joins a call: the group or room call; only the creator may ask.
func (s *Service) Joinable(ctx context.Context, actor, id string) (Joinable, error) {
	c, err := s.creatorCall(ctx, actor, id, "add a bot")
	if err != nil {
		return Joinable{}, err
	}
	switch {
	case c.RoomID != "":
		return Joinable{Locator: acs.CallLocator{RoomID: c.RoomID}, Kind: c.Kind}, nil
	case c.GroupCallID != "":
		return Joinable{Locator: acs.CallLocator{GroupCallID: c.GroupCallID}, Kind: c.Kind}, nil
	}
	return Joinable{}, httpapi.NewProblem(http.StatusConflict, "call-not-joinable", "a dial call is a Call Automation call already: bots join group and room calls")
}

// AttachConnection records the Call Automation connection a bot joined a
// group or room call with, which recording goes through; a call keeps its first.
func (s *Service) AttachConnection(ctx context.Context, id, callConnectionID string) error {
	for range 5 {
		var c call
		etag, err := s.calls.Get(ctx, id, callRow, &c)
		if err != nil || c.CallConnectionID != "" {
			return err
		}
		c.CallConnectionID = callConnectionID
		if _, err = s.calls.Replace(ctx, id, callRow, c, etag); !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return errChanging
}

func (s *Service) recorder() (Recorder, error) {
	r, ok := s.acs.(Recorder)
	if !ok {
		return nil, httpapi.NotConfigured("call recording", "ACS_CONNECTION_STRING")
	}
	return r, nil
}

// StartRecording records a call (creator only) through its connection.
func (s *Service) StartRecording(ctx context.Context, actor, id string) (Recording, error) {
	c, err := s.creatorCall(ctx, actor, id, "record it")
	if err != nil {
		return Recording{}, err
	}
	rec, err := s.recorder()
	if err != nil {
		return Recording{}, err
	}
	if c.CallConnectionID == "" {
		return Recording{}, httpapi.NewProblem(http.StatusConflict, "recording-needs-connection",
			"a group or room call is recorded through a bot's connection: join a bot first (POST /api/calls/{id}/bots)")
	}
	var cur recordingEntity
	if _, err := s.calls.Get(ctx, id, recordingRow, &cur); err == nil && cur.State == "active" {
		return Recording{State: "active"}, nil
	}
	st, err := rec.StartRecording(ctx, c.CallConnectionID)
	if err != nil {
		return Recording{}, acsError(err)
	}
	if _, err := s.index.Upsert(ctx, "rec:"+st.ID, "call", indexRow{CallID: id}); err != nil {
		return Recording{}, store.ProblemFor(err)
	}
	if err := s.setRecording(ctx, id, st.ID, "active", s.now().UTC(), "started-by-creator"); err != nil {
		return Recording{}, store.ProblemFor(err)
	}
	return Recording{State: "active"}, nil
}

// StopRecording stops a call's recording (creator only); stopping twice is not an error.
func (s *Service) StopRecording(ctx context.Context, actor, id string) error {
	if _, err := s.creatorCall(ctx, actor, id, "stop recording it"); err != nil {
		return err
	}
	rec, err := s.recorder()
	if err != nil {
		return err
	}
	var cur recordingEntity
	if _, err := s.calls.Get(ctx, id, recordingRow, &cur); errors.Is(err, store.ErrNotFound) || cur.State != "active" {
		return nil
	} else if err != nil {
		return store.ProblemFor(err)
	}
	if err := rec.StopRecording(ctx, cur.RecordingID); err != nil && !acs.IsNotFound(err) {
		return acsError(err)
	}
	return store.ProblemFor(s.setRecording(ctx, id, cur.RecordingID, "inactive", s.now().UTC(), "stopped-by-creator"))
}

// setRecording moves the recording state, newest event wins (as for the roster).
func (s *Service) setRecording(ctx context.Context, id, recordingID, state string, at time.Time, eventID string) error {
	for range 5 {
		var r recordingEntity
		etag, err := s.calls.Get(ctx, id, recordingRow, &r)
		if errors.Is(err, store.ErrNotFound) {
			r = recordingEntity{RecordingID: recordingID, State: state, At: at, Event: eventID}
			if _, err = s.calls.Insert(ctx, id, recordingRow, r); !errors.Is(err, store.ErrConflict) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if recordingID != r.RecordingID && state == "inactive" {
			return nil // an old recording's end
		}
		if recordingID == r.RecordingID && !later(at, eventID, r.At, r.Event) {
			return nil
		}
		r.RecordingID, r.State, r.At, r.Event = recordingID, state, at, eventID
		if _, err = s.calls.Replace(ctx, id, recordingRow, r, etag); !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return errChanging
}

// RecordingStateChanged applies a RecordingStateChanged callback to the call it is about.
func (s *Service) RecordingStateChanged(ctx context.Context, id string, ev acs.CallbackEvent) error {
	var d struct {
		RecordingID string `json:"recordingId"`
		State       string `json:"state"`
	}
	if err := json.Unmarshal(ev.RawData, &d); err != nil || d.RecordingID == "" || (d.State != "active" && d.State != "inactive") {
		httpapi.Logger(ctx).Warn("malformed RecordingStateChanged ignored", "callId", id, "eventId", ev.ID)
		return nil
	}
	return s.setRecording(ctx, id, d.RecordingID, d.State, ev.Time, ev.ID)
}

// RecordingFileReady handles Event Grid's RecordingFileStatusUpdated: the
// file's metadata goes on the call whose recording it is (subject
// .../recordingId/<id>), once per chunk however often it is redelivered.
func (s *Service) RecordingFileReady(ctx context.Context, ev events.Event) error {
	_, recordingID, _ := strings.Cut(ev.Subject, "/recordingId/")
	if recordingID == "" {
		httpapi.Logger(ctx).Info("RecordingFileStatusUpdated without a recording id in its subject; ignored", "eventId", ev.ID, "subject", ev.Subject)
		return nil
	}
	var ix indexRow
	if _, err := s.index.Get(ctx, "rec:"+recordingID, "call", &ix); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		httpapi.Logger(ctx).Info("recording file for a recording Switchboard did not start; ignored", "eventId", ev.ID)
		return nil
	} else if err != nil {
		return err
	}
	var d struct {
		RecordingStorageInfo struct {
			RecordingChunks []struct {
				ContentLocation  string `json:"contentLocation"`
				MetadataLocation string `json:"metadataLocation"`
				DeleteLocation   string `json:"deleteLocation"`
			} `json:"recordingChunks"`
		} `json:"recordingStorageInfo"`
		RecordingStartTime   time.Time `json:"recordingStartTime"`
		RecordingDurationMs  int64     `json:"recordingDurationMs"`
		RecordingContentType string    `json:"recordingContentType"`
		RecordingFormatType  string    `json:"recordingFormatType"`
	}
	if err := ev.DecodeData(&d); err != nil {
		httpapi.Logger(ctx).Error("malformed RecordingFileStatusUpdated dropped", "eventId", ev.ID, "err", err)
		return nil
	}
	for range 5 {
		var r recordingEntity
		etag, err := s.calls.Get(ctx, ix.CallID, recordingRow, &r)
		if err != nil {
			return err
		}
		var files []RecordingFile
		if r.Files != "" {
			_ = json.Unmarshal([]byte(r.Files), &files)
		}
		changed := false
		for _, ch := range d.RecordingStorageInfo.RecordingChunks {
			if ch.ContentLocation == "" || containsFile(files, ch.ContentLocation) {
				continue
			}
			files = append(files, RecordingFile{ContentLocation: ch.ContentLocation, MetadataLocation: ch.MetadataLocation, DeleteLocation: ch.DeleteLocation,
				DurationMs: d.RecordingDurationMs, StartedAt: d.RecordingStartTime, ContentType: d.RecordingContentType, FormatType: d.RecordingFormatType})
			changed = true
		}
		if !changed {
			return nil
		}
		b, _ := json.Marshal(files)
		r.Files = string(b)
		if _, err = s.calls.Replace(ctx, ix.CallID, recordingRow, r, etag); !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return errChanging
}

func containsFile(files []RecordingFile, content string) bool {
	for _, f := range files {
		if f.ContentLocation == content {
			return true
		}
	}
	return false
}

// recordingOf is the recording shown on a call: the state to everyone who
// sees the call (invitees see that it is recorded), the files to the creator.
func (s *Service) recordingOf(ctx context.Context, id string, creator bool) *Recording {
	var r recordingEntity
	if _, err := s.calls.Get(ctx, id, recordingRow, &r); err != nil {
		return nil
	}
	out := &Recording{State: r.State}
	if creator && r.Files != "" {
		_ = json.Unmarshal([]byte(r.Files), &out.Files)
	}
	return out
}

// RecordingRoutes registers POST and DELETE /api/calls/{id}/recording
// (creator only). Starting a recording (billed Call Automation work) spends
// one of quota.CallAutomation; stopping one is free.
func RecordingRoutes(rt *httpapi.Router, authn *auth.Authenticator, s *Service, limits *quota.Limiter) {
	rt.Handle("POST /api/calls/{id}/recording", authn.UserHandler(requestTimeout, func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := limits.Take(r.Context(), quota.SubjectOf(r.Context(), userID), quota.Cost{Quota: quota.CallAutomation, N: 1}); err != nil {
			return err
		}
		rec, err := s.StartRecording(r.Context(), userID, r.PathValue("id"))
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, rec)
		return nil
	}))
	rt.Handle("DELETE /api/calls/{id}/recording", authn.UserHandler(requestTimeout, func(w http.ResponseWriter, r *http.Request, userID string) error {
		if err := s.StopRecording(r.Context(), userID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
}
