package conformance

import (
	"context"
	"slices"
	"testing"

	"switchboard/dev/acsemu"
)

// TestMoveParticipantsSDK drives participants:moveHere on the emulator with
// @azure/communication-call-automation's moveParticipants(ids, fromCall):
// under 2026-03-12 (the SDK's default) the caller moves from the bot's call
// into the group call, and parseCallAutomationEvent accepts
// MoveParticipantSucceeded/Failed; under 2025-06-15 the route is a 404.
func TestMoveParticipantsSDK(t *testing.T) {
	for _, version := range []string{"", "2025-06-15"} {
		t.Run("api-version="+version, func(t *testing.T) {
			emu, err := acsemu.Start(acsemu.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = emu.Close() })
			emu.SetEventSink(func(context.Context, []byte) error { return nil }, false)
			var res struct {
				Users []string
				Calls struct{ Bot, Group string }
				Move  *struct {
					Participants     []string
					FromCall         string
					OperationContext string
				}
				MoveError *struct {
					Status int
					Code   string
				}
				GroupParticipants []string
				Events            []struct {
					Call, Kind, OperationContext, Participant, FromCall string
				}
				Unparsed []string
			}
			runNode(t, "callmove.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "ACS_ENDPOINT=" + emu.Endpoint(), "API_VERSION=" + version}, &res,
				"@azure/communication-call-automation", "@azure/communication-identity")
			if len(res.Unparsed) > 0 {
				t.Fatalf("parseCallAutomationEvent refused: %v", res.Unparsed)
			}
			caller := res.Users[0]
			if version == "2025-06-15" {
				if res.MoveError == nil || res.MoveError.Status != 404 || res.Move != nil {
					t.Errorf("moveParticipants under 2025-06-15: move %+v, error %+v; want a 404", res.Move, res.MoveError)
				}
				return
			}
			if res.MoveError != nil || res.Move == nil || !slices.Equal(res.Move.Participants, []string{caller}) || res.Move.FromCall != res.Calls.Bot || res.Move.OperationContext != "move" {
				t.Fatalf("moveParticipants = %+v, error %+v", res.Move, res.MoveError)
			}
			if !slices.Contains(res.GroupParticipants, caller) {
				t.Errorf("group call participants = %v, want the caller", res.GroupParticipants)
			}
			var got []string
			for _, e := range res.Events {
				if e.Kind == "MoveParticipantSucceeded" || e.Kind == "MoveParticipantFailed" {
					if e.Call != "group" || e.Participant != caller || e.FromCall != res.Calls.Bot {
						t.Errorf("%s = %+v", e.Kind, e)
					}
					got = append(got, e.Kind+":"+e.OperationContext)
				}
			}
			if want := []string{"MoveParticipantSucceeded:move", "MoveParticipantFailed:again"}; !slices.Equal(got, want) {
				t.Errorf("move events = %v, want %v", got, want)
			}
			bot, _ := emu.Call(res.Calls.Bot)
			if slices.Contains(bot.Participants, caller) {
				t.Errorf("the caller is still in the bot's call: %v", bot.Participants)
			}
		})
	}
}
