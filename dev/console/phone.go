package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/funchost"
)

// Bot is a bot of the bots table.
type Bot struct {
	ID           string         `json:"id"`
	DisplayName  string         `json:"displayName,omitempty"`
	ACSUserID    string         `json:"acsUserId,omitempty"`
	State        string         `json:"state"`
	PhoneNumbers []string       `json:"phoneNumbers"`
	Config       map[string]any `json:"config"`
}

// Connection is a call the ACS emulator holds (Call Automation: bots'
// calls, dial-outs, transfers), with the callbacks it posted.
type Connection struct {
	acsemu.CallState
	Callbacks []acsemu.Delivery `json:"Callbacks"`
	// Names are the app users (or bots) behind the raw ids it names.
	Names map[string]string `json:"Names"`
	// Keys are the keys the caller pressed, one entry a recognize (from the
	// RecognizeCompleted callbacks the handler got).
	Keys []string `json:"Keys"`
}

// Conversation is the texts between the app's number and one phone.
type Conversation struct {
	Phone    string `json:"phone"`
	AppPhone string `json:"appPhone"`
	Texts    []Text `json:"texts"`
}

// Text is one SMS: out (the app texted the guest) or in (the guest texted back).
type Text struct {
	Direction string    `json:"direction"`
	MessageID string    `json:"messageId"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
	Error     string    `json:"error,omitempty"`
}

// PhoneView is the Phone tab.
type PhoneView struct {
	Bots          []Bot          `json:"bots"`
	Connections   []Connection   `json:"connections"`
	Conversations []Conversation `json:"conversations"`
	PSTNCallerID  string         `json:"pstnCallerId,omitempty"`
	SMSFrom       string         `json:"smsFrom,omitempty"`
}

func (s *Server) phone(r *http.Request) (any, error) {
	view := PhoneView{Bots: []Bot{}, Connections: []Connection{}, Conversations: []Conversation{},
		PSTNCallerID: s.env["ACS_PSTN_CALLER_ID"], SMSFrom: s.env["ACS_SMS_FROM"]}
	rows, err := s.scan(r.Context(), "bots")
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.RK != "bot" {
			continue
		}
		b := Bot{ID: row.PK, ACSUserID: row.str("acsUserId"), State: row.str("state"), PhoneNumbers: []string{}}
		_ = json.Unmarshal([]byte(row.str("config")), &b.Config)
		if b.Config == nil {
			b.Config = map[string]any{}
		}
		b.DisplayName, _ = b.Config["displayName"].(string)
		if nums, ok := b.Config["phoneNumbers"].([]any); ok {
			for _, n := range nums {
				if s, ok := n.(string); ok {
					b.PhoneNumbers = append(b.PhoneNumbers, s)
				}
			}
		}
		view.Bots = append(view.Bots, b)
	}
	sort.Slice(view.Bots, func(i, j int) bool { return view.Bots[i].ID < view.Bots[j].ID })
	byACS, _, err := s.userDirectory(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for id, u := range byACS {
		names[id] = u.UserID
	}
	for _, b := range view.Bots {
		if b.ACSUserID != "" {
			names[b.ACSUserID] = "bot " + b.ID
		}
	}
	keys := pressedKeys(s.st.Host.Journal(0))
	calls := s.st.ACS.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		c := Connection{CallState: calls[i], Callbacks: s.st.ACS.Callbacks(calls[i].ID), Names: map[string]string{}, Keys: keys[calls[i].ID]}
		if c.Keys == nil {
			c.Keys = []string{}
		}
		for _, id := range append(append(append([]string{c.Source}, c.Targets...), c.Participants...), c.Transfers...) {
			if n, ok := names[id]; ok {
				c.Names[id] = n
			}
		}
		view.Connections = append(view.Connections, c)
	}
	convs := map[string]*Conversation{}
	conv := func(phone, app string) *Conversation {
		if c := convs[phone]; c != nil {
			return c
		}
		c := &Conversation{Phone: phone, AppPhone: app, Texts: []Text{}}
		convs[phone] = c
		return c
	}
	for _, m := range s.st.ACS.SMSMessages() {
		c := conv(m.To, m.From)
		c.Texts = append(c.Texts, Text{Direction: "out", MessageID: m.ID, Message: m.Message, At: m.At})
	}
	// Texts back: those sent from this console, and every SMSReceived the
	// handler was delivered (make run's demo, a test, another tool).
	seen := map[string]bool{}
	s.mu.Lock()
	for _, m := range s.inbound {
		c := conv(m.From, m.To)
		c.Texts = append(c.Texts, Text{Direction: "in", MessageID: m.MessageID, Message: m.Message, At: m.At, Error: m.Error})
		seen[m.MessageID] = true
	}
	s.mu.Unlock()
	for _, m := range receivedTexts(s.st.Host.Journal(0)) {
		if m.MessageID == "" || seen[m.MessageID] {
			continue
		}
		seen[m.MessageID] = true
		c := conv(m.From, m.To)
		c.Texts = append(c.Texts, Text{Direction: "in", MessageID: m.MessageID, Message: m.Message, At: m.At})
	}
	for _, c := range convs {
		sort.SliceStable(c.Texts, func(i, j int) bool { return c.Texts[i].At.Before(c.Texts[j].At) })
		view.Conversations = append(view.Conversations, *c)
	}
	last := func(c Conversation) time.Time { return c.Texts[len(c.Texts)-1].At }
	sort.Slice(view.Conversations, func(i, j int) bool { return last(view.Conversations[i]).After(last(view.Conversations[j])) })
	return view, nil
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// PSTNCallRequest is the body of POST /console/api/phone/call: a phone
// dials a number of the ACS resource (a bot's).
type PSTNCallRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (s *Server) placePSTNCall(r *http.Request) (any, error) {
	var req PSTNCallRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if !e164.MatchString(req.From) || !e164.MatchString(req.To) {
		return nil, badRequest("from and to must be E.164 numbers (+14255550142)")
	}
	in, err := s.st.ACS.RingApplication(r.Context(), "4:"+req.From, "4:"+req.To, "")
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "IncomingCall not delivered: " + err.Error()}
	}
	return in, nil
}

// KeysRequest is the body of POST /console/api/phone/connections/{id}/keys.
type KeysRequest struct {
	Keys string `json:"keys"`
}

func (s *Server) connectionAction(r *http.Request) (any, error) {
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "keys":
		var req KeysRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		err = s.st.ACS.PressKeys(id, req.Keys)
	case "silence":
		err = s.st.ACS.Silence(id)
	case "hangup":
		err = s.st.ACS.DisconnectCall(id)
	default:
		return nil, &apiError{http.StatusNotFound, "actions are keys, silence and hangup"}
	}
	if err != nil {
		return nil, &apiError{http.StatusConflict, err.Error()}
	}
	c, _ := s.st.ACS.Call(id)
	return c, nil
}

// receivedTexts are the Microsoft.Communication.SMSReceived events among the
// Event Grid deliveries of the host's journal (one event once, however many
// times Event Grid retried it). ACS names the sender without its +.
func receivedTexts(entries []funchost.JournalEntry) []inboundText {
	var out []inboundText
	for _, e := range entries {
		if e.Kind != "eventgrid" || !slices.Contains(e.EventTypes, smsReceived) {
			continue
		}
		var events []struct {
			Type      string          `json:"eventType"` // the Event Grid schema
			CEType    string          `json:"type"`      // CloudEvents
			EventTime time.Time       `json:"eventTime"`
			Data      json.RawMessage `json:"data"`
		}
		body := strings.TrimSpace(e.Request)
		if strings.HasPrefix(body, "{") {
			body = "[" + body + "]"
		}
		if json.Unmarshal([]byte(body), &events) != nil {
			continue // cut at the journal's limit, or not an array of events
		}
		for _, ev := range events {
			if ev.Type+ev.CEType != smsReceived {
				continue
			}
			var d map[string]any
			if json.Unmarshal(ev.Data, &d) != nil {
				continue
			}
			str := func(keys ...string) string {
				for _, k := range keys {
					if v, ok := d[k].(string); ok && v != "" {
						return v
					}
				}
				return ""
			}
			from := str("From", "from")
			if from != "" && !strings.HasPrefix(from, "+") {
				from = "+" + from
			}
			at := ev.EventTime
			if t, err := time.Parse(time.RFC3339Nano, str("ReceivedTimestamp", "receivedTimestamp")); err == nil {
				at = t
			}
			if at.IsZero() {
				at = e.At
			}
			out = append(out, inboundText{MessageID: str("MessageId", "messageId"), From: from, To: str("To", "to"),
				Message: str("Message", "message"), At: at})
		}
	}
	return out
}

const smsReceived = "Microsoft.Communication.SMSReceived"

// toneKeys are Call Automation's DTMF tone names.
var toneKeys = map[string]string{"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9", "asterisk": "*", "pound": "#", "a": "A", "b": "B", "c": "C", "d": "D"}

// pressedKeys are the tones of the RecognizeCompleted callbacks among the
// journal's HTTP invocations, by call connection, oldest first.
func pressedKeys(entries []funchost.JournalEntry) map[string][]string {
	out := map[string][]string{}
	for i := len(entries) - 1; i >= 0; i-- { // the journal is newest first
		e := entries[i]
		if e.Kind != "http" || !strings.Contains(e.Request, "RecognizeCompleted") {
			continue
		}
		var events []struct {
			Type string `json:"type"`
			Data struct {
				CallConnectionID string `json:"callConnectionId"`
				DTMF             struct {
					Tones []string `json:"tones"`
				} `json:"dtmfResult"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(e.Request), &events) != nil {
			continue
		}
		for _, ev := range events {
			if ev.Type != "Microsoft.Communication.RecognizeCompleted" || len(ev.Data.DTMF.Tones) == 0 {
				continue
			}
			var b strings.Builder
			for _, t := range ev.Data.DTMF.Tones {
				b.WriteString(cmp.Or(toneKeys[strings.ToLower(t)], t))
			}
			out[ev.Data.CallConnectionID] = append(out[ev.Data.CallConnectionID], b.String())
		}
	}
	return out
}

// TextBackRequest is the body of POST /console/api/phone/sms: the guest at
// From texts To (the app's number; default ACS_SMS_FROM).
type TextBackRequest struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message"`
}

func (s *Server) textBack(r *http.Request) (any, error) {
	var req TextBackRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.To == "" {
		req.To = s.env["ACS_SMS_FROM"]
	}
	if !e164.MatchString(req.From) || !e164.MatchString(req.To) || strings.TrimSpace(req.Message) == "" {
		return nil, badRequest("from and to must be E.164 numbers and message not empty")
	}
	in := inboundText{From: req.From, To: req.To, Message: req.Message, At: time.Now()}
	id, err := s.st.ACS.ReceiveSMS(r.Context(), req.From, req.To, req.Message)
	in.MessageID = id
	if err != nil {
		in.Error = err.Error()
	}
	s.mu.Lock()
	s.inbound = append(s.inbound, in)
	if len(s.inbound) > 500 {
		s.inbound = s.inbound[len(s.inbound)-500:]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "SMSReceived not delivered: " + err.Error()}
	}
	return in, nil
}
