package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/dev/stack"
)

// TestChatSDK drives the ACS emulator's Chat API with
// @azure/communication-chat, using tokens the handler issued.
func TestChatSDK(t *testing.T) {
	st, err := stack.Start(context.Background(), stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	token := func(userID string, scopes string) (string, string) {
		t.Helper()
		bearer, err := st.Token(userID, "")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", st.URL()+"/api/token", strings.NewReader(`{"scopes":[`+scopes+`]}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ ACSUserID, Token string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /api/token for %s: %d %v", userID, resp.StatusCode, err)
		}
		return out.ACSUserID, out.Token
	}
	aliceID, aliceTok := token("alice", `"chat"`)
	bobID, bobTok := token("bob", `"chat","voip"`)
	carolID, _ := token("carol", `"chat"`)
	_, voipTok := token("dave", `"voip"`)

	type participant struct{ ID, DisplayName string }
	type invalid struct{ Target, Code string }
	var res struct {
		Create struct {
			ID, Topic, CreatedBy string
			Invalid              []invalid
		}
		Add          struct{ Invalid []invalid }
		Participants []participant
		AfterRemove  []string
		Send         struct{ ID string }
		BobMessages  []struct{ ID, Type, Content, Sender, SenderDisplayName string }
		Properties   struct{ ID, Topic string }
		VoipOnly     struct {
			Status int
			Code   string
		}
		Deleted string
	}
	runNode(t, "chat.mjs", []string{
		"ACS_ENDPOINT=" + st.ACS.Endpoint(), "NODE_EXTRA_CA_CERTS=" + st.ACS.CAFile(),
		"ALICE_TOKEN=" + aliceTok, "BOB_TOKEN=" + bobTok, "BOB_ID=" + bobID, "CAROL_ID=" + carolID, "VOIP_TOKEN=" + voipTok,
	}, &res, "@azure/communication-chat", "@azure/communication-common")

	if !strings.HasPrefix(res.Create.ID, "19:") || res.Create.Topic != "Conformance" || res.Create.CreatedBy != aliceID {
		t.Errorf("create = %+v", res.Create)
	}
	if len(res.Create.Invalid) != 1 || res.Create.Invalid[0].Target != "8:acs:not-a-user" || res.Create.Invalid[0].Code != "404" {
		t.Errorf("invalidParticipants on a 201 = %+v, want the unknown id", res.Create.Invalid)
	}
	if len(res.Add.Invalid) != 0 {
		t.Errorf("add = %+v", res.Add)
	}
	var ids []string
	for _, p := range res.Participants {
		ids = append(ids, p.ID)
		if p.ID == bobID && p.DisplayName != "Bob" {
			t.Errorf("bob listed as %+v", p)
		}
	}
	want := []string{aliceID, bobID, carolID}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("participants %v, want %v", ids, want)
	}
	if slices.Contains(res.AfterRemove, carolID) || len(res.AfterRemove) != 2 {
		t.Errorf("after removing carol: %v", res.AfterRemove)
	}
	if len(res.BobMessages) != 1 || res.BobMessages[0].ID != res.Send.ID || res.BobMessages[0].Content != "hello from the SDK" ||
		res.BobMessages[0].Sender != aliceID || res.BobMessages[0].SenderDisplayName != "Alice" || res.BobMessages[0].Type != "text" {
		t.Errorf("bob's messages = %+v, want alice's one", res.BobMessages)
	}
	if res.Properties.ID != res.Create.ID || res.Properties.Topic != "Conformance" {
		t.Errorf("properties = %+v", res.Properties)
	}
	if res.VoipOnly.Status != 403 {
		t.Errorf("a voip-only token = %+v, want 403", res.VoipOnly)
	}
	if _, ok := st.ACS.ChatThread(res.Create.ID); ok {
		t.Error("the thread deleted through the SDK still exists")
	}
	// The send raised one ChatMessageReceived, for bob (not for alice, the sender).
	var recipients []string
	for _, ev := range st.ACS.ChatEvents() {
		var evs []struct {
			Data struct{ RecipientID, MessageID string }
		}
		if err := json.Unmarshal(ev, &evs); err != nil || len(evs) != 1 {
			t.Fatalf("event %s: %v", ev, err)
		}
		if evs[0].Data.MessageID == res.Send.ID {
			recipients = append(recipients, evs[0].Data.RecipientID)
		}
	}
	if !slices.Equal(recipients, []string{bobID}) {
		t.Errorf("ChatMessageReceived recipients %v, want only bob", recipients)
	}
	if n := st.ACS.Requests("CreateChatThread"); n != 2 {
		t.Errorf("%d CreateChatThread requests, want 2", n)
	}
}
