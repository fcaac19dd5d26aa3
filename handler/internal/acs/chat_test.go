package acs

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

// chatFixture is a TLS emulator, an identity client trusting it, and
// users with chat tokens.
type chatFixture struct {
	emu *acsemu.Emulator
	ids *Client
	tr  *http.Client
}

func newChatFixture(t *testing.T, now func() time.Time) *chatFixture {
	t.Helper()
	emu := startEmulator(t, acsemu.Options{TLS: true, Now: now})
	tr := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: emu.CertPool()}}}
	opts := fastRetries(2)
	opts.Transport = tr
	ids, err := NewClientFromConnectionString(emu.ConnectionString(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &chatFixture{emu: emu, ids: ids, tr: tr}
}

// user creates an identity with a token for scopes.
func (f *chatFixture) user(t *testing.T, scopes ...string) (string, string) {
	t.Helper()
	res, err := f.ids.CreateIdentity(t.Context(), &CreateIdentityOptions{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID, res.Token.Token
}

func (f *chatFixture) client(t *testing.T, cred ChatCredential) *ChatClient {
	t.Helper()
	opts := fastRetries(2)
	opts.Transport = f.tr
	c, err := NewChatClient(f.emu.Endpoint(), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChatThreadLifecycle(t *testing.T) {
	f := newChatFixture(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self, selfTok := f.user(t, ScopeChat)
	alice, aliceTok := f.user(t, ScopeChat)
	bob, _ := f.user(t, ScopeVoIP)
	svc := f.client(t, StaticChatToken(selfTok))

	opts := CreateChatThreadOptions{Topic: "Standup", Participants: []ChatParticipant{{ID: self}}, RepeatabilityRequestID: "req-1"}
	th, _, err := svc.CreateChatThread(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := svc.CreateChatThread(ctx, opts)
	if err != nil || again.ID != th.ID || th.CreatedBy != self || th.Topic != "Standup" {
		t.Fatalf("a repeated create = %+v, %v; want the first thread %+v created by %s", again, err, th, self)
	}
	if n := len(f.emu.ChatThreads()); n != 1 {
		t.Fatalf("%d threads, want 1", n)
	}

	history := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	invalid, err := svc.AddChatParticipants(ctx, th.ID, []ChatParticipant{{ID: alice, DisplayName: "Alice", ShareHistoryTime: history}, {ID: bob}, {ID: "8:acs:not-a-user"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(invalid) != 1 || invalid[0].ID != "8:acs:not-a-user" || invalid[0].Code != "404" {
		t.Fatalf("invalidParticipants = %+v, want only the unknown id", invalid)
	}
	ps, err := svc.ListChatParticipants(ctx, th.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range ps {
		got = append(got, p.ID)
		if p.ID == alice && (!p.ShareHistoryTime.Equal(history) || p.DisplayName != "Alice") {
			t.Errorf("alice = %+v, want history from %s", p, history)
		}
	}
	want := []string{self, alice, bob}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("participants %v, want %v", got, want)
	}

	// Alice, with her own token, sends; one event per recipient, none for her.
	id, err := f.client(t, StaticChatToken(aliceTok)).SendChatMessage(ctx, th.ID, "hello", "Alice")
	if err != nil || id == "" {
		t.Fatalf("send = %q, %v", id, err)
	}
	if n := len(f.emu.ChatEvents()); n != 2 {
		t.Fatalf("%d ChatMessageReceived events, want 2 (self and bob)", n)
	}

	if err := svc.RemoveChatParticipant(ctx, th.ID, bob); err != nil {
		t.Fatal(err)
	}
	if err := svc.RemoveChatParticipant(ctx, th.ID, bob); !IsNotFound(err) {
		t.Fatalf("removing again = %v, want 404", err)
	}
	// Someone outside the thread may not delete it.
	_, outsiderTok := f.user(t, ScopeChat)
	if err := f.client(t, StaticChatToken(outsiderTok)).DeleteChatThread(ctx, th.ID); !IsAuthFailure(err) {
		t.Fatalf("an outsider deleting = %v, want 403", err)
	}
	if err := svc.DeleteChatThread(ctx, th.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.emu.ChatThread(th.ID); ok {
		t.Fatal("thread still there after delete")
	}
}

func TestChatRefusesTokensWithoutChatScope(t *testing.T) {
	f := newChatFixture(t, nil)
	_, voipTok := f.user(t, ScopeVoIP)
	_, _, err := f.client(t, StaticChatToken(voipTok)).CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: "r"})
	if statusOf(err) != http.StatusForbidden {
		t.Fatalf("a voip-only token = %v, want 403", err)
	}
	_, _, err = f.client(t, StaticChatToken("not-a-token")).CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: "r"})
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("a forged token = %v, want 401", err)
	}
}

// refreshing is a credential whose first token was revoked.
type refreshing struct {
	stale, fresh string
	refreshed    atomic.Int32
}

func (r *refreshing) ChatToken(_ context.Context, refresh bool) (string, error) {
	if refresh {
		r.refreshed.Add(1)
		return r.fresh, nil
	}
	return r.stale, nil
}

func TestChatRefreshesARefusedToken(t *testing.T) {
	f := newChatFixture(t, nil)
	self, stale := f.user(t, ScopeChat)
	if err := f.ids.RevokeTokens(t.Context(), self); err != nil {
		t.Fatal(err)
	}
	fresh, err := f.ids.IssueToken(t.Context(), self, []string{ScopeChat}, 60)
	if err != nil {
		t.Fatal(err)
	}
	cred := &refreshing{stale: stale, fresh: fresh.Token}
	if _, _, err := f.client(t, cred).CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: "r"}); err != nil {
		t.Fatal(err)
	}
	if cred.refreshed.Load() != 1 {
		t.Fatalf("refreshed %d times, want 1", cred.refreshed.Load())
	}
}

func TestChatThreadCreationThrottled(t *testing.T) {
	// A stopped clock: every creation falls in one 10 s window.
	at := time.Now()
	f := newChatFixture(t, func() time.Time { return at })
	_, tok := f.user(t, ScopeChat)
	c := f.client(t, StaticChatToken(tok))
	for i := range acsemu.ChatCreatesPerWindow {
		if _, _, err := c.CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: "one-too-many"})
	// ACS's wait is longer than the client waits for: the caller gets it.
	if !IsThrottled(err) || RetryAfter(err) <= DefaultMaxRetryWait {
		t.Fatalf("the 11th creation in 10 s = %v (Retry-After %s), want 429 with ACS's wait", err, RetryAfter(err))
	}
	// A repeated create is answered from the first result, throttled or not.
	if _, _, err := c.CreateChatThread(t.Context(), CreateChatThreadOptions{Topic: "x", RepeatabilityRequestID: "a"}); err != nil {
		t.Fatalf("a repeated create while throttled = %v", err)
	}
}
