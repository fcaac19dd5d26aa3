// Package guests owns SMS guests: phone-only participants invited to a room
// call by a text holding a join link. It creates each guest's ACS identity
// and Room membership, sends the text once however often the invitation is
// retried, exchanges the join code for a guest token, follows delivery
// reports, keeps the per-number opt-out record from STOP/START keywords, and
// forwards a guest's replies to the call's creator.
package guests

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/secret"
	"switchboard/handler/internal/store"
)

// Table holds every guest row, by partition kind:
//   - "call:<callId>", RK phone number: the guest (guestRow);
//   - "code:<sha256 of the join code>", RK "code": which guest a code is;
//   - "phone:<number>", RK "optout": the number said STOP; RK "call:<id>": a
//     call the number is a guest of (for its replies).
const Table = "guests"

const (
	callPrefix  = "call:"
	codePrefix  = "code:"
	phonePrefix = "phone:"
	codeRow     = "code"
	optOutRow   = "optout"
)

// SMS states of a guest.
const (
	SMSQueued    = "queued" // not accepted by ACS yet (throttled or unavailable); sent again later
	SMSSent      = "sent"
	SMSDelivered = "delivered"
	SMSFailed    = "failed"
)

// Problem codes.
const (
	CodeSMSNotAllowed = "sms-not-allowed"
	CodeOptedOut      = "guest-opted-out"
	CodeCallEnded     = "call-ended"
	CodeTooMany       = "too-many-guests"
	CodeCodeNotFound  = "guest-code-not-found"
)

// Limits of the token exchange: per join code and per source address.
const (
	CodeExchangesPerHour     = 30
	SourceExchangesPerMinute = 20
)

const maxDisplayName = 64

// Config is the capability's settings (config.SMS).
type Config struct {
	From      string   // ACS_SMS_FROM; empty: not configured
	Template  string   // SMS_GUEST_TEMPLATE
	JoinURL   string   // GUEST_JOIN_URL, with {code}
	Allowed   []string // SMS_ALLOWED_PREFIXES
	Blocked   []string // SMS_BLOCKED_PREFIXES
	MaxGuests int      // MAX_GUESTS_PER_CALL
}

// Calls is what guests need from the call service.
type Calls interface {
	Info(ctx context.Context, actor, id string) (calls.Info, error)
	InfoAny(ctx context.Context, id string) (calls.Info, error)
	Get(ctx context.Context, viewer, id string) (calls.Call, error)
}

// Users resolves app users (the inviter's name, the creator's ACS id).
type Users interface {
	Profile(ctx context.Context, userID string) (identity.User, error)
}

// ACS is what guests need from the identity and rooms APIs.
type ACS interface {
	CreateIdentity(ctx context.Context, opts *acs.CreateIdentityOptions) (acs.CreateIdentityResult, error)
	IssueToken(ctx context.Context, id string, scopes []string, expiresInMinutes int) (acs.AccessToken, error)
	DeleteIdentity(ctx context.Context, id string) error
	UpsertRoomParticipants(ctx context.Context, roomID string, participants map[string]acs.RoomRole) error
}

// Sender sends texts (acs.SMSClient).
type Sender interface {
	Send(ctx context.Context, opts acs.SendSMSOptions) ([]acs.SMSResult, error)
}

// Pusher pushes to a user's devices, once per device per key (the fan-out).
type Pusher interface {
	FanOut(ctx context.Context, key, acsID string, n push.Notification) (fanout.Result, error)
}

// Limiter spends quotas (quota.Limiter).
type Limiter interface {
	Take(ctx context.Context, s quota.Subject, costs ...quota.Cost) error
	TakeOnce(ctx context.Context, op string, s quota.Subject, costs ...quota.Cost) (bool, error)
}

// Service is the SMS guests capability.
type Service struct {
	cfg    Config
	table  *store.Table
	calls  Calls
	users  Users
	acs    ACS
	sms    Sender
	push   Pusher
	limits Limiter
	now    func() time.Time
}

// NewService wires the service.
func NewService(st *store.Store, cfg Config, cls Calls, users Users, client ACS, sms Sender, pusher Pusher, limits Limiter) *Service {
	return &Service{cfg: cfg, table: st.Table(Table), calls: cls, users: users, acs: client, sms: sms, push: pusher, limits: limits, now: time.Now}
}

// Configured reports whether texts can be sent (ACS_SMS_FROM and GUEST_JOIN_URL).
func (s *Service) Configured() bool { return s.cfg.From != "" && s.cfg.JoinURL != "" }

func notConfigured() error { return httpapi.NotConfigured("SMS guests", "ACS_SMS_FROM") }

type guestRow struct {
	Phone       string    `json:"phone"`
	DisplayName string    `json:"displayName,omitempty"`
	ACSUserID   string    `json:"acsUserId"`
	CodeHash    string    `json:"codeHash"`
	InvitedBy   string    `json:"invitedBy"`
	InvitedAt   time.Time `json:"invitedAt"`
	SMS         string    `json:"sms"`
	SMSReason   string    `json:"smsReason,omitempty"`
	MessageID   string    `json:"messageId,omitempty"`
	// EarlierHashes are the hashes of the codes of earlier sends of the
	// text whose outcome is unknown (an answer lost: the guest may have
	// that text), newest first, comma-separated (at most maxCodes-1): each
	// stays valid. A send ACS answered "not sent" is dropped at once. No
	// code is ever stored, only hashes.
	EarlierHashes string `json:"earlierCodeHashes,omitempty"`
}

// maxCodes bounds the live codes of one guest: one per send of a queued
// text whose answer was lost (sends ACS answered "not sent" keep none). A
// send ACS answered "accepted" ends the retries; the oldest beyond the
// bound go (only after maxCodes-1 lost answers in a row).
const maxCodes = 16

// hashes are all of the guest's live code hashes, newest first.
func (g guestRow) hashes() []string {
	out := []string{}
	if g.CodeHash != "" {
		out = append(out, g.CodeHash)
	}
	if g.EarlierHashes != "" {
		out = append(out, strings.Split(g.EarlierHashes, ",")...)
	}
	return out
}

// hasCode reports, in constant time per hash, whether hash is one of the
// guest's live codes.
func (g guestRow) hasCode(hash string) bool {
	ok := 0
	for _, h := range g.hashes() {
		ok |= subtle.ConstantTimeCompare([]byte(h), []byte(hash))
	}
	return ok == 1
}

// codeEntry is a code row. CreatedAt and Expires (the room's validUntil,
// or CreatedAt+maxCodeAge) let housekeeping delete rows nothing else will
// (a crash between writes, a failed delete): the call id and number are
// not kept at rest past the call.
type codeEntry struct {
	CallID    string    `json:"callId"`
	Phone     string    `json:"phone"`
	CodeHash  string    `json:"codeHash"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
}

// maxCodeAge bounds a code row without a room validity (a room is valid at
// most 180 days).
const maxCodeAge = 180 * 24 * time.Hour

// newCodeEntry is the code row of hash for phone, a guest of callID (until
// validUntil, if known).
func (s *Service) newCodeEntry(callID, phone, hash string, validUntil time.Time) codeEntry {
	now := s.now().UTC()
	exp := validUntil.UTC()
	if exp.IsZero() {
		exp = now.Add(maxCodeAge)
	}
	return codeEntry{CallID: callID, Phone: phone, CodeHash: hash, CreatedAt: now, Expires: exp}
}

type membership struct {
	CallID string `json:"callId"`
}

type optOut struct {
	At      time.Time `json:"at"`
	Keyword string    `json:"keyword"`
}

// InviteRequest is the body of POST /api/calls/{id}/guests.
type InviteRequest struct {
	PhoneNumber string `json:"phoneNumber"`
	DisplayName string `json:"displayName"`
}

// CheckNumber applies the SMS prefix rules: an E.164 number (400), under an
// allowed prefix and no blocked one (403 sms-not-allowed).
func (s *Service) CheckNumber(n string) error {
	if !acs.IsE164(n) {
		return fieldProblem("phoneNumber", fmt.Sprintf("%q is not an E.164 number such as +14255550100", n))
	}
	if len(s.cfg.Allowed) == 0 {
		return httpapi.NewProblem(http.StatusForbidden, CodeSMSNotAllowed, "texting phone numbers is turned off on this deployment (SMS_ALLOWED_PREFIXES is empty)")
	}
	if b := calls.MatchPrefix(s.cfg.Blocked, n); b != "" {
		return httpapi.NewProblem(http.StatusForbidden, CodeSMSNotAllowed, n+" may not be texted: blocked prefix "+b)
	}
	if calls.MatchPrefix(s.cfg.Allowed, n) == "" {
		return httpapi.NewProblem(http.StatusForbidden, CodeSMSNotAllowed, n+" may not be texted: not under an allowed prefix")
	}
	return nil
}

// Invite makes phone number a guest of a room call that actor created and
// texts them the join link. created is false when the number was a guest
// already: then nothing is sent again (a queued text is retried: a new
// text with a new code; earlier codes whose outcome is unknown stay valid).
func (s *Service) Invite(ctx context.Context, actor string, service bool, callID string, req InviteRequest) (calls.Call, bool, error) {
	if !s.Configured() {
		return calls.Call{}, false, notConfigured()
	}
	if httpapi.TooLong(req.DisplayName, maxDisplayName) {
		return calls.Call{}, false, fieldProblem("displayName", fmt.Sprintf("at most %d characters", maxDisplayName))
	}
	if err := s.CheckNumber(req.PhoneNumber); err != nil {
		return calls.Call{}, false, err
	}
	info, err := s.calls.Info(ctx, actor, callID)
	if err != nil {
		return calls.Call{}, false, err
	}
	if info.Kind != calls.KindRoom {
		return calls.Call{}, false, httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest,
			"guests join room calls only (kind room: invite-only); this call is a "+info.Kind+" call")
	}
	if s.ended(info) {
		// As POST /api/calls/{id}/invites answers; a join code of an ended call is 410.
		return calls.Call{}, false, httpapi.NewProblem(http.StatusConflict, CodeCallEnded, "the call has ended")
	}
	phone := req.PhoneNumber
	if out, err := s.optedOut(ctx, phone); err != nil {
		return calls.Call{}, false, err
	} else if out {
		return calls.Call{}, false, httpapi.NewProblem(http.StatusConflict, CodeOptedOut, phone+" has opted out of texts (replied STOP); nothing was sent")
	}
	guests, err := s.rows(ctx, callID)
	if err != nil {
		return calls.Call{}, false, err
	}
	if g, ok := guests[phone]; ok {
		if g.SMS == SMSQueued {
			s.resend(ctx, callID, info, g)
		}
		c, err := s.calls.Get(ctx, actor, callID)
		return c, false, err
	}
	if len(guests) >= s.cfg.MaxGuests {
		return calls.Call{}, false, httpapi.Problemf(http.StatusConflict, CodeTooMany, "a call has at most %d guests (MAX_GUESTS_PER_CALL)", s.cfg.MaxGuests)
	}
	if err := s.limits.Take(ctx, quota.Subject{User: actor, Service: service}, quota.Cost{Quota: quota.SMS, N: 1}); err != nil {
		return calls.Call{}, false, err
	}
	created, err := s.acs.CreateIdentity(ctx, nil)
	if err != nil {
		return calls.Call{}, false, acsError(err)
	}
	if err := s.acs.UpsertRoomParticipants(ctx, info.RoomID, map[string]acs.RoomRole{created.ID: acs.RoleAttendee}); err != nil {
		s.dropIdentity(ctx, created.ID)
		return calls.Call{}, false, acsError(err)
	}
	code := newCode()
	g := guestRow{Phone: phone, DisplayName: req.DisplayName, ACSUserID: created.ID, CodeHash: hashCode(code),
		InvitedBy: actor, InvitedAt: s.now().UTC().Truncate(time.Second), SMS: SMSQueued}
	// The code and phone rows first: a guest row is only ever visible with them.
	if _, err := s.table.Upsert(ctx, codePrefix+g.CodeHash, codeRow, s.newCodeEntry(callID, phone, g.CodeHash, info.ValidUntil)); err != nil {
		s.dropIdentity(ctx, created.ID)
		return calls.Call{}, false, store.ProblemFor(err)
	}
	if _, err := s.table.Upsert(ctx, phonePrefix+phone, callPrefix+callID, membership{CallID: callID}); err != nil {
		s.dropIdentity(ctx, created.ID)
		return calls.Call{}, false, store.ProblemFor(err)
	}
	if _, err := s.table.Insert(ctx, callPrefix+callID, phone, g); err != nil {
		// The same invitation raced us: it stands; ours goes.
		_ = s.table.Delete(ctx, codePrefix+g.CodeHash, codeRow, "")
		s.dropIdentity(ctx, created.ID)
		if errors.Is(err, store.ErrConflict) {
			c, err := s.calls.Get(ctx, actor, callID)
			return c, false, err
		}
		return calls.Call{}, false, store.ProblemFor(err)
	}
	s.send(ctx, callID, g, s.message(ctx, info.Creator, g.DisplayName, code))
	c, err := s.calls.Get(ctx, actor, callID)
	return c, true, err
}

// message is the invitation text: the template with the inviter's name, the
// guest's name and the join link.
func (s *Service) message(ctx context.Context, creator, guestName, code string) string {
	inviter := "Your host"
	if u, err := s.users.Profile(ctx, creator); err == nil && u.DisplayName != "" {
		inviter = u.DisplayName
	}
	if r := []rune(inviter); len(r) > maxDisplayName {
		inviter = string(r[:maxDisplayName])
	}
	if guestName == "" {
		guestName = "there"
	}
	link := strings.ReplaceAll(s.cfg.JoinURL, "{code}", code)
	return strings.NewReplacer("{inviter}", inviter, "{name}", guestName, "{link}", link).Replace(s.cfg.Template)
}

// smsNamespace derives each text's repeatability id.
var smsNamespace = uuid.MustParse("6f1d9a52-3b8e-4c39-9d0e-5a7c2e41b8f3")

// RepeatWindow is how long ACS tracks a repeatability request id: a resend
// within it with the same id must be the same request (else 400), and a
// first-sent older than it is refused with 412.
const RepeatWindow = 5 * time.Minute

// RequestID is the repeatabilityRequestId of one attempt at texting phone
// for callID: each attempt's text holds its own code (hash), so it is its
// own request with its own id; only a resend of that same text (the same
// body) may carry it again.
func RequestID(callID, phone, codeHash string) string {
	return uuid.NewSHA1(smsNamespace, []byte(callID+"\n"+phone+"\n"+codeHash)).String()
}

// resend texts a queued guest again. The code of the earlier text was not
// kept, so it mints a new one and stores its hash before the text leaves,
// keeping the earlier ones whose outcome is unknown (an answer we lost may
// mean ACS sent that text: then the guest gets two texts, both valid).
func (s *Service) resend(ctx context.Context, callID string, info calls.Info, g guestRow) {
	creator := info.Creator
	log := httpapi.Logger(ctx).With("callId", callID)
	code := newCode()
	hash := hashCode(code)
	if _, err := s.table.Upsert(ctx, codePrefix+hash, codeRow, s.newCodeEntry(callID, g.Phone, hash, info.ValidUntil)); err != nil {
		log.Warn("text not sent again: could not store its code", "err", err)
		return
	}
	var dropped []string
	queued := false
	err := s.update(ctx, callID, g.Phone, func(r *guestRow) bool {
		queued, dropped = r.SMS == SMSQueued, nil
		if !queued {
			return false // sent meanwhile
		}
		earlier := r.hashes()
		if n := maxCodes - 1; len(earlier) > n {
			earlier, dropped = earlier[:n], earlier[n:]
		}
		r.CodeHash, r.EarlierHashes = hash, strings.Join(earlier, ",")
		g = *r
		return true
	})
	if err != nil || !queued {
		_ = s.table.Delete(ctx, codePrefix+hash, codeRow, "")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("text not sent again: could not record its code", "err", err)
		}
		return
	}
	for _, h := range dropped {
		if err := s.table.Delete(ctx, codePrefix+h, codeRow, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("could not delete an old join code", "err", err)
		}
	}
	s.send(ctx, callID, g, s.message(ctx, creator, g.DisplayName, code))
}

// send texts a queued guest (text holds the code whose hash is
// g.CodeHash) and records what ACS answered. The attempt is its own
// repeatable request: an id of its own and first-sent now (a retry of a
// different text under an earlier id would be refused 400 within ACS's
// window and 412 after it). A throttled or unavailable ACS leaves the
// guest queued (housekeeping and a repeated invitation send it again, with
// a new code: the text is not stored); the failure is logged, not
// returned. An answer that says the text was not sent (429, a refusal, a
// recipient's failure) drops the attempt's code at once, so the bound on
// live codes only ever evicts codes of texts that were surely not sent
// before those whose outcome is unknown.
func (s *Service) send(ctx context.Context, callID string, g guestRow, text string) {
	log := httpapi.Logger(ctx).With("callId", callID)
	hash := g.CodeHash
	res, err := s.sms.Send(ctx, acs.SendSMSOptions{
		From: s.cfg.From,
		Recipients: []acs.SMSRecipient{{To: g.Phone, RepeatabilityRequestID: RequestID(callID, g.Phone, hash),
			RepeatabilityFirstSent: s.now().UTC().Truncate(time.Second)}},
		Message:              text,
		EnableDeliveryReport: true,
		Tag:                  callPrefix + callID,
	})
	if err != nil {
		switch {
		case acs.IsThrottled(err):
			log.Warn("text queued: ACS SMS is throttling", "err", err)
			s.dropCode(ctx, callID, g.Phone, hash)
		case acs.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
			// Unknown outcome: ACS may have sent it; its code stays valid.
			log.Warn("text queued: ACS SMS is unavailable", "err", err)
		default:
			log.Warn("text failed", "err", err)
			s.setSMS(ctx, callID, g.Phone, "", SMSFailed, "ACS refused the request: "+errorCode(err))
			s.dropCode(ctx, callID, g.Phone, hash)
		}
		return
	}
	r := res[0]
	switch {
	case r.Successful:
		s.setSMS(ctx, callID, g.Phone, r.MessageID, SMSSent, "")
	case r.HTTPStatusCode == http.StatusTooManyRequests || r.HTTPStatusCode >= 500:
		log.Warn("text queued: ACS SMS answered for the recipient", "status", r.HTTPStatusCode, "error", r.ErrorMessage)
		s.dropCode(ctx, callID, g.Phone, hash)
	default:
		s.setSMS(ctx, callID, g.Phone, "", SMSFailed, r.ErrorMessage)
		s.dropCode(ctx, callID, g.Phone, hash)
	}
}

// dropCode forgets the code of an attempt ACS surely did not send: out of
// the guest row first, then its code row (a code row left behind finds a
// guest that no longer has the code, so it is refused).
func (s *Service) dropCode(ctx context.Context, callID, phone, hash string) {
	log := httpapi.Logger(ctx).With("callId", callID)
	err := s.update(ctx, callID, phone, func(r *guestRow) bool {
		live := r.hashes()
		i := slices.Index(live, hash)
		if i < 0 {
			return false
		}
		live = slices.Delete(live, i, i+1)
		r.CodeHash, r.EarlierHashes = "", ""
		if len(live) > 0 {
			r.CodeHash, r.EarlierHashes = live[0], strings.Join(live[1:], ",")
		}
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("could not drop the code of a text not sent", "err", err)
		return
	}
	if err := s.table.Delete(ctx, codePrefix+hash, codeRow, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("could not delete the code of a text not sent", "err", err)
	}
}

// setSMS moves a guest's text on: to sent (with its message id), or to a
// delivery report's delivered or failed. A report never moves back to sent.
func (s *Service) setSMS(ctx context.Context, callID, phone, messageID, state, reason string) {
	err := s.update(ctx, callID, phone, func(g *guestRow) bool {
		if messageID != "" && g.MessageID != "" && g.MessageID != messageID {
			return false // a report about another text
		}
		if state == SMSSent && (g.SMS == SMSDelivered || g.SMS == SMSFailed) {
			// the report came first
			if g.MessageID == "" {
				g.MessageID = messageID
			}
			return true
		}
		if messageID != "" {
			g.MessageID = messageID
		}
		g.SMS, g.SMSReason = state, reason
		return true
	})
	if err != nil {
		httpapi.Logger(ctx).Warn("could not record a text's state", "callId", callID, "state", state, "err", err)
	}
}

// update changes one guest row with ETag-conditional writes; change
// answers false to leave it alone. A missing guest is store.ErrNotFound.
func (s *Service) update(ctx context.Context, callID, phone string, change func(*guestRow) bool) error {
	for range 8 {
		var g guestRow
		etag, err := s.table.Get(ctx, callPrefix+callID, phone, &g)
		if err != nil {
			return err
		}
		if !change(&g) {
			return nil
		}
		_, err = s.table.Replace(ctx, callPrefix+callID, phone, g, etag)
		if !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
	return fmt.Errorf("guest %s of call %s: the row kept changing: %w", phone, callID, store.ErrPreconditionFailed)
}

// rows reads a call's guests by phone number.
func (s *Service) rows(ctx context.Context, callID string) (map[string]guestRow, error) {
	out := map[string]guestRow{}
	err := s.table.QueryPartition(ctx, callPrefix+callID, func(rk string, decode func(any) error) error {
		var g guestRow
		if err := decode(&g); err != nil {
			return err
		}
		out[rk] = g
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	return out, nil
}

// Guests lists a call's guests for its creator (calls.GuestLister).
func (s *Service) Guests(ctx context.Context, callID string) ([]calls.Guest, error) {
	rows, err := s.rows(ctx, callID)
	if err != nil {
		return nil, err
	}
	out := make([]calls.Guest, 0, len(rows))
	for _, g := range rows {
		out = append(out, calls.Guest{PhoneNumber: g.Phone, DisplayName: g.DisplayName, ACSUserID: g.ACSUserID, SMS: g.SMS, SMSReason: g.SMSReason, InvitedAt: g.InvitedAt})
	}
	slices.SortFunc(out, func(a, b calls.Guest) int { return strings.Compare(a.PhoneNumber, b.PhoneNumber) })
	return out, nil
}

func (s *Service) optedOut(ctx context.Context, phone string) (bool, error) {
	var o optOut
	_, err := s.table.Get(ctx, phonePrefix+phone, optOutRow, &o)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, store.ProblemFor(err)
}

// ended reports whether a call takes no guests any more: ended, or past
// its room's validity.
func (s *Service) ended(info calls.Info) bool {
	return info.Ended || !info.ValidUntil.IsZero() && !s.now().Before(info.ValidUntil)
}

func (s *Service) dropIdentity(ctx context.Context, id string) {
	if err := s.acs.DeleteIdentity(ctx, id); err != nil && !acs.IsNotFound(err) {
		httpapi.Logger(ctx).Warn("could not delete a guest identity", "acsUserId", id, "err", err)
	}
}

// newCode is a join code: 128 random bits, base64url (22 characters).
func newCode() string { return secret.New(16) }

// hashCode is what the rows keep of a join code.
func hashCode(code string) string { return secret.Hash(code) }

func callEnded() *httpapi.Problem {
	return httpapi.NewProblem(http.StatusGone, CodeCallEnded, "the call has ended")
}

func fieldProblem(field, detail string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, field+": "+detail)
	p.Errors = []httpapi.FieldError{{Field: field, Detail: detail}}
	return p
}

func errorCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("%d %s", re.StatusCode, re.ErrorCode)
	}
	return err.Error()
}

// acsError maps an ACS failure as the call routes do.
func acsError(err error) error { return calls.ACSProblem(err) }
