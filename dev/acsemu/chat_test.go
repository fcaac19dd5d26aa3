package acsemu

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// tokenFor creates an identity and a token for it with scopes.
func tokenFor(t *testing.T, e *Emulator, scopes ...string) (string, string) {
	t.Helper()
	id := "8:acs:" + e.resourceID + "_" + uuid.NewString()
	e.mu.Lock()
	defer e.mu.Unlock()
	ident := &identity{}
	e.identities[id] = ident
	tok, err := e.newAccessToken(id, ident, scopes, 60)
	if err != nil {
		t.Fatal(err)
	}
	return id, tok.Token
}

// chatDo sends a Chat request with token and returns the status and the error code, if any.
func chatDo(t *testing.T, e *Emulator, token, method, path, body string, header map[string]string) (int, string, []byte) {
	t.Helper()
	u := strings.TrimSuffix(e.Endpoint(), "/") + path
	if !strings.Contains(path, "api-version") {
		u += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + "api-version=2025-03-15"
	}
	r, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool()}}}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb struct{ Error struct{ Code string } }
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Error.Code, b
}

func chatMember(id string) string {
	return fmt.Sprintf(`{"communicationIdentifier":{"rawId":%q,"communicationUser":{"id":%q}}}`, id, id)
}

func TestChatChecks(t *testing.T) {
	e := start(t, Options{TLS: true})
	owner, ownerTok := tokenFor(t, e, "chat")
	_, voipTok := tokenFor(t, e, "voip")
	_, outsiderTok := tokenFor(t, e, "chat")
	status, _, body := chatDo(t, e, ownerTok, "POST", "/chat/threads", `{"topic":"t"}`, nil)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var created struct{ ChatThread struct{ ID string } }
	_ = json.Unmarshal(body, &created)
	thread := "/chat/threads/" + url.PathEscape(created.ChatThread.ID)
	many := make([]string, MaxChatBatch+1)
	for i := range many {
		many[i] = chatMember(owner)
	}

	cases := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"no token", "", "GET", thread, "", 401, "Unauthorized"},
		{"a forged token", "x.y.z", "GET", thread, "", 401, "Unauthorized"},
		{"no chat scope", voipTok, "GET", thread, "", 403, "Forbidden"},
		{"no api-version", ownerTok, "GET", thread + "?api-version=", "", 400, "InvalidApiVersion"},
		{"a preview api-version", ownerTok, "GET", thread + "?api-version=2022-04-21-preview8", "", 400, "InvalidApiVersion"},
		{"not a participant", outsiderTok, "GET", thread, "", 403, "Forbidden"},
		{"no such thread", ownerTok, "GET", "/chat/threads/19:nope@thread.v2", "", 404, "NotFound"},
		{"no topic", ownerTok, "POST", "/chat/threads", `{"topic":""}`, 400, "BadRequest"},
		{"an unknown field", ownerTok, "POST", "/chat/threads", `{"topic":"t","colour":"red"}`, 400, "BadRequest"},
		{"too many in one add", ownerTok, "POST", thread + "/participants/:add", `{"participants":[` + strings.Join(many, ",") + `]}`, 400, "BadRequest"},
		{"an empty add", ownerTok, "POST", thread + "/participants/:add", `{"participants":[]}`, 400, "BadRequest"},
		{"removing someone not there", ownerTok, "POST", thread + "/participants/:remove", `{"rawId":"8:acs:x","communicationUser":{"id":"8:acs:x"}}`, 404, "NotFound"},
		{"an empty message", ownerTok, "POST", thread + "/messages", `{"content":""}`, 400, "BadRequest"},
		{"a message type chat does not have", ownerTok, "POST", thread + "/messages", `{"content":"x","type":"rtf"}`, 400, "BadRequest"},
		{"page size out of range", ownerTok, "GET", thread + "/participants?maxPageSize=0", "", 400, "BadRequest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, code, body := chatDo(t, e, c.token, c.method, c.path, c.body, nil)
			if status != c.status || code != c.code {
				t.Fatalf("%d %s, want %d %s: %s", status, code, c.status, c.code, body)
			}
		})
	}

	// Chat is never served over plain http, whatever the token.
	plain := start(t, Options{})
	_, tok := tokenFor(t, plain, "chat")
	req, _ := http.NewRequest("POST", plain.Endpoint()+"chat/threads?api-version=2025-03-15", strings.NewReader(`{"topic":"t"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("chat over http: %d, want 403", resp.StatusCode)
	}
}

func TestChatParticipantsAndHistory(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e := start(t, Options{TLS: true, Now: func() time.Time { return now }})
	owner, ownerTok := tokenFor(t, e, "chat")
	late, lateTok := tokenFor(t, e, "chat")
	early, earlyTok := tokenFor(t, e, "chat")
	var events [][]byte
	e.SetEventSink(func(_ context.Context, ev []byte) error { events = append(events, ev); return nil }, false)

	_, _, body := chatDo(t, e, ownerTok, "POST", "/chat/threads", `{"topic":"t","participants":[`+chatMember(early)+`,`+chatMember("8:acs:someone-else")+`]}`, nil)
	var created struct {
		ChatThread          struct{ ID string }
		InvalidParticipants []struct{ Target, Code string }
	}
	_ = json.Unmarshal(body, &created)
	if len(created.InvalidParticipants) != 1 || created.InvalidParticipants[0].Target != "8:acs:someone-else" {
		t.Fatalf("invalidParticipants %s", body)
	}
	thread := "/chat/threads/" + url.PathEscape(created.ChatThread.ID)
	if status, _, b := chatDo(t, e, ownerTok, "POST", thread+"/messages", `{"content":"first"}`, nil); status != 201 {
		t.Fatalf("send: %d %s", status, b)
	}
	now = now.Add(time.Minute)
	// Added with history from now: the first message is not theirs to see.
	if status, _, b := chatDo(t, e, ownerTok, "POST", thread+"/participants/:add", `{"participants":[`+chatMember(late)+`]}`, nil); status != 201 {
		t.Fatalf("add: %d %s", status, b)
	}
	list := func(tok string) int {
		status, _, b := chatDo(t, e, tok, "GET", thread+"/messages", "", nil)
		var v struct{ Value []any }
		if status != 200 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("list: %d %s", status, b)
		}
		return len(v.Value)
	}
	if n := list(lateTok); n != 0 {
		t.Fatalf("a participant added later sees %d earlier messages, want 0", n)
	}
	if n := list(earlyTok); n != 1 {
		t.Fatalf("a participant from the start sees %d messages, want 1", n)
	}
	// One event per recipient: early (first message); early and late (second); none for the sender.
	chatDo(t, e, ownerTok, "POST", thread+"/messages", `{"content":"second"}`, nil)
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	for _, ev := range events {
		if strings.Contains(string(ev), `"recipientId":"`+owner+`"`) {
			t.Fatalf("the sender got an event: %s", ev)
		}
	}
}
