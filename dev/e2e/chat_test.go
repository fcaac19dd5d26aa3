package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/acsemu"
	"switchboard/dev/funchost"
	"switchboard/dev/stack"
)

// chatUser is an app user with a chat-scoped ACS token, talking to the Chat
// emulator directly, as a client app's Chat SDK would.
type chatUser struct {
	*client
	id, acsID, token string
}

func newChatUser(t *testing.T, s *stack.Stack, id, name string) *chatUser {
	t.Helper()
	c := userClient(t, s, id, name)
	tok := c.ok("POST", "/api/token", `{"scopes":["chat","voip"]}`, 200)
	return &chatUser{client: c, id: id, acsID: tok["acsUserId"].(string), token: tok["token"].(string)}
}

// chat calls the Chat API with the user's token and returns status and body.
func (u *chatUser) chat(t *testing.T, s *stack.Stack, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(s.ACS.Endpoint(), "/")+path+sep+"api-version=2025-03-15", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ACS.CertPool()}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (u *chatUser) send(t *testing.T, s *stack.Stack, thread, text string) string {
	t.Helper()
	status, out := u.chat(t, s, "POST", "/chat/threads/"+url.PathEscape(thread)+"/messages", map[string]string{"content": text, "senderDisplayName": u.id})
	if status != 201 {
		t.Fatalf("%s sends in %s: %d %v", u.id, thread, status, out)
	}
	return out["id"].(string)
}

func (u *chatUser) messages(t *testing.T, s *stack.Stack, thread string) []string {
	t.Helper()
	status, out := u.chat(t, s, "GET", "/chat/threads/"+url.PathEscape(thread)+"/messages", nil)
	if status != 200 {
		t.Fatalf("%s lists messages of %s: %d %v", u.id, thread, status, out)
	}
	var texts []string
	for _, m := range out["value"].([]any) {
		texts = append(texts, m.(map[string]any)["content"].(map[string]any)["message"].(string))
	}
	return texts
}

// participants is who the emulator has in a thread, less Switchboard's own identity.
func participants(t *testing.T, s *stack.Stack, thread string) []string {
	t.Helper()
	th, ok := s.ACS.ChatThread(thread)
	if !ok {
		t.Fatalf("no chat thread %s", thread)
	}
	var out []string
	for raw := range th.Participants {
		if raw != th.CreatedBy {
			out = append(out, raw)
		}
	}
	slices.Sort(out)
	return out
}

func wantParticipants(t *testing.T, s *stack.Stack, thread string, users ...*chatUser) {
	t.Helper()
	var want []string
	for _, u := range users {
		want = append(want, u.acsID)
	}
	slices.Sort(want)
	if got := participants(t, s, thread); !slices.Equal(got, want) {
		t.Fatalf("thread participants %v, want %v", got, want)
	}
}

func threadsFor(s *stack.Stack, key string) []acsemu.ChatThreadState {
	var out []acsemu.ChatThreadState
	for _, th := range s.ACS.ChatThreads() {
		if th.Metadata["switchboard"] == key {
			out = append(out, th)
		}
	}
	return out
}

func TestSpaceChatThreadFollowsMembership(t *testing.T) {
	p := "sc-" + uuid.NewString()[:8] + "-"
	alice, bob, carol := newChatUser(t, st, p+"alice", "Alice"), newChatUser(t, st, p+"bob", "Bob"), newChatUser(t, st, p+"carol", "Carol")
	sp := alice.ok("POST", "/api/spaces", `{"name":"Chat space"}`, 201)
	id := sp["id"].(string)
	path := "/api/spaces/" + id
	alice.ok("PUT", path+"/members/"+bob.id, "", 200)
	alice.ok("PUT", path+"/members/"+carol.id, "", 200)

	// Concurrent first reads create one thread, with one request to Chat, and all answer it.
	creates := st.ACS.Requests("CreateChatThread")
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := alice.do("GET", path, "")
			var m map[string]any
			_ = json.Unmarshal(r.body, &m)
			got[i], _ = m["chatThreadId"].(string)
		}()
	}
	wg.Wait()
	thread := got[0]
	for _, g := range got {
		if g == "" || g != thread {
			t.Fatalf("concurrent first reads answered threads %v, want one", got)
		}
	}
	if n := len(threadsFor(st, "space:"+id)); n != 1 || st.ACS.Requests("CreateChatThread") != creates+1 {
		t.Fatalf("%d threads for the space from %d requests, want 1 from 1", n, st.ACS.Requests("CreateChatThread")-creates)
	}
	// Invited users are not participants; the owner is.
	wantParticipants(t, st, thread, alice)
	alice.send(t, st, thread, "before bob")

	// Accepting adds, with history from the space's creation.
	bob.ok("PUT", path+"/members/"+bob.id, "", 200)
	carol.ok("PUT", path+"/members/"+carol.id, "", 200)
	wantParticipants(t, st, thread, alice, bob, carol)
	if m := bob.messages(t, st, thread); !slices.Contains(m, "before bob") {
		t.Fatalf("bob sees %v, want the history from before he joined", m)
	}
	if r := bob.ok("GET", path, "", 200); r["chatThreadId"] != thread {
		t.Fatalf("bob's view: %v", r)
	}

	// Leaving and being removed take people out.
	carol.ok("DELETE", path+"/members/"+carol.id, "", 204)
	wantParticipants(t, st, thread, alice, bob)
	if status, _ := carol.chat(t, st, "GET", "/chat/threads/"+url.PathEscape(thread)+"/messages", nil); status != 403 {
		t.Fatalf("carol after leaving lists messages: %d, want 403", status)
	}
	alice.ok("DELETE", path+"/members/"+bob.id, "", 204)
	wantParticipants(t, st, thread, alice)

	// Erase takes the user out of every thread Switchboard added them to.
	alice.ok("PUT", path+"/members/"+carol.id, "", 200)
	carol.ok("PUT", path+"/members/"+carol.id, "", 200)
	alice.ok("GET", path, "", 200)
	wantParticipants(t, st, thread, alice, carol)
	call := carol.ok("POST", "/api/calls", `{"kind":"group","chat":true,"spaceId":"`+id+`","invitees":["`+alice.id+`"]}`, 201)
	callThread := call["chatThreadId"].(string)
	wantParticipants(t, st, callThread, alice, carol)
	carol.ok("DELETE", "/api/me", "", 204)
	wantParticipants(t, st, thread, alice)
	if _, ok := st.ACS.ChatThread(callThread); ok {
		if got := participants(t, st, callThread); slices.Contains(got, carol.acsID) {
			t.Fatalf("erased carol still in the call's thread: %v", got)
		}
	}
}

func TestCallChatThread(t *testing.T) {
	p := "cc-" + uuid.NewString()[:8] + "-"
	alice, bob := newChatUser(t, st, p+"alice", "Alice"), newChatUser(t, st, p+"bob", "Bob")
	befriend(t, alice.client, alice.id, bob.client, bob.id)

	// No invitees: a thread with the creator only.
	c := alice.ok("POST", "/api/calls", `{"kind":"group","chat":true}`, 201)
	thread, _ := c["chatThreadId"].(string)
	if thread == "" {
		t.Fatalf("a chat call without a thread: %v", c)
	}
	wantParticipants(t, st, thread, alice)
	// Invitees added later join the thread; the call's thread is its own.
	c = alice.ok("POST", "/api/calls/"+c["id"].(string)+"/invites", `{"invitees":["`+bob.id+`"]}`, 200)
	if c["chatThreadId"] != thread {
		t.Fatalf("the thread changed: %v", c)
	}
	wantParticipants(t, st, thread, alice, bob)
	if r := bob.ok("GET", "/api/calls/"+c["id"].(string), "", 200); r["chatThreadId"] != thread {
		t.Fatalf("bob's view: %v", r)
	}
	// A call without chat has no thread.
	if r := alice.ok("POST", "/api/calls", `{"kind":"group"}`, 201); r["chatThreadId"] != nil {
		t.Fatalf("a call without chat: %v", r)
	}
	alice.do("POST", "/api/calls", `{"kind":"group","chat":"yes"}`).problem(t, 400, "invalid-request")
}

func TestChatWithoutChatScopeIsNotConfigured(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Env: []string{"TOKEN_SCOPES=voip", "TOKEN_DEFAULT_SCOPES=voip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := userClient(t, s, "nochat", "")
	c.do("POST", "/api/token", `{"scopes":["chat"]}`).problem(t, 400, "invalid-request")
	c.ok("POST", "/api/token", "", 200)
	c.do("POST", "/api/calls", `{"kind":"group","chat":true}`).problem(t, 501, "not-configured")
	sp := c.ok("POST", "/api/spaces", `{"name":"no chat"}`, 201)
	if r := c.ok("GET", "/api/spaces/"+sp["id"].(string), "", 200); r["chatThreadId"] != nil {
		t.Fatalf("a thread without chat: %v", r)
	}
	if n := len(s.ACS.ChatThreads()); n != 0 {
		t.Fatalf("%d threads created with chat off", n)
	}
}

func TestChatMessagePushesEachDeviceOnce(t *testing.T) {
	p := "cp-" + uuid.NewString()[:8] + "-"
	alice, bob := newChatUser(t, st, p+"alice", "Alice"), newChatUser(t, st, p+"bob", "Bob")
	sp := alice.ok("POST", "/api/spaces", `{"name":"Push space"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	alice.ok("PUT", path+"/members/"+bob.id, "", 200)
	bob.ok("PUT", path+"/members/"+bob.id, "", 200)
	thread := alice.ok("GET", path, "", 200)["chatThreadId"].(string)

	// bob's app is closed: an Android phone, an iPhone with a regular and a
	// VoIP token, and a webhook.
	alert := strings.Repeat("a1", 32)
	voip := strings.Repeat("b2", 32)
	fcm := p + "fcm"
	bob.ok("PUT", "/api/devices/"+p+"pixel", `{"provider":"fcm","handle":"`+fcm+`"}`, 201)
	bob.ok("PUT", "/api/devices/"+p+"iphone", `{"provider":"apns","handle":"`+alert+`"}`, 201)
	bob.ok("PUT", "/api/devices/"+p+"iphone-voip", `{"provider":"apns","handle":"`+voip+`","voip":true}`, 201)
	hookID, hookURL := st.Push.NewWebhook()
	reg := bob.ok("PUT", "/api/devices/"+p+"hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	before := len(st.ACS.ChatEvents())
	text := strings.Repeat("é", 90) + strings.Repeat("x", 20)
	msgID := alice.send(t, st, thread, text)
	var bobsEvent []byte
	for _, ev := range st.ACS.ChatEvents()[before:] {
		if bytes.Contains(ev, []byte(`"recipientId":"`+bob.acsID+`"`)) {
			bobsEvent = ev
		}
	}
	if bobsEvent == nil {
		t.Fatal("the emulator raised no ChatMessageReceived for bob")
	}
	// Event Grid delivers at least once: twice more.
	for range 2 {
		if err := st.Host.DeliverEventGrid(context.Background(), "callevents", bobsEvent); err != nil {
			t.Fatal(err)
		}
	}
	for _, device := range []string{fcm, alert, hookID} {
		if n := len(st.Push.Received(device)); n != 1 {
			t.Fatalf("device %s got %d pushes, want 1", device, n)
		}
	}
	if n := len(st.Push.Received(voip)); n != 0 {
		t.Fatalf("the VoIP token got %d pushes for a chat message, want none", n)
	}
	preview := strings.Repeat("é", 90) + strings.Repeat("x", 10)
	var f struct {
		Message struct {
			Data map[string]string `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(st.Push.Received(fcm)[0].Body, &f); err != nil {
		t.Fatal(err)
	}
	if d := f.Message.Data; d["type"] != "chatMessage" || d["threadId"] != thread || d["messageId"] != msgID || d["senderDisplayName"] != alice.id || d["preview"] != preview {
		t.Fatalf("fcm data %v", d)
	}
	a := st.Push.Received(alert)[0]
	var apns struct {
		APS struct {
			Alert struct{ Title, Body string } `json:"alert"`
		} `json:"aps"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(a.Body, &apns); err != nil {
		t.Fatal(err)
	}
	if a.Headers["apns-push-type"] != "alert" || apns.APS.Alert.Body != preview || apns.Type != "chatMessage" {
		t.Fatalf("iOS got %v %s, want an alert push with the preview", a.Headers, a.Body)
	}

	// A recipient Switchboard does not know: acknowledged, nothing sent.
	unknown := bytes.ReplaceAll(bobsEvent, []byte(bob.acsID), []byte("8:acs:nobody-"+p))
	if err := st.Host.DeliverEventGrid(context.Background(), "callevents", unknown); err != nil {
		t.Fatal(err)
	}
}

func TestChatPushWithoutPreview(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Env: []string{"CHAT_PUSH_PREVIEW=false"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice, bob := newChatUser(t, s, "np-alice", "Alice"), newChatUser(t, s, "np-bob", "Bob")
	sp := alice.ok("POST", "/api/spaces", `{"name":"Quiet"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	alice.ok("PUT", path+"/members/"+bob.id, "", 200)
	bob.ok("PUT", path+"/members/"+bob.id, "", 200)
	thread := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
	bob.ok("PUT", "/api/devices/pixel", `{"provider":"fcm","handle":"np-fcm"}`, 201)
	alice.send(t, s, thread, "the secret plan")
	got := s.Push.Received("np-fcm")
	if len(got) != 1 || bytes.Contains(got[0].Body, []byte("secret")) || !bytes.Contains(got[0].Body, []byte(`"chatMessage"`)) {
		t.Fatalf("pushes %v, want one chatMessage without the text", got)
	}
}

func TestChatHousekeepingReconcilesThreads(t *testing.T) {
	p := "ch-" + uuid.NewString()[:8] + "-"
	alice, dave, erin, frank := newChatUser(t, st, p+"alice", "Alice"), newChatUser(t, st, p+"dave", "Dave"), newChatUser(t, st, p+"erin", "Erin"), newChatUser(t, st, p+"frank", "Frank")
	sp := alice.ok("POST", "/api/spaces", `{"name":"Housekeeping"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	for _, u := range []*chatUser{dave, erin} {
		alice.ok("PUT", path+"/members/"+u.id, "", 200)
		u.ok("PUT", path+"/members/"+u.id, "", 200)
	}
	// ACS no longer knows dave (Switchboard still maps him): Chat refuses
	// him in the batch that creates the thread; the others proceed.
	if !st.ACS.DeleteIdentity(dave.acsID) {
		t.Fatal("dave had no identity")
	}
	thread := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
	wantParticipants(t, st, thread, alice, erin)
	if !strings.Contains(logs.String(), `"userId":"`+dave.id+`"`) {
		t.Fatal("the refused participant was not logged with the user id")
	}
	// Reads do not ask Chat again about a refused participant; housekeeping does.
	adds := st.ACS.Requests("AddChatParticipants")
	alice.ok("GET", path, "", 200)
	if n := st.ACS.Requests("AddChatParticipants"); n != adds {
		t.Fatalf("a read retried the refused participant (%d adds)", n-adds)
	}

	// Out of band: erin removed, frank (no member) added, by alice's own client.
	if status, out := alice.chat(t, st, "POST", "/chat/threads/"+url.PathEscape(thread)+"/participants/:remove", map[string]any{"rawId": erin.acsID, "communicationUser": map[string]string{"id": erin.acsID}}); status != 204 {
		t.Fatalf("remove erin: %d %v", status, out)
	}
	if status, out := alice.chat(t, st, "POST", "/chat/threads/"+url.PathEscape(thread)+"/participants/:add", map[string]any{"participants": []any{map[string]any{"communicationIdentifier": map[string]any{"rawId": frank.acsID, "communicationUser": map[string]string{"id": frank.acsID}}}}}); status != 201 {
		t.Fatalf("add frank: %d %v", status, out)
	}
	wantParticipants(t, st, thread, alice, frank)

	res, err := st.Host.FireTimer(context.Background(), "housekeeping")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("housekeeping: %v", res.Logs)
	wantParticipants(t, st, thread, alice, erin)
	if n := st.ACS.Requests("AddChatParticipants"); n == adds {
		t.Fatal("housekeeping did not try the refused participant again")
	}
}

func TestThrottledThreadCreationIsRetriedByTheNextRead(t *testing.T) {
	p := "ct-" + uuid.NewString()[:8] + "-"
	alice := newChatUser(t, st, p+"alice", "Alice")
	warm := alice.ok("POST", "/api/spaces", `{"name":"Warm-up"}`, 201)
	alice.ok("GET", "/api/spaces/"+warm["id"].(string), "", 200) // the service identity and its token exist
	sp := alice.ok("POST", "/api/spaces", `{"name":"Throttled"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	creates := st.ACS.Requests("CreateChatThread")
	// Chat asks for a longer wait than the ACS client waits: the space is
	// still answered, without a thread yet.
	st.ACS.FailNext(1, http.StatusTooManyRequests, 8*time.Second)
	if r := alice.ok("GET", path, "", 200); r["chatThreadId"] != nil || st.ACS.Requests("CreateChatThread") != creates+1 {
		t.Fatalf("a throttled creation answered a thread: %v", r)
	}
	thread, _ := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
	if thread == "" || len(threadsFor(st, "space:"+sp["id"].(string))) != 1 {
		t.Fatalf("the next read made %q", thread)
	}
	wantParticipants(t, st, thread, alice)
}

// TestChatAcrossInstances: two fresh handler processes on new tables share
// one chat identity and make one thread for a space both read at once.
func TestChatAcrossInstances(t *testing.T) {
	app, err := funchost.Load(st.AppDir)
	if err != nil {
		t.Fatal(err)
	}
	env := append(append([]string(nil), st.Env...), "TABLE_PREFIX=chat"+strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
	var hosts []*funchost.Host
	for range 2 {
		h, err := funchost.Start(context.Background(), app, funchost.Options{Env: env, Stdout: &logs, Stderr: &logs, ReadyTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		hosts = append(hosts, h)
	}
	alice := [2]*client{hostClient(t, hosts[0], "ci-alice"), hostClient(t, hosts[1], "ci-alice")}
	alice[0].ok("POST", "/api/token", `{"scopes":["chat"]}`, 200)
	spaces := [2]string{}
	for i := range spaces {
		spaces[i] = alice[i].ok("POST", "/api/spaces", `{"name":"Shared"}`, 201)["id"].(string)
	}
	creates := st.ACS.Requests("CreateChatThread")
	identities := st.ACS.Requests("CreateIdentity")
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := alice[i%2].do("GET", "/api/spaces/"+spaces[0], "")
			var m map[string]any
			_ = json.Unmarshal(r.body, &m)
			got[i], _ = m["chatThreadId"].(string)
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("two instances answered threads %v, want one", got)
		}
	}
	if n := st.ACS.Requests("CreateChatThread") - creates; n != 1 || len(threadsFor(st, "space:"+spaces[0])) != 1 {
		t.Fatalf("%d thread creations, want 1", n)
	}
	if n := st.ACS.Requests("CreateIdentity") - identities; n != 1 {
		t.Fatalf("%d chat identities created by two instances, want 1", n)
	}
	// The other instance's thread has the same creator.
	second := alice[1].ok("GET", "/api/spaces/"+spaces[1], "", 200)["chatThreadId"].(string)
	a, _ := st.ACS.ChatThread(got[0])
	b, _ := st.ACS.ChatThread(second)
	if a.CreatedBy == "" || a.CreatedBy != b.CreatedBy {
		t.Fatalf("threads created by %q and %q, want one service identity", a.CreatedBy, b.CreatedBy)
	}
}

func TestThreadWithoutSwitchboardIsReplaced(t *testing.T) {
	p := "cr-" + uuid.NewString()[:8] + "-"
	alice := newChatUser(t, st, p+"alice", "Alice")
	sp := alice.ok("POST", "/api/spaces", `{"name":"Hijacked"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	old := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
	th, _ := st.ACS.ChatThread(old)
	// A client removes Switchboard's identity: it can no longer manage the thread.
	if status, out := alice.chat(t, st, "POST", "/chat/threads/"+url.PathEscape(old)+"/participants/:remove", map[string]any{"rawId": th.CreatedBy, "communicationUser": map[string]string{"id": th.CreatedBy}}); status != 204 {
		t.Fatalf("remove Switchboard: %d %v", status, out)
	}
	if _, err := st.Host.FireTimer(context.Background(), "housekeeping"); err != nil {
		t.Fatal(err)
	}
	fresh := alice.ok("GET", path, "", 200)["chatThreadId"].(string)
	if fresh == "" || fresh == old {
		t.Fatalf("thread after housekeeping %q, want a new one instead of %q", fresh, old)
	}
	wantParticipants(t, st, fresh, alice)
}
