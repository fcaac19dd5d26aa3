package identity

import (
	"context"
	"fmt"
	"strings"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/store"
)

// Bot parties: a bot is named where users are (contacts, space members,
// invitees, lookups) by its party id, auth.BotPartyPrefix + bot id
// ("bot:reception"). No request acts as a party (auth.ActingUser refuses
// the prefix), so a party id never collides with a user id, and Profile
// resolves one through the bots capability rather than the users table.
// Only a service caller makes a bot reachable: a service adds it to a
// user's contacts (AddBotContact, consent given on both sides at once) or
// to a space as an accepted member. An end user who asks a bot to be a
// contact gets "requested", as for anyone who never answers.

// BotResolver resolves a bot id to the bot as a party (UserID is the party
// id), or store.ErrNotFound.
type BotResolver func(ctx context.Context, botID string) (User, error)

// BotByACSID resolves a bot's ACS id to its bot id, or store.ErrNotFound.
type BotByACSID func(ctx context.Context, acsUserID string) (string, error)

// SetBots lets Profile resolve bot party ids, and UserByACSID a bot's ACS
// id to its party id (a bot in a call's roster).
func (s *Service) SetBots(r BotResolver, byACS BotByACSID) { s.bots, s.botByACS = r, byACS }

// IsBotParty reports whether id names a bot party.
func IsBotParty(id string) bool { return auth.IsBotParty(id) }

// BotParty is the party id of a bot.
func BotParty(botID string) string { return auth.BotPartyPrefix + botID }

// botProfile resolves a bot party id as Profile does a user id.
func (s *Service) botProfile(ctx context.Context, id string) (User, error) {
	if s.bots == nil {
		return User{}, fmt.Errorf("bot party %q: %w", id, store.ErrNotFound)
	}
	u, err := s.bots(ctx, strings.TrimPrefix(id, auth.BotPartyPrefix))
	if err != nil {
		return User{}, err
	}
	u.UserID = id
	return u, nil
}

// AddBotContact is a service caller adding the bot party botParty to
// owner's contacts: both requests are written at once, so the bot is a
// mutual contact with its ACS id. A bot that does not exist gets the
// answer any unknown contact gets ("requested").
func (s *Service) AddBotContact(ctx context.Context, owner, ownerName, botParty string) (Contact, error) {
	bot, err := s.optionalProfile(ctx, botParty)
	if err != nil {
		return Contact{}, storeError(err)
	}
	if bot.ACSUserID == "" {
		return s.AddContact(ctx, owner, ownerName, botParty)
	}
	blocked, err := s.HasBlocked(ctx, owner, botParty)
	if err != nil {
		return Contact{}, storeError(err)
	}
	if blocked {
		return s.AddContact(ctx, owner, ownerName, botParty) // the same refusal as for a user
	}
	var existing contactRow
	_, err = s.contacts.Get(ctx, owner, botParty, &existing)
	switch {
	case err == nil:
	case isNotFound(err):
		if err := s.checkContactCap(ctx, owner); err != nil {
			return Contact{}, err
		}
	default:
		return Contact{}, storeError(err)
	}
	me, err := s.optionalProfile(ctx, owner)
	if err != nil {
		return Contact{}, storeError(err)
	}
	now := s.opts.Now().UTC()
	if !existing.AddedAt.IsZero() {
		now = existing.AddedAt
	}
	// Reverse rows first, as AddContact writes them: erase finds every pair.
	writes := []struct {
		t      *store.Table
		pk, rk string
		row    any
	}{
		{s.contactOf, botParty, owner, contactOfRow{ACSUserID: me.ACSUserID, DisplayName: ownerName, AddedAt: now}},
		{s.contacts, owner, botParty, contactRow{ACSUserID: bot.ACSUserID, DisplayName: bot.DisplayName, AddedAt: now}},
		{s.contacts, botParty, owner, contactRow{ACSUserID: me.ACSUserID, DisplayName: me.DisplayName, AddedAt: now}},
		{s.contactOf, owner, botParty, contactOfRow{ACSUserID: bot.ACSUserID, DisplayName: bot.DisplayName, AddedAt: now}},
	}
	for _, w := range writes {
		if _, err := w.t.Upsert(ctx, w.pk, w.rk, w.row); err != nil {
			return Contact{}, storeError(err)
		}
	}
	return Contact{UserID: botParty, State: StateMutual, ACSUserID: bot.ACSUserID, DisplayName: bot.DisplayName}, nil
}
