package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// Mid-call media and transfer events (the outcome of Play, Recognize and
// TransferToParticipant, each echoing the action's operationContext).
const (
	EventAnswerFailed          = "Microsoft.Communication.AnswerFailed"
	EventPlayStarted           = "Microsoft.Communication.PlayStarted"
	EventPlayCompleted         = "Microsoft.Communication.PlayCompleted"
	EventPlayFailed            = "Microsoft.Communication.PlayFailed"
	EventPlayCanceled          = "Microsoft.Communication.PlayCanceled"
	EventRecognizeCompleted    = "Microsoft.Communication.RecognizeCompleted"
	EventRecognizeFailed       = "Microsoft.Communication.RecognizeFailed"
	EventRecognizeCanceled     = "Microsoft.Communication.RecognizeCanceled"
	EventCallTransferAccepted  = "Microsoft.Communication.CallTransferAccepted"
	EventCallTransferFailed    = "Microsoft.Communication.CallTransferFailed"
	EventRecordingStateChanged = "Microsoft.Communication.RecordingStateChanged"
	EventConnectFailed         = "Microsoft.Communication.ConnectFailed"
	// MoveParticipants' outcome (api-version 2026-03-12 on).
	EventMoveParticipantSucceeded = "Microsoft.Communication.MoveParticipantSucceeded"
	EventMoveParticipantFailed    = "Microsoft.Communication.MoveParticipantFailed"
)

// MaxTTSCharacters is the longest text ACS speaks in one text play source.
const MaxTTSCharacters = 4000

type playOptions struct {
	Loop bool `json:"loop"`
}

type callIntelligenceOptions struct {
	CognitiveServicesEndpoint string `json:"cognitiveServicesEndpoint"`
}

// PlaySource is one prompt: Text (text-to-speech, which needs a Cognitive
// Services endpoint on the call) or FileURL (a 16 kHz mono WAV ACS fetches).
type PlaySource struct {
	Text string
	// VoiceName is a neural voice such as en-US-JennyNeural; "" is ACS's default.
	VoiceName string
	FileURL   string
}

type wirePlaySource struct {
	Kind string    `json:"kind"`
	File *wireFile `json:"file,omitempty"`
	Text *wireText `json:"text,omitempty"`
}

type wireFile struct {
	URI string `json:"uri"`
}

type wireText struct {
	Text      string `json:"text"`
	VoiceName string `json:"voiceName,omitempty"`
}

func (p PlaySource) wire() (wirePlaySource, error) {
	switch {
	case p.Text != "" && p.FileURL != "":
		return wirePlaySource{}, errors.New("acs: a play source is text or a file, not both")
	case p.Text != "":
		if utf8.RuneCountInString(p.Text) > MaxTTSCharacters {
			return wirePlaySource{}, fmt.Errorf("acs: play text is longer than %d characters", MaxTTSCharacters)
		}
		return wirePlaySource{Kind: "text", Text: &wireText{Text: p.Text, VoiceName: p.VoiceName}}, nil
	case p.FileURL != "":
		return wirePlaySource{Kind: "file", File: &wireFile{URI: p.FileURL}}, nil
	}
	return wirePlaySource{}, errors.New("acs: a play source needs text or a file URL")
}

// PlayOptions plays sources to PlayTo (everyone when empty).
type PlayOptions struct {
	Sources          []PlaySource
	PlayTo           []CommunicationIdentifier
	OperationContext string
}

// Play starts playing prompts; PlayCompleted or PlayFailed follows.
func (c *Client) Play(ctx context.Context, callConnectionID string, opts PlayOptions) error {
	p, err := callPath(callConnectionID, ":play")
	if err != nil {
		return err
	}
	if len(opts.Sources) == 0 {
		return errors.New("acs: play: no sources")
	}
	body := struct {
		PlaySources      []wirePlaySource          `json:"playSources"`
		PlayTo           []CommunicationIdentifier `json:"playTo"`
		PlayOptions      playOptions               `json:"playOptions"`
		OperationContext string                    `json:"operationContext,omitempty"`
	}{PlayTo: []CommunicationIdentifier{}, OperationContext: opts.OperationContext}
	for _, s := range opts.Sources {
		w, err := s.wire()
		if err != nil {
			return err
		}
		body.PlaySources = append(body.PlaySources, w)
	}
	for _, t := range opts.PlayTo {
		if err := t.validate(); err != nil {
			return fmt.Errorf("acs: play to: %w", err)
		}
		body.PlayTo = append(body.PlayTo, t.wire())
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, want: http.StatusAccepted}, nil)
}

// RecognizeDTMFOptions collects key presses from Target.
type RecognizeDTMFOptions struct {
	Target CommunicationIdentifier
	// Prompt, if set, plays while listening (InterruptPrompt stops it at the first key).
	Prompt          *PlaySource
	InterruptPrompt bool
	MaxTones        int
	// InitialSilenceTimeout is how long to wait for the first key (0..300 s);
	// InterToneTimeout between keys (1..60 s). Zero: ACS's defaults.
	InitialSilenceTimeout time.Duration
	InterToneTimeout      time.Duration
	OperationContext      string
}

// RecognizeDTMF starts collecting tones; RecognizeCompleted or RecognizeFailed follows.
func (c *Client) RecognizeDTMF(ctx context.Context, callConnectionID string, opts RecognizeDTMFOptions) error {
	p, err := callPath(callConnectionID, ":recognize")
	if err != nil {
		return err
	}
	if err := opts.Target.validate(); err != nil {
		return fmt.Errorf("acs: recognize target: %w", err)
	}
	if opts.MaxTones < 1 {
		return errors.New("acs: recognize: MaxTones must be at least 1")
	}
	silence, inter := int(opts.InitialSilenceTimeout/time.Second), int(opts.InterToneTimeout/time.Second)
	if silence < 0 || silence > 300 || inter < 0 || inter > 60 {
		return errors.New("acs: recognize: InitialSilenceTimeout must be within 300 s and InterToneTimeout within 60 s")
	}
	type dtmfOptions struct {
		InterToneTimeoutInSeconds int `json:"interToneTimeoutInSeconds,omitempty"`
		MaxTonesToCollect         int `json:"maxTonesToCollect"`
	}
	type recognizeOptions struct {
		InterruptPrompt                bool                    `json:"interruptPrompt"`
		InitialSilenceTimeoutInSeconds int                     `json:"initialSilenceTimeoutInSeconds,omitempty"`
		TargetParticipant              CommunicationIdentifier `json:"targetParticipant"`
		DTMFOptions                    dtmfOptions             `json:"dtmfOptions"`
	}
	body := struct {
		RecognizeInputType string           `json:"recognizeInputType"`
		PlayPrompt         *wirePlaySource  `json:"playPrompt,omitempty"`
		RecognizeOptions   recognizeOptions `json:"recognizeOptions"`
		OperationContext   string           `json:"operationContext,omitempty"`
	}{
		RecognizeInputType: "dtmf",
		RecognizeOptions: recognizeOptions{InterruptPrompt: opts.InterruptPrompt, InitialSilenceTimeoutInSeconds: silence,
			TargetParticipant: opts.Target.wire(), DTMFOptions: dtmfOptions{InterToneTimeoutInSeconds: inter, MaxTonesToCollect: opts.MaxTones}},
		OperationContext: opts.OperationContext,
	}
	if opts.Prompt != nil {
		w, err := opts.Prompt.wire()
		if err != nil {
			return err
		}
		body.PlayPrompt = &w
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, want: http.StatusAccepted}, nil)
}

// CancelAllMediaOperations stops queued and running plays and recognitions.
func (c *Client) CancelAllMediaOperations(ctx context.Context, callConnectionID string) error {
	p, err := callPath(callConnectionID, ":cancelAllMediaOperations")
	if err != nil {
		return err
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), want: http.StatusAccepted}, nil)
}

// TransferOptions hands a call's other party to Target.
type TransferOptions struct {
	Target CommunicationIdentifier
	// SourceCallerID is the E.164 caller id shown when Target is a phone number.
	SourceCallerID   string
	OperationContext string
}

// TransferToParticipant transfers the call; CallTransferAccepted or
// CallTransferFailed follows, and the application leaves an accepted one.
func (c *Client) TransferToParticipant(ctx context.Context, callConnectionID string, opts TransferOptions) error {
	p, err := callPath(callConnectionID, ":transferToParticipant")
	if err != nil {
		return err
	}
	if err := opts.Target.validate(); err != nil {
		return fmt.Errorf("acs: transfer target: %w", err)
	}
	body := struct {
		TargetParticipant    CommunicationIdentifier `json:"targetParticipant"`
		SourceCallerIDNumber *PhoneNumberIdentifier  `json:"sourceCallerIdNumber,omitempty"`
		OperationContext     string                  `json:"operationContext,omitempty"`
	}{TargetParticipant: opts.Target.wire(), OperationContext: opts.OperationContext}
	if body.SourceCallerIDNumber, err = callerID(opts.SourceCallerID, false); err != nil {
		return fmt.Errorf("acs: transfer: %w", err)
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, repeatable: true, want: http.StatusAccepted}, nil)
}

// DTMF tone names on the wire, by key.
var toneNames = map[string]string{
	"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
	"*": "asterisk", "#": "pound", "A": "a", "B": "b", "C": "c", "D": "d",
}

// DTMFKey is the key of a wire tone name ("one" -> "1"), or "" for none.
func DTMFKey(tone string) string {
	for k, v := range toneNames {
		if v == tone {
			return k
		}
	}
	return ""
}

// DTMFTones returns the keys of a RecognizeCompleted event's dtmfResult, in order.
func (e CallbackEvent) DTMFTones() ([]string, error) {
	var d struct {
		RecognitionType string `json:"recognitionType"`
		DTMFResult      *struct {
			Tones []string `json:"tones"`
		} `json:"dtmfResult"`
	}
	if err := json.Unmarshal(e.RawData, &d); err != nil {
		return nil, fmt.Errorf("acs: data of %s: %w", e.Kind(), err)
	}
	if d.DTMFResult == nil {
		return nil, fmt.Errorf("acs: %s has no dtmfResult (recognitionType %q)", e.Kind(), d.RecognitionType)
	}
	keys := make([]string, 0, len(d.DTMFResult.Tones))
	for _, t := range d.DTMFResult.Tones {
		k := DTMFKey(t)
		if k == "" {
			return nil, fmt.Errorf("acs: unknown DTMF tone %q", t)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// MoveParticipantsOptions moves participants of another call connection of
// this resource (FromCall) into the call the connection is in.
type MoveParticipantsOptions struct {
	Participants     []CommunicationIdentifier
	FromCall         string
	OperationContext string
}

// ErrMoveNotSupported is MoveParticipants on an api-version before MoveParticipantsAPIVersion.
var ErrMoveNotSupported = errors.New("acs: participants:moveHere needs Call Automation api-version " + MoveParticipantsAPIVersion)

// MoveParticipants moves participants into callConnectionID's call (202);
// MoveParticipantSucceeded or MoveParticipantFailed follows for each.
func (c *Client) MoveParticipants(ctx context.Context, callConnectionID string, opts MoveParticipantsOptions) error {
	if c.caVersion < MoveParticipantsAPIVersion {
		return ErrMoveNotSupported
	}
	p, err := callPath(callConnectionID, "/participants:moveHere")
	if err != nil {
		return err
	}
	if len(opts.Participants) == 0 || opts.FromCall == "" {
		return errors.New("acs: move participants: participants and fromCall are required")
	}
	body := struct {
		TargetParticipants []CommunicationIdentifier `json:"targetParticipants"`
		FromCall           string                    `json:"fromCall"`
		OperationContext   string                    `json:"operationContext,omitempty"`
	}{FromCall: opts.FromCall, OperationContext: opts.OperationContext}
	for _, id := range opts.Participants {
		if err := id.validate(); err != nil {
			return fmt.Errorf("acs: move participants: %w", err)
		}
		body.TargetParticipants = append(body.TargetParticipants, id.wire())
	}
	return c.send(ctx, request{method: http.MethodPost, url: c.callingURL(p), body: body, repeatable: true, want: http.StatusAccepted}, nil)
}
