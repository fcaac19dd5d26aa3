package acsemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Call Automation media and transfer: :play, :recognize (DTMF),
// :cancelAllMediaOperations, :transferToParticipant, with ACS's bodies,
// status codes and events; and the control routes that act as the far side
// (press keys, stay silent, hang up, ring the application).

// MediaOp is one play or recognize a call was asked for, for tests.
type MediaOp struct {
	// Kind is play or recognize.
	Kind             string
	OperationContext string
	// Sources are the prompts: "text:<text>" or "file:<uri>".
	Sources []string
	// PlayTo are the raw ids played to (none: everyone).
	PlayTo []string
}

type recognizeOp struct {
	opCtx, callbackURI string
	maxTones           int
	stopTones          []string
}

type callAction struct {
	name   string
	handle func(http.ResponseWriter, *http.Request, *call)
}

func (e *Emulator) mediaActions() map[string]callAction {
	return map[string]callAction{
		":play":                     {"Play", e.play},
		":recognize":                {"Recognize", e.recognize},
		":cancelAllMediaOperations": {"CancelAllMediaOperations", e.cancelMedia},
		":transferToParticipant":    {"TransferToParticipant", e.transfer},
	}
}

// cognitiveEndpoint reads callIntelligenceOptions: absent, or an https endpoint.
func cognitiveEndpoint(w http.ResponseWriter, raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var o struct {
		CognitiveServicesEndpoint string `json:"cognitiveServicesEndpoint"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "callIntelligenceOptions: "+err.Error())
		return "", false
	}
	if o.CognitiveServicesEndpoint == "" {
		return "", true
	}
	u, err := url.Parse(o.CognitiveServicesEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		writeError(w, http.StatusBadRequest, "BadRequest", "callIntelligenceOptions.cognitiveServicesEndpoint must be an https URL")
		return "", false
	}
	return o.CognitiveServicesEndpoint, true
}

type playSourceJSON struct {
	Kind              string `json:"kind"`
	PlaySourceCacheID string `json:"playSourceCacheId,omitempty"`
	File              *struct {
		URI string `json:"uri"`
	} `json:"file,omitempty"`
	Text *struct {
		Text                  string `json:"text"`
		SourceLocale          string `json:"sourceLocale,omitempty"`
		VoiceKind             string `json:"voiceKind,omitempty"`
		VoiceName             string `json:"voiceName,omitempty"`
		CustomVoiceEndpointID string `json:"customVoiceEndpointId,omitempty"`
	} `json:"text,omitempty"`
	SSML *struct {
		SSMLText              string `json:"ssmlText"`
		CustomVoiceEndpointID string `json:"customVoiceEndpointId,omitempty"`
	} `json:"ssml,omitempty"`
}

// source checks one play source as ACS does and describes it; tts says the
// call was set up with a Cognitive Services endpoint.
func (p playSourceJSON) source(tts bool) (string, error) {
	switch p.Kind {
	case "file":
		if p.File == nil || p.File.URI == "" {
			return "", fmt.Errorf("a file play source needs file.uri")
		}
		u, err := url.Parse(p.File.URI)
		if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return "", fmt.Errorf("file.uri %q is not an absolute http(s) URL", p.File.URI)
		}
		return "file:" + p.File.URI, nil
	case "text", "ssml":
		if !tts {
			return "", fmt.Errorf("Request not allowed when Cognitive Service Configuration not set during call setup")
		}
		if p.Kind == "text" {
			if p.Text == nil || p.Text.Text == "" {
				return "", fmt.Errorf("a text play source needs text.text")
			}
			if utf8.RuneCountInString(p.Text.Text) > 4000 {
				return "", fmt.Errorf("text.text is longer than 4000 characters")
			}
			if p.Text.VoiceKind != "" && p.Text.VoiceKind != "male" && p.Text.VoiceKind != "female" {
				return "", fmt.Errorf("text.voiceKind %q is not male or female", p.Text.VoiceKind)
			}
			return "text:" + p.Text.Text, nil
		}
		if p.SSML == nil || p.SSML.SSMLText == "" {
			return "", fmt.Errorf("an ssml play source needs ssml.ssmlText")
		}
		return "ssml:" + p.SSML.SSMLText, nil
	}
	return "", fmt.Errorf("play source kind %q is not file, text or ssml", p.Kind)
}

// playable reports whether ACS could play a described source: a file must
// be a .wav (8535 "file format invalid" otherwise).
func playable(src string) bool {
	uri, ok := strings.CutPrefix(src, "file:")
	if !ok {
		return true
	}
	u, err := url.Parse(uri)
	return err == nil && strings.HasSuffix(strings.ToLower(u.Path), ".wav")
}

func (e *Emulator) play(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		PlaySources                 []playSourceJSON `json:"playSources"`
		PlayTo                      []identifierJSON `json:"playTo"`
		InterruptCallMediaOperation bool             `json:"interruptCallMediaOperation"`
		PlayOptions                 *struct {
			Loop *bool `json:"loop"`
		} `json:"playOptions"`
		OperationContext     string `json:"operationContext"`
		OperationCallbackURI string `json:"operationCallbackUri"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if len(req.PlaySources) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "playSources is required and must not be empty")
		return
	}
	if req.PlayOptions != nil && req.PlayOptions.Loop == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "playOptions.loop is required")
		return
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	op := MediaOp{Kind: "play", OperationContext: req.OperationContext}
	for _, p := range req.PlaySources {
		src, err := p.source(c.CognitiveServicesEndpoint != "")
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "playSources: "+err.Error())
			return
		}
		op.Sources = append(op.Sources, src)
	}
	for _, t := range req.PlayTo {
		p, err := canonical(t)
		if err != nil || c.indexOf(p.RawID) < 0 {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("playTo: %q is not in the call", t.RawID))
			return
		}
		op.PlayTo = append(op.PlayTo, p.RawID)
	}
	c.Media = append(c.Media, op)
	extra := map[string]any{"operationContext": req.OperationContext}
	if !slices.ContainsFunc(op.Sources, func(s string) bool { return !playable(s) }) {
		e.emit(c, "PlayStarted", extra, req.OperationCallbackURI)
		e.emit(c, "PlayCompleted", extra, req.OperationCallbackURI)
	} else {
		extra["resultInformation"] = map[string]any{"code": 400, "subCode": 8535, "message": "Action failed, file format is invalid."}
		e.emit(c, "PlayFailed", extra, req.OperationCallbackURI)
	}
	w.WriteHeader(http.StatusAccepted)
}

var toneNames = map[rune]string{
	'0': "zero", '1': "one", '2': "two", '3': "three", '4': "four", '5': "five", '6': "six", '7': "seven", '8': "eight", '9': "nine",
	'*': "asterisk", '#': "pound", 'A': "a", 'B': "b", 'C': "c", 'D': "d",
}

func isTone(s string) bool {
	for _, v := range toneNames {
		if v == s {
			return true
		}
	}
	return false
}

func (e *Emulator) recognize(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		RecognizeInputType          string           `json:"recognizeInputType"`
		PlayPrompt                  *playSourceJSON  `json:"playPrompt"`
		PlayPrompts                 []playSourceJSON `json:"playPrompts"`
		InterruptCallMediaOperation bool             `json:"interruptCallMediaOperation"`
		RecognizeOptions            *struct {
			InterruptPrompt                  bool            `json:"interruptPrompt"`
			InitialSilenceTimeoutInSeconds   *int            `json:"initialSilenceTimeoutInSeconds"`
			TargetParticipant                *identifierJSON `json:"targetParticipant"`
			SpeechLanguage                   string          `json:"speechLanguage"`
			SpeechRecognitionModelEndpointID string          `json:"speechRecognitionModelEndpointId"`
			DTMFOptions                      *struct {
				InterToneTimeoutInSeconds *int     `json:"interToneTimeoutInSeconds"`
				MaxTonesToCollect         *int     `json:"maxTonesToCollect"`
				StopTones                 []string `json:"stopTones"`
			} `json:"dtmfOptions"`
			Choices       json.RawMessage `json:"choices"`
			SpeechOptions json.RawMessage `json:"speechOptions"`
		} `json:"recognizeOptions"`
		OperationContext     string `json:"operationContext"`
		OperationCallbackURI string `json:"operationCallbackUri"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	o := req.RecognizeOptions
	switch {
	case req.RecognizeInputType == "":
		writeError(w, http.StatusBadRequest, "BadRequest", "recognizeInputType is required")
		return
	case req.RecognizeInputType != "dtmf":
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("recognizeInputType %q: the emulator recognizes dtmf only", req.RecognizeInputType))
		return
	case o == nil || o.TargetParticipant == nil:
		writeError(w, http.StatusBadRequest, "BadRequest", "recognizeOptions.targetParticipant is required")
		return
	case o.InitialSilenceTimeoutInSeconds != nil && (*o.InitialSilenceTimeoutInSeconds < 0 || *o.InitialSilenceTimeoutInSeconds > 300):
		writeError(w, http.StatusBadRequest, "BadRequest", "recognizeOptions.initialSilenceTimeoutInSeconds must be within [0, 300]")
		return
	}
	max := 1
	var stop []string
	if d := o.DTMFOptions; d != nil {
		if d.InterToneTimeoutInSeconds != nil && (*d.InterToneTimeoutInSeconds < 1 || *d.InterToneTimeoutInSeconds > 60) {
			writeError(w, http.StatusBadRequest, "BadRequest", "dtmfOptions.interToneTimeoutInSeconds must be within [1, 60]")
			return
		}
		if d.MaxTonesToCollect != nil {
			if *d.MaxTonesToCollect < 1 {
				writeError(w, http.StatusBadRequest, "BadRequest", "dtmfOptions.maxTonesToCollect must be at least 1")
				return
			}
			max = *d.MaxTonesToCollect
		}
		for _, t := range d.StopTones {
			if !isTone(t) {
				writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("dtmfOptions.stopTones: %q is not a tone", t))
				return
			}
		}
		stop = d.StopTones
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	target, err := canonical(*o.TargetParticipant)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "targetParticipant: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.indexOf(target.RawID) < 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("targetParticipant %q is not in the call", target.RawID))
		return
	}
	if c.recognize != nil {
		writeError(w, http.StatusBadRequest, "8583", "a recognize operation is already running on this call")
		return
	}
	op := MediaOp{Kind: "recognize", OperationContext: req.OperationContext, PlayTo: []string{target.RawID}}
	prompts := req.PlayPrompts
	if req.PlayPrompt != nil {
		prompts = append([]playSourceJSON{*req.PlayPrompt}, prompts...)
	}
	for _, p := range prompts {
		src, err := p.source(c.CognitiveServicesEndpoint != "")
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "playPrompt: "+err.Error())
			return
		}
		op.Sources = append(op.Sources, src)
	}
	c.Media = append(c.Media, op)
	c.recognize = &recognizeOp{opCtx: req.OperationContext, callbackURI: req.OperationCallbackURI, maxTones: max, stopTones: stop}
	w.WriteHeader(http.StatusAccepted)
}

func (e *Emulator) cancelMedia(w http.ResponseWriter, r *http.Request, c *call) {
	if body, _ := io.ReadAll(r.Body); len(strings.TrimSpace(string(body))) > 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "cancelAllMediaOperations takes no body")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec := c.recognize; rec != nil {
		c.recognize = nil
		e.emit(c, "RecognizeCanceled", map[string]any{"operationContext": rec.opCtx}, rec.callbackURI)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (e *Emulator) transfer(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		TargetParticipant    *identifierJSON `json:"targetParticipant"`
		Transferee           *identifierJSON `json:"transferee"`
		OperationContext     string          `json:"operationContext"`
		OperationCallbackURI string          `json:"operationCallbackUri"`
		CustomCallingContext json.RawMessage `json:"customCallingContext"`
		SourceCallerIDNumber *phoneJSON      `json:"sourceCallerIdNumber"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if _, ok := repeatability(w, r, e.opts.Now()); !ok {
		return
	}
	if req.TargetParticipant == nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "targetParticipant is required")
		return
	}
	if req.SourceCallerIDNumber != nil && !e164.MatchString(req.SourceCallerIDNumber.Value) {
		writeError(w, http.StatusBadRequest, "BadRequest", "sourceCallerIdNumber is not in E.164 form")
		return
	}
	if req.OperationCallbackURI != "" && !validCallbackURI(w, req.OperationCallbackURI) {
		return
	}
	target, err := canonical(*req.TargetParticipant)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "targetParticipant: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// The party handed over: the named transferee, else the one who is not the application.
	transferee := c.source
	if !c.answered && len(c.targets) > 0 {
		transferee = c.targets[0]
	}
	if req.Transferee != nil {
		if transferee, err = canonical(*req.Transferee); err != nil || c.indexOf(transferee.RawID) < 0 {
			writeError(w, http.StatusBadRequest, "BadRequest", "transferee is not in the call")
			return
		}
	}
	extra := map[string]any{"operationContext": req.OperationContext, "transferTarget": target, "transferee": transferee}
	if _, live := e.liveIdentity(target.RawID); target.CommunicationUser != nil && !live {
		extra["resultInformation"] = map[string]any{"code": 400, "subCode": 7520, "message": "The transfer target is not a communication user of this resource."}
		e.emit(c, "CallTransferFailed", extra, req.OperationCallbackURI)
		writeJSON(w, http.StatusAccepted, map[string]any{"operationContext": req.OperationContext})
		return
	}
	c.Transfers = append(c.Transfers, target.RawID)
	e.emit(c, "CallTransferAccepted", extra, req.OperationCallbackURI)
	// The application is out of the call once the transfer is accepted.
	e.endCall(c, false)
	if target.CommunicationUser != nil {
		// The target is rung like any call to it: IncomingCall through Event Grid.
		in := e.ringLocked(transferee, target)
		go e.publishIncomingCall(e.bg, in, "")
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"operationContext": req.OperationContext})
}

// PressKeys is the caller pressing keys: the running recognize completes
// with up to its maxTonesToCollect tones (ending at a stop tone).
func (e *Emulator) PressKeys(callID, keys string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.calls[callID]
	if !ok || c.ended {
		return fmt.Errorf("acsemu: no live call %s", callID)
	}
	rec := c.recognize
	if rec == nil {
		return fmt.Errorf("acsemu: call %s is not recognizing tones now", callID)
	}
	var tones []string
	for _, k := range strings.ToUpper(keys) {
		t, ok := toneNames[k]
		if !ok {
			return fmt.Errorf("acsemu: %q is not a DTMF key", k)
		}
		tones = append(tones, t)
		if len(tones) == rec.maxTones || slices.Contains(rec.stopTones, t) {
			break
		}
	}
	if len(tones) == 0 {
		return fmt.Errorf("acsemu: no keys")
	}
	c.recognize = nil
	e.emit(c, "RecognizeCompleted", map[string]any{
		"operationContext": rec.opCtx, "recognitionType": "dtmf", "dtmfResult": map[string]any{"tones": tones},
		"resultInformation": map[string]any{"code": 200, "subCode": 8531, "message": "Action completed, max digits received."},
	}, rec.callbackURI)
	return nil
}

// Silence is the caller pressing nothing until the running recognize's
// initial silence timeout: RecognizeFailed with subCode 8510.
func (e *Emulator) Silence(callID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.calls[callID]
	if !ok || c.ended || c.recognize == nil {
		return fmt.Errorf("acsemu: call %s is not recognizing tones now", callID)
	}
	rec := c.recognize
	c.recognize = nil
	e.emit(c, "RecognizeFailed", map[string]any{"operationContext": rec.opCtx,
		"resultInformation": map[string]any{"code": 400, "subCode": 8510, "message": "Action failed, initial silence timeout reached."}}, rec.callbackURI)
	return nil
}

// ringLocked registers a ringing call from one identifier to another; the caller holds e.mu.
func (e *Emulator) ringLocked(from, to identifierJSON) IncomingCall {
	in := IncomingCall{
		From: from.RawID, To: to.RawID,
		IncomingCallContext: newIncomingCallContext(),
		ServerCallID:        newServerCallID(),
		CorrelationID:       uuid.NewString(),
	}
	e.incoming[in.IncomingCallContext] = in
	return in
}

// RingApplication places a call from one raw id to another (an ACS user,
// or a phone number of the resource) and publishes its IncomingCall to the
// Event Grid sink, returning once the sink took it.
func (e *Emulator) RingApplication(ctx context.Context, from, to, callerName string) (IncomingCall, error) {
	in, err := e.NewIncomingCall(from, to)
	if err != nil {
		return IncomingCall{}, err
	}
	return in, e.publishIncomingCall(ctx, in, callerName)
}

// IncomingCallEvent is the Event Grid batch ACS publishes for in; redeliver
// it to test exactly-once handling.
func IncomingCallEvent(in IncomingCall, callerName, eventID string) []byte {
	from, _ := canonical(identifierJSON{RawID: in.From})
	to, _ := canonical(identifierJSON{RawID: in.To})
	ev := []map[string]any{{
		"id": eventID, "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/acsemu/providers/Microsoft.Communication/communicationServices/acsemu",
		"subject": "/caller/" + in.From + "/recipient/" + in.To, "eventType": "Microsoft.Communication.IncomingCall",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "1.0", "metadataVersion": "1",
		"data": map[string]any{"to": to, "from": from, "serverCallId": in.ServerCallID, "callerDisplayName": callerName,
			"incomingCallContext": in.IncomingCallContext, "correlationId": in.CorrelationID},
	}}
	b, _ := json.Marshal(ev)
	return b
}

func (e *Emulator) publishIncomingCall(ctx context.Context, in IncomingCall, callerName string) error {
	e.mu.Lock()
	sink := e.eventGrid
	e.mu.Unlock()
	if sink == nil {
		return fmt.Errorf("acsemu: no Event Grid sink to publish IncomingCall to")
	}
	if err := sink(ctx, IncomingCallEvent(in, callerName, uuid.NewString())); err != nil {
		e.log.Info("acsemu: IncomingCall not delivered", "to", in.To, "err", err)
		return err
	}
	return nil
}

func (e *Emulator) routeMediaControl() {
	e.control.HandleFunc("POST /emulator/calls/{id}/dtmf", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Tones string `json:"tones"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "ValidationError", `body must be {"tones":"1"}`)
			return
		}
		if err := e.PressKeys(r.PathValue("id"), req.Tones); err != nil {
			writeError(w, http.StatusConflict, "Conflict", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("POST /emulator/calls/{id}/silence", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Silence(r.PathValue("id")); err != nil {
			writeError(w, http.StatusConflict, "Conflict", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("POST /emulator/calls/{id}/hangup", func(w http.ResponseWriter, r *http.Request) {
		if err := e.DisconnectCall(r.PathValue("id")); err != nil {
			writeError(w, http.StatusConflict, "Conflict", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("POST /emulator/incoming", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			From              string `json:"from"`
			To                string `json:"to"`
			CallerDisplayName string `json:"callerDisplayName"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.From == "" || req.To == "" {
			writeError(w, http.StatusBadRequest, "ValidationError", `body must be {"from":"<raw id>","to":"<raw id>"}`)
			return
		}
		in, err := e.RingApplication(r.Context(), req.From, req.To, req.CallerDisplayName)
		if err != nil {
			writeError(w, http.StatusBadGateway, "NotDelivered", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, in)
	})
}
