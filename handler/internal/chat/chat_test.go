package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

func TestMain(m *testing.M) { azurite.Main(m) }

var seq atomic.Int32

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.New(store.Config{ConnectionString: azurite.Shared(t).ConnectionString(), Prefix: fmt.Sprintf("chat%d", seq.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newACS(t *testing.T) (*acsemu.Emulator, *acs.Client) {
	t.Helper()
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	c, err := acs.NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func TestIdentityCreatedOnceAcrossInstances(t *testing.T) {
	st := newStore(t)
	emu, client := newACS(t)
	// Four instances, each asking twice at once.
	instances := make([]*Identity, 4)
	for i := range instances {
		instances[i] = NewIdentity(st, client)
	}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := instances[i%4].ChatToken(context.Background(), false)
			if err != nil {
				t.Error(err)
				return
			}
			claims, err := emu.Verify(tok)
			if err != nil || len(claims.Scopes) != 1 || claims.Scopes[0] != "chat" {
				t.Errorf("token %+v, %v: want a chat token", claims, err)
			}
			ids[i] = claims.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("tokens for identities %v, want one", ids)
		}
	}
	if n := emu.Requests("CreateIdentity"); n != 1 {
		t.Fatalf("%d identities created, want 1", n)
	}
	// Each instance issues once and then reuses its token.
	issued := emu.Requests("IssueAccessToken")
	if issued > 3 {
		t.Fatalf("%d tokens issued for 3 instances that did not create (plus the creator's, which came with the identity)", issued)
	}
	for _, in := range instances {
		if _, err := in.ChatToken(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	if n := emu.Requests("IssueAccessToken"); n != issued {
		t.Fatalf("tokens issued again (%d -> %d) while the first ones were fresh", issued, n)
	}
	// Chat refusing the token makes a new one.
	if _, err := instances[0].ChatToken(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := emu.Requests("IssueAccessToken"); n != issued+1 {
		t.Fatalf("a refresh issued %d tokens, want 1", n-issued)
	}
}

type recordingPusher struct {
	mu   sync.Mutex
	sent []push.Notification
}

func (p *recordingPusher) FanOut(_ context.Context, key, acsID string, n push.Notification) (fanout.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if key != n.EventID || acsID != n.CalleeID {
		return fanout.Result{}, fmt.Errorf("key %q for %q, notification %+v", key, acsID, n)
	}
	p.sent = append(p.sent, n)
	return fanout.Result{Sent: 1}, nil
}

func chatEvent(t *testing.T, sender, recipient, body string) events.Event {
	t.Helper()
	return messageEvent(t, sender, recipient, body, "1700000000000")
}

func messageEvent(t *testing.T, sender, recipient, body, messageID string) events.Event {
	t.Helper()
	id := func(raw string) map[string]any {
		return map[string]any{"rawId": raw, "communicationUser": map[string]string{"id": raw}}
	}
	data, _ := json.Marshal(map[string]any{
		"messageBody": body, "messageId": messageID, "senderCommunicationIdentifier": id(sender),
		"recipientCommunicationIdentifier": id(recipient), "senderDisplayName": "Alice", "threadId": "19:t@thread.v2",
		"type": "Text", "version": 1700000000000, "composeTime": "2026-12-01T10:00:00Z",
	})
	return events.Event{ID: "ev-" + messageID + "-" + recipient, Type: "Microsoft.Communication.ChatMessageReceived", Data: data}
}

func TestMessageReceived(t *testing.T) {
	st := newStore(t)
	_, client := newACS(t)
	self := NewIdentity(st, client)
	selfID, err := self.ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("ü", 99) + "xyz"
	cases := []struct {
		name      string
		ev        events.Event
		preview   bool
		want      bool
		wantBody  string
		wantAlert string
	}{
		{"with preview", chatEvent(t, "8:acs:alice", "8:acs:bob", long), true, true, strings.Repeat("ü", 99) + "x", strings.Repeat("ü", 99) + "x"},
		{"without preview", chatEvent(t, "8:acs:alice", "8:acs:bob", "secret"), false, true, "", "New message"},
		{"sent by the service", chatEvent(t, selfID, "8:acs:bob", "hi"), true, false, "", ""},
		{"for the service", chatEvent(t, "8:acs:alice", selfID, "hi"), true, false, "", ""},
		{"no recipient", chatEvent(t, "8:acs:alice", "", "hi"), true, false, "", ""},
		{"malformed", events.Event{ID: "x", Data: json.RawMessage(`[1]`)}, true, false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &recordingPusher{}
			s := NewService(st, self, nil, p, newLimiter(t, st, 1000), Options{PushPreview: c.preview})
			if err := s.MessageReceived(context.Background(), c.ev); err != nil {
				t.Fatal(err)
			}
			if !c.want {
				if len(p.sent) != 0 {
					t.Fatalf("pushed %+v, want nothing", p.sent)
				}
				return
			}
			if len(p.sent) != 1 {
				t.Fatalf("pushed %d, want 1", len(p.sent))
			}
			n := p.sent[0]
			if n.Type != "chatMessage" || n.EventID != "chat-1700000000000-8:acs:bob" || n.Data["threadId"] != "19:t@thread.v2" ||
				n.Data["messageId"] != "1700000000000" || n.Data["senderDisplayName"] != "Alice" || n.Data["preview"] != c.wantBody {
				t.Fatalf("notification %+v", n)
			}
			if _, has := n.Data["preview"]; has != c.preview {
				t.Fatalf("preview present = %v, want %v", has, c.preview)
			}
			if n.Alert == nil || n.Alert.Title != "Alice" || n.Alert.Body != c.wantAlert {
				t.Fatalf("alert %+v", n.Alert)
			}
		})
	}
}

func newLimiter(t *testing.T, st *store.Store, chatPushes int) *quota.Limiter {
	t.Helper()
	l := quota.Every(1000, quota.Limits{quota.ChatPushes: chatPushes})
	lim, err := quota.New(st, quota.Config{User: l, Service: l})
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// A sender's messages spend quota.ChatPushes once each, however many
// recipients and deliveries; over it a message pushes nobody, the event is
// acknowledged, and the skip is counted once.
func TestMessagePushesSpendTheSendersQuota(t *testing.T) {
	st := newStore(t)
	_, client := newACS(t)
	self := NewIdentity(st, client)
	p := &recordingPusher{}
	lim := newLimiter(t, st, 2)
	// Two instances handle the deliveries.
	a := NewService(st, self, nil, p, lim, Options{})
	b := NewService(st, self, nil, p, newLimiter(t, st, 2), Options{})
	deliver := func(s *Service, sender, recipient, messageID string) {
		t.Helper()
		if err := s.MessageReceived(context.Background(), messageEvent(t, sender, recipient, "hi", messageID)); err != nil {
			t.Fatalf("message %s for %s: %v", messageID, recipient, err)
		}
	}
	for _, m := range []string{"1", "2", "3"} {
		for _, r := range []string{"8:acs:bob", "8:acs:carol"} {
			deliver(a, "8:acs:alice", r, m)
			deliver(b, "8:acs:alice", r, m) // a redelivery on the other instance
		}
	}
	pushed := map[string]int{}
	for _, n := range p.sent {
		pushed[n.Data["messageId"]]++
	}
	// The recording pusher counts both deliveries (the real fan-out claims
	// would push each device once): what matters is which messages pushed.
	if pushed["1"] != 4 || pushed["2"] != 4 || pushed["3"] != 0 {
		t.Fatalf("pushes per message %v; want messages 1 and 2 pushed to both recipients, 3 to nobody", pushed)
	}
	if n := a.SkippedPushes() + b.SkippedPushes(); n != 1 {
		t.Fatalf("%d skips counted, want the one message, once", n)
	}
	// Another sender is unaffected.
	deliver(b, "8:acs:dave", "8:acs:bob", "4")
	if last := p.sent[len(p.sent)-1]; last.Data["messageId"] != "4" {
		t.Fatalf("another sender's message did not push: %+v", last)
	}
}

// FuzzFirstChars: a preview is a prefix of the message, at most
// PreviewChars characters, cut on a character boundary.
func FuzzFirstChars(f *testing.F) {
	f.Add("hello", 3)
	f.Add(strings.Repeat("é", 120), PreviewChars)
	f.Add("\xff\xfeabc", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1000 {
			return
		}
		got := firstChars(s, n)
		if !strings.HasPrefix(s, got) {
			t.Fatalf("%q is not a prefix of %q", got, s)
		}
		if c := len([]rune(got)); c > n || (c < n && got != s) {
			t.Fatalf("firstChars(%q, %d) = %q (%d characters)", s, n, got, c)
		}
	})
}
