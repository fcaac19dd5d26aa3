package graphemu

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// lobbyScopes are lobbyBypassSettings.scope values; the last two are
// evolvable members Graph accepts only with Prefer: include-unknown-enum-members.
var lobbyScopes = []string{"organizer", "organization", "organizationAndFederated", "everyone", "invited", "organizationExcludingGuests"}

// Meeting is an emulated onlineMeeting, as tests inspect it.
type Meeting struct {
	ID, Organizer, ExternalID, Subject string
	Start, End, Created                time.Time
	JoinWebURL                         string
	JoinMeetingID, Passcode            string
	LobbyBypassScope                   string
	ThreadID                           string
}

type meeting struct{ Meeting }

// Meetings returns the meetings that exist, sorted by creation.
func (e *Emulator) Meetings() []Meeting {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Meeting, 0, len(e.meetings))
	for _, m := range e.meetings {
		out = append(out, m.Meeting)
	}
	slices.SortFunc(out, func(a, b Meeting) int { return a.Created.Compare(b.Created) })
	return out
}

func (e *Emulator) meetingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1.0/users/{user}/onlineMeetings", e.guard("create", "Create", RoleReadWrite, e.create))
	mux.HandleFunc("POST /v1.0/users/{user}/onlineMeetings/createOrGet", e.guard("createOrGet", "Create", RoleReadWrite, e.createOrGet))
	mux.HandleFunc("GET /v1.0/users/{user}/onlineMeetings/{id}", e.guard("get", "Get", "", e.get))
	mux.HandleFunc("PATCH /v1.0/users/{user}/onlineMeetings/{id}", e.guard("update", "Update", RoleReadWrite, e.update))
	mux.HandleFunc("DELETE /v1.0/users/{user}/onlineMeetings/{id}", e.guard("delete", "Delete", RoleReadWrite, e.delete))
}

// guard runs Graph's checks in Graph's order: throttling, the token, the
// user, the application access policy.
func (e *Emulator) guard(op, verb, role string, next func(w http.ResponseWriter, r *http.Request, organizer string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.count(op)
		if f, ok := e.takeFault(); ok {
			if f.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
			}
			code := "TooManyRequests"
			if f.status != http.StatusTooManyRequests {
				code = "ServiceNotAvailable"
			}
			graphError(w, r, f.status, code, "Too many requests or the service is unavailable; retry after the delay in Retry-After.")
			return
		}
		var c caller
		var ok bool
		if role == "" {
			if c, ok = e.authorize(w, r); ok && !slices.Contains(c.Roles, RoleReadWrite) && !slices.Contains(c.Roles, "OnlineMeetings.Read.All") {
				graphError(w, r, http.StatusForbidden, "Forbidden", "Insufficient privileges to complete the operation. The app needs the application permission OnlineMeetings.Read.All or "+RoleReadWrite+" with admin consent.")
				return
			}
		} else {
			c, ok = e.authorize(w, r, role)
		}
		if !ok {
			return
		}
		organizer := r.PathValue("user")
		e.mu.Lock()
		_, known := e.users[organizer]
		e.mu.Unlock()
		if !known {
			graphError(w, r, http.StatusNotFound, "NotFound", fmt.Sprintf("The user '%s' was not found in the tenant '%s'.", organizer, e.tokens.TenantID()))
			return
		}
		if !e.policyAllows(c.AppID, organizer) {
			graphError(w, r, http.StatusForbidden, "Unauthorized", fmt.Sprintf("App %s is not authorized to %s meeting on behalf of user %s", c.AppID, verb, organizer))
			return
		}
		if r.Method != http.MethodGet {
			w = e.lostAnswer(w)
		}
		next(w, r, organizer)
	}
}

// createBody is what create and createOrGet take.
type createBody struct {
	ExternalID    *string         `json:"externalId"`
	Subject       string          `json:"subject"`
	StartDateTime *time.Time      `json:"startDateTime"`
	EndDateTime   *time.Time      `json:"endDateTime"`
	Participants  json.RawMessage `json:"participants"`
}

func (e *Emulator) create(w http.ResponseWriter, r *http.Request, organizer string) {
	var body createBody
	if !decode(w, r, &body) {
		return
	}
	e.make(w, r, organizer, "", body)
}

func (e *Emulator) createOrGet(w http.ResponseWriter, r *http.Request, organizer string) {
	var body createBody
	if !decode(w, r, &body) {
		return
	}
	if body.ExternalID == nil || *body.ExternalID == "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "externalId is required for createOrGet.")
		return
	}
	e.mu.Lock()
	for _, m := range e.meetings {
		if m.Organizer == organizer && m.ExternalID == *body.ExternalID {
			out := e.view(m)
			e.mu.Unlock()
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	e.mu.Unlock()
	e.make(w, r, organizer, *body.ExternalID, body)
}

// make creates a meeting: times default to now .. now+1h, or start .. start+1h.
func (e *Emulator) make(w http.ResponseWriter, r *http.Request, organizer, externalID string, body createBody) {
	now := e.clock().UTC()
	start, end := now, now.Add(time.Hour)
	switch {
	case body.StartDateTime != nil && body.EndDateTime != nil:
		start, end = body.StartDateTime.UTC(), body.EndDateTime.UTC()
	case body.StartDateTime != nil:
		start = body.StartDateTime.UTC()
		end = start.Add(time.Hour)
	case body.EndDateTime != nil:
		graphError(w, r, http.StatusBadRequest, "BadRequest", "startDateTime is required when endDateTime is given.")
		return
	}
	if end.Before(start) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "endDateTime must be after startDateTime.")
		return
	}
	month := organizer + "|" + now.Format("2006-01")
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.created[month] >= e.cap {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		w.Header().Set("Retry-After", strconv.Itoa(int(next.Sub(now)/time.Second)+1))
		graphError(w, r, http.StatusTooManyRequests, "TooManyRequests",
			fmt.Sprintf("The user has reached the limit of %d meetings created this month.", e.cap))
		return
	}
	e.created[month]++
	id := base64.RawURLEncoding.EncodeToString([]byte("1*" + organizer + "*0**19:meeting_" + uuid.NewString() + "@thread.v2"))
	thread := "19:meeting_" + base64.RawURLEncoding.EncodeToString([]byte(uuid.NewString()))[:32] + "@thread.v2"
	ctx, _ := json.Marshal(map[string]string{"Tid": e.tokens.TenantID(), "Oid": organizer})
	m := &meeting{Meeting{
		ID: id, Organizer: organizer, ExternalID: externalID, Subject: body.Subject,
		Start: start, End: end, Created: now,
		JoinWebURL:    "https://teams.microsoft.com/l/meetup-join/" + strings.NewReplacer(":", "%3a", "@", "%40").Replace(thread) + "/0?context=" + url.QueryEscape(string(ctx)),
		JoinMeetingID: digits(13), Passcode: passcode(), LobbyBypassScope: "organization", ThreadID: thread,
	}}
	e.meetings[id] = m
	writeJSON(w, http.StatusCreated, e.view(m))
}

func (e *Emulator) find(w http.ResponseWriter, r *http.Request, organizer string) (*meeting, bool) {
	e.mu.Lock()
	m, ok := e.meetings[r.PathValue("id")]
	e.mu.Unlock()
	if !ok || m.Organizer != organizer {
		graphError(w, r, http.StatusNotFound, "NotFound", "The specified meeting was not found.")
		return nil, false
	}
	return m, true
}

func (e *Emulator) get(w http.ResponseWriter, r *http.Request, organizer string) {
	if m, ok := e.find(w, r, organizer); ok {
		e.mu.Lock()
		out := e.view(m)
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	}
}

func (e *Emulator) update(w http.ResponseWriter, r *http.Request, organizer string) {
	m, ok := e.find(w, r, organizer)
	if !ok {
		return
	}
	var body struct {
		Subject             *string    `json:"subject"`
		StartDateTime       *time.Time `json:"startDateTime"`
		EndDateTime         *time.Time `json:"endDateTime"`
		LobbyBypassSettings *struct {
			Scope                 string `json:"scope"`
			IsDialInBypassEnabled *bool  `json:"isDialInBypassEnabled"`
		} `json:"lobbyBypassSettings"`
		AllowedPresenters *string `json:"allowedPresenters"`
		AllowMeetingChat  *string `json:"allowMeetingChat"`
	}
	if !decode(w, r, &body) {
		return
	}
	if (body.StartDateTime == nil) != (body.EndDateTime == nil) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "startDateTime and endDateTime must be updated together.")
		return
	}
	if lb := body.LobbyBypassSettings; lb != nil && !slices.Contains(lobbyScopes, lb.Scope) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'microsoft.graph.lobbyBypassScope'.", lb.Scope))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if body.Subject != nil {
		m.Subject = *body.Subject
	}
	if body.StartDateTime != nil {
		m.Start, m.End = body.StartDateTime.UTC(), body.EndDateTime.UTC()
	}
	if body.LobbyBypassSettings != nil {
		m.LobbyBypassScope = body.LobbyBypassSettings.Scope
	}
	writeJSON(w, http.StatusOK, e.view(m))
}

func (e *Emulator) delete(w http.ResponseWriter, r *http.Request, organizer string) {
	m, ok := e.find(w, r, organizer)
	if !ok {
		return
	}
	e.mu.Lock()
	delete(e.meetings, m.ID)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// view is the onlineMeeting resource as Graph answers it; e.mu is held.
func (e *Emulator) view(m *meeting) map[string]any {
	return map[string]any{
		"@odata.context":        e.url + "/v1.0/$metadata#users('" + m.Organizer + "')/onlineMeetings/$entity",
		"id":                    m.ID,
		"creationDateTime":      m.Created.Format(time.RFC3339Nano),
		"startDateTime":         m.Start.Format(time.RFC3339Nano),
		"endDateTime":           m.End.Format(time.RFC3339Nano),
		"externalId":            nullable(m.ExternalID),
		"subject":               nullable(m.Subject),
		"joinWebUrl":            m.JoinWebURL,
		"joinUrl":               m.JoinWebURL,
		"videoTeleconferenceId": nil,
		"isEntryExitAnnounced":  true,
		"allowedPresenters":     "everyone",
		"allowMeetingChat":      "enabled",
		"joinMeetingIdSettings": map[string]any{"isPasscodeRequired": true, "joinMeetingId": m.JoinMeetingID, "passcode": m.Passcode},
		"lobbyBypassSettings":   map[string]any{"scope": m.LobbyBypassScope, "isDialInBypassEnabled": false},
		"chatInfo":              map[string]any{"threadId": m.ThreadID, "messageId": "0", "replyChainMessageId": nil},
		"participants": map[string]any{
			"organizer": map[string]any{"role": "presenter", "upn": nil,
				"identity": map[string]any{"user": map[string]any{"id": m.Organizer, "displayName": e.users[m.Organizer], "tenantId": e.tokens.TenantID(), "identityProvider": "AAD"}}},
			"attendees": []any{},
		},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decode reads a strict JSON body: an unknown property is a 400, as Graph's OData reader answers.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, 64<<10)); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read the request body.")
		return false
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return false
	}
	return true
}

func digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func passcode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 6)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[d.Int64()]
	}
	return string(b)
}
