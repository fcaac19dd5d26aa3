package events

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"switchboard/handler/internal/customhandler"
	"switchboard/handler/internal/httpapi"
)

// Handler handles one event of a registered type. An error asks Event Grid
// to deliver the event again later; handlers must therefore be idempotent.
type Handler func(ctx context.Context, ev Event) error

// Dispatcher routes events to handlers by type.
type Dispatcher struct {
	handlers map[string]Handler
}

// NewDispatcher returns a dispatcher with no handlers.
func NewDispatcher() *Dispatcher { return &Dispatcher{handlers: map[string]Handler{}} }

// Handle registers h for events of type typ.
func (d *Dispatcher) Handle(typ string, h Handler) { d.handlers[typ] = h }

// Dispatch handles each event; events of unknown types are acknowledged and
// logged, not failed (Event Grid would only redeliver them). It returns the
// first failure after trying every event.
func (d *Dispatcher) Dispatch(ctx context.Context, evs []Event) error {
	log := httpapi.Logger(ctx)
	var errs []error
	for _, ev := range evs {
		h, ok := d.handlers[ev.Type]
		if !ok {
			log.Info("event type not handled; acknowledged", "eventId", ev.ID, "eventType", ev.Type)
			continue
		}
		if err := h(ctx, ev); err != nil {
			log.Warn("event failed; Event Grid will redeliver it", "eventId", ev.ID, "eventType", ev.Type, "err", err)
			errs = append(errs, fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err))
		}
	}
	return errors.Join(errs...)
}

// Function is the `callevents` Event Grid function: the host delivers one
// event per invocation in Data[binding].
func (d *Dispatcher) Function(binding string) customhandler.Func {
	return func(ctx context.Context, inv *customhandler.Invocation) (map[string]any, error) {
		raw, err := inv.TriggerJSON(binding)
		if err != nil {
			return nil, err
		}
		evs, err := Parse(raw)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			inv.Logf("event %s %s", ev.ID, ev.Type)
		}
		return nil, d.Dispatch(ctx, evs)
	}
}

// MaxBatchBytes bounds a delivery to POST /api/events: Event Grid sends
// batches (and single events) of up to 1 MB.
const MaxBatchBytes = 1 << 20

// Webhook serves POST /api/events for deployments that let Event Grid call
// the handler directly instead of through the Functions host: it requires
// key (as ?code= or x-functions-key) and a JSON content type (Event Grid
// sends application/json, or application/cloudevents+json and
// application/cloudevents-batch+json for CloudEvents), answers the
// subscription validation handshake, and dispatches the events.
func (d *Dispatcher) Webhook(key string) http.Handler {
	return httpapi.ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if key == "" {
			return httpapi.NotConfigured("the direct Event Grid webhook", "EVENTS_WEBHOOK_KEY")
		}
		if !keyMatches(r, key) {
			return httpapi.NewProblem(http.StatusUnauthorized, httpapi.CodeUnauthenticated,
				"this webhook needs its key as ?code= or in the x-functions-key header")
		}
		if err := httpapi.RequireJSONContentType(r); err != nil {
			return err
		}
		body, err := httpapi.ReadBodyLimit(r, MaxBatchBytes)
		if err != nil {
			return err
		}
		evs, err := Parse(body)
		if err != nil {
			return err
		}
		if len(evs) == 1 && evs[0].Type == SubscriptionValidation {
			var v struct {
				ValidationCode string `json:"validationCode"`
			}
			if err := evs[0].DecodeData(&v); err != nil || v.ValidationCode == "" {
				return invalid("the subscription validation event has no data.validationCode")
			}
			httpapi.WriteJSON(w, http.StatusOK, map[string]string{"validationResponse": v.ValidationCode})
			return nil
		}
		if err := d.Dispatch(r.Context(), evs); err != nil {
			return httpapi.NewProblem(http.StatusServiceUnavailable, "event-handling-failed",
				"some events could not be handled now; Event Grid will deliver them again").WithCause(err)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

// WebhookOptions answers the CloudEvents webhook validation handshake
// (OPTIONS with WebHook-Request-Origin).
func WebhookOptions(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("WebHook-Request-Origin")
	if origin == "" {
		origin = "*"
	}
	w.Header().Set("WebHook-Allowed-Origin", origin)
	w.Header().Set("WebHook-Allowed-Rate", "*")
	w.Header().Set("Allow", "POST, OPTIONS")
	w.WriteHeader(http.StatusOK)
}

func keyMatches(r *http.Request, key string) bool {
	got := r.URL.Query().Get("code")
	if got == "" {
		got = r.Header.Get("x-functions-key")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}
