// Package identity is the Identity Management Service of the ACS
// architecture: it maps the app's users to ACS identities (creating one on
// first use, exactly once), issues their ACS tokens, keeps their contacts,
// answers lookups, and erases a user completely.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// Logical table names (TABLE_PREFIX is added by the store).
const (
	UsersTable     = "users"
	ContactsTable  = "contacts"
	ContactOfTable = "contactof"
	BlocksTable    = "blocks"
	BlockedByTable = "blockedby"
)

// Row keys in the users table. A profile row is keyed by app user id; the
// reverse row by ACS id. Different row keys keep the two apart even if an
// app user id happens to look like an ACS id.
const (
	profileRow = "profile"
	reverseRow = "acs"
)

// Token lifetimes ACS accepts (ref/acs-rest.md).
const (
	MinTokenMinutes     = 60
	MaxTokenMinutes     = 1440
	DefaultTokenMinutes = 60
)

// Timing of the first-use reservation: a creator finishes (or gives up)
// within createTimeout; a reservation older than staleAfter is abandoned and
// may be taken over; waiters give up after waitTimeout.
const (
	createTimeout = 20 * time.Second
	staleAfter    = 30 * time.Second
	waitTimeout   = 10 * time.Second
	upstreamLimit = 15 * time.Second
)

// ACS is what the service needs from the ACS identity API.
type ACS interface {
	CreateIdentity(ctx context.Context, opts *acs.CreateIdentityOptions) (acs.CreateIdentityResult, error)
	IssueToken(ctx context.Context, id string, scopes []string, expiresInMinutes int) (acs.AccessToken, error)
	RevokeTokens(ctx context.Context, id string) error
	DeleteIdentity(ctx context.Context, id string) error
}

// Eraser removes what another capability keeps for a user (devices, space
// memberships) when the user is erased.
type Eraser func(ctx context.Context, userID, acsUserID string) error

// Relation reports whether viewer may reach target beyond mutual contacts,
// such as being accepted members of one space. Spaces register one.
type Relation func(ctx context.Context, viewer, target string) (bool, error)

// Options configure the service.
type Options struct {
	AllowedScopes []string
	DefaultScopes []string
	// MaxContacts caps a user's contacts and outstanding requests
	// (MAX_CONTACTS_PER_USER); default DefaultMaxContacts.
	MaxContacts int
	// TokenCacheKey (TOKEN_CACHE_KEY, 32 bytes) turns the shared token
	// cache on; TokenCacheKeyPrevious opens rows sealed before a rotation.
	TokenCacheKey, TokenCacheKeyPrevious []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service implements identity management on Table Storage and ACS.
type Service struct {
	users, contacts, contactOf *store.Table
	blocks, blockedBy          *store.Table
	acs                        ACS
	sealer                     *tokenSealer // nil: no token cache
	opts                       Options
	erasers                    []Eraser
	relations                  []Relation
	bots                       BotResolver // nil: no bot parties
	botByACS                   BotByACSID
}

// NewService wires the service. Token cache keys must be 32 bytes (config
// checks them; anything else is a programming error and panics).
func NewService(st *store.Store, client ACS, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sealer, err := newTokenSealer(opts.TokenCacheKey, opts.TokenCacheKeyPrevious)
	if err != nil {
		panic("identity: " + err.Error())
	}
	if opts.MaxContacts <= 0 {
		opts.MaxContacts = DefaultMaxContacts
	}
	return &Service{
		users:     st.Table(UsersTable),
		contacts:  st.Table(ContactsTable),
		contactOf: st.Table(ContactOfTable),
		blocks:    st.Table(BlocksTable),
		blockedBy: st.Table(BlockedByTable),
		acs:       client,
		sealer:    sealer,
		opts:      opts,
	}
}

// OnErase registers cleanup another capability needs when a user is erased.
func (s *Service) OnErase(e Eraser) { s.erasers = append(s.erasers, e) }

// AddRelation registers another way a viewer may be allowed to look a user up.
func (s *Service) AddRelation(r Relation) { s.relations = append(s.relations, r) }

// profile is the users-table row keyed by app user id.
type profile struct {
	// State is "reserved" while the first request creates the ACS identity,
	// then "active".
	State       string    `json:"state"`
	ACSUserID   string    `json:"acsUserId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	ReservedAt  time.Time `json:"reservedAt"`
	Reservation string    `json:"reservation,omitempty"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
	// ThrottledUntil is set on a reservation whose creation ACS throttled:
	// the end of the wait ACS asked for.
	ThrottledUntil time.Time `json:"throttledUntil,omitzero"`
}

// reverse is the users-table row keyed by ACS id.
type reverse struct {
	UserID string `json:"userId"`
}

const (
	stateReserved = "reserved"
	stateActive   = "active"
)

// User is a resolved app user.
type User struct {
	UserID      string `json:"userId"`
	ACSUserID   string `json:"acsUserId"`
	DisplayName string `json:"displayName,omitempty"`
}

// Profile returns an active user's mapping, or store.ErrNotFound.
func (s *Service) Profile(ctx context.Context, userID string) (User, error) {
	if IsBotParty(userID) {
		return s.botProfile(ctx, userID)
	}
	var p profile
	if _, err := s.users.Get(ctx, userID, profileRow, &p); err != nil {
		return User{}, err
	}
	if p.State != stateActive {
		return User{}, fmt.Errorf("user %q is being created: %w", userID, store.ErrNotFound)
	}
	return User{UserID: userID, ACSUserID: p.ACSUserID, DisplayName: p.DisplayName}, nil
}

// UserByACSID resolves an ACS id back to the app user (or bot party), or store.ErrNotFound.
func (s *Service) UserByACSID(ctx context.Context, acsUserID string) (string, error) {
	var r reverse
	_, err := s.users.Get(ctx, acsUserID, reverseRow, &r)
	if isNotFound(err) && s.botByACS != nil {
		botID, err := s.botByACS(ctx, acsUserID)
		if err != nil {
			return "", err
		}
		return BotParty(botID), nil
	}
	if err != nil {
		return "", err
	}
	return r.UserID, nil
}

// acsError turns an ACS failure into an answer the client can act on: retry
// later (503 with Retry-After), or fix the deployment (502).
func acsError(err error) error {
	switch {
	case err == nil:
		return nil
	case acs.IsAuthFailure(err):
		return httpapi.NewProblem(http.StatusBadGateway, "acs-credential-rejected",
			"Azure Communication Services rejected Switchboard's credential; check ACS_CONNECTION_STRING (or the managed identity's role on the ACS resource)").WithCause(err)
	case acs.IsThrottled(err):
		return throttled(acs.RetryAfter(err)).WithCause(err)
	case acs.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable,
			"Azure Communication Services is unavailable; retry shortly").WithCause(err)
		p.RetryAfter = 2
		return p
	}
	return httpapi.NewProblem(http.StatusBadGateway, httpapi.CodeUpstreamFailed,
		"Azure Communication Services refused the request").WithCause(err)
}

// throttled answers a request ACS throttled with ACS's own wait, rounded up
// to whole seconds.
func throttled(wait time.Duration) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusServiceUnavailable, "acs-throttled",
		"Azure Communication Services is throttling requests; retry after the delay in Retry-After")
	p.RetryAfter = acs.WholeSeconds(wait)
	return p
}

// storeError turns a Table Storage failure into a problem (see store.ProblemFor).
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var p *httpapi.Problem
	if errors.As(err, &p) {
		return err
	}
	if sp := store.ProblemFor(err); sp != nil {
		return sp
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
