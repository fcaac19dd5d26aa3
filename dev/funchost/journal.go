package funchost

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// JournalBodyLimit is how much of a request and of an answer an entry keeps.
const JournalBodyLimit = 8 << 10

// JournalEntry is one request the host's public side passed on: an Event
// Grid delivery (one webhook request, however many events it carries) or an
// HTTP invocation (an API call, an ACS callback), with the answer and how
// long the handler took.
type JournalEntry struct {
	Seq  int64     `json:"seq"`
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // "eventgrid" or "http"
	// Function is the function the request went to ("" when none matched).
	Function string `json:"function,omitempty"`
	Method   string `json:"method"`
	// Path is the request path and query, without a key (code=).
	Path string `json:"path"`
	// EventTypes are the delivered events' types, in order (Event Grid only).
	EventTypes []string `json:"eventTypes,omitempty"`
	Status     int      `json:"status"`
	DurationMS float64  `json:"durationMs"`
	// Request and Answer are the bodies' first JournalBodyLimit bytes.
	Request     string `json:"request,omitempty"`
	Answer      string `json:"answer,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Truncated   bool   `json:"truncated,omitempty"`
}

// journal is a bounded ring of entries, oldest dropped first.
type journal struct {
	mu      sync.Mutex
	max     int
	seq     int64
	entries []JournalEntry
}

func newJournal(size int) *journal {
	if size <= 0 {
		return nil
	}
	return &journal{max: size}
}

func (j *journal) add(e JournalEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	e.Seq = j.seq
	j.entries = append(j.entries, e)
	if len(j.entries) > j.max {
		j.entries = append(j.entries[:0:0], j.entries[len(j.entries)-j.max:]...)
	}
}

// since returns the entries after seq, newest first.
func (j *journal) since(seq int64) []JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := []JournalEntry{}
	for i := len(j.entries) - 1; i >= 0 && j.entries[i].Seq > seq; i-- {
		out = append(out, j.entries[i])
	}
	return out
}

// Journal returns the requests the host passed on after entry seq (0: all
// it still holds), newest first. It is empty unless Options.JournalSize is set.
func (h *Host) Journal(seq int64) []JournalEntry {
	if h.journal == nil {
		return []JournalEntry{}
	}
	return h.journal.since(seq)
}

// capBuf keeps the first JournalBodyLimit bytes written to it.
// It is locked: the transport may still be reading a request body when the
// answer is back.
type capBuf struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (c *capBuf) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := JournalBodyLimit - c.buf.Len(); room < len(p) {
		c.truncated = true
		c.buf.Write(p[:max(room, 0)])
	} else {
		c.buf.Write(p)
	}
	return len(p), nil
}

// contents returns what was kept and whether more was written.
func (c *capBuf) contents() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.truncated
}

// recorder is the answer as it goes back: its status and first bytes.
type recorder struct {
	http.ResponseWriter
	status int
	body   capBuf
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_, _ = r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// FlushError passes flushes on for server-sent events only: other answers
// go out when the invocation ends, after it was journaled, so a client that
// has its answer finds it in the journal.
func (r *recorder) FlushError() error {
	if !strings.HasPrefix(r.Header().Get("Content-Type"), "text/event-stream") {
		return nil
	}
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// record journals one request after it was answered.
func (h *Host) record(r *http.Request, start time.Time, req *capBuf, rec *recorder) {
	reqBody, reqCut := req.contents()
	answer, answerCut := rec.body.contents()
	e := JournalEntry{
		At: start, Kind: "http", Method: r.Method, Path: journalPath(r.URL),
		Status: rec.status, DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		Request: string(reqBody), Answer: string(answer), ContentType: rec.Header().Get("Content-Type"),
		Truncated: reqCut || answerCut,
	}
	if strings.EqualFold(strings.TrimSuffix(r.URL.EscapedPath(), "/"), "/runtime/webhooks/eventgrid") {
		e.Kind = "eventgrid"
		e.Function = r.URL.Query().Get("functionName")
		e.EventTypes = eventTypes(reqBody)
	} else if fn, _ := h.lookup(r.Method, r.URL.EscapedPath()); fn != nil {
		e.Function = fn.Name
		if t := bytes.TrimSpace(reqBody); len(t) > 0 && t[0] == '[' {
			// A batch of events posted to a function: ACS Call Automation callbacks.
			e.EventTypes = eventTypes(t)
		}
	}
	h.journal.add(e)
}

// journalPath is the path and query without the function key.
func journalPath(u *url.URL) string {
	q := u.Query()
	if !q.Has("code") {
		return u.RequestURI()
	}
	q.Del("code")
	if len(q) == 0 {
		return u.EscapedPath()
	}
	return u.EscapedPath() + "?" + q.Encode()
}

// eventTypes reads the types of an Event Grid schema batch or CloudEvents.
func eventTypes(body []byte) []string {
	var batch []struct {
		EventType string `json:"eventType"`
		Type      string `json:"type"`
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		body = append(append([]byte{'['}, t...), ']')
	}
	if json.Unmarshal(body, &batch) != nil {
		return nil
	}
	var out []string
	for _, e := range batch {
		if e.EventType+e.Type == "" {
			return nil
		}
		out = append(out, e.EventType+e.Type)
	}
	return out
}
