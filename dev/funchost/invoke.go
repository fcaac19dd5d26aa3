package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// InvocationResult is the handler's answer to an envelope invocation.
type InvocationResult struct {
	InvocationID string
	Outputs      map[string]json.RawMessage
	Logs         []string
	ReturnValue  json.RawMessage
}

// InvocationError is a failed invocation: the handler answered non-2xx, or
// a 2xx the host could not read.
type InvocationError struct {
	Function     string
	InvocationID string
	StatusCode   int
	Body         []byte
	Reason       string
}

func (e *InvocationError) Error() string {
	body := string(e.Body)
	if len(body) > 512 {
		body = body[:512] + "..."
	}
	if e.Reason != "" {
		return fmt.Sprintf("funchost: invocation of %s failed: %s (status %d, body %q)", e.Function, e.Reason, e.StatusCode, body)
	}
	return fmt.Sprintf("funchost: invocation of %s failed: handler answered %d: %q", e.Function, e.StatusCode, body)
}

// Envelope is the request body the host POSTs to /<functionName>.
type Envelope struct {
	Data     map[string]any `json:"Data"`
	Metadata map[string]any `json:"Metadata"`
}

type envelopeResult struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []string                   `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// dotnetUTC is how Newtonsoft writes a UTC DateTime (seven fractional digits).
const dotnetUTC = "2006-01-02T15:04:05.0000000Z"

// Invoke POSTs an envelope to http://127.0.0.1:{port}/<functionName>, with
// Metadata.sys added as the host adds it, and reads Outputs, Logs and
// ReturnValue. Logs lines are written to Options.Stdout prefixed with the
// function name. A non-2xx answer is an *InvocationError.
func (h *Host) Invoke(ctx context.Context, functionName string, data, metadata map[string]any) (*InvocationResult, error) {
	if h.app.Function(functionName) == nil {
		return nil, fmt.Errorf("funchost: no function %q in %s", functionName, h.app.Root)
	}
	env := Envelope{Data: map[string]any{}, Metadata: map[string]any{}}
	for k, v := range data {
		env.Data[k] = v
	}
	for k, v := range metadata {
		env.Metadata[k] = v
	}
	env.Metadata["sys"] = map[string]any{
		"MethodName": functionName,
		"UtcNow":     time.Now().UTC().Format(dotnetUTC),
		"RandGuid":   uuid.NewString(),
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("funchost: encode envelope for %s: %w", functionName, err)
	}
	id := uuid.NewString()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.handlerURL+"/"+url.PathEscape(functionName), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	h.addInvocationHeaders(req.Header, id)
	resp, err := h.invoke.Do(req)
	if err != nil {
		return nil, fmt.Errorf("funchost: invoke %s: %w", functionName, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("funchost: read answer of %s: %w", functionName, err)
	}
	fail := &InvocationError{Function: functionName, InvocationID: id, StatusCode: resp.StatusCode, Body: respBody}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fail
	}
	if len(bytes.TrimSpace(respBody)) == 0 {
		// The host reads an empty body as a null result and never completes the invocation.
		fail.Reason = "empty answer; the real host would leave this invocation hanging"
		return nil, fail
	}
	var er envelopeResult
	if err := json.Unmarshal(respBody, &er); err != nil {
		fail.Reason = "answer is not an {Outputs, Logs, ReturnValue} object: " + err.Error()
		return nil, fail
	}
	for _, line := range er.Logs {
		fmt.Fprintf(h.stdout, "[%s] %s\n", functionName, line)
	}
	return &InvocationResult{InvocationID: id, Outputs: er.Outputs, Logs: er.Logs, ReturnValue: er.ReturnValue}, nil
}

// FireTimer invokes a timerTrigger function now, with the TimerInfo the timer
// extension passes: {"Schedule":{"AdjustForDST":true},"ScheduleStatus":{...},"IsPastDue":false}.
// ScheduleStatus.Last is the previous FireTimer for the function (year 1 before
// that); Next is not computed from the schedule and equals now.
func (h *Host) FireTimer(ctx context.Context, functionName string) (*InvocationResult, error) {
	f := h.app.Function(functionName)
	if f == nil || !f.IsType(TypeTimerTrigger) {
		return nil, fmt.Errorf("funchost: %q is not a timerTrigger function", functionName)
	}
	now := time.Now().UTC()
	h.timerMu.Lock()
	last := h.lastTimer[functionName]
	h.lastTimer[functionName] = now
	h.timerMu.Unlock()
	const dotnetOffset = "2006-01-02T15:04:05.0000000-07:00" // a local DateTime, as ScheduleStatus holds
	info := map[string]any{
		"Schedule": map[string]any{"AdjustForDST": true},
		"ScheduleStatus": map[string]any{
			"Last":        last.Format(dotnetOffset),
			"Next":        now.Format(dotnetOffset),
			"LastUpdated": now.Format(dotnetOffset),
		},
		"IsPastDue": false,
	}
	return h.Invoke(ctx, functionName, map[string]any{f.Trigger.Name: info}, nil)
}

// IsInvocationError reports whether err is a failed invocation and returns it.
func IsInvocationError(err error) (*InvocationError, bool) {
	var ie *InvocationError
	ok := errors.As(err, &ie)
	return ie, ok
}
