package identity

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/errgroup"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// Contacts are mutual consent. Each side's request is its own row, and
// "mutual" is never stored: it is read off the two rows, so concurrent adds
// from both sides cannot leave one side mutual and the other requested.
//
//	contacts  PK owner,   RK contact: owner asked for contact (owner's list)
//	contactof PK contact, RK owner:   the same request, from the other side
//	                                  (who asked me: requests, and erase)
//
// owner and contact are mutual when contacts(owner, contact) and
// contactof(owner, contact) both exist: a partition query of each gives
// owner's whole list with states.

// Contact states.
const (
	StateRequested = "requested"
	StateMutual    = "mutual"
)

// DefaultMaxContacts caps the requests one user may have outstanding or
// accepted (MAX_CONTACTS_PER_USER).
const DefaultMaxContacts = 1000

// contactRow is keyed (owner, contact). The contact's ACS id and name are
// copied in when they are known, so a list seldom needs a profile read.
type contactRow struct {
	ACSUserID   string    `json:"acsUserId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	AddedAt     time.Time `json:"addedAt"`
}

// contactOfRow is keyed (contact, owner): owner asked contact. It carries
// the owner's ACS id (when they had one) and the name they signed in with,
// which contact's request list shows.
type contactOfRow struct {
	ACSUserID   string    `json:"acsUserId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	AddedAt     time.Time `json:"addedAt"`
}

// Contact is one entry of a contact list. ACSUserID and DisplayName are set
// only when the contact is mutual: a request reveals nothing of the person
// asked.
type Contact struct {
	UserID      string `json:"userId"`
	State       string `json:"state"`
	DisplayName string `json:"displayName,omitempty"`
	ACSUserID   string `json:"acsUserId,omitempty"`
}

// Request is someone who asked to be my contact and whom I have not asked.
type Request struct {
	UserID      string    `json:"userId"`
	DisplayName string    `json:"displayName,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
}

// AddContact records that owner asks contactID to be a contact. The answer
// is the same whether or not contactID exists, or has blocked owner:
// "requested" until contactID asks owner too, then "mutual" with their ACS
// id. ownerName is the name owner signed in with, shown in contactID's
// requests.
func (s *Service) AddContact(ctx context.Context, owner, ownerName, contactID string) (Contact, error) {
	if owner == contactID {
		return Contact{}, httpapi.NewProblem(http.StatusBadRequest, "contact-is-self", "you cannot add yourself as a contact")
	}
	if err := checkUserID(contactID); err != nil {
		return Contact{}, err
	}
	blocked, err := s.HasBlocked(ctx, owner, contactID)
	if err != nil {
		return Contact{}, storeError(err)
	}
	if blocked {
		return Contact{}, httpapi.NewProblem(http.StatusBadRequest, "contact-blocked",
			"you have blocked this user: unblock them (DELETE /api/blocks/{userId}) before adding them")
	}
	if IsBotParty(contactID) {
		return s.askBot(ctx, owner, contactID)
	}
	var existing contactRow
	_, err = s.contacts.Get(ctx, owner, contactID, &existing)
	switch {
	case err == nil:
	case isNotFound(err):
		if err := s.checkContactCap(ctx, owner); err != nil {
			return Contact{}, err
		}
	default:
		return Contact{}, storeError(err)
	}
	me, target, err := s.profilesOf(ctx, owner, contactID)
	if err != nil {
		return Contact{}, storeError(err)
	}
	now := s.opts.Now().UTC()
	// The reverse row first: if the second write fails, erase still finds the pair.
	if _, err := s.contactOf.Upsert(ctx, contactID, owner, contactOfRow{ACSUserID: me.ACSUserID, DisplayName: ownerName, AddedAt: now}); err != nil {
		return Contact{}, storeError(err)
	}
	row := contactRow{ACSUserID: target.ACSUserID, DisplayName: target.DisplayName, AddedAt: now}
	if !existing.AddedAt.IsZero() {
		row.AddedAt = existing.AddedAt
	}
	if _, err := s.contacts.Upsert(ctx, owner, contactID, row); err != nil {
		return Contact{}, storeError(err)
	}
	// Written before read: of two concurrent adds, at least the later one
	// sees the other's row; lists read both rows and agree in any case.
	var theirs contactOfRow
	_, err = s.contactOf.Get(ctx, owner, contactID, &theirs)
	switch {
	case isNotFound(err):
		return Contact{UserID: contactID, State: StateRequested}, nil
	case err != nil:
		return Contact{}, storeError(err)
	}
	c := mutualContact(contactID, row, theirs)
	if c.ACSUserID == "" && target.ACSUserID != "" {
		c.ACSUserID = target.ACSUserID
	}
	return c, nil
}

// askBot is an end user asking a bot party to be a contact. Only a service
// makes a bot reachable (AddBotContact), so the ask writes nothing and the
// answer is what an unknown user's first request gets, "requested"; a bot
// a service already made owner's mutual contact reads as it is listed.
func (s *Service) askBot(ctx context.Context, owner, botParty string) (Contact, error) {
	var mine contactRow
	_, err := s.contacts.Get(ctx, owner, botParty, &mine)
	switch {
	case isNotFound(err):
		if err := s.checkContactCap(ctx, owner); err != nil {
			return Contact{}, err
		}
		return Contact{UserID: botParty, State: StateRequested}, nil
	case err != nil:
		return Contact{}, storeError(err)
	}
	var theirs contactOfRow
	_, err = s.contactOf.Get(ctx, owner, botParty, &theirs)
	switch {
	case isNotFound(err):
		return Contact{UserID: botParty, State: StateRequested}, nil
	case err != nil:
		return Contact{}, storeError(err)
	}
	return mutualContact(botParty, mine, theirs), nil
}

// profilesOf reads two users' profiles at once; a user without one gets a
// zero User.
func (s *Service) profilesOf(ctx context.Context, a, b string) (User, User, error) {
	var ua, ub User
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { ua, err = s.optionalProfile(gctx, a); return })
	g.Go(func() (err error) { ub, err = s.optionalProfile(gctx, b); return })
	err := g.Wait()
	return ua, ub, err
}

func (s *Service) optionalProfile(ctx context.Context, userID string) (User, error) {
	u, err := s.Profile(ctx, userID)
	if isNotFound(err) || errors.Is(err, store.ErrInvalidKey) {
		return User{}, nil
	}
	return u, err
}

func mutualContact(userID string, mine contactRow, theirs contactOfRow) Contact {
	c := Contact{UserID: userID, State: StateMutual, ACSUserID: theirs.ACSUserID, DisplayName: theirs.DisplayName}
	if c.ACSUserID == "" {
		c.ACSUserID = mine.ACSUserID
	}
	if c.DisplayName == "" {
		c.DisplayName = mine.DisplayName
	}
	return c
}

// checkContactCap refuses a new request when owner has MaxContacts already.
func (s *Service) checkContactCap(ctx context.Context, owner string) error {
	n := 0
	if err := s.contacts.QueryPartition(ctx, owner, func(string, func(any) error) error { n++; return nil }); err != nil {
		return storeError(err)
	}
	if n >= s.opts.MaxContacts {
		return httpapi.Problemf(http.StatusConflict, "too-many-contacts",
			"you have %d contacts and requests, the most this app allows: remove some (DELETE /api/contacts/{userId}) first", n)
	}
	return nil
}

// checkUserID refuses an id Table Storage cannot hold: no user can have it.
func checkUserID(userID string) error {
	if err := store.CheckKey(userID); err != nil {
		return store.ProblemFor(err)
	}
	return nil
}

// RemoveContact withdraws owner's request or ends a mutual contact (the
// other side's request stays, as "requested"). Removing one that is not
// there is not an error. A bot party's side goes too: the service wrote
// both sides at once (AddBotContact), and a bot's leftover request would
// let owner make it mutual again on their own.
func (s *Service) RemoveContact(ctx context.Context, owner, contactID string) error {
	if err := checkUserID(contactID); err != nil {
		return err
	}
	if IsBotParty(contactID) {
		// owner's view of mutual first (contactof(owner, bot)), then the rest.
		for _, r := range []struct {
			t      *store.Table
			pk, rk string
		}{{s.contactOf, owner, contactID}, {s.contacts, contactID, owner}, {s.contactOf, contactID, owner}, {s.contacts, owner, contactID}} {
			if err := r.t.Delete(ctx, r.pk, r.rk, azcore.ETagAny); err != nil && !isNotFound(err) {
				return storeError(err)
			}
		}
		return nil
	}
	// The reverse row first: it is what the other side's view of mutual
	// reads, so consent ends first even if the second delete fails.
	if err := s.contactOf.Delete(ctx, contactID, owner, azcore.ETagAny); err != nil && !isNotFound(err) {
		return storeError(err)
	}
	if err := s.contacts.Delete(ctx, owner, contactID, azcore.ETagAny); err != nil && !isNotFound(err) {
		return storeError(err)
	}
	return nil
}

// Contacts lists owner's contacts and outstanding requests with their
// state: two partition queries, in parallel.
func (s *Service) Contacts(ctx context.Context, owner string) ([]Contact, error) {
	mine, theirs, err := s.contactPartitions(ctx, owner)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]Contact, 0, len(mine))
	var missing []int
	for id, row := range mine {
		t, ok := theirs[id]
		if !ok {
			out = append(out, Contact{UserID: id, State: StateRequested})
			continue
		}
		c := mutualContact(id, row, t)
		if c.ACSUserID == "" {
			missing = append(missing, len(out))
		}
		out = append(out, c)
	}
	// A contact who had no ACS identity when the rows were written may have one now.
	if err := s.fillACSIDs(ctx, out, missing); err != nil {
		return nil, storeError(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// fillACSIDs reads the profiles of out[i] for i in idx, a few at a time.
func (s *Service) fillACSIDs(ctx context.Context, out []Contact, idx []int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(profileReadConcurrency)
	for _, i := range idx {
		g.Go(func() error {
			u, err := s.optionalProfile(gctx, out[i].UserID)
			out[i].ACSUserID = u.ACSUserID
			if out[i].DisplayName == "" {
				out[i].DisplayName = u.DisplayName
			}
			return err
		})
	}
	return g.Wait()
}

// profileReadConcurrency bounds parallel point reads for one request.
const profileReadConcurrency = 16

// contactPartitions reads owner's requests (contacts) and the requests made
// to owner (contactof), in parallel.
func (s *Service) contactPartitions(ctx context.Context, owner string) (map[string]contactRow, map[string]contactOfRow, error) {
	mine := map[string]contactRow{}
	theirs := map[string]contactOfRow{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.contacts.QueryPartition(gctx, owner, func(rk string, decode func(any) error) error {
			var c contactRow
			if err := decode(&c); err != nil {
				return err
			}
			mine[rk] = c
			return nil
		})
	})
	g.Go(func() error {
		return s.contactOf.QueryPartition(gctx, owner, func(rk string, decode func(any) error) error {
			var c contactOfRow
			if err := decode(&c); err != nil {
				return err
			}
			theirs[rk] = c
			return nil
		})
	})
	err := g.Wait()
	return mine, theirs, err
}

// Requests lists users who asked owner and whom owner has neither asked
// back nor blocked.
func (s *Service) Requests(ctx context.Context, owner string) ([]Request, error) {
	var mine map[string]contactRow
	var theirs map[string]contactOfRow
	var blocked map[string]bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { mine, theirs, err = s.contactPartitions(gctx, owner); return })
	g.Go(func() (err error) { blocked, err = s.blockList(gctx, owner); return })
	if err := g.Wait(); err != nil {
		return nil, storeError(err)
	}
	out := []Request{}
	for id, t := range theirs {
		// A bot never asks: its side exists only with owner's (AddBotContact).
		if _, asked := mine[id]; asked || blocked[id] || IsBotParty(id) {
			continue
		}
		out = append(out, Request{UserID: id, DisplayName: t.DisplayName, RequestedAt: t.AddedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// MutualContacts returns owner's mutual contacts by user id, with ACS ids
// where known: two partition queries, however many are asked about.
func (s *Service) MutualContacts(ctx context.Context, owner string) (map[string]User, error) {
	mine, theirs, err := s.contactPartitions(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := map[string]User{}
	for id, row := range mine {
		if t, ok := theirs[id]; ok {
			c := mutualContact(id, row, t)
			out[id] = User{UserID: id, ACSUserID: c.ACSUserID, DisplayName: c.DisplayName}
		}
	}
	return out, nil
}

// IsMutual reports whether a and b are mutual contacts: two point reads.
func (s *Service) IsMutual(ctx context.Context, a, b string) (bool, error) {
	var mine, theirs bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { mine, err = s.exists(gctx, s.contacts, a, b); return })
	g.Go(func() (err error) { theirs, err = s.exists(gctx, s.contactOf, a, b); return })
	if err := g.Wait(); err != nil {
		return false, err
	}
	return mine && theirs, nil
}

// exists reports whether the row is there; an unstorable key never is.
func (s *Service) exists(ctx context.Context, t *store.Table, pk, rk string) (bool, error) {
	var row struct{}
	_, err := t.Get(ctx, pk, rk, &row)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err), errors.Is(err, store.ErrInvalidKey):
		return false, nil
	}
	return false, err
}

// Lookup resolves target for viewer. It answers only when viewer may reach
// target (service caller, self, mutual contact, or a registered relation
// such as an accepted co-member of a space, unless either blocked the
// other); otherwise, as for a user who does not exist, 404, so lookup cannot
// be used to enumerate users.
func (s *Service) Lookup(ctx context.Context, viewer string, service bool, target string) (User, error) {
	if !service && viewer != target {
		ok, err := s.mayReach(ctx, viewer, target)
		if err != nil {
			return User{}, storeError(err)
		}
		if !ok {
			return User{}, userNotFound(target)
		}
	}
	u, err := s.Profile(ctx, target)
	if isNotFound(err) || errors.Is(err, store.ErrInvalidKey) {
		return User{}, userNotFound(target)
	}
	if err != nil {
		return User{}, storeError(err)
	}
	return u, nil
}

// mayReach reports whether viewer may reach target: a mutual contact, or a
// relation (a shared space) between two users neither of whom blocked the other.
func (s *Service) mayReach(ctx context.Context, viewer, target string) (bool, error) {
	if ok, err := s.IsMutual(ctx, viewer, target); err != nil || ok {
		return ok, err
	}
	for _, rel := range s.relations {
		ok, err := rel(ctx, viewer, target)
		if err != nil {
			return false, err
		}
		if ok {
			blocked, err := s.EitherBlocked(ctx, viewer, target)
			return !blocked, err
		}
	}
	return false, nil
}

func userNotFound(userID string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "user-not-found", "no user %q that you can see", truncate(userID, 64))
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
