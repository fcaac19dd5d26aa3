package identity

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// contactRow is keyed (owner, contact); the contact's ACS id and name are
// copied in so a list is one partition query.
type contactRow struct {
	ACSUserID   string    `json:"acsUserId"`
	DisplayName string    `json:"displayName,omitempty"`
	AddedAt     time.Time `json:"addedAt"`
}

// contactOfRow is keyed (contact, owner): who has this user as a contact, so
// erasing a user also removes them from everyone's lists.
type contactOfRow struct {
	AddedAt time.Time `json:"addedAt"`
}

// AddContact adds contactID to owner's contacts. The contact must be an
// existing user; adding yourself is a 400.
func (s *Service) AddContact(ctx context.Context, owner, contactID string) (User, error) {
	if owner == contactID {
		return User{}, httpapi.NewProblem(http.StatusBadRequest, "contact-is-self", "you cannot add yourself as a contact")
	}
	u, err := s.Profile(ctx, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, userNotFound(contactID)
	}
	if err != nil {
		return User{}, storeError(err)
	}
	now := s.opts.Now().UTC()
	// The reverse row first: if the second write fails, erase still finds the pair.
	if _, err := s.contactOf.Upsert(ctx, contactID, owner, contactOfRow{AddedAt: now}); err != nil {
		return User{}, storeError(err)
	}
	if _, err := s.contacts.Upsert(ctx, owner, contactID, contactRow{ACSUserID: u.ACSUserID, DisplayName: u.DisplayName, AddedAt: now}); err != nil {
		return User{}, storeError(err)
	}
	return u, nil
}

// RemoveContact removes contactID from owner's contacts; removing one that is
// not there is not an error.
func (s *Service) RemoveContact(ctx context.Context, owner, contactID string) error {
	if err := s.contacts.Delete(ctx, owner, contactID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	if err := s.contactOf.Delete(ctx, contactID, owner, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	return nil
}

// Contacts lists owner's contacts with their ACS ids: one partition query.
func (s *Service) Contacts(ctx context.Context, owner string) ([]User, error) {
	out := []User{}
	err := s.contacts.QueryPartition(ctx, owner, func(rk string, decode func(any) error) error {
		var c contactRow
		if err := decode(&c); err != nil {
			return err
		}
		out = append(out, User{UserID: rk, ACSUserID: c.ACSUserID, DisplayName: c.DisplayName})
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return out, nil
}

// Lookup resolves target for viewer. It answers only when viewer may know
// target (service caller, self, contact, or a registered relation such as a
// shared space); otherwise, as for a user who does not exist, 404, so lookup
// cannot be used to enumerate users.
func (s *Service) Lookup(ctx context.Context, viewer string, service bool, target string) (User, error) {
	if !service && viewer != target {
		ok, err := s.mayLookUp(ctx, viewer, target)
		if err != nil {
			return User{}, storeError(err)
		}
		if !ok {
			return User{}, userNotFound(target)
		}
	}
	u, err := s.Profile(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, userNotFound(target)
	}
	if err != nil {
		return User{}, storeError(err)
	}
	return u, nil
}

func (s *Service) mayLookUp(ctx context.Context, viewer, target string) (bool, error) {
	var c contactRow
	_, err := s.contacts.Get(ctx, viewer, target, &c)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	for _, rel := range s.relations {
		ok, err := rel(ctx, viewer, target)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func userNotFound(userID string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "user-not-found", "no user %q that you can see", truncate(userID, 64))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
