package quota

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// onceTTL is how long a TakeOnce decision is kept: longer than Event Grid
// redelivers an event (24 hours).
const onceTTL = 25 * time.Hour

// A delivery that finds another deciding waits up to onceWait (a Limiter
// field, so tests need not wait) for its decision, re-reading every
// oncePoll; a claim older than onceStale belongs to a delivery that died,
// and is taken over. onceStale is safely longer than a live claimant can
// take: its Take waits at most for the batch being settled and then its
// own (each bounded by writeTimeout), then one write records the decision
// (writeTimeout), whatever its caller's context does (onceClaimantWorst).
const (
	onceWait          = 3 * time.Second
	oncePoll          = 50 * time.Millisecond
	onceClaimantWorst = 3 * writeTimeout
	onceStale         = onceClaimantWorst + 30*time.Second
)

// A decision row lives in the quotas table under PK "o:<op>" (subjects are
// "u:" and "s:"), with a lowercase property (never a quota window) and
// Expires, so DeleteExpired removes it like any spent row.
const (
	oncePrefix       = "o:"
	decisionProperty = "decision"
	admitted         = "admitted"
	refusedPrefix    = "refused:"
	pendingPrefix    = "pending:" // + Unix seconds of the claim
)

// errContended marks a refusal because other instances kept writing the
// row, not because the quota is spent: TakeOnce records no decision for it.
var errContended = errors.New("quota row contended")

// TakeOnce spends costs for s once per op, an operation that several
// deliveries share (one chat message raises an event per recipient, all at
// once, and Event Grid may deliver each again, on any instance). The first
// delivery claims op, decides with Take and records the decision; the
// others, here or on other instances, wait for it and get the same answer
// (nil, or a 429 naming the quota) without spending. first reports whether
// this call decided, so a refusal is logged once. When the quota cannot be
// checked (storage down, contention) or the decision is still pending after
// a few seconds, the answer is a 503 and nothing is recorded: a redelivery
// decides. A decision once claimed is finished and recorded even if the
// caller's context ends meanwhile (the spend cannot be undone, so it must
// be what a redelivery finds).
func (l *Limiter) TakeOnce(ctx context.Context, op string, s Subject, costs ...Cost) (first bool, err error) {
	key := oncePrefix + op
	if err := store.CheckKey(key); err != nil {
		return false, store.ProblemFor(err)
	}
	// Deliveries of one op on this instance share one decision, made on a
	// context of its own: the first delivery's cancellation must not fail
	// the others, nor cut a decision short.
	type result struct {
		first bool
		err   error
	}
	ran := false // only the caller whose function runs may report first
	ch := l.once.DoChan(key, func() (any, error) {
		ran = true
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), onceStale+writeTimeout)
		defer cancel()
		first, err := l.decideOnce(dctx, key, s, costs)
		return result{first, err}, nil
	})
	select {
	case v := <-ch:
		r := v.Val.(result)
		return r.first && ran, r.err
	case <-ctx.Done():
		// The decision goes on and is recorded; a redelivery finds it.
		return false, store.ProblemFor(ctx.Err())
	}
}

func (l *Limiter) decideOnce(ctx context.Context, key string, s Subject, costs []Cost) (bool, error) {
	deadline := time.Now().Add(l.onceWait)
	for {
		d, err := l.decision(ctx, key)
		if err != nil {
			return false, unavailable(err)
		}
		switch {
		case d.decided:
			return false, asError(d.refusal)
		case d.found && l.now().Sub(d.claimed) < onceStale:
			// Another instance is deciding: wait for it.
			if time.Now().After(deadline) {
				p := httpapi.NewProblem(http.StatusServiceUnavailable, "quota-decision-pending",
					"another delivery of this operation is still being decided; retry shortly")
				p.RetryAfter = 2
				return false, p
			}
			select {
			case <-ctx.Done():
				return false, store.ProblemFor(ctx.Err())
			case <-time.After(oncePoll):
			}
			continue
		}
		// Absent, or a claim whose delivery died: claim it.
		claim := l.onceEntity(pendingPrefix + strconv.FormatInt(l.now().Unix(), 10))
		var etag azcore.ETag
		if d.found {
			etag, err = l.table.Replace(ctx, key, rowKey, claim, d.etag)
		} else {
			etag, err = l.table.Insert(ctx, key, rowKey, claim)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrPreconditionFailed) || errors.Is(err, store.ErrNotFound) {
			continue // another delivery claimed it first
		}
		if err != nil {
			return false, unavailable(err)
		}
		return true, l.decideClaimed(ctx, key, etag, s, costs)
	}
}

// decideClaimed spends for a claimed op and records the decision. Take runs
// without the caller's cancellation or deadline (it is bounded by
// writeTimeout per batch), so its answer is what was spent: a Take cut
// short would return while its batch still spends, and the released claim
// would let a redelivery spend again.
func (l *Limiter) decideClaimed(ctx context.Context, key string, etag azcore.ETag, s Subject, costs []Cost) error {
	take := l.Take
	if l.takeHook != nil {
		take = l.takeHook
	}
	taken := take(context.WithoutCancel(ctx), s, costs...)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var p *httpapi.Problem
	decision := admitted
	switch {
	case taken == nil:
	case IsRateLimited(taken) && !errors.Is(taken, errContended) && errors.As(taken, &p):
		decision = refusedPrefix + p.Quota
	default:
		// Not decided (storage down, contention): release the claim so a
		// redelivery decides, and fail this one.
		_ = l.table.Delete(ctx, key, rowKey, etag)
		if errors.Is(taken, errContended) {
			p := httpapi.NewProblem(http.StatusServiceUnavailable, "quota-contended",
				"other instances kept changing this quota; nothing was spent; retry shortly").WithCause(taken)
			p.RetryAfter = 1
			return p
		}
		return taken
	}
	if _, err := l.table.Replace(ctx, key, rowKey, l.onceEntity(decision), etag); err != nil {
		// Spent but not recorded: this delivery's decision holds; one that
		// finds the claim stale decides (and may spend) again.
		return taken
	}
	return taken
}

func (l *Limiter) onceEntity(decision string) map[string]any {
	return map[string]any{decisionProperty: decision, "Expires": l.now().Add(onceTTL).UTC().Format(time.RFC3339)}
}

// onceState is an op's stored row.
type onceState struct {
	found, decided bool
	refusal        *httpapi.Problem // when decided and refused
	claimed        time.Time        // when found and pending
	etag           azcore.ETag
}

func (l *Limiter) decision(ctx context.Context, key string) (onceState, error) {
	var m map[string]any
	etag, err := l.table.Get(ctx, key, rowKey, &m)
	if errors.Is(err, store.ErrNotFound) {
		return onceState{}, nil
	}
	if err != nil {
		return onceState{}, err
	}
	st := onceState{found: true, etag: etag}
	d, _ := m[decisionProperty].(string)
	if at, ok := strings.CutPrefix(d, pendingPrefix); ok {
		sec, _ := strconv.ParseInt(at, 10, 64)
		st.claimed = time.Unix(sec, 0)
		return st, nil
	}
	st.decided = true
	if name, refused := strings.CutPrefix(d, refusedPrefix); refused {
		n := Name(name)
		p := httpapi.NewProblem(http.StatusTooManyRequests, CodeRateLimited,
			fmt.Sprintf("over the %s quota when this operation was first decided", n))
		p.Quota, p.RetryAfter = name, int(n.Window()/time.Second)
		st.refusal = p
	}
	return st, nil
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
