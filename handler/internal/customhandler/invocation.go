// Package customhandler speaks the Azure Functions custom-handler protocol:
// the readiness probe, invocation envelopes (Data/Metadata in,
// Outputs/Logs/ReturnValue out) for non-HTTP functions, and the server that
// listens where the host expects it and shuts down gracefully.
package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"switchboard/handler/internal/httpapi"
)

// Invocation is what the host POSTs to /<functionName>.
type Invocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`

	Function string `json:"-"`
	logs     *logLines
	log      *slog.Logger
}

// Result is the answer to the host.
type Result struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Func handles one invocation of a non-HTTP function. A returned error fails
// the invocation (a non-2xx answer), which for Event Grid means "retry later".
type Func func(ctx context.Context, inv *Invocation) (outputs map[string]any, err error)

// Trigger decodes the binding named name into dst. The host sends a value
// that serialises as a JSON object as an object, and a string as a JSON
// string; an Event Grid event can arrive either way, so both are accepted.
func (inv *Invocation) Trigger(name string, dst any) error {
	raw, err := inv.TriggerJSON(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return httpapi.Problemf(http.StatusBadRequest, httpapi.CodeInvalidJSON, "binding %q does not hold the expected JSON: %v", name, err)
	}
	return nil
}

// TriggerJSON returns the raw JSON of binding name. The host may wrap the
// value in a JSON string, and for Event Grid it wraps it twice (the event is
// bound as a string, which the host then serialises again), so strings are
// unwrapped until the JSON value inside them is reached.
func (inv *Invocation) TriggerJSON(name string) (json.RawMessage, error) {
	raw := bytes.TrimSpace(inv.Data[name])
	if len(raw) == 0 || string(raw) == "null" {
		return nil, httpapi.Problemf(http.StatusBadRequest, httpapi.CodeInvalidRequest, "the invocation has no Data.%s", name)
	}
	for depth := 0; raw[0] == '"'; depth++ {
		var s string
		if depth == maxStringWrapping || json.Unmarshal(raw, &s) != nil {
			return nil, httpapi.Problemf(http.StatusBadRequest, httpapi.CodeInvalidJSON, "Data.%s is not JSON wrapped in at most %d strings", name, maxStringWrapping)
		}
		raw = bytes.TrimSpace([]byte(s))
		if !json.Valid(raw) {
			return nil, httpapi.Problemf(http.StatusBadRequest, httpapi.CodeInvalidJSON, "Data.%s is a string that does not hold JSON", name)
		}
	}
	return raw, nil
}

// maxStringWrapping bounds how many JSON strings may wrap a trigger value.
const maxStringWrapping = 3

// Logf records a line for the host's log of this invocation (and the handler's own log).
func (inv *Invocation) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if inv.logs != nil {
		inv.logs.add(line)
	}
	if inv.log != nil {
		inv.log.Info(line)
	}
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.lines...)
}

// MaxInvocationBytes bounds an invocation envelope. Event Grid events reach
// 1 MB, and the host puts one in an envelope twice: in Data as a JSON string
// holding a JSON string of the indented event (each " or \ of the event
// grows to 4 bytes, each indenting newline to 3), and its data property again
// in Metadata. An event of only quotes is thus 4 MiB + 1 MiB; indentation
// comes on top, so 8 MiB. Only the local host can call these routes.
const MaxInvocationBytes = 8 << 20

// Functions dispatches envelopes at POST /{function} to registered Funcs.
type Functions struct {
	funcs map[string]Func
}

// NewFunctions returns an empty registry.
func NewFunctions() *Functions { return &Functions{funcs: map[string]Func{}} }

// Register binds a function name (its folder under functions/) to f.
func (fs *Functions) Register(name string, f Func) { fs.funcs[name] = f }

// ServeHTTP handles POST /{function}.
func (fs *Functions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("function")
	f, ok := fs.funcs[name]
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Problemf(http.StatusNotFound, "unknown-function", "this handler has no function named %q", name))
		return
	}
	var inv Invocation
	body, err := httpapi.ReadBodyLimit(r, MaxInvocationBytes)
	if err == nil {
		err = httpapi.UnmarshalStrict(body, &inv)
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if inv.Data == nil {
		httpapi.WriteProblem(w, r, httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, "the invocation envelope has no Data"))
		return
	}
	inv.Function = name
	log := httpapi.Logger(r.Context()).With("function", name)
	inv.logs, inv.log = &logLines{}, log
	outputs, err := f(r.Context(), &inv)
	if err != nil {
		log.Warn("invocation failed", "err", err)
		httpapi.WriteError(w, r, err)
		return
	}
	if outputs == nil {
		outputs = map[string]any{}
	}
	httpapi.WriteJSON(w, http.StatusOK, Result{Outputs: outputs, Logs: inv.logs.all(), ReturnValue: nil})
}
