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
	"sync"
)

// Event Grid webhook protocol, as the Event Grid extension's HttpRequestProcessor speaks it.
const (
	headerEventType       = "aeg-event-type"
	eventTypeValidation   = "SubscriptionValidation"
	eventTypeNotification = "Notification"
	eventTypeUnsubscribe  = "Unsubscribe"
	maxEventGridBody      = 1 << 20 // Event Grid delivers at most 1 MB per request
)

var allowedOrigins = []string{"eventgrid.azure.net", "eventgrid.azure.us", "eventgrid.azure.eaglex.ic.gov", "eventgrid.azure.microsoft.scloud", "eventgrid.azure.cn"}

// serveEventGrid is /runtime/webhooks/eventgrid?functionName=<name>.
func (h *Host) serveEventGrid(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r, "system") {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	name := r.URL.Query().Get("functionName")
	fn := h.app.Function(name)
	if fn == nil || fn.Disabled || !fn.IsType(TypeEventGridTrigger) {
		textAnswer(w, http.StatusNotFound, fmt.Sprintf("cannot find function: '%s'", name))
		return
	}
	// CloudEvents abuse-protection handshake.
	if r.Method == http.MethodOptions {
		origin := "eventgrid.azure.net"
		for _, o := range allowedOrigins {
			if r.Header.Get("WebHook-Request-Origin") == o {
				origin = o
			}
		}
		w.Header().Set("WebHook-Allowed-Origin", origin)
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventGridBody+1))
	if body, ok := r.Body.(*minRateBody); err != nil && ok && body.expired() {
		slowBodyAnswer(w)
		return
	}
	if err != nil || len(body) > maxEventGridBody {
		textAnswer(w, http.StatusRequestEntityTooLarge, "request body larger than 1 MB or unreadable")
		return
	}
	switch kind := r.Header.Get(headerEventType); {
	case equalFold(kind, eventTypeValidation):
		code, err := ValidationCode(body)
		if err != nil {
			textAnswer(w, http.StatusInternalServerError, err.Error())
			return
		}
		resp, _ := json.Marshal(map[string]string{"validationResponse": code})
		w.Header().Set("Content-Type", "text/plain; charset=utf-8") // StringContent's default
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resp)
	case equalFold(kind, eventTypeNotification):
		events, err := SplitEvents(body)
		if err != nil {
			textAnswer(w, http.StatusInternalServerError, err.Error())
			return
		}
		if err := h.invokeEvents(r.Context(), fn, events); err != nil {
			textAnswer(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case equalFold(kind, eventTypeUnsubscribe):
		w.WriteHeader(http.StatusAccepted)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func equalFold(a, b string) bool { return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b)) }

func textAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// ValidationCode extracts data.validationCode from a SubscriptionValidation
// delivery: an Event Grid schema array, or a CloudEvent whose data may be an
// object or a string holding one.
func ValidationCode(body []byte) (string, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("validation request is not JSON: %w", err)
	}
	var ev map[string]any
	switch t := v.(type) {
	case []any:
		if len(t) == 0 {
			return "", errors.New("validation request is an empty array")
		}
		ev, _ = t[0].(map[string]any)
	case map[string]any:
		ev = t
	default:
		return "", errors.New("validation request must be a JSON object or array")
	}
	data := ev["data"]
	if s, ok := data.(string); ok {
		if err := json.Unmarshal([]byte(s), &data); err != nil {
			return "", fmt.Errorf("validation event data is a string that is not JSON: %w", err)
		}
	}
	d, _ := data.(map[string]any)
	code, ok := d["validationCode"].(string)
	if !ok || code == "" {
		return "", errors.New("validation event has no data.validationCode")
	}
	return code, nil
}

// SplitEvents splits a Notification body into its events: a JSON array (Event
// Grid schema or a CloudEvents batch) or one object (a single CloudEvent).
func SplitEvents(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("the request content is not valid JSON: %w", err)
		}
		return []json.RawMessage{body}, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(body, &arr); err != nil {
		return nil, fmt.Errorf("the request content should be parseable into a JSON object or array: %w", err)
	}
	return arr, nil
}

// invokeEvents runs one invocation per event, all at once as the extension
// does, and fails if any failed: Event Grid then redelivers the whole batch.
func (h *Host) invokeEvents(ctx context.Context, fn *Function, events []json.RawMessage) error {
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i, ev := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, meta, err := eventInvocation(ev, fn.Trigger.Name, TriggerEncoding(h.encoding.Load()))
			if err == nil {
				_, err = h.Invoke(ctx, fn.Name, data, meta)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// eventInvocation builds Data and Metadata for one event. Metadata holds the
// trigger's binding data, "data" (the event's data property); sys is added by Invoke.
func eventInvocation(ev json.RawMessage, bindingName string, enc TriggerEncoding) (data, meta map[string]any, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev, &obj); err != nil || obj == nil {
		return nil, nil, fmt.Errorf("event is not a JSON object: %s", truncate(ev, 200))
	}
	var value any
	switch enc {
	case TriggerAsObject:
		value = ev
	case TriggerAsString:
		value = string(ev)
	default:
		// JToken -> string is ToString(Formatting.Indented); that string is then serialised again.
		var ind bytes.Buffer
		if err := json.Indent(&ind, ev, "", "  "); err != nil {
			return nil, nil, fmt.Errorf("indent event: %w", err)
		}
		once, _ := json.Marshal(ind.String())
		value = string(once)
	}
	meta = map[string]any{}
	if d, ok := obj["data"]; ok {
		if t := bytes.TrimSpace(d); len(t) > 0 && t[0] == '{' {
			meta["data"] = d
		} else {
			meta["data"] = string(t) // not a JSON object: the host serialises it to a string
		}
	}
	return map[string]any{bindingName: value}, meta, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// DeliverEventGrid delivers events to an eventGridTrigger function through the
// webhook, as Event Grid does: a JSON array goes as application/json (Event
// Grid schema or CloudEvents batch), one object as application/cloudevents+json.
// A non-2xx answer is an error holding the status and body.
func (h *Host) DeliverEventGrid(ctx context.Context, functionName string, events []byte) error {
	ct := "application/json"
	if t := bytes.TrimSpace(events); len(t) > 0 && t[0] == '{' {
		ct = "application/cloudevents+json; charset=utf-8"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.EventGridURL(functionName), bytes.NewReader(events))
	if err != nil {
		return fmt.Errorf("funchost: %w", err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set(headerEventType, eventTypeNotification)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("funchost: deliver to %s: %w", functionName, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &DeliveryError{Function: functionName, StatusCode: resp.StatusCode, Body: body}
	}
	return nil
}

// EventGridURL is the webhook URL an Event Grid subscription for the function
// would use, with the system key when one is configured.
func (h *Host) EventGridURL(functionName string) string {
	q := url.Values{"functionName": {functionName}}
	if h.opts.SystemKey != "" {
		q.Set("code", h.opts.SystemKey)
	}
	return h.url + "/runtime/webhooks/eventgrid?" + q.Encode()
}

// DeliveryError is a webhook delivery the host refused or failed.
type DeliveryError struct {
	Function   string
	StatusCode int
	Body       []byte
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("funchost: event delivery to %s answered %d: %s", e.Function, e.StatusCode, truncate(e.Body, 512))
}
