// Package bots owns bots: addressable objects with their own ACS identity
// that answer calls (to that identity, or to a phone number mapped to
// them), play a greeting, run a DTMF menu and transfer the caller. Service
// callers configure them; Call Automation callbacks drive each bot call.
package bots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/egress"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/store"
)

// Tables: bots (PK bot id, RK "bot"), botindex (PK "acs:<ACS id>" or
// "tel:<E.164>", RK "bot": whose IncomingCall it is), botcalls (PK bot id,
// RK call id: the call log and each call's state) and botclaims (PK a hash
// of the server call id, RK "claim": a call is answered once).
const (
	BotsTable   = "bots"
	IndexTable  = "botindex"
	CallsTable  = "botcalls"
	ClaimsTable = "botclaims"
	botRow      = "bot"
)

// Limits of a bot's configuration.
const (
	maxDisplayName  = 256
	maxPhoneNumbers = 10
	maxRetries      = 5
	defaultRetries  = 2
	// A reservation older than this was left by a crashed request: take it over.
	reservationTimeout = time.Minute
)

var botIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Users resolves app users; a bot is configured by a service, so it may
// transfer to any existing user.
type Users interface {
	Profile(ctx context.Context, userID string) (identity.User, error)
}

// ACS is what bots need from the identity and Call Automation APIs.
type ACS interface {
	CreateIdentity(ctx context.Context, opts *acs.CreateIdentityOptions) (acs.CreateIdentityResult, error)
	DeleteIdentity(ctx context.Context, id string) error
	AnswerCall(ctx context.Context, opts acs.AnswerCallOptions) (acs.CallConnection, error)
	Play(ctx context.Context, callConnectionID string, opts acs.PlayOptions) error
	RecognizeDTMF(ctx context.Context, callConnectionID string, opts acs.RecognizeDTMFOptions) error
	TransferToParticipant(ctx context.Context, callConnectionID string, opts acs.TransferOptions) error
	HangUp(ctx context.Context, callConnectionID string) error
}

// Options are the deployment's settings bots use.
type Options struct {
	// Callers names the caller of a ring (fanout.RingSubject); nil: the raw id.
	Callers fanout.Callers
	// PublicBaseURL is where ACS posts callbacks (PUBLIC_BASE_URL).
	PublicBaseURL string
	// CognitiveServicesEndpoint is the default for text-to-speech (ACS_COGNITIVE_SERVICES_ENDPOINT).
	CognitiveServicesEndpoint string
	// PSTNCallerID is the caller id for transfers to phones (ACS_PSTN_CALLER_ID).
	PSTNCallerID string
	// PSTN is which numbers a menu may transfer to (PSTN_ALLOWED_PREFIXES, PSTN_BLOCKED_PREFIXES).
	PSTN calls.PSTNPolicy
	// Callbacks verifies ACS-signed callbacks; nil when ACS_RESOURCE_ID is not set.
	Callbacks *calls.CallbackAuth
	// Guard checks prompt file URLs (https, public host) at registration.
	Guard *egress.Guard
	// Calls lets bots join group and room calls (join.go); nil: they cannot.
	Calls Calls
	// Spaces resolves the space a menu's connect action names; nil: no connect actions.
	Spaces Spaces
	// CallAutomationAPIVersion is what the ACS client speaks ("" is acs.CallAutomationAPIVersion);
	// connect actions need acs.MoveParticipantsAPIVersion.
	CallAutomationAPIVersion string
	// CallLogRetention is how long Prune keeps a bot call (0: DefaultCallLogRetention).
	CallLogRetention time.Duration
	// Forget removes the rows others keep about a deleted bot's party id
	// (contacts, space memberships: identity.Service.Erase); nil: none.
	Forget func(ctx context.Context, party string) error
}

// Spaces is what a connect action needs from spaces.
type Spaces interface {
	// CurrentCall is the group call shared in space id now ("" for none), or
	// store.ErrNotFound when there is no such space.
	CurrentCall(ctx context.Context, id string) (string, error)
}

// Service manages bots and their calls.
type Service struct {
	bots, index, calls, claims *store.Table
	users                      Users
	acs                        ACS
	limits                     Limiter
	opts                       Options
	now                        func() time.Time
}

// Limiter spends quotas (quota.Limiter).
type Limiter interface {
	Take(ctx context.Context, s quota.Subject, costs ...quota.Cost) error
}

// NewService wires the service; calls bots answer spend limits.
func NewService(st *store.Store, users Users, client ACS, limits Limiter, opts Options) *Service {
	if opts.Guard == nil {
		opts.Guard = egress.New(nil)
	}
	return &Service{bots: st.Table(BotsTable), index: st.Table(IndexTable), calls: st.Table(CallsTable), claims: st.Table(ClaimsTable),
		users: users, acs: client, limits: limits, opts: opts, now: time.Now}
}

// PlaySource is a prompt: {"text","voice"?} spoken by text-to-speech, or
// {"file"}: an https URL of a 16 kHz mono WAV that ACS fetches.
type PlaySource struct {
	Text  string `json:"text,omitempty"`
	Voice string `json:"voice,omitempty"`
	File  string `json:"file,omitempty"`
}

func (p PlaySource) acs() acs.PlaySource {
	return acs.PlaySource{Text: p.Text, VoiceName: p.Voice, FileURL: p.File}
}

// Transfer names where a menu key sends the caller: an app user or a phone.
type Transfer struct {
	UserID      string `json:"userId,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// Connect names the space whose current group call a menu key moves the
// caller into.
type Connect struct {
	SpaceID string `json:"spaceId"`
}

// Action is what one menu key does: transfer, connect into a space's call,
// play (then "hangup" or "menu"), or repeat the greeting and menu.
type Action struct {
	Transfer *Transfer   `json:"transfer,omitempty"`
	Connect  *Connect    `json:"connect,omitempty"`
	Play     *PlaySource `json:"play,omitempty"`
	Then     string      `json:"then,omitempty"`
	Repeat   bool        `json:"repeat,omitempty"`
}

// Fallback is what happens on no input or a key the menu lacks: replay the
// greeting up to Retries times, then play Goodbye (if any) and hang up.
type Fallback struct {
	Retries *int        `json:"retries,omitempty"`
	Goodbye *PlaySource `json:"goodbye,omitempty"`
}

func (f *Fallback) retries() int {
	if f == nil || f.Retries == nil {
		return defaultRetries
	}
	return *f.Retries
}

// Config is the body of PUT /api/bots/{botId}.
type Config struct {
	DisplayName               string            `json:"displayName"`
	Greeting                  *PlaySource       `json:"greeting"`
	Menu                      map[string]Action `json:"menu"`
	Fallback                  *Fallback         `json:"fallback,omitempty"`
	CognitiveServicesEndpoint string            `json:"cognitiveServicesEndpoint,omitempty"`
	PhoneNumbers              []string          `json:"phoneNumbers,omitempty"`
}

// Bot is what the bot routes answer.
type Bot struct {
	ID        string `json:"id"`
	ACSUserID string `json:"acsUserId"`
	Config
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// row is the stored bot: the configuration as one JSON property (Table
// properties are flat), and the ACS identity made for it exactly once.
type row struct {
	State      string    `json:"state"` // reserved, then active; deleting at the end
	ACSUserID  string    `json:"acsUserId,omitempty"`
	Config     string    `json:"config"`
	ReservedAt time.Time `json:"reservedAt"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

type indexRow struct {
	BotID string `json:"botId"`
}

const (
	stateReserved = "reserved"
	stateActive   = "active"
	stateDeleting = "deleting"
)

func (r row) bot(id string) (Bot, error) {
	b := Bot{ID: id, ACSUserID: r.ACSUserID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal([]byte(r.Config), &b.Config); err != nil {
		return Bot{}, fmt.Errorf("bot %s: stored config: %w", id, err)
	}
	return b, nil
}

func botNotFound(id string) *httpapi.Problem {
	return httpapi.Problemf(http.StatusNotFound, "bot-not-found", "no bot %q", id)
}

func fieldProblem(field, detail string) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusBadRequest, httpapi.CodeInvalidRequest, field+": "+detail)
	p.Errors = []httpapi.FieldError{{Field: field, Detail: detail}}
	return p
}

// CheckID refuses a bot id that is not 1-64 letters, digits, '.', '_' or '-'.
func CheckID(id string) error {
	if !botIDPattern.MatchString(id) {
		return fieldProblem("botId", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// Validate checks a configuration as a service gives it: every problem is
// a 400 naming the field (a menu key's field is menu.<key>...).
func (s *Service) Validate(ctx context.Context, c *Config) error {
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	if c.DisplayName == "" || httpapi.TooLong(c.DisplayName, maxDisplayName) {
		return fieldProblem("displayName", fmt.Sprintf("required, at most %d characters", maxDisplayName))
	}
	if c.CognitiveServicesEndpoint != "" {
		if _, err := s.opts.Guard.ParseURL(c.CognitiveServicesEndpoint); err != nil {
			return fieldProblem("cognitiveServicesEndpoint", "must be the https endpoint of an Azure AI services resource: "+err.Error())
		}
	}
	tts := c.CognitiveServicesEndpoint != "" || s.opts.CognitiveServicesEndpoint != ""
	if c.Greeting == nil {
		return fieldProblem("greeting", "required: {\"text\"} or {\"file\":\"https://.../prompt.wav\"}")
	}
	if err := s.checkSource("greeting", *c.Greeting, tts); err != nil {
		return err
	}
	if len(c.Menu) == 0 {
		return fieldProblem("menu", "at least one key")
	}
	keys := make([]string, 0, len(c.Menu))
	for k := range c.Menu {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.checkAction(ctx, k, c.Menu[k], tts); err != nil {
			return err
		}
	}
	if f := c.Fallback; f != nil {
		if f.Retries != nil && (*f.Retries < 0 || *f.Retries > maxRetries) {
			return fieldProblem("fallback.retries", fmt.Sprintf("0 to %d", maxRetries))
		}
		if f.Goodbye != nil {
			if err := s.checkSource("fallback.goodbye", *f.Goodbye, tts); err != nil {
				return err
			}
		}
	}
	if len(c.PhoneNumbers) > maxPhoneNumbers {
		return fieldProblem("phoneNumbers", fmt.Sprintf("at most %d", maxPhoneNumbers))
	}
	for _, n := range c.PhoneNumbers {
		if !acs.IsE164(n) {
			return fieldProblem("phoneNumbers", fmt.Sprintf("%q is not an E.164 number such as +14255550100", n))
		}
	}
	slices.Sort(c.PhoneNumbers)
	c.PhoneNumbers = slices.Compact(c.PhoneNumbers)
	return nil
}

func (s *Service) checkSource(field string, p PlaySource, tts bool) error {
	switch {
	case p.Text != "" && p.File != "":
		return fieldProblem(field, "either text or file, not both")
	case p.Text != "":
		if httpapi.TooLong(p.Text, acs.MaxTTSCharacters) {
			return fieldProblem(field+".text", fmt.Sprintf("at most %d characters", acs.MaxTTSCharacters))
		}
		if !tts {
			return fieldProblem(field+".text", "text-to-speech needs cognitiveServicesEndpoint on the bot or ACS_COGNITIVE_SERVICES_ENDPOINT on the deployment")
		}
		if httpapi.TooLong(p.Voice, 100) {
			return fieldProblem(field+".voice", "at most 100 characters")
		}
	case p.File != "":
		if p.Voice != "" {
			return fieldProblem(field+".voice", "only for text")
		}
		// ACS fetches the prompt itself: it must be https on a public host.
		if _, err := s.opts.Guard.ParseURL(p.File); err != nil {
			return fieldProblem(field+".file", "must be an https URL on a public host (a 16 kHz mono WAV): "+err.Error())
		}
	default:
		return fieldProblem(field, "a play source is {\"text\"} or {\"file\":\"https://.../prompt.wav\"}")
	}
	return nil
}

func (s *Service) checkAction(ctx context.Context, key string, a Action, tts bool) error {
	field := "menu." + key
	if len(key) != 1 || !strings.Contains("0123456789*#", key) {
		return fieldProblem(field, "menu keys are 0-9, * and #")
	}
	n := 0
	for _, set := range []bool{a.Transfer != nil, a.Connect != nil, a.Play != nil, a.Repeat} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fieldProblem(field, "one of transfer, connect, play or repeat")
	}
	if a.Then != "" && (a.Play == nil || (a.Then != "hangup" && a.Then != "menu")) {
		return fieldProblem(field+".then", "\"hangup\" or \"menu\", after play only")
	}
	switch {
	case a.Transfer != nil:
		t := a.Transfer
		switch {
		case (t.UserID == "") == (t.PhoneNumber == ""):
			return fieldProblem(field+".transfer", "one of userId or phoneNumber")
		case t.UserID != "":
			u, err := s.users.Profile(ctx, t.UserID)
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) || (err == nil && u.ACSUserID == "") {
				return fieldProblem(field+".transfer.userId", fmt.Sprintf("no user %q with an ACS identity", t.UserID))
			}
			if err != nil {
				return store.ProblemFor(err)
			}
		default:
			if err := s.opts.PSTN.Check(&auth.Principal{Service: true}, []string{t.PhoneNumber}); err != nil {
				detail := "outside the PSTN policy"
				var p *httpapi.Problem
				if errors.As(err, &p) {
					detail = p.Detail
				}
				return fieldProblem(field+".transfer.phoneNumber", detail)
			}
		}
	case a.Connect != nil:
		return s.checkConnect(ctx, field+".connect", *a.Connect)
	case a.Play != nil:
		return s.checkSource(field+".play", *a.Play, tts)
	}
	return nil
}

// checkConnect refuses at PUT what would fail at the key press: a space
// that does not exist (a service may name any space), or a Call Automation
// api-version without participants:moveHere.
func (s *Service) checkConnect(ctx context.Context, field string, c Connect) error {
	if v := s.callAutomationVersion(); v < acs.MoveParticipantsAPIVersion {
		return fieldProblem(field, fmt.Sprintf("moving a caller into a space's call needs Call Automation api-version %s (participants:moveHere); this deployment speaks %s (ACS_CALL_AUTOMATION_API_VERSION)",
			acs.MoveParticipantsAPIVersion, v))
	}
	if _, ok := s.acs.(Mover); !ok || s.opts.Spaces == nil {
		return fieldProblem(field, "this deployment cannot move callers into calls")
	}
	if c.SpaceID == "" {
		return fieldProblem(field+".spaceId", "required")
	}
	if _, err := s.opts.Spaces.CurrentCall(ctx, c.SpaceID); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
		return fieldProblem(field+".spaceId", fmt.Sprintf("no space %q", c.SpaceID))
	} else if err != nil {
		return store.ProblemFor(err)
	}
	return nil
}

func (s *Service) callAutomationVersion() string {
	if s.opts.CallAutomationAPIVersion == "" {
		return acs.CallAutomationAPIVersion
	}
	return s.opts.CallAutomationAPIVersion
}

// Put creates or replaces a bot; the first Put creates its ACS identity,
// exactly once however many Puts race. It answers the bot and whether it is new.
func (s *Service) Put(ctx context.Context, id string, c Config) (Bot, bool, error) {
	if err := CheckID(id); err != nil {
		return Bot{}, false, err
	}
	if err := s.Validate(ctx, &c); err != nil {
		return Bot{}, false, err
	}
	cfg, err := json.Marshal(c)
	if err != nil {
		return Bot{}, false, err
	}
	for range 5 {
		now := s.now().UTC()
		var r row
		etag, err := s.bots.Get(ctx, id, botRow, &r)
		switch {
		case errors.Is(err, store.ErrNotFound):
			r = row{State: stateReserved, Config: string(cfg), ReservedAt: now, CreatedAt: now, UpdatedAt: now}
			etag, err = s.bots.Insert(ctx, id, botRow, r)
			if errors.Is(err, store.ErrConflict) {
				continue // another Put reserved it first
			}
			if err != nil {
				return Bot{}, false, store.ProblemFor(err)
			}
			b, err := s.create(ctx, id, r, etag, c)
			return b, true, err
		case err != nil:
			return Bot{}, false, store.ProblemFor(err)
		case r.State == stateReserved && now.Sub(r.ReservedAt) < reservationTimeout:
			p := httpapi.NewProblem(http.StatusConflict, "bot-being-created", "the bot's ACS identity is being created by another request; retry shortly")
			p.RetryAfter = 2
			return Bot{}, false, p
		case r.State == stateDeleting:
			return Bot{}, false, httpapi.NewProblem(http.StatusConflict, "bot-being-deleted",
				"the bot is being deleted: delete it again (DELETE /api/bots/{botId}) to finish, then create it anew")
		case r.State == stateReserved:
			// A crashed reservation: take it over.
			r.Config, r.ReservedAt, r.UpdatedAt = string(cfg), now, now
			etag, err = s.bots.Replace(ctx, id, botRow, r, etag)
			if errors.Is(err, store.ErrPreconditionFailed) {
				continue
			}
			if err != nil {
				return Bot{}, false, store.ProblemFor(err)
			}
			b, err := s.create(ctx, id, r, etag, c)
			return b, true, err
		}
		old, err := r.bot(id)
		if err != nil {
			return Bot{}, false, err
		}
		if err := s.claimNumbers(ctx, id, c.PhoneNumbers); err != nil {
			return Bot{}, false, err
		}
		r.Config, r.UpdatedAt = string(cfg), now
		if _, err = s.bots.Replace(ctx, id, botRow, r, etag); errors.Is(err, store.ErrPreconditionFailed) {
			continue
		} else if err != nil {
			return Bot{}, false, store.ProblemFor(err)
		}
		s.releaseNumbers(ctx, id, old.PhoneNumbers, c.PhoneNumbers)
		b, err := r.bot(id)
		return b, false, err
	}
	return Bot{}, false, store.ProblemFor(store.ErrPreconditionFailed)
}

// create makes the ACS identity for a reserved bot and activates it.
func (s *Service) create(ctx context.Context, id string, r row, etag azcore.ETag, c Config) (Bot, error) {
	if err := s.claimNumbers(ctx, id, c.PhoneNumbers); err != nil {
		_ = s.bots.Delete(ctx, id, botRow, etag)
		return Bot{}, err
	}
	ident, err := s.acs.CreateIdentity(ctx, nil)
	if err != nil {
		_ = s.bots.Delete(ctx, id, botRow, etag)
		s.releaseNumbers(ctx, id, c.PhoneNumbers, nil)
		return Bot{}, calls.ACSProblem(err)
	}
	// The routing row first: a call to the identity must find the bot.
	if _, err := s.index.Upsert(ctx, "acs:"+ident.ID, botRow, indexRow{BotID: id}); err != nil {
		return Bot{}, store.ProblemFor(err)
	}
	r.State, r.ACSUserID = stateActive, ident.ID
	if _, err := s.bots.Replace(ctx, id, botRow, r, etag); err != nil {
		// Someone took the reservation over: this identity is not the bot's.
		_ = s.index.Delete(ctx, "acs:"+ident.ID, botRow, "")
		_ = s.acs.DeleteIdentity(ctx, ident.ID)
		return Bot{}, store.ProblemFor(err)
	}
	return r.bot(id)
}

// claimNumbers maps numbers to the bot; a number another bot holds is a 409.
func (s *Service) claimNumbers(ctx context.Context, id string, numbers []string) error {
	for _, n := range numbers {
		_, err := s.index.Insert(ctx, "tel:"+n, botRow, indexRow{BotID: id})
		if errors.Is(err, store.ErrConflict) {
			var ix indexRow
			if _, err := s.index.Get(ctx, "tel:"+n, botRow, &ix); err == nil && ix.BotID == id {
				continue
			}
			p := httpapi.Problemf(http.StatusConflict, "phone-number-taken", "phoneNumbers: %s already routes to another bot", n)
			p.Errors = []httpapi.FieldError{{Field: "phoneNumbers", Detail: n}}
			return p
		}
		if err != nil {
			return store.ProblemFor(err)
		}
	}
	return nil
}

// releaseNumbers drops the routing of numbers in old that keep does not hold.
func (s *Service) releaseNumbers(ctx context.Context, id string, old, keep []string) {
	for _, n := range old {
		if slices.Contains(keep, n) {
			continue
		}
		var ix indexRow
		etag, err := s.index.Get(ctx, "tel:"+n, botRow, &ix)
		if err == nil && ix.BotID == id {
			err = s.index.Delete(ctx, "tel:"+n, botRow, etag)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			httpapi.Logger(ctx).Warn("bot phone number routing not released", "botId", id, "err", err)
		}
	}
}

// Get returns one bot.
func (s *Service) Get(ctx context.Context, id string) (Bot, error) {
	if CheckID(id) != nil {
		return Bot{}, botNotFound(id)
	}
	var r row
	if _, err := s.bots.Get(ctx, id, botRow, &r); errors.Is(err, store.ErrNotFound) {
		return Bot{}, botNotFound(id)
	} else if err != nil {
		return Bot{}, store.ProblemFor(err)
	}
	if r.State != stateActive {
		return Bot{}, botNotFound(id)
	}
	return r.bot(id)
}

// Party resolves a bot as a party users may reach (an identity.BotResolver):
// its party id, ACS id and display name, or store.ErrNotFound.
func (s *Service) Party(ctx context.Context, botID string) (identity.User, error) {
	b, err := s.Get(ctx, botID)
	var p *httpapi.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return identity.User{}, fmt.Errorf("bot %q: %w", botID, store.ErrNotFound)
	}
	if err != nil {
		return identity.User{}, err
	}
	return identity.User{UserID: identity.BotParty(botID), ACSUserID: b.ACSUserID, DisplayName: b.DisplayName}, nil
}

// BotByACSID resolves a bot's ACS id to its bot id (an identity.BotByACSID),
// or store.ErrNotFound.
func (s *Service) BotByACSID(ctx context.Context, acsUserID string) (string, error) {
	var ix indexRow
	if _, err := s.index.Get(ctx, "acs:"+acsUserID, botRow, &ix); err != nil {
		return "", err
	}
	return ix.BotID, nil
}

// List returns every active bot, by id.
func (s *Service) List(ctx context.Context) ([]Bot, error) {
	out := []Bot{}
	err := s.bots.Scan(ctx, func(pk, rk string, decode func(any) error) error {
		if rk != botRow {
			return nil
		}
		var r row
		if err := decode(&r); err != nil {
			return err
		}
		if r.State != stateActive {
			return nil
		}
		b, err := r.bot(pk)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, store.ProblemFor(err)
	}
	slices.SortFunc(out, func(a, b Bot) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Delete removes a bot, its routing and its ACS identity; deleting twice is
// not an error. The row is marked deleting first (ETag-conditional), so
// from then on Get, Party and Put treat the bot as gone or going: no space
// or contact can add it while Forget removes the rows that name it. A
// deletion that fails part way is finished by deleting again.
func (s *Service) Delete(ctx context.Context, id string) error {
	if CheckID(id) != nil {
		return nil
	}
	var r row
	var etag azcore.ETag
	for attempt := 0; ; attempt++ {
		var err error
		etag, err = s.bots.Get(ctx, id, botRow, &r)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return store.ProblemFor(err)
		}
		if r.State == stateDeleting {
			break
		}
		r.State = stateDeleting
		etag, err = s.bots.Replace(ctx, id, botRow, r, etag)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrPreconditionFailed) || attempt >= 4 {
			return store.ProblemFor(err)
		}
	}
	if b, err := r.bot(id); err == nil {
		s.releaseNumbers(ctx, id, b.PhoneNumbers, nil)
	}
	// Contacts and spaces naming the bot first: they carry its ACS id.
	if s.opts.Forget != nil {
		if err := s.opts.Forget(ctx, identity.BotParty(id)); err != nil {
			return err
		}
	}
	if r.ACSUserID != "" {
		if err := s.index.Delete(ctx, "acs:"+r.ACSUserID, botRow, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
		if err := s.acs.DeleteIdentity(ctx, r.ACSUserID); err != nil && !acs.IsNotFound(err) {
			return calls.ACSProblem(err)
		}
	}
	if err := s.bots.Delete(ctx, id, botRow, etag); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	return nil
}
