// Package publish sends Switchboard's own events (a call created, an
// invitation sent, a participant joined or left, a call ended) to an Event
// Grid topic, so other services can react. Publishing is best effort: a
// failure is logged and never fails the request that caused it.
package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azeventgrid"
	"github.com/google/uuid"

	"switchboard/handler/internal/httpapi"
)

// Event types Switchboard publishes.
const (
	CallCreated       = "Switchboard.CallCreated"
	InvitationSent    = "Switchboard.InvitationSent"
	ParticipantJoined = "Switchboard.ParticipantJoined"
	ParticipantLeft   = "Switchboard.ParticipantLeft"
	CallEnded         = "Switchboard.CallEnded"
)

const timeout = 5 * time.Second

// Publisher publishes to one topic; the zero value (nil) publishes nothing.
type Publisher struct {
	client *azeventgrid.Client
}

// Config says where to publish: a key, or a token credential (managed identity).
type Config struct {
	Endpoint   string
	Key        string
	Credential azcore.TokenCredential
	Options    *azeventgrid.ClientOptions
}

// New builds a publisher; no network.
func New(cfg Config) (*Publisher, error) {
	opts := cfg.Options
	if opts == nil {
		opts = &azeventgrid.ClientOptions{}
	}
	if opts.Retry.MaxRetries == 0 {
		opts.Retry = policy.RetryOptions{MaxRetries: 2, TryTimeout: timeout}
	}
	var c *azeventgrid.Client
	var err error
	if cfg.Key != "" {
		c, err = azeventgrid.NewClientWithSharedKeyCredential(cfg.Endpoint, azcore.NewKeyCredential(cfg.Key), opts)
	} else {
		c, err = azeventgrid.NewClient(cfg.Endpoint, cfg.Credential, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("event grid topic: %w", err)
	}
	return &Publisher{client: c}, nil
}

// Publish sends one event; subject is e.g. "calls/<id>".
func (p *Publisher) Publish(ctx context.Context, eventType, subject string, data any) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	now := time.Now().UTC()
	ev := azeventgrid.Event{
		ID: ptr(uuid.NewString()), EventType: ptr(eventType), Subject: ptr(subject),
		EventTime: &now, DataVersion: ptr("1.0"), Data: data,
	}
	if _, err := p.client.PublishEvents(ctx, []azeventgrid.Event{ev}, nil); err != nil {
		httpapi.Logger(ctx).Warn("could not publish event", "eventType", eventType, "subject", subject, "err", err)
	}
}

func ptr[T any](v T) *T { return &v }
