package conformance

import (
	"context"
	"slices"
	"testing"

	"switchboard/dev/acsemu"
)

// TestCallMediaSDK drives answer, play (text and file), startRecognizing
// (DTMF), cancelAllOperations and transfer on the emulator with
// @azure/communication-call-automation, for both GA api-versions, and
// checks parseCallAutomationEvent accepts every callback the emulator sent.
func TestCallMediaSDK(t *testing.T) {
	for _, version := range []string{"", "2025-06-15"} { // "": the SDK's default, 2026-03-12
		t.Run("api-version="+version, func(t *testing.T) {
			emu, err := acsemu.Start(acsemu.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = emu.Close() })
			// Rings are published to the system topic; the script reads the context from the control answer.
			emu.SetEventSink(func(context.Context, []byte) error { return nil }, false)
			var res struct {
				Users                []string
				Answer               struct{ CallConnectionID, State string }
				Press                int
				Transfer             *string
				TextWithoutCognitive struct{ Status int }
				Events               []struct {
					Call, Kind, OperationContext, TransferTarget string
					Tones                                        []string
				}
				Unparsed []string
			}
			runNode(t, "callmedia.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "ACS_ENDPOINT=" + emu.Endpoint(), "API_VERSION=" + version}, &res,
				"@azure/communication-call-automation", "@azure/communication-identity")
			if len(res.Unparsed) > 0 {
				t.Fatalf("parseCallAutomationEvent refused: %v", res.Unparsed)
			}
			if res.Answer.CallConnectionID == "" || res.Answer.State != "connecting" || res.Press != 204 {
				t.Errorf("answer = %+v, press = %d", res.Answer, res.Press)
			}
			if res.TextWithoutCognitive.Status != 400 {
				t.Errorf("text prompt without a Cognitive Services endpoint = %+v, want 400", res.TextWithoutCognitive)
			}
			var kinds []string
			for _, e := range res.Events {
				if e.Call != "a" || e.Kind == "ParticipantsUpdated" {
					continue
				}
				kinds = append(kinds, e.Kind+":"+e.OperationContext)
				if e.Kind == "RecognizeCompleted" && !slices.Equal(e.Tones, []string{"one"}) {
					t.Errorf("RecognizeCompleted tones = %v", e.Tones)
				}
				if e.Kind == "CallTransferAccepted" && e.TransferTarget != res.Users[2] {
					t.Errorf("transfer target = %q, want %q", e.TransferTarget, res.Users[2])
				}
			}
			want := []string{"CallConnected:answer", "PlayStarted:greeting", "PlayCompleted:greeting", "PlayStarted:to-caller", "PlayCompleted:to-caller",
				"RecognizeCompleted:menu", "CallTransferAccepted:transfer", "CallDisconnected:answer"}
			if !slices.Equal(kinds, want) {
				t.Errorf("events = %v\nwant     %v", kinds, want)
			}
			c, _ := emu.Call(res.Answer.CallConnectionID)
			if len(c.Media) != 3 || !slices.Equal(c.Media[0].Sources, []string{"text:Welcome", "file:https://cdn.contoso.com/prompts/menu.wav"}) ||
				!slices.Equal(c.Media[1].PlayTo, res.Users[:1]) || c.Media[2].Kind != "recognize" || !slices.Equal(c.Media[2].Sources, []string{"text:Press 1 for Alice"}) {
				t.Errorf("media = %+v", c.Media)
			}
			if !slices.Equal(c.Transfers, res.Users[2:3]) {
				t.Errorf("transfers = %v", c.Transfers)
			}
		})
	}
}
