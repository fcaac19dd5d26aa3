package acsemu

import (
	"encoding/json"
	"testing"
)

// answered rings the emulator's application and answers; tts sets callIntelligenceOptions.
func answered(t *testing.T, e *Emulator, tts bool) (id, caller string) {
	t.Helper()
	caller, bot := newUser(t, e), newUser(t, e)
	in, err := e.NewIncomingCall(caller, bot)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"incomingCallContext":"` + in.IncomingCallContext + `","callbackUri":"https://app.contoso.com/cb"`
	if tts {
		body += `,"callIntelligenceOptions":{"cognitiveServicesEndpoint":"https://ai.cognitiveservices.azure.com/"}`
	}
	status, _, resp := signed{method: "POST", target: "/calling/callConnections:answer?api-version=2025-06-15", body: body + "}"}.do(t, e)
	var cc struct{ CallConnectionID string }
	if status != 200 || json.Unmarshal(resp, &cc) != nil {
		t.Fatalf("answer: %d %s", status, resp)
	}
	return cc.CallConnectionID, caller
}

// The media, transfer, connect and recording operations refuse what ACS refuses.
func TestMediaAndRecordingRequests(t *testing.T) {
	e := start(t, Options{})
	plain, caller := answered(t, e, false)
	tts, ttsCaller := answered(t, e, true)
	target := func(raw string) string {
		return `{"kind":"communicationUser","communicationUser":{"id":"` + raw + `"}}`
	}
	on := func(id, action, version string) string {
		return "/calling/callConnections/" + id + ":" + action + "?api-version=" + version
	}
	file := `{"kind":"file","file":{"uri":"https://cdn.contoso.com/a.wav"}}`
	text := `{"kind":"text","text":{"text":"Hello"}}`
	dtmf := func(extra string) string {
		return `{"recognizeInputType":"dtmf","recognizeOptions":{"targetParticipant":` + target(caller) + `,"dtmfOptions":{"maxTonesToCollect":1` + extra + `}}}`
	}
	tests := []struct {
		name   string
		req    signed
		status int
	}{
		{"play a file", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[` + file + `],"playTo":[]}`}, 202},
		{"play text with cognitive services", signed{method: "POST", target: on(tts, "play", "2025-06-15"), body: `{"playSources":[` + text + `],"playTo":[` + target(ttsCaller) + `]}`}, 202},
		{"play text without cognitive services", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[` + text + `]}`}, 400},
		{"play nothing", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[]}`}, 400},
		{"play an unknown kind", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[{"kind":"video"}]}`}, 400},
		{"play options without loop", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[` + file + `],"playOptions":{}}`}, 400},
		{"play to a stranger", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[` + file + `],"playTo":[` + target(ttsCaller) + `]}`}, 400},
		{"play on a preview api-version", signed{method: "POST", target: on(plain, "play", "2024-09-01-preview"), body: `{"playSources":[` + file + `]}`}, 400},
		{"play unsigned", signed{method: "POST", target: on(plain, "play", "2026-03-12"), body: `{"playSources":[` + file + `]}`, key: []byte("wrong")}, 401},
		{"recognize speech", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: `{"recognizeInputType":"speech","recognizeOptions":{"targetParticipant":` + target(caller) + `}}`}, 400},
		{"recognize without a target", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: `{"recognizeInputType":"dtmf","recognizeOptions":{}}`}, 400},
		{"recognize zero tones", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: `{"recognizeInputType":"dtmf","recognizeOptions":{"targetParticipant":` + target(caller) + `,"dtmfOptions":{"maxTonesToCollect":0}}}`}, 400},
		{"recognize a bad stop tone", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: dtmf(`,"stopTones":["hash"]`)}, 400},
		{"recognize", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: dtmf(`,"stopTones":["pound"],"interToneTimeoutInSeconds":2`)}, 202},
		{"recognize twice", signed{method: "POST", target: on(plain, "recognize", "2026-03-12"), body: dtmf("")}, 400},
		{"cancel with a body", signed{method: "POST", target: on(plain, "cancelAllMediaOperations", "2026-03-12"), body: `{"x":1}`}, 400},
		{"cancel", signed{method: "POST", target: on(plain, "cancelAllMediaOperations", "2026-03-12")}, 202},
		{"transfer without a target", signed{method: "POST", target: on(plain, "transferToParticipant", "2026-03-12"), body: `{}`}, 400},
		{"unknown action", signed{method: "POST", target: on(plain, "dance", "2026-03-12"), body: `{}`}, 404},
		{"connect without a locator", signed{method: "POST", target: "/calling/callConnections:connect?api-version=2026-03-12", body: `{"callbackUri":"https://app.contoso.com/cb"}`}, 400},
		{"connect a bad group id", signed{method: "POST", target: "/calling/callConnections:connect?api-version=2026-03-12", body: `{"callLocator":{"kind":"groupCallLocator","groupCallId":"x"},"callbackUri":"https://app.contoso.com/cb"}`}, 400},
		{"record a room by locator", signed{method: "POST", target: "/calling/recordings?api-version=2026-03-12", body: `{"callLocator":{"kind":"roomCallLocator","roomId":"r"}}`}, 400},
		{"record with both", signed{method: "POST", target: "/calling/recordings?api-version=2026-03-12", body: `{"callLocator":{"kind":"serverCallLocator","serverCallId":"s"},"callConnectionId":"` + plain + `"}`}, 400},
		{"record a bad format", signed{method: "POST", target: "/calling/recordings?api-version=2026-03-12", body: `{"callConnectionId":"` + plain + `","recordingFormatType":"ogg"}`}, 400},
		{"record", signed{method: "POST", target: "/calling/recordings?api-version=2026-03-12", body: `{"callConnectionId":"` + plain + `"}`}, 200},
		{"record twice", signed{method: "POST", target: "/calling/recordings?api-version=2026-03-12", body: `{"callConnectionId":"` + plain + `"}`}, 400},
		{"stop an unknown recording", signed{method: "DELETE", target: "/calling/recordings/nope?api-version=2026-03-12"}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := tt.req.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d %s, want %d", status, body, tt.status)
			}
			if status >= 400 {
				errorCode(t, body)
			}
		})
	}
	if err := e.PressKeys(plain, "1"); err == nil {
		t.Error("keys pressed after the recognize was canceled were accepted")
	}
}
