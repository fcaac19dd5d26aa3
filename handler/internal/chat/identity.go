package chat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// ServiceTable holds the service's own chat identity: PK "identity", RK "chat".
const ServiceTable = "chatservice"

const (
	identityPK = "identity"
	identityRK = "chat"
)

// Token lifetime of the service identity's chat token, and when it is
// renewed: an hour before it expires, so a request never carries a token
// about to lapse.
const (
	tokenMinutes = acs.MaxTokenMinutes
	renewBefore  = time.Hour
)

// Timing of the first-use reservation, as for a user's identity.
const (
	reservationStale = 30 * time.Second
	reservationWait  = 10 * time.Second
	createTimeout    = 20 * time.Second
)

// IdentityAPI is what the service identity needs from the ACS identity API.
type IdentityAPI interface {
	CreateIdentity(ctx context.Context, opts *acs.CreateIdentityOptions) (acs.CreateIdentityResult, error)
	IssueToken(ctx context.Context, id string, scopes []string, expiresInMinutes int) (acs.AccessToken, error)
	DeleteIdentity(ctx context.Context, id string) error
}

// Identity is the ACS identity Switchboard acts as in Chat: created once
// across instances (the first to insert the reservation row creates it),
// recorded in Table Storage, its chat token issued by the handler for itself
// and reused until an hour before expiry. It is an acs.ChatCredential.
type Identity struct {
	table *store.Table
	acs   IdentityAPI
	now   func() time.Time

	mu    sync.Mutex
	id    string
	token acs.AccessToken
}

// NewIdentity wires the service identity; nothing is created until first use.
func NewIdentity(st *store.Store, api IdentityAPI) *Identity {
	return &Identity{table: st.Table(ServiceTable), acs: api, now: time.Now}
}

type identityRow struct {
	State      string    `json:"state"` // reserved or active
	ACSUserID  string    `json:"acsUserId,omitempty"`
	ReservedAt time.Time `json:"reservedAt"`
	CreatedAt  time.Time `json:"createdAt,omitzero"`
}

// ID returns the service identity's ACS id, creating it on first use.
func (i *Identity) ID(ctx context.Context) (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.idLocked(ctx)
}

func (i *Identity) idLocked(ctx context.Context) (string, error) {
	if i.id != "" {
		return i.id, nil
	}
	deadline := i.now().Add(reservationWait)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		var row identityRow
		etag, err := i.table.Get(ctx, identityPK, identityRK, &row)
		switch {
		case err == nil && row.State == "active":
			i.id = row.ACSUserID
			return i.id, nil
		case err == nil && i.now().Sub(row.ReservedAt) > reservationStale:
			// The instance that reserved it died: take over.
			etag, err = i.table.Replace(ctx, identityPK, identityRK, identityRow{State: "reserved", ReservedAt: i.now().UTC()}, etag)
			if err == nil {
				if done, err := i.create(ctx, etag); done || err != nil {
					return i.id, err
				}
				continue
			}
			if !errors.Is(err, store.ErrPreconditionFailed) {
				return "", store.ProblemFor(err)
			}
			continue
		case err == nil:
			// Another instance is creating it: wait.
		case errors.Is(err, store.ErrNotFound):
			etag, err = i.table.Insert(ctx, identityPK, identityRK, identityRow{State: "reserved", ReservedAt: i.now().UTC()})
			if err == nil {
				if done, err := i.create(ctx, etag); done || err != nil {
					return i.id, err
				}
				continue
			}
			if !errors.Is(err, store.ErrConflict) {
				return "", store.ProblemFor(err)
			}
			continue
		default:
			return "", store.ProblemFor(err)
		}
		if i.now().After(deadline) {
			p := httpapi.NewProblem(http.StatusServiceUnavailable, "chat-identity-being-created", "Switchboard's chat identity is still being created; retry shortly")
			p.RetryAfter = 1
			return "", p
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// create makes the identity for the reservation we hold, with its first
// chat token. done is false when our reservation was taken over meanwhile
// (its creator's identity wins and ours is deleted).
func (i *Identity) create(ctx context.Context, reserved azcore.ETag) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	res, err := i.acs.CreateIdentity(ctx, &acs.CreateIdentityOptions{Scopes: []string{acs.ScopeChat}, ExpiresInMinutes: tokenMinutes})
	if err != nil {
		_ = i.table.Delete(ctx, identityPK, identityRK, reserved)
		return false, acsProblem(err)
	}
	_, err = i.table.Replace(ctx, identityPK, identityRK, identityRow{State: "active", ACSUserID: res.ID, ReservedAt: i.now().UTC(), CreatedAt: i.now().UTC()}, reserved)
	if err != nil {
		if derr := i.acs.DeleteIdentity(ctx, res.ID); derr != nil {
			httpapi.Logger(ctx).Error("orphaned chat identity: created but not recorded, and could not be deleted", "acsUserId", res.ID, "err", derr)
		}
		if errors.Is(err, store.ErrPreconditionFailed) {
			return false, nil
		}
		return false, store.ProblemFor(err)
	}
	i.id = res.ID
	if res.Token != nil {
		i.token = *res.Token
	}
	httpapi.Logger(ctx).Info("created Switchboard's chat identity", "acsUserId", res.ID)
	return true, nil
}

// ChatToken returns the service identity's chat token, issuing a new one
// when it is within an hour of expiry or refresh is set (Chat refused it).
func (i *Identity) ChatToken(ctx context.Context, refresh bool) (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !refresh && i.token.Token != "" && i.token.ExpiresOn.Sub(i.now()) > renewBefore {
		return i.token.Token, nil
	}
	id, err := i.idLocked(ctx)
	if err != nil {
		return "", err
	}
	if !refresh && i.token.Token != "" && i.token.ExpiresOn.Sub(i.now()) > renewBefore {
		return i.token.Token, nil // create just issued one
	}
	tok, err := i.acs.IssueToken(ctx, id, []string{acs.ScopeChat}, tokenMinutes)
	if err != nil {
		return "", fmt.Errorf("issue the chat identity's token: %w", err)
	}
	i.token = tok
	return tok.Token, nil
}

// acsProblem maps an ACS failure to what a client can act on: wait for
// ACS's Retry-After, retry shortly, or fix the deployment.
func acsProblem(err error) error {
	switch {
	case err == nil:
		return nil
	case acs.IsThrottled(err):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, "acs-throttled", "Azure Communication Services is throttling requests; retry after the delay in Retry-After").WithCause(err)
		p.RetryAfter = acs.RetryAfterSeconds(err)
		return p
	case acs.IsAuthFailure(err):
		return httpapi.NewProblem(http.StatusBadGateway, "acs-credential-rejected",
			"Azure Communication Services rejected Switchboard's credential; check ACS_CONNECTION_STRING (or the managed identity's role on the ACS resource)").WithCause(err)
	case acs.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		p := httpapi.NewProblem(http.StatusServiceUnavailable, httpapi.CodeUpstreamUnavailable, "Azure Communication Services is unavailable; retry shortly").WithCause(err)
		p.RetryAfter = acs.RetryAfterSeconds(err)
		return p
	}
	return httpapi.NewProblem(http.StatusBadGateway, httpapi.CodeUpstreamFailed, "Azure Communication Services refused the request").WithCause(err)
}
