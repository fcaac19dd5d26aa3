package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// A bot a service added to alice's contacts is her mutual contact with its
// ACS id, and she may reach it; a stranger may not; an unknown bot, or one
// an end user asked for, is "requested", as any contact who never answers.
func TestBotParties(t *testing.T) {
	s, _, _ := newThrottleService(t)
	ctx := t.Context()
	s.SetBots(func(_ context.Context, botID string) (User, error) {
		if botID != "reception" {
			return User{}, fmt.Errorf("bot %q: %w", botID, store.ErrNotFound)
		}
		return User{ACSUserID: "8:acs:bot-reception", DisplayName: "Reception"}, nil
	}, func(_ context.Context, acsID string) (string, error) {
		if acsID != "8:acs:bot-reception" {
			return "", store.ErrNotFound
		}
		return "reception", nil
	})
	g, _ := s.Grant(TokenRequest{})
	for _, u := range []string{"alice", "mallory", "carol"} {
		if _, err := s.IssueToken(ctx, u, u, g); err != nil {
			t.Fatal(err)
		}
	}
	if u, err := s.Profile(ctx, "bot:reception"); err != nil || u.UserID != "bot:reception" || u.ACSUserID != "8:acs:bot-reception" {
		t.Fatalf("Profile(bot:reception) = %+v, %v", u, err)
	}
	if id, err := s.UserByACSID(ctx, "8:acs:bot-reception"); err != nil || id != "bot:reception" {
		t.Errorf("UserByACSID(the bot's ACS id) = %q, %v; want its party id", id, err)
	}
	if _, err := s.UserByACSID(ctx, "8:acs:nobody"); !isNotFound(err) {
		t.Errorf("UserByACSID(unknown) err = %v, want not found", err)
	}
	if _, err := s.Profile(ctx, "bot:nobody"); !isNotFound(err) {
		t.Errorf("Profile(bot:nobody) err = %v, want not found", err)
	}

	c, err := s.AddBotContact(ctx, "alice", "", "bot:reception")
	if err != nil || c.State != StateMutual || c.ACSUserID != "8:acs:bot-reception" || c.DisplayName != "Reception" {
		t.Fatalf("AddBotContact = %+v, %v", c, err)
	}
	list, err := s.Contacts(ctx, "alice")
	if err != nil || len(list) != 1 || list[0] != c {
		t.Errorf("alice's contacts = %+v, %v; want %+v", list, err, c)
	}
	for _, tc := range []struct {
		actor, bot string
		reach      bool
	}{
		{"alice", "bot:reception", true},
		{"mallory", "bot:reception", false},
		{"alice", "bot:nobody", false},
	} {
		reach, rest, err := s.Reach(ctx, tc.actor, false, []string{tc.bot}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(reach) == 1 && reach[0].ACSUserID == "8:acs:bot-reception"; got != tc.reach || (!tc.reach && !slices.Equal(rest, []string{tc.bot})) {
			t.Errorf("Reach(%s, %s) = %+v, %v; want reachable %v", tc.actor, tc.bot, reach, rest, tc.reach)
		}
	}
	if _, err := s.Lookup(ctx, "mallory", false, "bot:reception"); !isNotFoundProblem(err) {
		t.Errorf("a stranger's lookup of the bot: %v, want 404", err)
	}
	if u, err := s.Lookup(ctx, "alice", false, "bot:reception"); err != nil || u.ACSUserID != "8:acs:bot-reception" {
		t.Errorf("alice's lookup of the bot = %+v, %v", u, err)
	}

	// An end user asking, or a service naming a bot that does not exist: requested, like any unknown contact.
	for _, tc := range []struct {
		name string
		add  func(context.Context, string, string, string) (Contact, error)
		bot  string
	}{{"end user", s.AddContact, "bot:reception"}, {"service, unknown bot", s.AddBotContact, "bot:nobody"}} {
		c, err := tc.add(ctx, "carol", "Carol", tc.bot)
		unknown, uerr := s.AddContact(ctx, "carol", "Carol", "nobody-at-all")
		if err != nil || uerr != nil || c.State != StateRequested || c.ACSUserID != "" || c.State != unknown.State {
			t.Errorf("%s: %+v %v, want what an unknown user gets: %+v %v", tc.name, c, err, unknown, uerr)
		}
	}
	if reach, _, _ := s.Reach(ctx, "carol", false, []string{"bot:reception"}, nil); len(reach) != 0 {
		t.Errorf("carol asked the bot herself and may reach it: %+v", reach)
	}

	// A deleted bot's party is erased: alice's contact goes.
	if err := s.Erase(ctx, "bot:reception"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Contacts(ctx, "alice"); len(list) != 0 {
		t.Errorf("alice's contacts after the bot was erased = %+v", list)
	}
}

func isNotFoundProblem(err error) bool {
	var p *httpapi.Problem
	return errors.As(err, &p) && p.Status == http.StatusNotFound && p.Code == "user-not-found"
}

// Only a service makes a bot reachable: once the bot's contact is removed
// (by alice, by a service for her, or by her blocking it), her own request
// neither finds the bot's old side (no request from the bot, not mutual)
// nor writes anything, and its answer is the one an unknown user's gets.
func TestBotContactIsNotRevivedByTheUser(t *testing.T) {
	s, _, _ := newThrottleService(t)
	ctx := t.Context()
	s.SetBots(func(_ context.Context, botID string) (User, error) {
		if botID != "reception" {
			return User{}, fmt.Errorf("bot %q: %w", botID, store.ErrNotFound)
		}
		return User{ACSUserID: "8:acs:bot-reception", DisplayName: "Reception"}, nil
	}, func(context.Context, string) (string, error) { return "", store.ErrNotFound })
	g, _ := s.Grant(TokenRequest{})
	if _, err := s.IssueToken(ctx, "alice", "alice", g); err != nil {
		t.Fatal(err)
	}
	answer := func(c Contact, id string) string {
		c.UserID = strings.Replace(c.UserID, id, "<party>", 1)
		b, _ := json.Marshal(c)
		return string(b)
	}
	for _, remove := range []struct {
		name string
		do   func() error
	}{
		{"removed", func() error { return s.RemoveContact(ctx, "alice", "bot:reception") }},
		{"blocked and unblocked", func() error {
			if _, err := s.BlockUser(ctx, "alice", "bot:reception"); err != nil {
				return err
			}
			return s.UnblockUser(ctx, "alice", "bot:reception")
		}},
	} {
		if c, err := s.AddBotContact(ctx, "alice", "Alice", "bot:reception"); err != nil || c.State != StateMutual {
			t.Fatalf("%s: AddBotContact = %+v, %v", remove.name, c, err)
		}
		// Already mutual: alice's own ask reads it as listed and changes nothing.
		if c, err := s.AddContact(ctx, "alice", "Alice", "bot:reception"); err != nil || c.State != StateMutual {
			t.Errorf("%s: alice asks a bot she has = %+v, %v; want mutual", remove.name, c, err)
		}
		if err := remove.do(); err != nil {
			t.Fatal(err)
		}
		for _, rows := range []struct {
			t      *store.Table
			pk, rk string
		}{{s.contacts, "alice", "bot:reception"}, {s.contactOf, "alice", "bot:reception"}, {s.contacts, "bot:reception", "alice"}, {s.contactOf, "bot:reception", "alice"}} {
			if ok, err := s.exists(ctx, rows.t, rows.pk, rows.rk); err != nil || ok {
				t.Errorf("%s: a row (%s, %s) is left: %v %v", remove.name, rows.pk, rows.rk, ok, err)
			}
		}
		if reqs, err := s.Requests(ctx, "alice"); err != nil || len(reqs) != 0 {
			t.Errorf("%s: alice's requests = %+v, %v; want none", remove.name, reqs, err)
		}
		c, err := s.AddContact(ctx, "alice", "Alice", "bot:reception")
		unknown, uerr := s.AddContact(ctx, "alice", "Alice", "nobody-at-all")
		if err != nil || uerr != nil || answer(c, "bot:reception") != answer(unknown, "nobody-at-all") {
			t.Errorf("%s: alice asks the bot = %s %v; an unknown user = %s %v", remove.name, answer(c, "bot:reception"), err, answer(unknown, "nobody-at-all"), uerr)
		}
		if reach, _, _ := s.Reach(ctx, "alice", false, []string{"bot:reception"}, nil); len(reach) != 0 {
			t.Errorf("%s: alice made the bot reachable herself: %+v", remove.name, reach)
		}
		list, _ := s.Contacts(ctx, "alice")
		for _, c := range list {
			if c.UserID == "bot:reception" {
				t.Errorf("%s: alice's ask of the bot wrote a contact: %+v", remove.name, c)
			}
		}
	}
}

// A bot's side, had one been written alone, never shows as a request.
func TestBotNeverInRequests(t *testing.T) {
	s, _, _ := newThrottleService(t)
	ctx := t.Context()
	if _, err := s.contactOf.Upsert(ctx, "alice", "bot:reception", contactOfRow{DisplayName: "Reception"}); err != nil {
		t.Fatal(err)
	}
	if reqs, err := s.Requests(ctx, "alice"); err != nil || len(reqs) != 0 {
		t.Errorf("alice's requests = %+v, %v; want none", reqs, err)
	}
}
