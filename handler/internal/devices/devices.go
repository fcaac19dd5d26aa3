// Package devices keeps users' push registrations: one partition per ACS
// identity (what an IncomingCall event names), validated per provider,
// capped per user, expiring unless refreshed.
package devices

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/store"
)

// Table is the logical table name.
const Table = "devices"

// Options configure the service.
type Options struct {
	TTL time.Duration // a registration expires unless refreshed within TTL
	Max int           // devices per user
	Now func() time.Time
}

// Identities resolves an app user to their ACS id (store.ErrNotFound if none yet).
type Identities func(ctx context.Context, userID string) (string, error)

// Service manages registrations.
type Service struct {
	t          *store.Table
	identities Identities
	senders    *push.Senders
	opts       Options
}

// NewService wires the service.
func NewService(st *store.Store, identities Identities, senders *push.Senders, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{t: st.Table(Table), identities: identities, senders: senders, opts: opts}
}

// row is a stored registration.
type row struct {
	Provider  string    `json:"provider"`
	Handle    string    `json:"handle,omitempty"`
	VoIP      bool      `json:"voip,omitempty"`
	Endpoint  string    `json:"endpoint,omitempty"`
	P256dh    string    `json:"p256dh,omitempty"`
	Auth      string    `json:"auth,omitempty"`
	URL       string    `json:"url,omitempty"`
	Secret    string    `json:"secret,omitempty"`
	UserID    string    `json:"userId"`
	UpdatedAt time.Time `json:"updatedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (r row) device(id string) push.Device {
	d := push.Device{ID: id, Provider: r.Provider, Handle: r.Handle, VoIP: r.VoIP, URL: r.URL, Secret: r.Secret}
	if r.Provider == push.WebPush {
		d.Subscription = &push.WebPushSubscription{Endpoint: r.Endpoint}
		d.Subscription.Keys.P256dh, d.Subscription.Keys.Auth = r.P256dh, r.Auth
	}
	return d
}

// Registration is what the routes answer.
type Registration struct {
	DeviceID  string    `json:"deviceId"`
	Provider  string    `json:"provider"`
	VoIP      bool      `json:"voip,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Secret signs webhook pushes; returned by PUT only.
	Secret string `json:"secret,omitempty"`
}

var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// Register creates or refreshes a device of userID.
func (s *Service) Register(ctx context.Context, userID, deviceID string, d push.Device) (Registration, bool, error) {
	if !deviceIDRE.MatchString(deviceID) {
		return Registration{}, false, httpapi.NewProblem(http.StatusBadRequest, "invalid-device-id",
			"a device id is 1 to 128 letters, digits, '.', '_', '~' or '-'")
	}
	if err := d.Validate(); err != nil {
		return Registration{}, false, err
	}
	if ok, setting := s.senders.Configured(d.Provider); !ok {
		return Registration{}, false, httpapi.NotConfigured(d.Provider+" push", setting)
	}
	if err := s.senders.CheckTarget(ctx, d); err != nil {
		return Registration{}, false, err
	}
	acsID, err := s.acsID(ctx, userID)
	if err != nil {
		return Registration{}, false, err
	}
	now := s.opts.Now().UTC()
	existing, etag, active, err := s.list(ctx, acsID, now)
	if err != nil {
		return Registration{}, false, err
	}
	prev, known := existing[deviceID]
	if !known && active >= s.opts.Max {
		return Registration{}, false, httpapi.Problemf(http.StatusConflict, "device-limit",
			"you have %d devices registered, the most allowed; delete one first", active)
	}
	r := row{Provider: d.Provider, Handle: d.Handle, VoIP: d.VoIP, URL: d.URL, UserID: userID, UpdatedAt: now, ExpiresAt: now.Add(s.opts.TTL)}
	if d.Subscription != nil {
		r.Endpoint, r.P256dh, r.Auth = d.Subscription.Endpoint, d.Subscription.Keys.P256dh, d.Subscription.Keys.Auth
	}
	if d.Provider == push.Webhook {
		r.Secret = push.NewWebhookSecret()
		if known && prev.Provider == push.Webhook && prev.URL == d.URL && prev.Secret != "" {
			r.Secret = prev.Secret // a refresh keeps the receiver's key
		}
	}
	if known {
		_, err = s.t.Replace(ctx, acsID, deviceID, r, etag[deviceID])
	} else {
		_, err = s.t.Insert(ctx, acsID, deviceID, r)
	}
	if errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrConflict) {
		return Registration{}, false, httpapi.NewProblem(http.StatusConflict, httpapi.CodeConflict, "the device was registered concurrently; retry")
	}
	if err != nil {
		return Registration{}, false, store.ProblemFor(err)
	}
	reg := registration(deviceID, r)
	reg.Secret = r.Secret
	return reg, !known, nil
}

func registration(id string, r row) Registration {
	return Registration{DeviceID: id, Provider: r.Provider, VoIP: r.VoIP, UpdatedAt: r.UpdatedAt, ExpiresAt: r.ExpiresAt}
}

func (s *Service) acsID(ctx context.Context, userID string) (string, error) {
	acsID, err := s.identities(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", httpapi.NewProblem(http.StatusConflict, "no-acs-identity",
			"you have no ACS identity yet: call POST /api/token first, then register devices")
	}
	if err != nil {
		return "", store.ProblemFor(err)
	}
	return acsID, nil
}

// list reads one user's registrations (one partition query), counting the unexpired ones.
func (s *Service) list(ctx context.Context, acsID string, now time.Time) (map[string]row, map[string]azcore.ETag, int, error) {
	rows := map[string]row{}
	etags := map[string]azcore.ETag{}
	active := 0
	err := s.t.QueryPartition(ctx, acsID, func(rk string, decode func(any) error) error {
		var r struct {
			row
			ETag azcore.ETag `json:"odata.etag"`
		}
		if err := decode(&r); err != nil {
			return err
		}
		rows[rk], etags[rk] = r.row, r.ETag
		if r.ExpiresAt.After(now) {
			active++
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, store.ProblemFor(err)
	}
	return rows, etags, active, nil
}

// List returns userID's unexpired registrations.
func (s *Service) List(ctx context.Context, userID string) ([]Registration, error) {
	out := []Registration{}
	acsID, err := s.identities(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	now := s.opts.Now()
	rows, _, _, err := s.list(ctx, acsID, now)
	if err != nil {
		return nil, err
	}
	for id, r := range rows {
		if r.ExpiresAt.After(now) {
			out = append(out, registration(id, r))
		}
	}
	return out, nil
}

// Delete removes a device; deleting one that is not there is not an error.
func (s *Service) Delete(ctx context.Context, userID, deviceID string) error {
	acsID, err := s.identities(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return store.ProblemFor(err)
	}
	return s.Remove(ctx, acsID, deviceID)
}

// Remove deletes one device of an ACS identity (fan-out prunes gone handles with it).
func (s *Service) Remove(ctx context.Context, acsID, deviceID string) error {
	if err := s.t.Delete(ctx, acsID, deviceID, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	return nil
}

// ForACSUser returns the unexpired devices of an ACS identity: the fan-out's one partition query.
func (s *Service) ForACSUser(ctx context.Context, acsID string) ([]push.Device, error) {
	rows, _, _, err := s.list(ctx, acsID, s.opts.Now())
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	var out []push.Device
	for id, r := range rows {
		if r.ExpiresAt.After(now) {
			out = append(out, r.device(id))
		}
	}
	return out, nil
}

// EraseUser deletes every device of an erased user (an identity.Eraser).
func (s *Service) EraseUser(ctx context.Context, _ string, acsID string) error {
	if acsID == "" {
		return nil
	}
	var ids []string
	err := s.t.QueryPartition(ctx, acsID, func(rk string, _ func(any) error) error {
		ids = append(ids, rk)
		return nil
	})
	if err != nil {
		return store.ProblemFor(err)
	}
	for _, id := range ids {
		if err := s.Remove(ctx, acsID, id); err != nil {
			return err
		}
	}
	return nil
}

// DeleteExpired removes registrations past their expiry (the housekeeping timer).
func (s *Service) DeleteExpired(ctx context.Context) (int, error) {
	now := s.opts.Now()
	type key struct{ pk, rk string }
	var expired []key
	err := s.t.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		var r row
		if err := decode(&r); err != nil {
			return err
		}
		if !r.ExpiresAt.After(now) {
			expired = append(expired, key{pk, rk})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan devices: %w", err)
	}
	for _, k := range expired {
		if err := s.t.Delete(ctx, k.pk, k.rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("delete expired device: %w", err)
		}
	}
	return len(expired), nil
}
