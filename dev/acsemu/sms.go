package acsemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SMSAPIVersions are the SMS api-versions the emulator serves: the GA
// folders from 2021-03-07 (what @azure/communication-sms 1.1.0 sends) to
// 2026-01-23, and the previews the SDK betas send. The send shapes are the
// same in all of them.
var SMSAPIVersions = []string{
	"2021-03-07", "2022-07-07", "2024-01-02", "2024-02-05", "2025-09-17", "2026-01-23",
	"2024-12-10-preview", "2025-05-29-preview",
}

// SMS rate limits per minute by sender type (ACS service limits): a
// toll-free or other number and a short code are limited per number, an
// alphanumeric sender ID per resource. Over the limit ACS answers 429.
const (
	SMSRateTollFree     = 200
	SMSRateShortCode    = 6000
	SMSRateAlphanumeric = 600
)

const maxSMSMessage = 2048

var (
	smsE164RE      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	smsShortCodeRE = regexp.MustCompile(`^[0-9]{5,6}$`)
	smsAlphaRE     = regexp.MustCompile(`^[A-Za-z0-9 +\-_&]{1,11}$`)
	smsLetterRE    = regexp.MustCompile(`[A-Za-z]`)
)

// SMSMessage is one text the emulator accepted.
type SMSMessage struct {
	ID             string    `json:"messageId"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Message        string    `json:"message"`
	DeliveryReport bool      `json:"enableDeliveryReport"`
	Tag            string    `json:"tag,omitempty"`
	At             time.Time `json:"at"`
}

// EventSink receives a batch of Event Grid events (a JSON array), as an
// Event Grid subscription would deliver them; an error means "deliver again".
type EventSink func(ctx context.Context, batch []byte) error

type smsState struct {
	messages []SMSMessage
	repeats  map[string]smsRepeat // repeatabilityRequestId -> first request and answer
	windows  map[string]smsWindow // rate-limit key -> this minute's units
	limit    int                  // 0: the per-type limits
	throttle time.Duration        // > 0: every send answers 429 with this Retry-After
	failTo   map[string]string    // number -> delivery failure reason
	pending  [][]byte             // events not yet delivered
	sink     EventSink
	auto     bool
}

// smsRepeat is a tracked repeatability request id: what the first request
// was (from, to, message and first-sent), when it came, and its answer.
type smsRepeat struct {
	request string
	at      time.Time
	res     smsResult
}

type smsWindow struct {
	start time.Time
	units int
}

type smsResult struct {
	To                  string `json:"to"`
	MessageID           string `json:"messageId,omitempty"`
	HTTPStatusCode      int    `json:"httpStatusCode"`
	RepeatabilityResult string `json:"repeatabilityResult,omitempty"`
	Successful          bool   `json:"successful"`
	ErrorMessage        string `json:"errorMessage,omitempty"`
}

func (e *Emulator) routeSMS() {
	e.sms.repeats = map[string]smsRepeat{}
	e.sms.windows = map[string]smsWindow{}
	e.sms.failTo = map[string]string{}
	e.api.HandleFunc("POST /sms", e.operationWith("SendSMS", checkSMSAPIVersion, e.sendSMS))
	e.control.HandleFunc("GET /emulator/sms", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.SMSMessages())
	})
	e.control.HandleFunc("POST /emulator/sms/deliver", func(w http.ResponseWriter, r *http.Request) {
		if err := e.DeliverSMSEvents(r.Context()); err != nil {
			writeError(w, http.StatusBadGateway, "DeliveryFailed", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("POST /emulator/sms/inbound", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ From, To, Message string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.From == "" || req.To == "" {
			writeError(w, http.StatusBadRequest, "ValidationError", `body must be {"from":"+1...","to":"+1...","message":"..."}`)
			return
		}
		id, err := e.ReceiveSMS(r.Context(), req.From, req.To, req.Message)
		if err != nil {
			writeError(w, http.StatusBadGateway, "DeliveryFailed", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"messageId": id})
	})
}

func checkSMSAPIVersion(values []string) error {
	if len(values) != 1 || values[0] == "" {
		return errors.New("exactly one api-version query parameter is required")
	}
	if !slices.Contains(SMSAPIVersions, values[0]) {
		return fmt.Errorf("the SMS api-version %q is not supported: use one of %s", values[0], strings.Join(SMSAPIVersions, ", "))
	}
	return nil
}

func (e *Emulator) sendSMS(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From          *string `json:"from"`
		SMSRecipients []struct {
			To                     *string `json:"to"`
			RepeatabilityRequestID string  `json:"repeatabilityRequestId"`
			RepeatabilityFirstSent string  `json:"repeatabilityFirstSent"`
		} `json:"smsRecipients"`
		Message        *string `json:"message"`
		SMSSendOptions *struct {
			EnableDeliveryReport *bool  `json:"enableDeliveryReport"`
			Tag                  string `json:"tag"`
		} `json:"smsSendOptions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "the body is not a SendMessageRequest: "+err.Error())
		return
	}
	switch {
	case req.From == nil || req.Message == nil || req.SMSRecipients == nil:
		writeError(w, http.StatusBadRequest, "InvalidRequest", "from, smsRecipients and message are required")
		return
	case len(req.SMSRecipients) < 1 || len(req.SMSRecipients) > 100:
		writeError(w, http.StatusBadRequest, "InvalidRequest", "smsRecipients must hold 1 to 100 recipients")
		return
	case len(*req.Message) > maxSMSMessage:
		writeError(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("message is longer than %d", maxSMSMessage))
		return
	case req.SMSSendOptions != nil && req.SMSSendOptions.EnableDeliveryReport == nil:
		writeError(w, http.StatusBadRequest, "InvalidRequest", "smsSendOptions.enableDeliveryReport is required")
		return
	}
	from := *req.From
	key, limit, ok := e.smsSender(from)
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidFrom", "Invalid From phone number format.")
		return
	}
	report := req.SMSSendOptions != nil && *req.SMSSendOptions.EnableDeliveryReport
	tag := ""
	if req.SMSSendOptions != nil {
		tag = req.SMSSendOptions.Tag
	}

	e.mu.Lock()
	now := e.opts.Now()
	units := 0
	for _, rc := range req.SMSRecipients {
		if prev, repeat := e.sms.repeats[rc.RepeatabilityRequestID]; rc.RepeatabilityRequestID == "" || !repeat || now.Sub(prev.at) > RepeatabilityWindow {
			units++
		}
	}
	if d := e.sms.throttle; d > 0 {
		e.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "the sender's rate limit is exceeded; retry after the delay in Retry-After")
		return
	}
	win := e.sms.windows[key]
	if now.Sub(win.start) >= time.Minute {
		win = smsWindow{start: now.Truncate(time.Minute)}
	}
	if win.units+units > limit {
		e.mu.Unlock()
		wait := int(win.start.Add(time.Minute).Sub(now)/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "the sender's rate limit is exceeded; retry after the delay in Retry-After")
		return
	}
	win.units += units
	e.sms.windows[key] = win
	results := make([]smsResult, 0, len(req.SMSRecipients))
	for _, rc := range req.SMSRecipients {
		to := ""
		if rc.To != nil {
			to = *rc.To
		}
		res, first := e.smsRecipient(now, from, to, *req.Message, rc.RepeatabilityRequestID, rc.RepeatabilityFirstSent)
		if first && res.Successful {
			m := SMSMessage{ID: res.MessageID, From: from, To: to, Message: *req.Message, DeliveryReport: report, Tag: tag, At: now}
			e.sms.messages = append(e.sms.messages, m)
			if report {
				e.queueDeliveryReport(m)
			}
		}
		results = append(results, res)
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"value": results})
	e.autoDeliver()
}

// smsRecipient answers one recipient (e.mu held) with ACS's Repeatable
// Requests rules, per recipient: an invalid id or first-sent is rejected
// 400, a first-sent older than RepeatabilityWindow 412; a repeat of a
// tracked id (within the window) gets the first answer if it is the same
// request, else it is rejected 400. first is false when nothing new was done.
func (e *Emulator) smsRecipient(now time.Time, from, to, message, requestID, firstSent string) (smsResult, bool) {
	request := from + "\n" + to + "\n" + message + "\n" + firstSent
	if requestID != "" || firstSent != "" {
		rejected := func(status int, msg string) (smsResult, bool) {
			return smsResult{To: to, HTTPStatusCode: status, RepeatabilityResult: "rejected", ErrorMessage: msg}, false
		}
		if _, err := uuid.Parse(requestID); err != nil || len(requestID) != 36 {
			return rejected(400, "Request sent with Invalid value for repeatability-request-id. Expected is a UUID.")
		}
		at, err := time.Parse(time.RFC1123, firstSent)
		if err != nil {
			return rejected(400, "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.")
		}
		if now.Sub(at) > RepeatabilityWindow {
			return rejected(412, "Precondition failed: repeatability-first-sent is outside the tracking duration.")
		}
		if prev, ok := e.sms.repeats[requestID]; ok && now.Sub(prev.at) <= RepeatabilityWindow {
			if prev.request != request {
				return rejected(400, "Request sent with a repeatability-request-id already used for a different request.")
			}
			return prev.res, false
		}
	}
	var res smsResult
	if !smsE164RE.MatchString(to) {
		res = smsResult{To: to, HTTPStatusCode: 400, Successful: false, ErrorMessage: "Invalid To phone number format."}
	} else {
		res = smsResult{To: to, MessageID: "Outgoing_" + now.UTC().Format("20060102150405") + uuid.NewString(), HTTPStatusCode: 202, Successful: true}
	}
	if requestID != "" {
		res.RepeatabilityResult = "accepted"
		e.sms.repeats[requestID] = smsRepeat{request: request, at: now, res: res}
	}
	return res, true
}

// smsSender returns the rate-limit key and per-minute limit of a sender.
func (e *Emulator) smsSender(from string) (string, int, bool) {
	pick := func(def int) int {
		if e.sms.limit > 0 {
			return e.sms.limit
		}
		return def
	}
	switch {
	case smsE164RE.MatchString(from):
		return "number:" + from, pick(SMSRateTollFree), true
	case smsShortCodeRE.MatchString(from):
		return "number:" + from, pick(SMSRateShortCode), true
	case smsAlphaRE.MatchString(from) && smsLetterRE.MatchString(from):
		return "alphanumeric", pick(SMSRateAlphanumeric), true
	}
	return "", 0, false
}

// SetSMSRateLimit sets every sender's limit in message units per minute (0
// restores ACS's per-type limits), so tests can reach a 429 quickly.
func (e *Emulator) SetSMSRateLimit(perMinute int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sms.limit = perMinute
	e.sms.windows = map[string]smsWindow{}
}

// SetSMSThrottled makes every send answer 429 with Retry-After d (whole
// seconds, rounded up), whatever the clock, until it is called with 0:
// throttling without the minute windows' timing.
func (e *Emulator) SetSMSThrottled(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sms.throttle = d
}

// FailSMSDeliveryTo makes later delivery reports for texts to number say
// Failed with reason ("" delivers again).
func (e *Emulator) FailSMSDeliveryTo(number, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if reason == "" {
		delete(e.sms.failTo, number)
	} else {
		e.sms.failTo[number] = reason
	}
}

// SMSMessages returns a copy of every text accepted, oldest first.
func (e *Emulator) SMSMessages() []SMSMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sms.messages)
}

// SMSMessagesTo returns the texts accepted for one number.
func (e *Emulator) SMSMessagesTo(to string) []SMSMessage {
	var out []SMSMessage
	for _, m := range e.SMSMessages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// SetEventSink sets where the emulator delivers the Event Grid events of
// the ACS resource's system topic; the stack points it at the host's
// eventGridTrigger. IncomingCall, recording and ChatMessageReceived events
// are delivered synchronously (when a send answers, its events were
// delivered; without a sink chat events are only recorded, see ChatEvents).
// SMS events go as soon as they are raised when auto is set (in the
// background, retried as Event Grid does), else only when DeliverSMSEvents
// is called (tests, deterministic).
func (e *Emulator) SetEventSink(sink EventSink, auto bool) {
	e.mu.Lock()
	e.eventGrid = sink
	e.chat.sink = sink
	e.sms.sink, e.sms.auto = sink, auto
	e.mu.Unlock()
	e.autoDeliver()
}

// PendingSMSEvents reports how many SMS events wait for delivery.
func (e *Emulator) PendingSMSEvents() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sms.pending)
}

// DeliverSMSEvents sends every pending SMS event to the sink, one batch per
// event in order; an event the sink refuses stays pending.
func (e *Emulator) DeliverSMSEvents(ctx context.Context) error {
	e.mu.Lock()
	sink, pending := e.sms.sink, e.sms.pending
	e.sms.pending = nil
	e.mu.Unlock()
	if sink == nil {
		e.mu.Lock()
		e.sms.pending = append(pending, e.sms.pending...)
		e.mu.Unlock()
		return errors.New("acsemu: no event sink is set")
	}
	var failed [][]byte
	var errs []error
	for _, ev := range pending {
		if err := sink(ctx, ev); err != nil {
			failed = append(failed, ev)
			errs = append(errs, err)
		}
	}
	if len(failed) > 0 {
		e.mu.Lock()
		e.sms.pending = append(failed, e.sms.pending...)
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// autoDeliver delivers pending events in the background when the sink is
// automatic, retrying with back-off for a minute (Event Grid retries longer).
func (e *Emulator) autoDeliver() {
	e.mu.Lock()
	auto := e.sms.auto && e.sms.sink != nil && len(e.sms.pending) > 0
	e.mu.Unlock()
	if !auto {
		return
	}
	go func() {
		wait := 100 * time.Millisecond
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); wait *= 2 {
			ctx, cancel := context.WithTimeout(e.bg, 30*time.Second)
			err := e.DeliverSMSEvents(ctx)
			cancel()
			if err == nil || e.bg.Err() != nil {
				return
			}
			select {
			case <-time.After(wait):
			case <-e.bg.Done():
				return
			}
		}
	}()
}

// ReceiveSMS is "the guest texts back": from texts message to the
// resource's number to; the emulator raises Microsoft.Communication.SMSReceived
// (PascalCase data keys and a from without +, as ACS's own examples show)
// and, with a sink set, delivers pending events now. It returns the message id.
func (e *Emulator) ReceiveSMS(ctx context.Context, from, to, message string) (string, error) {
	now := e.opts.Now().UTC()
	id := "Incoming_" + now.Format("20060102150405") + uuid.NewString()
	data := map[string]any{
		"MessageId": id, "From": strings.TrimPrefix(from, "+"), "To": to, "Message": message,
		"ReceivedTimestamp": now.Format(time.RFC3339Nano), "SegmentCount": 1,
	}
	e.mu.Lock()
	e.queueEvent(id, "Microsoft.Communication.SMSReceived", to, data, now)
	sink, auto := e.sms.sink, e.sms.auto
	e.mu.Unlock()
	switch {
	case sink == nil:
		return id, nil
	case auto:
		e.autoDeliver()
		return id, nil
	}
	return id, e.DeliverSMSEvents(ctx)
}

// queueDeliveryReport raises SMSDeliveryReportReceived for m (e.mu held),
// camelCase as the Event Grid schema example has it.
func (e *Emulator) queueDeliveryReport(m SMSMessage) {
	status, details := "Delivered", "No error."
	if reason, ok := e.sms.failTo[m.To]; ok {
		status, details = "Failed", reason
	}
	now := e.opts.Now().UTC()
	data := map[string]any{
		"messageId": m.ID, "from": m.From, "to": m.To,
		"deliveryStatus": status, "deliveryStatusDetails": details,
		"deliveryAttempts":  []map[string]any{{"timestamp": now.Format(time.RFC3339Nano), "segmentsSucceeded": 1, "segmentsFailed": 0}},
		"receivedTimestamp": now.Format(time.RFC3339Nano), "tag": m.Tag,
	}
	e.queueEvent(uuid.NewString(), "Microsoft.Communication.SMSDeliveryReportReceived", m.From, data, now)
}

func (e *Emulator) queueEvent(id, typ, number string, data map[string]any, at time.Time) {
	ev := []map[string]any{{
		"id":              id,
		"topic":           "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dev/providers/Microsoft.Communication/communicationServices/" + e.resourceID,
		"subject":         "/phonenumber/" + strings.TrimPrefix(number, "+"),
		"eventType":       typ,
		"eventTime":       at.Format(time.RFC3339Nano),
		"data":            data,
		"dataVersion":     "1.0",
		"metadataVersion": "1",
	}}
	b, _ := json.Marshal(ev)
	e.sms.pending = append(e.sms.pending, b)
}
