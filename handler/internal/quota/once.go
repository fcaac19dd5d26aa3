package quota

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// onceTTL is how long a TakeOnce decision is kept: longer than Event Grid
// redelivers an event (24 hours).
const onceTTL = 48 * time.Hour

// A decision row lives in the quotas table under PK "o:<op>" (subjects are
// "u:" and "s:"), with a lowercase property (never a quota window) and
// Expires, so DeleteExpired removes it like any spent row.
const (
	oncePrefix       = "o:"
	decisionProperty = "decision"
	admitted         = "admitted"
	refusedPrefix    = "refused:"
)

// TakeOnce spends costs for s once per op, an operation that several
// deliveries share (one chat message raises an event per recipient, and
// Event Grid may deliver each more than once, on any instance). The first
// call for op decides with Take and records the decision; later calls get
// the same answer (nil, or a 429 naming the quota) and spend nothing. first
// reports whether this call decided, so a refusal is logged once. A 503
// (storage down) records nothing: a later delivery decides. Two first
// deliveries racing may both spend; the decision stored first stands.
func (l *Limiter) TakeOnce(ctx context.Context, op string, s Subject, costs ...Cost) (first bool, err error) {
	key := oncePrefix + op
	if err := store.CheckKey(key); err != nil {
		return false, store.ProblemFor(err)
	}
	if refusal, found, err := l.decision(ctx, key); err != nil {
		return false, unavailable(err)
	} else if found {
		return false, asError(refusal)
	}
	taken := l.Take(ctx, s, costs...)
	d := admitted
	if taken != nil {
		var p *httpapi.Problem
		if !IsRateLimited(taken) || !errors.As(taken, &p) {
			return false, taken
		}
		d = refusedPrefix + p.Quota
	}
	entity := map[string]any{decisionProperty: d, "Expires": l.now().Add(onceTTL).UTC().Format(time.RFC3339)}
	_, err = l.table.Insert(ctx, key, rowKey, entity)
	if errors.Is(err, store.ErrConflict) {
		// Another delivery decided meanwhile: its decision stands.
		if refusal, found, rerr := l.decision(ctx, key); rerr == nil && found {
			return false, asError(refusal)
		}
	}
	// Not recorded (storage failed): this delivery's own decision holds, and
	// a redelivery decides again.
	return true, taken
}

// decision reads op's recorded decision: found, and the 429 it was when refused.
func (l *Limiter) decision(ctx context.Context, key string) (refusal *httpapi.Problem, found bool, err error) {
	var m map[string]any
	if _, err := l.table.Get(ctx, key, rowKey, &m); errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	d, _ := m[decisionProperty].(string)
	name, refused := strings.CutPrefix(d, refusedPrefix)
	if !refused {
		return nil, true, nil
	}
	n := Name(name)
	p := httpapi.NewProblem(http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("over the %s quota when this operation was first decided", n))
	p.Quota, p.RetryAfter = name, int(n.Window()/time.Second)
	return p, true, nil
}

// asError keeps a nil refusal a nil error.
func asError(p *httpapi.Problem) error {
	if p == nil {
		return nil
	}
	return p
}

// IsRateLimited reports whether err is a quota's 429 refusal (and not, say,
// storage being down, which should be retried).
func IsRateLimited(err error) bool {
	var p *httpapi.Problem
	return errors.As(err, &p) && p.Status == http.StatusTooManyRequests && p.Code == CodeRateLimited
}
