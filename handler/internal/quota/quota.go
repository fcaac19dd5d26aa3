// Package quota owns Switchboard's spend limits: per-user quotas (tokens,
// calls, invitations, dials, device registrations, texts, guest code
// exchanges, spaces, Call Automation work, revocations, incoming-call, chat
// and guest-reply pushes) whose counters live in one Table Storage row per subject,
// updated only by ETag-conditional writes, so a limit holds however many instances the app scales out to.
// Capabilities ask it at their routes, before they spend anything.
package quota

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/singleflight"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// Table holds the quota rows: PK = subject ("u:<userId>", or "s:<userId>"
// for service callers acting for that user), RK = "quota", one string
// property per quota ("start:count:prev") and Expires.
const Table = "quotas"

const rowKey = "quota"

// Name is a quota's stable name, sent in the problem body of a 429.
type Name string

// The quotas.
const (
	Tokens              Name = "tokens"
	Calls               Name = "calls"
	Invites             Name = "invites"
	Dials               Name = "dials"
	DeviceRegistrations Name = "device-registrations"
	Relay               Name = "relay-credentials"
	SMS                 Name = "sms"
	// GuestCodeExchanges and GuestExchangeSources bound POST /api/guest/token
	// per join code and per source address (the code is the credential).
	GuestCodeExchanges   Name = "guest-code-exchanges"
	GuestExchangeSources Name = "guest-exchanges-per-source"
	// Spaces counts spaces created (each may later cost a chat thread) and
	// SpaceInvites invitations to spaces, per inviter.
	Spaces       Name = "spaces"
	SpaceInvites Name = "space-invites"
	// CallAutomation counts billed Call Automation work a user starts on a
	// call: recordings and bots joined.
	CallAutomation Name = "call-automation"
	// Revocations counts POST /api/me/revoke and DELETE /api/me (each an
	// ACS identity call; after an erasure the next token makes a new identity).
	Revocations Name = "revocations"
	// ChatPushes counts chat messages, per sender, whose pushes reach other
	// members' devices (once per message, however many recipients).
	ChatPushes Name = "chat-pushes"
	// GuestReplies counts texts from an SMS guest pushed to the call's
	// creator, per guest number and call.
	GuestReplies Name = "guest-replies"
	// TeamsMeetings counts Teams meetings created through Graph, which
	// allows 2000 per organizer (one for the whole app) per month.
	TeamsMeetings Name = "teams-meetings"
	// Rings counts incoming calls pushed to a user's devices or answered
	// by a bot, per caller and callee: clients may call any ACS user
	// directly with a voip token, and anyone may call a bot's number.
	Rings Name = "rings"
)

// Names lists every quota.
var Names = []Name{Tokens, Calls, Invites, Dials, DeviceRegistrations, Relay, SMS, GuestCodeExchanges, GuestExchangeSources,
	Spaces, SpaceInvites, CallAutomation, Revocations, ChatPushes, GuestReplies, Rings, TeamsMeetings}

// Window is the length of the quota's window: its limit is "per" this.
func (n Name) Window() time.Duration {
	switch n {
	case Tokens, GuestExchangeSources:
		return time.Minute
	case Calls, Invites, Relay, GuestCodeExchanges, Spaces, SpaceInvites, CallAutomation, Revocations, ChatPushes, GuestReplies, Rings:
		return time.Hour
	default:
		return 24 * time.Hour
	}
}

// property is the quota's entity property name (letters only, as Table
// Storage property names must be identifiers).
func (n Name) property() string {
	switch n {
	case Tokens:
		return "Tokens"
	case Calls:
		return "Calls"
	case Invites:
		return "Invites"
	case Dials:
		return "Dials"
	case Relay:
		return "Relay"
	case SMS:
		return "SMS"
	case GuestCodeExchanges:
		return "GuestCodeExchanges"
	case GuestExchangeSources:
		return "GuestExchangeSources"
	case Spaces:
		return "Spaces"
	case SpaceInvites:
		return "SpaceInvites"
	case CallAutomation:
		return "CallAutomation"
	case Revocations:
		return "Revocations"
	case ChatPushes:
		return "ChatPushes"
	case GuestReplies:
		return "GuestReplies"
	case Rings:
		return "Rings"
	case TeamsMeetings:
		return "TeamsMeetings"
	default:
		return "DeviceRegistrations"
	}
}

func (n Name) per() string {
	switch n.Window() {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	default:
		return "day"
	}
}

// Limits is how many of each quota fit in its window.
type Limits map[Name]int

// Every is Limits with each quota at n, then the given ones (for tests and
// tools that care about one quota).
func Every(n int, except Limits) Limits {
	l := Limits{}
	for _, q := range Names {
		l[q] = n
	}
	for q, m := range except {
		l[q] = m
	}
	return l
}

// Config configures a Limiter.
type Config struct {
	// User limits apply to end users; Service limits to a service caller
	// acting for a user (X-On-Behalf-Of), counted apart from the user's own.
	User, Service Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Subject is whose quota an operation spends.
type Subject struct {
	User string
	// Service marks a service caller acting for User: a bucket of its own at
	// the service limits, so a back end serving a user neither eats nor is
	// starved by what the user's own client spends.
	Service bool
	// other names a subject that is no app user (a caller, a phone number,
	// a code, the whole app): see Other.
	other string
}

// Other is the subject of something that is not an app user: a caller, a
// guest's number, a join code, the whole app. It has a key space of its
// own, so no user id (which the app's IdP chooses, ':' and all) can name
// the same bucket.
func Other(name string) Subject { return Subject{other: name} }

// SubjectOf is the subject of a request that acts for userID: the user's
// own bucket, or for a service caller (auth.Principal.Service) the
// service bucket for that user.
func SubjectOf(ctx context.Context, userID string) Subject {
	p, ok := auth.FromContext(ctx)
	return Subject{User: userID, Service: ok && p.Service}
}

func (s Subject) key() string {
	if s.other != "" {
		return "o:" + s.other
	}
	if s.Service {
		return "s:" + s.User
	}
	return "u:" + s.User
}

// Cost is how much of one quota an operation spends.
type Cost struct {
	Quota Name
	N     int
}

// maxAttempts bounds the conditional writes one batch of requests tries
// when other instances keep changing the row; then they are refused.
const maxAttempts = 8

// maxSubjects bounds the row hints kept in memory; idle ones are dropped.
const maxSubjects = 10000

// writeTimeout bounds one batch's Table Storage work, which runs apart from
// any one request (several requests wait on it).
const writeTimeout = 20 * time.Second

// Limiter checks and spends quotas.
//
// The Table row is the only authority. Each instance keeps, per subject, the
// row and ETag it last saw as a hint, so an operation usually costs one
// conditional write and a refusal none (counts in a window only grow, so a
// refusal from an older copy stands). Requests for one subject that arrive
// together on one instance are settled by one write, in arrival order.
type Limiter struct {
	table *store.Table
	cfg   Config
	now   func() time.Time

	mu       sync.Mutex
	subjects map[string]*subject

	once     singleflight.Group // TakeOnce decisions in progress here, by op
	onceWait time.Duration
	// takeHook replaces Take inside TakeOnce's decision (tests: a slow,
	// contended or failing spend); nil: Take.
	takeHook func(ctx context.Context, s Subject, costs ...Cost) error
}

// subject is one subject's queue and row hint on this instance.
type subject struct {
	queue []*request
	busy  bool // a drain goroutine owns the fields below

	known bool        // row and etag are a copy of the stored row
	etag  azcore.ETag // "" when the row did not exist
	row   row
}

type request struct {
	costs  []Cost
	limits Limits
	done   chan error
}

// New checks that cfg limits every quota.
func New(st *store.Store, cfg Config) (*Limiter, error) {
	for _, n := range Names {
		if cfg.User[n] < 1 || cfg.Service[n] < 1 {
			return nil, fmt.Errorf("quota %s: user and service limits must be at least 1", n)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Limiter{table: st.Table(Table), cfg: cfg, now: now, subjects: map[string]*subject{}, onceWait: onceWait}, nil
}

// Take spends costs for s, all or nothing. It answers nil, a 429
// rate-limited problem (Retry-After, and the quota's name) when any cost
// does not fit, or a 503 when Table Storage cannot be reached: spending is
// never unchecked.
func (l *Limiter) Take(ctx context.Context, s Subject, costs ...Cost) error {
	limits := l.cfg.User
	if s.Service {
		limits = l.cfg.Service
	}
	var spend []Cost
	for _, c := range costs {
		if c.N <= 0 {
			continue
		}
		if c.N > limits[c.Quota] {
			return exceeded(c.Quota, limits[c.Quota], fmt.Sprintf("this request alone needs %d", c.N), int(c.Quota.Window()/time.Second))
		}
		spend = append(spend, c)
	}
	if len(spend) == 0 {
		return nil
	}
	req := &request{costs: spend, limits: limits, done: make(chan error, 1)}
	key := s.key()
	l.mu.Lock()
	sub := l.subjects[key]
	if sub == nil {
		l.evictIdle()
		sub = &subject{}
		l.subjects[key] = sub
	}
	sub.queue = append(sub.queue, req)
	if !sub.busy {
		sub.busy = true
		go l.drain(key, sub)
	}
	l.mu.Unlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return store.ProblemFor(ctx.Err())
	}
}

// evictIdle drops idle subjects' hints when there are too many (l.mu held).
func (l *Limiter) evictIdle() {
	if len(l.subjects) < maxSubjects {
		return
	}
	for k, s := range l.subjects {
		if !s.busy && len(s.queue) == 0 {
			delete(l.subjects, k)
		}
		if len(l.subjects) < maxSubjects/2 {
			return
		}
	}
}

// drain settles the subject's queued requests, a batch at a time, until
// none are left.
func (l *Limiter) drain(key string, sub *subject) {
	for {
		l.mu.Lock()
		batch := sub.queue
		sub.queue = nil
		if len(batch) == 0 {
			sub.busy = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		results := l.settle(key, sub, batch)
		for i, r := range batch {
			r.done <- results[i]
		}
	}
}

// settle decides a batch against the row and records what it admits with
// one conditional write, re-reading and deciding again when another
// instance wrote first.
func (l *Limiter) settle(key string, sub *subject, batch []*request) []error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	all := func(err error) []error {
		out := make([]error, len(batch))
		for i := range out {
			out[i] = err
		}
		return out
	}
	for range maxAttempts {
		if !sub.known {
			etag, r, err := l.read(ctx, key)
			if err != nil {
				return all(unavailable(err))
			}
			sub.etag, sub.row, sub.known = etag, r, true
		}
		next, results, admitted := decide(sub.row, batch, l.now())
		if admitted == 0 {
			return results
		}
		var etag azcore.ETag
		var err error
		if sub.etag == "" {
			etag, err = l.table.Insert(ctx, key, rowKey, next.entity())
		} else {
			etag, err = l.table.Replace(ctx, key, rowKey, next.entity(), sub.etag)
		}
		switch {
		case err == nil:
			sub.etag, sub.row = etag, next
			return results
		case errors.Is(err, store.ErrPreconditionFailed), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			sub.known = false // another instance wrote (or housekeeping deleted) it
		default:
			sub.known = false
			return all(unavailable(err))
		}
	}
	// Other instances kept winning: refuse, naming the request's quota.
	out := make([]error, len(batch))
	for i, r := range batch {
		p := httpapi.NewProblem(http.StatusTooManyRequests, CodeRateLimited, "too many requests at once for this user; retry shortly").WithCause(errContended)
		p.Quota, p.RetryAfter = string(r.costs[0].Quota), 1
		out[i] = p
	}
	return out
}

// decide admits the batch's requests in order while they fit, returning
// the row with their costs added.
func decide(r row, batch []*request, now time.Time) (row, []error, int) {
	next := r.clone()
	results := make([]error, len(batch))
	admitted := 0
	for i, req := range batch {
		var worst *httpapi.Problem
		var worstWait time.Duration
		moved := make([]window, len(req.costs))
		for j, c := range req.costs {
			length := c.Quota.Window()
			w, at := next.window(c.Quota).at(now, length)
			moved[j] = w
			limit := req.limits[c.Quota]
			if w.admits(c.N, limit, at, length) {
				continue
			}
			wait := w.retryAfter(c.N, limit, at, length) + at.Sub(now)
			if worst == nil || wait > worstWait {
				worstWait = wait
				worst = exceeded(c.Quota, limit, "", retrySeconds(wait))
			}
		}
		if worst != nil {
			results[i] = worst
			continue
		}
		for j, c := range req.costs {
			w := moved[j]
			w.count += c.N
			next.set(c.Quota, w)
		}
		admitted++
	}
	return next, results, admitted
}

// CodeRateLimited is the problem code of an answer over quota.
const CodeRateLimited = "rate-limited"

func exceeded(n Name, limit int, why string, retryAfter int) *httpapi.Problem {
	detail := fmt.Sprintf("over the %s quota of %d per %s; retry in %d s", n, limit, n.per(), retryAfter)
	if why != "" {
		detail = fmt.Sprintf("the %s quota allows %d per %s and %s", n, limit, n.per(), why)
	}
	p := httpapi.NewProblem(http.StatusTooManyRequests, CodeRateLimited, detail)
	p.Quota = string(n)
	p.RetryAfter = retryAfter
	return p
}

// unavailable fails closed: when the quota cannot be checked, nothing is spent.
func unavailable(err error) error {
	if errors.Is(err, store.ErrInvalidKey) {
		return store.ProblemFor(err)
	}
	p := httpapi.NewProblem(http.StatusServiceUnavailable, "storage-unavailable",
		"Table Storage is unavailable, so the quota cannot be checked and nothing was spent; retry shortly").WithCause(err)
	p.RetryAfter = 2
	return p
}

// read loads the subject's row; an absent row is empty with no ETag.
func (l *Limiter) read(ctx context.Context, key string) (azcore.ETag, row, error) {
	var m map[string]any
	etag, err := l.table.Get(ctx, key, rowKey, &m)
	if errors.Is(err, store.ErrNotFound) {
		return "", row{}, nil
	}
	if err != nil {
		return "", row{}, err
	}
	r, err := parseRow(m)
	return etag, r, err
}

// DeleteExpired deletes rows none of whose windows still count (the
// housekeeping timer calls it); a row written meanwhile is kept.
func (l *Limiter) DeleteExpired(ctx context.Context) (int, error) {
	now := l.now()
	type victim struct {
		pk   string
		etag azcore.ETag
	}
	var old []victim
	err := l.table.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		var m map[string]any
		if err := decode(&m); err != nil {
			return err
		}
		r, err := parseRow(m)
		if err != nil || r.expires.Before(now) {
			etag, _ := m["odata.etag"].(string)
			old = append(old, victim{pk, azcore.ETag(etag)})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan quotas: %w", err)
	}
	n := 0
	for _, v := range old {
		err := l.table.Delete(ctx, v.pk, rowKey, v.etag)
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrPreconditionFailed), errors.Is(err, store.ErrNotFound):
		default:
			return n, fmt.Errorf("delete quota row: %w", err)
		}
	}
	return n, nil
}

// row is a subject's stored state. Properties this version does not know
// (a newer version's quotas during a rolling deploy) are written back as read.
type row struct {
	windows map[string]string // property -> "start:count:prev"
	expires time.Time
}

func (r row) clone() row {
	c := row{windows: make(map[string]string, len(r.windows)+1), expires: r.expires}
	for k, v := range r.windows {
		c.windows[k] = v
	}
	return c
}

func (r row) window(n Name) window {
	w, err := parseWindow(r.windows[n.property()])
	if err != nil {
		return window{}
	}
	return w
}

func (r *row) set(n Name, w window) {
	r.windows[n.property()] = w.String()
	// After two windows nothing of w counts any more.
	if end := time.Unix(w.start, 0).Add(2 * n.Window()); end.After(r.expires) {
		r.expires = end
	}
}

func (r row) entity() map[string]any {
	m := make(map[string]any, len(r.windows)+1)
	for k, v := range r.windows {
		m[k] = v
	}
	m["Expires"] = r.expires.UTC().Format(time.RFC3339)
	return m
}

// quotaProperty reports whether k is one of the quota properties this
// version or a later one may write: identifiers other than the system ones.
func quotaProperty(k string) bool {
	return !slices.Contains([]string{"PartitionKey", "RowKey", "Timestamp", "Expires"}, k) &&
		len(k) > 0 && k[0] >= 'A' && k[0] <= 'Z'
}

func parseRow(m map[string]any) (row, error) {
	r := row{windows: map[string]string{}}
	for k, v := range m {
		s, ok := v.(string)
		if !ok || !quotaProperty(k) {
			continue
		}
		if _, err := parseWindow(s); err != nil {
			return r, err
		}
		r.windows[k] = s
	}
	if s, ok := m["Expires"].(string); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return r, fmt.Errorf("quota row Expires %q: %w", s, err)
		}
		r.expires = t
	}
	return r, nil
}
