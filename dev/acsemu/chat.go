package acsemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Chat limits ACS documents (service-limits.md) and enforces.
const (
	MaxChatParticipants   = 250
	MaxChatBatch          = 200
	ChatCreatesPerWindow  = 10
	ChatCreateWindow      = 10 * time.Second
	DefaultChatPageSize   = 200
	chatMaxTopic          = 250
	chatMaxMessageBytes   = 28 << 10
	ChatMessageReceived   = "Microsoft.Communication.ChatMessageReceived"
	chatEventTopicPattern = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.Communication/communicationServices/"
)

// ChatAPIVersions are the GA Chat api-versions.
var ChatAPIVersions = []string{"2021-03-07", "2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"}

type chatState struct {
	threads   map[string]*chatThread
	repeats   map[string]string      // creator + "\n" + repeatability-request-id -> thread id
	creations map[string][]time.Time // creator -> recent creations
	events    [][]byte
	sink      EventSink
	seq       int64
}

// ChatThreadState is a copy of one thread, for tests.
type ChatThreadState struct {
	ID        string
	Topic     string
	CreatedBy string
	CreatedOn time.Time
	// Participants maps raw ids to display names.
	Participants map[string]string
	Messages     int
	Metadata     map[string]string
}

type chatThread struct {
	id, topic, createdBy string
	createdOn            time.Time
	metadata             map[string]string
	parts                map[string]*chatParticipant
	messages             []chatMessage
}

type chatParticipant struct {
	displayName  string
	shareHistory time.Time
}

type chatMessage struct {
	id, typ, content, senderDisplayName, sender string
	seq                                         int64
	createdOn                                   time.Time
}

type chatIdentifierJSON struct {
	Kind              string `json:"kind,omitempty"`
	RawID             string `json:"rawId,omitempty"`
	CommunicationUser *struct {
		ID string `json:"id"`
	} `json:"communicationUser,omitempty"`
	// Other identifier kinds (phone, Teams) are not chat participants here.
	PhoneNumber        json.RawMessage `json:"phoneNumber,omitempty"`
	MicrosoftTeamsUser json.RawMessage `json:"microsoftTeamsUser,omitempty"`
	MicrosoftTeamsApp  json.RawMessage `json:"microsoftTeamsApp,omitempty"`
	TeamsExtension     json.RawMessage `json:"teamsExtension,omitempty"`
}

func (id chatIdentifierJSON) raw() string {
	if id.CommunicationUser != nil {
		return id.CommunicationUser.ID
	}
	if id.PhoneNumber != nil || id.MicrosoftTeamsUser != nil || id.MicrosoftTeamsApp != nil || id.TeamsExtension != nil {
		return ""
	}
	return id.RawID
}

func chatUserJSON(raw string) map[string]any {
	return map[string]any{"rawId": raw, "communicationUser": map[string]string{"id": raw}}
}

type chatParticipantJSON struct {
	CommunicationIdentifier *chatIdentifierJSON `json:"communicationIdentifier"`
	DisplayName             string              `json:"displayName,omitempty"`
	ShareHistoryTime        *time.Time          `json:"shareHistoryTime,omitempty"`
	Metadata                map[string]string   `json:"metadata,omitempty"`
}

func (e *Emulator) routeChat() {
	e.chat = chatState{threads: map[string]*chatThread{}, repeats: map[string]string{}, creations: map[string][]time.Time{}}
	e.api.HandleFunc("POST /chat/threads", e.chatOperation("CreateChatThread", e.createChatThread))
	e.api.HandleFunc("GET /chat/threads/{id}", e.chatOperation("GetChatThread", e.onThread(e.getChatThread)))
	e.api.HandleFunc("DELETE /chat/threads/{id}", e.chatOperation("DeleteChatThread", e.deleteChatThread))
	e.api.HandleFunc("POST /chat/threads/{id}/participants/:add", e.chatOperation("AddChatParticipants", e.onThread(e.addChatParticipants)))
	e.api.HandleFunc("POST /chat/threads/{id}/participants/:remove", e.chatOperation("RemoveChatParticipant", e.onThread(e.removeChatParticipant)))
	e.api.HandleFunc("GET /chat/threads/{id}/participants", e.chatOperation("ListChatParticipants", e.onThread(e.listChatParticipants)))
	e.api.HandleFunc("POST /chat/threads/{id}/messages", e.chatOperation("SendChatMessage", e.onThread(e.sendChatMessage)))
	e.api.HandleFunc("GET /chat/threads/{id}/messages", e.chatOperation("ListChatMessages", e.onThread(e.listChatMessages)))
	e.control.HandleFunc("GET /emulator/chat/threads", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.ChatThreads())
	})
}

// ChatEvents returns every Event Grid event raised so far, each a JSON array of one.
func (e *Emulator) ChatEvents() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.chat.events)
}

// ChatThreads returns a copy of every thread that exists.
func (e *Emulator) ChatThreads() []ChatThreadState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ChatThreadState, 0, len(e.chat.threads))
	for _, t := range e.chat.threads {
		out = append(out, t.copyState())
	}
	slices.SortFunc(out, func(a, b ChatThreadState) int { return a.CreatedOn.Compare(b.CreatedOn) })
	return out
}

// ChatThread returns a copy of thread id, if it exists.
func (e *Emulator) ChatThread(id string) (ChatThreadState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.chat.threads[id]
	if !ok {
		return ChatThreadState{}, false
	}
	return t.copyState(), true
}

func (t *chatThread) copyState() ChatThreadState {
	s := ChatThreadState{ID: t.id, Topic: t.topic, CreatedBy: t.createdBy, CreatedOn: t.createdOn, Participants: map[string]string{}, Messages: len(t.messages),
		Metadata: maps.Clone(t.metadata)}
	for raw, p := range t.parts {
		s.Participants[raw] = p.displayName
	}
	return s
}

type chatHandler func(w http.ResponseWriter, r *http.Request, caller string)

// chatOperation is what every Chat request goes through, in ACS's order:
// counting, injected faults, https, the ACS user token (signature, expiry,
// revocation, chat scope), api-version.
func (e *Emulator) chatOperation(name string, h chatHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !e.admit(name, w) {
			return
		}
		if r.TLS == nil {
			writeError(w, http.StatusForbidden, "HttpsRequired", "Chat is served over https only")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			e.log.Info("acsemu: refused", "op", name, "err", "no bearer token")
			writeError(w, http.StatusUnauthorized, "Unauthorized", "Chat needs an ACS user access token: Authorization: Bearer <token>")
			return
		}
		claims, err := e.Verify(token)
		if err != nil {
			e.log.Info("acsemu: refused", "op", name, "err", err)
			writeError(w, http.StatusUnauthorized, "Unauthorized", "the access token is not valid: "+err.Error())
			return
		}
		if !slices.Contains(claims.Scopes, "chat") {
			writeError(w, http.StatusForbidden, "Forbidden", "the access token does not carry the chat scope")
			return
		}
		if v := r.URL.Query()["api-version"]; len(v) != 1 || !slices.Contains(ChatAPIVersions, v[0]) {
			writeError(w, http.StatusBadRequest, "InvalidApiVersion", "api-version must be one GA Chat version: "+strings.Join(ChatAPIVersions, ", "))
			return
		}
		h(w, r, claims.ID)
	}
}

// onThread finds the thread named in the path and checks that the caller is
// in it: 404 for no thread, 403 for a thread the caller is not in.
func (e *Emulator) onThread(h func(http.ResponseWriter, *http.Request, string, *chatThread)) chatHandler {
	return func(w http.ResponseWriter, r *http.Request, caller string) {
		id := r.PathValue("id")
		e.mu.Lock()
		t, ok := e.chat.threads[id]
		in := ok && t.parts[caller] != nil
		e.mu.Unlock()
		switch {
		case !ok:
			writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("thread %q does not exist", id))
		case !in:
			writeError(w, http.StatusForbidden, "Forbidden", "User is not allowed to perform specified action.")
		default:
			h(w, r, caller, t)
		}
	}
}

func (e *Emulator) createChatThread(w http.ResponseWriter, r *http.Request, caller string) {
	var req struct {
		Topic           string                `json:"topic"`
		Participants    []chatParticipantJSON `json:"participants"`
		Metadata        map[string]string     `json:"metadata"`
		RetentionPolicy json.RawMessage       `json:"retentionPolicy"`
	}
	if !decodeChatBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Topic) == "" || len([]rune(req.Topic)) > chatMaxTopic {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("topic is required, at most %d characters", chatMaxTopic))
		return
	}
	if len(req.Participants) > MaxChatBatch {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("at most %d participants per request", MaxChatBatch))
		return
	}
	repeat := r.Header.Get("repeatability-request-id")
	if len(repeat) > 64 {
		writeError(w, http.StatusBadRequest, "BadRequest", "repeatability-request-id is at most 64 characters")
		return
	}
	now := e.opts.Now().UTC()
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.chat.repeats[caller+"\n"+repeat]; ok && repeat != "" {
		// The first answer again, without creating anything.
		if t, ok := e.chat.threads[id]; ok {
			w.Header().Set("Location", e.baseURL(r)+"/chat/threads/"+url.PathEscape(id))
			writeJSON(w, http.StatusCreated, map[string]any{"chatThread": t.wire()})
			return
		}
	}
	recent := slices.DeleteFunc(e.chat.creations[caller], func(at time.Time) bool { return now.Sub(at) >= ChatCreateWindow })
	if len(recent) >= ChatCreatesPerWindow {
		e.chat.creations[caller] = recent
		wait := ChatCreateWindow - now.Sub(recent[0])
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "Rate limit exceeded.")
		return
	}
	e.chat.creations[caller] = append(recent, now)
	t := &chatThread{id: newThreadID(), topic: req.Topic, createdBy: caller, createdOn: now, metadata: req.Metadata, parts: map[string]*chatParticipant{}}
	t.parts[caller] = &chatParticipant{}
	invalid := e.addParticipantsLocked(t, req.Participants)
	e.chat.threads[t.id] = t
	if repeat != "" {
		e.chat.repeats[caller+"\n"+repeat] = t.id
	}
	out := map[string]any{"chatThread": t.wire()}
	if len(invalid) > 0 {
		out["invalidParticipants"] = invalid
	}
	w.Header().Set("Location", e.baseURL(r)+"/chat/threads/"+url.PathEscape(t.id))
	writeJSON(w, http.StatusCreated, out)
}

func (t *chatThread) wire() map[string]any {
	out := map[string]any{
		"id": t.id, "topic": t.topic, "createdOn": t.createdOn.Format(time.RFC3339Nano),
		"createdByCommunicationIdentifier": chatUserJSON(t.createdBy),
	}
	if len(t.metadata) > 0 {
		out["metadata"] = t.metadata
	}
	return out
}

// addParticipantsLocked adds participants that are live identities of this
// resource; the rest come back as ACS's per-participant errors. The caller holds e.mu.
func (e *Emulator) addParticipantsLocked(t *chatThread, ps []chatParticipantJSON) []map[string]string {
	var invalid []map[string]string
	for _, p := range ps {
		raw := ""
		if p.CommunicationIdentifier != nil {
			raw = p.CommunicationIdentifier.raw()
		}
		if _, ok := e.liveIdentity(raw); !ok || !strings.HasPrefix(raw, "8:acs:"+e.resourceID+"_") {
			invalid = append(invalid, map[string]string{"target": raw, "code": "404", "message": "Not found"})
			continue
		}
		if old, ok := t.parts[raw]; ok {
			_ = old // "If participants already exist, no change occurs."
			continue
		}
		if len(t.parts) >= MaxChatParticipants {
			invalid = append(invalid, map[string]string{"target": raw, "code": "403", "message": fmt.Sprintf("a thread holds at most %d participants", MaxChatParticipants)})
			continue
		}
		cp := &chatParticipant{displayName: p.DisplayName}
		if p.ShareHistoryTime != nil {
			cp.shareHistory = p.ShareHistoryTime.UTC()
		} else {
			cp.shareHistory = e.opts.Now().UTC()
		}
		t.parts[raw] = cp
	}
	return invalid
}

func (e *Emulator) getChatThread(w http.ResponseWriter, _ *http.Request, _ string, t *chatThread) {
	e.mu.Lock()
	out := t.wire()
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) deleteChatThread(w http.ResponseWriter, r *http.Request, caller string) {
	id := r.PathValue("id")
	e.mu.Lock()
	t, ok := e.chat.threads[id]
	if ok && t.parts[caller] == nil {
		e.mu.Unlock()
		writeError(w, http.StatusForbidden, "Forbidden", "User is not allowed to perform specified action.")
		return
	}
	delete(e.chat.threads, id)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent) // deleting a deleted thread is not an error
}

func (e *Emulator) addChatParticipants(w http.ResponseWriter, r *http.Request, _ string, t *chatThread) {
	var req struct {
		Participants []chatParticipantJSON `json:"participants"`
	}
	if !decodeChatBody(w, r, &req) {
		return
	}
	if len(req.Participants) == 0 || len(req.Participants) > MaxChatBatch {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("participants is required: 1 to %d per request", MaxChatBatch))
		return
	}
	e.mu.Lock()
	invalid := e.addParticipantsLocked(t, req.Participants)
	e.mu.Unlock()
	out := map[string]any{}
	if len(invalid) > 0 {
		out["invalidParticipants"] = invalid
	}
	writeJSON(w, http.StatusCreated, out)
}

func (e *Emulator) removeChatParticipant(w http.ResponseWriter, r *http.Request, _ string, t *chatThread) {
	var id chatIdentifierJSON
	if !decodeChatBody(w, r, &id) {
		return
	}
	raw := id.raw()
	e.mu.Lock()
	_, ok := t.parts[raw]
	delete(t.parts, raw)
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("participant %q is not in the thread", raw))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) listChatParticipants(w http.ResponseWriter, r *http.Request, _ string, t *chatThread) {
	skip, size, ok := chatPaging(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	raws := slices.Sorted(func(yield func(string) bool) {
		for k := range t.parts {
			if !yield(k) {
				return
			}
		}
	})
	page := []map[string]any{}
	for i := skip; i < len(raws) && i < skip+size; i++ {
		p := t.parts[raws[i]]
		item := map[string]any{"communicationIdentifier": chatUserJSON(raws[i]), "shareHistoryTime": p.shareHistory.Format(time.RFC3339Nano)}
		if p.displayName != "" {
			item["displayName"] = p.displayName
		}
		page = append(page, item)
	}
	e.mu.Unlock()
	out := map[string]any{"value": page}
	if skip+size < len(raws) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "skip": {strconv.Itoa(skip + size)}, "maxPageSize": {strconv.Itoa(size)}}
		out["nextLink"] = e.baseURL(r) + "/chat/threads/" + url.PathEscape(t.id) + "/participants?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func chatPaging(w http.ResponseWriter, r *http.Request) (skip, size int, ok bool) {
	size = DefaultChatPageSize
	for name, dst := range map[string]*int{"skip": &skip, "maxPageSize": &size} {
		if v := r.URL.Query().Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (name == "maxPageSize" && (n < 1 || n > DefaultChatPageSize)) {
				writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("%s %q is out of range", name, v))
				return 0, 0, false
			}
			*dst = n
		}
	}
	return skip, size, true
}

func (e *Emulator) sendChatMessage(w http.ResponseWriter, r *http.Request, caller string, t *chatThread) {
	var req struct {
		Content           string            `json:"content"`
		SenderDisplayName string            `json:"senderDisplayName"`
		Type              string            `json:"type"`
		Metadata          map[string]string `json:"metadata"`
	}
	if !decodeChatBody(w, r, &req) {
		return
	}
	switch req.Type {
	case "":
		req.Type = "text"
	case "text", "html":
	default:
		writeError(w, http.StatusBadRequest, "BadRequest", "type must be text or html")
		return
	}
	if req.Content == "" || len(req.Content) > chatMaxMessageBytes {
		writeError(w, http.StatusBadRequest, "BadRequest", "content is required, at most 28 KB")
		return
	}
	now := e.opts.Now().UTC()
	e.mu.Lock()
	e.chat.seq++
	m := chatMessage{id: strconv.FormatInt(now.UnixMilli()*1000+e.chat.seq%1000, 10), typ: req.Type, content: req.Content,
		senderDisplayName: req.SenderDisplayName, sender: caller, seq: int64(len(t.messages) + 1), createdOn: now}
	t.messages = append(t.messages, m)
	var recipients []string
	for raw := range t.parts {
		if raw != caller {
			recipients = append(recipients, raw)
		}
	}
	slices.Sort(recipients)
	var batch [][]byte
	for _, to := range recipients {
		ev := e.chatMessageEvent(t, m, to, req.Metadata)
		e.chat.events = append(e.chat.events, ev)
		batch = append(batch, ev)
	}
	sink := e.chat.sink
	e.mu.Unlock()
	if sink != nil {
		for _, ev := range batch {
			if err := sink(r.Context(), ev); err != nil {
				e.log.Warn("acsemu: event delivery failed", "err", err)
			}
		}
	}
	w.Header().Set("Location", e.baseURL(r)+"/chat/threads/"+url.PathEscape(t.id)+"/messages/"+m.id)
	writeJSON(w, http.StatusCreated, map[string]string{"id": m.id})
}

// chatMessageEvent is the user-level event ACS raises for each recipient
// (not the sender), in the Event Grid schema; the caller holds e.mu.
func (e *Emulator) chatMessageEvent(t *chatThread, m chatMessage, to string, metadata map[string]string) []byte {
	if metadata == nil {
		metadata = map[string]string{}
	}
	typ := "Text"
	if m.typ == "html" {
		typ = "Html"
	}
	ev := []map[string]any{{
		"id":              uuid.NewString(),
		"topic":           chatEventTopicPattern + "emulator-" + e.resourceID,
		"subject":         "thread/" + t.id + "/sender/" + m.sender + "/recipient/" + to,
		"eventType":       ChatMessageReceived,
		"eventTime":       m.createdOn.Format(time.RFC3339Nano),
		"dataVersion":     "1.0",
		"metadataVersion": "1",
		"data": map[string]any{
			"messageBody":                      m.content,
			"messageId":                        m.id,
			"metadata":                         metadata,
			"senderId":                         m.sender,
			"senderCommunicationIdentifier":    chatUserJSON(m.sender),
			"senderDisplayName":                m.senderDisplayName,
			"composeTime":                      m.createdOn.Format(time.RFC3339Nano),
			"type":                             typ,
			"version":                          m.createdOn.UnixMilli(),
			"recipientId":                      to,
			"recipientCommunicationIdentifier": chatUserJSON(to),
			"transactionId":                    uuid.NewString(),
			"threadId":                         t.id,
		},
	}}
	b, _ := json.Marshal(ev)
	return b
}

func (e *Emulator) listChatMessages(w http.ResponseWriter, r *http.Request, caller string, t *chatThread) {
	skip, size, ok := chatPaging(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	from := t.parts[caller].shareHistory
	var visible []chatMessage
	for i := len(t.messages) - 1; i >= 0; i-- { // newest first, as ACS lists
		if m := t.messages[i]; !m.createdOn.Before(from) {
			visible = append(visible, m)
		}
	}
	e.mu.Unlock()
	page := []map[string]any{}
	for i := skip; i < len(visible) && i < skip+size; i++ {
		m := visible[i]
		item := map[string]any{
			"id": m.id, "type": m.typ, "sequenceId": strconv.FormatInt(m.seq, 10), "version": m.id,
			"content": map[string]string{"message": m.content}, "createdOn": m.createdOn.Format(time.RFC3339Nano),
			"senderCommunicationIdentifier": chatUserJSON(m.sender),
		}
		if m.senderDisplayName != "" {
			item["senderDisplayName"] = m.senderDisplayName
		}
		page = append(page, item)
	}
	out := map[string]any{"value": page}
	if skip+size < len(visible) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "skip": {strconv.Itoa(skip + size)}, "maxPageSize": {strconv.Itoa(size)}}
		out["nextLink"] = e.baseURL(r) + "/chat/threads/" + url.PathEscape(t.id) + "/messages?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeChatBody decodes a Chat request body: JSON (merge-patch for
// remove), unknown fields refused as ACS's validation does.
func decodeChatBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "the request body is required")
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "the request body must be application/json")
		return false
	}
	return decodeStrict(w, body, dst, "BadRequest")
}

// newThreadID makes a thread id in ACS's form: 19:<hex>@thread.v2.
func newThreadID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "19:acsV1_" + hex.EncodeToString(b) + "@thread.v2"
}
