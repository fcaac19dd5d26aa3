package acsemu

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Rooms limits and defaults, as ACS documents them.
const (
	MaxRoomValidity = 180 * 24 * time.Hour
	// DefaultRoomPageSize is small on purpose so that clients' nextLink paging is exercised.
	DefaultRoomPageSize = 2
)

// RoomRoles lists the participant roles ACS Rooms accepts.
var RoomRoles = []string{"Presenter", "Attendee", "Consumer", "Collaborator"}

// RoomState is a copy of one room as the emulator holds it, for tests.
type RoomState struct {
	ID                 string
	CreatedAt          time.Time
	ValidFrom          time.Time
	ValidUntil         time.Time
	PSTNDialOutEnabled bool
	// Participants maps raw ids to roles.
	Participants map[string]string
}

type room struct {
	RoomState
}

type roomJSON struct {
	ID                 string `json:"id"`
	CreatedAt          string `json:"createdAt"`
	ValidFrom          string `json:"validFrom"`
	ValidUntil         string `json:"validUntil"`
	PSTNDialOutEnabled bool   `json:"pstnDialOutEnabled"`
}

func (r *room) wire() roomJSON {
	return roomJSON{
		ID:                 r.ID,
		CreatedAt:          r.CreatedAt.UTC().Format(time.RFC3339Nano),
		ValidFrom:          r.ValidFrom.UTC().Format(time.RFC3339Nano),
		ValidUntil:         r.ValidUntil.UTC().Format(time.RFC3339Nano),
		PSTNDialOutEnabled: r.PSTNDialOutEnabled,
	}
}

func (r *room) copyState() RoomState {
	s := r.RoomState
	s.Participants = make(map[string]string, len(r.Participants))
	for k, v := range r.Participants {
		s.Participants[k] = v
	}
	return s
}

type roleJSON struct {
	Role string `json:"role"`
}

func (e *Emulator) routeRooms() {
	e.api.HandleFunc("POST /rooms", e.operation("CreateRoom", e.createRoom))
	e.api.HandleFunc("GET /rooms/{id}", e.operation("GetRoom", e.getRoom))
	e.api.HandleFunc("PATCH /rooms/{id}", e.operation("UpdateRoom", e.updateRoom))
	e.api.HandleFunc("DELETE /rooms/{id}", e.operation("DeleteRoom", e.deleteRoom))
	e.api.HandleFunc("PATCH /rooms/{id}/participants", e.operation("UpdateRoomParticipants", e.updateRoomParticipants))
	e.api.HandleFunc("GET /rooms/{id}/participants", e.operation("ListRoomParticipants", e.listRoomParticipants))
	e.control.HandleFunc("GET /emulator/rooms", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Rooms())
	})
}

// Rooms returns a copy of every room that exists.
func (e *Emulator) Rooms() []RoomState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RoomState, 0, len(e.rooms))
	for _, r := range e.rooms {
		out = append(out, r.copyState())
	}
	slices.SortFunc(out, func(a, b RoomState) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Room returns a copy of room id, if it exists.
func (e *Emulator) Room(id string) (RoomState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.rooms[id]
	if !ok {
		return RoomState{}, false
	}
	return r.copyState(), true
}

// SetRoomPageSize sets how many participants one list page holds (default DefaultRoomPageSize).
func (e *Emulator) SetRoomPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roomPageSize = max(n, 1)
}

func (e *Emulator) createRoom(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ValidFrom          *time.Time           `json:"validFrom"`
		ValidUntil         *time.Time           `json:"validUntil"`
		PSTNDialOutEnabled bool                 `json:"pstnDialOutEnabled"`
		Participants       map[string]*roleJSON `json:"participants"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	repeat, ok := repeatability(w, r, e.opts.Now())
	if !ok {
		return
	}
	now := e.opts.Now().UTC()
	from, until := now, time.Time{}
	if req.ValidFrom != nil {
		from = req.ValidFrom.UTC()
	}
	if req.ValidUntil != nil {
		until = req.ValidUntil.UTC()
	} else {
		until = from.Add(MaxRoomValidity)
	}
	if !validRoomValidity(w, from, until, now) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh, ok := e.trackRepeat(w, r, "room", repeat, req, now)
	if !ok {
		return
	}
	if id, ok := e.roomRepeats[repeat]; ok && repeat != "" && !fresh {
		if rm, ok := e.rooms[id]; ok {
			writeJSON(w, http.StatusCreated, rm.wire())
			return
		}
	}
	participants := map[string]string{}
	for raw, p := range req.Participants {
		if p == nil {
			continue // a null in a create request asks for nothing
		}
		if !e.validRoomParticipant(w, raw, p.Role) {
			return
		}
		participants[raw] = p.Role
	}
	rm := &room{RoomState{
		ID: newRoomID(), CreatedAt: now, ValidFrom: from, ValidUntil: until,
		PSTNDialOutEnabled: req.PSTNDialOutEnabled, Participants: participants,
	}}
	e.rooms[rm.ID] = rm
	if repeat != "" {
		e.roomRepeats[repeat] = rm.ID
	}
	writeJSON(w, http.StatusCreated, rm.wire())
}

func (e *Emulator) getRoom(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	rm, ok := e.rooms[id]
	var out roomJSON
	if ok {
		out = rm.wire()
	}
	e.mu.Unlock()
	if !ok {
		writeRoomNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) deleteRoom(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	_, ok := e.rooms[id]
	delete(e.rooms, id)
	e.mu.Unlock()
	if !ok {
		writeRoomNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) updateRoom(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ValidFrom          *time.Time `json:"validFrom"`
		ValidUntil         *time.Time `json:"validUntil"`
		PSTNDialOutEnabled *bool      `json:"pstnDialOutEnabled"`
	}
	if !decodeMergePatch(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	now := e.opts.Now().UTC()
	e.mu.Lock()
	defer e.mu.Unlock()
	rm, ok := e.rooms[id]
	if !ok {
		writeRoomNotFound(w, id)
		return
	}
	from, until := rm.ValidFrom, rm.ValidUntil
	if req.ValidFrom != nil {
		from = req.ValidFrom.UTC()
	}
	if req.ValidUntil != nil {
		until = req.ValidUntil.UTC()
	}
	if !validRoomValidity(w, from, until, now) {
		return
	}
	rm.ValidFrom, rm.ValidUntil = from, until
	if req.PSTNDialOutEnabled != nil {
		rm.PSTNDialOutEnabled = *req.PSTNDialOutEnabled
	}
	writeJSON(w, http.StatusOK, rm.wire())
}

func (e *Emulator) updateRoomParticipants(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Participants map[string]*roleJSON `json:"participants"`
	}
	if !decodeMergePatch(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	rm, ok := e.rooms[id]
	if !ok {
		writeRoomNotFound(w, id)
		return
	}
	// Validate everything first: ACS applies a participants patch whole or not at all.
	for raw, p := range req.Participants {
		if p != nil && !e.validRoomParticipant(w, raw, p.Role) {
			return
		}
	}
	for raw, p := range req.Participants {
		if p == nil {
			delete(rm.Participants, raw)
		} else {
			rm.Participants[raw] = p.Role
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (e *Emulator) listRoomParticipants(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	skip := 0
	if s := r.URL.Query().Get("skip"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("skip %q is not a non-negative integer", s))
			return
		}
		skip = n
	}
	e.mu.Lock()
	rm, ok := e.rooms[id]
	var raws []string
	if ok {
		raws = slices.Sorted(func(yield func(string) bool) {
			for k := range rm.Participants {
				if !yield(k) {
					return
				}
			}
		})
	}
	size := e.roomPageSize
	type participant struct {
		RawID string `json:"rawId"`
		Role  string `json:"role"`
	}
	page := []participant{}
	for i := skip; i < len(raws) && i < skip+size; i++ {
		page = append(page, participant{raws[i], rm.Participants[raws[i]]})
	}
	e.mu.Unlock()
	if !ok {
		writeRoomNotFound(w, id)
		return
	}
	out := map[string]any{"value": page}
	if skip+size < len(raws) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "skip": {strconv.Itoa(skip + size)}}
		out["nextLink"] = e.baseURL(r) + "/rooms/" + url.PathEscape(id) + "/participants?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// validRoomParticipant checks a participant's id and role; the caller holds e.mu.
func (e *Emulator) validRoomParticipant(w http.ResponseWriter, raw, role string) bool {
	if _, ok := e.liveIdentity(raw); !ok {
		writeError(w, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("participant %q is not an existing communication user of this resource", raw))
		return false
	}
	if !slices.Contains(RoomRoles, role) {
		writeError(w, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("role %q of participant %q is not one of %v", role, raw, RoomRoles))
		return false
	}
	return true
}

func validRoomValidity(w http.ResponseWriter, from, until, now time.Time) bool {
	switch {
	case !from.Before(until):
		writeError(w, http.StatusBadRequest, "BadRequest", "validFrom must be before validUntil")
	case until.Sub(from) > MaxRoomValidity:
		writeError(w, http.StatusBadRequest, "BadRequest", "a room is valid for at most 180 days")
	case !until.After(now):
		writeError(w, http.StatusBadRequest, "BadRequest", "validUntil must be in the future")
	default:
		return true
	}
	return false
}

// RepeatabilityWindow is how long ACS tracks a Repeatability-Request-ID
// (learn.microsoft.com/en-us/rest/api/communication/repeatable-requests):
// a first-sent older than it is refused 412 Precondition Failed; a repeat
// of a tracked id must be the same request (else 400).
const RepeatabilityWindow = 5 * time.Minute

// repeatability reads the Repeatability-Request-ID and -First-Sent pair the
// SDKs send on creates: both or neither, a request id of at most 36
// characters (else 400), and a first-sent date within the tracking
// duration (else 412).
func repeatability(w http.ResponseWriter, r *http.Request, now time.Time) (string, bool) {
	id, first := r.Header.Get("Repeatability-Request-ID"), r.Header.Get("Repeatability-First-Sent")
	if id == "" && first == "" {
		return "", true
	}
	if id == "" || first == "" || len(id) > 36 {
		writeError(w, http.StatusBadRequest, "BadRequest", "Repeatability-Request-ID (at most 36 characters) and Repeatability-First-Sent go together")
		return "", false
	}
	at, err := time.Parse(http.TimeFormat, first)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Repeatability-First-Sent %q is not an RFC 1123 date", first))
		return "", false
	}
	if now.Sub(at) > RepeatabilityWindow {
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "Repeatability-First-Sent is outside the 5 minute tracking duration")
		return "", false
	}
	return id, true
}

// repeatSeen is a tracked Repeatability-Request-ID: what its first request
// was and when it came.
type repeatSeen struct {
	request string
	at      time.Time
}

// trackRepeat applies the Repeatable Requests rules to a request carrying
// repeat (e.mu held): a tracked id (within RepeatabilityWindow) must come
// with the same request, else 400 is written and ok is false; fresh is
// true when the id is not (or no longer) tracked, so the request runs
// normally and its answer is the one to repeat. The request is the decoded
// body (re-encoded) and the first-sent header.
func (e *Emulator) trackRepeat(w http.ResponseWriter, r *http.Request, scope, repeat string, body any, now time.Time) (fresh, ok bool) {
	if repeat == "" {
		return true, true
	}
	b, _ := json.Marshal(body)
	request := string(b) + "\n" + r.Header.Get("Repeatability-First-Sent")
	key := scope + "\n" + repeat
	if prev, tracked := e.repeatsSeen[key]; tracked && now.Sub(prev.at) <= RepeatabilityWindow {
		if prev.request != request {
			writeError(w, http.StatusBadRequest, "BadRequest", "Repeatability-Request-ID "+repeat+" was used for a different request")
			return false, false
		}
		return false, true
	}
	e.repeatsSeen[key] = repeatSeen{request: request, at: now}
	return true, true
}

// decodeMergePatch decodes a JSON merge-patch body strictly; ACS refuses
// any other content type on PATCH with 415.
func decodeMergePatch(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, _ := io.ReadAll(r.Body) // already buffered by authenticate
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/merge-patch+json" {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "a PATCH body must be application/merge-patch+json")
		return false
	}
	return decodeStrict(w, body, dst, "BadRequest")
}

func writeRoomNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("room %q does not exist", id))
}

// newRoomID makes a room id in ACS's form: a 17-digit decimal number.
func newRoomID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e16)) // crypto/rand does not fail on supported platforms
	return strconv.FormatInt(n.Int64()+1e16, 10)
}

// baseURL is the emulator's own base URL without a trailing slash: the
// started endpoint, or the request's host when mounted as a handler.
func (e *Emulator) baseURL(r *http.Request) string {
	if e.endpoint != "" {
		return e.endpoint[:len(e.endpoint)-1]
	}
	scheme := "http"
	if r != nil && r.TLS != nil {
		scheme = "https"
	}
	host := "localhost"
	if r != nil {
		host = r.Host
	}
	return scheme + "://" + host
}
