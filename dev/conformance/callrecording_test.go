package conformance

import (
	"slices"
	"testing"

	"switchboard/dev/acsemu"
)

// TestConnectAndRecordingSDK drives connect (room and group locators) and
// recording on the emulator with @azure/communication-call-automation for
// both GA api-versions; parseCallAutomationEvent accepts every callback.
func TestConnectAndRecordingSDK(t *testing.T) {
	for _, version := range []string{"", "2025-06-15"} {
		t.Run("api-version="+version, func(t *testing.T) {
			emu, err := acsemu.Start(acsemu.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = emu.Close() })
			var res struct {
				ConnectRoom               struct{ CallConnectionID, State string }
				ConnectGroup, GroupCallID string
				UnknownRoom, RoomLocator  struct{ Status int }
				Start                     struct{ RecordingID, State string }
				GetState                  string
				Events                    []struct{ Call, Kind, State, RecordingID string }
				Unparsed                  []string
			}
			runNode(t, "callrecording.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "API_VERSION=" + version}, &res,
				"@azure/communication-call-automation", "@azure/communication-identity", "@azure/communication-rooms")
			if len(res.Unparsed) > 0 {
				t.Fatalf("parseCallAutomationEvent refused: %v", res.Unparsed)
			}
			room, _ := emu.Call(res.ConnectRoom.CallConnectionID)
			group, _ := emu.Call(res.ConnectGroup)
			if res.ConnectRoom.State != "connecting" || room.Locator == "" || group.Locator != "groupCall:"+res.GroupCallID {
				t.Errorf("connect: room %+v (%q), group %q", res.ConnectRoom, room.Locator, group.Locator)
			}
			if res.UnknownRoom.Status != 404 || res.RoomLocator.Status != 400 {
				t.Errorf("unknown room = %d (want 404), recording by room locator = %d (want 400)", res.UnknownRoom.Status, res.RoomLocator.Status)
			}
			if res.Start.RecordingID == "" || res.Start.State != "active" || res.GetState != "active" {
				t.Errorf("start = %+v, state = %q", res.Start, res.GetState)
			}
			var got []string
			for _, e := range res.Events {
				if e.Call == "room" && e.Kind != "ParticipantsUpdated" {
					got = append(got, e.Kind+":"+e.State)
				}
			}
			if want := []string{"CallConnected:", "RecordingStateChanged:active", "RecordingStateChanged:inactive", "CallDisconnected:"}; !slices.Equal(got, want) {
				t.Errorf("room call events = %v, want %v", got, want)
			}
			if recs := emu.Recordings(); len(recs) != 1 || recs[0].State != "inactive" || recs[0].CallConnectionID != res.ConnectRoom.CallConnectionID {
				t.Errorf("recordings = %+v", recs)
			}
		})
	}
}
