// Package config reads and validates Switchboard's settings (environment
// variables named in DESIGN.md) once at start, so a deployment with a missing
// or malformed setting stops with one line naming it.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/handler/internal/egress"
)

// DefaultCallbackOIDCConfig is where ACS publishes the OpenID configuration
// for the JWTs it signs Call Automation callbacks with.
const DefaultCallbackOIDCConfig = "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"

// DefaultWebPushAllowedHosts are the push services of the browsers that
// implement Web Push: Chrome and other Chromium browsers (FCM), Firefox
// (Mozilla autopush), Edge (WNS) and Safari (Apple, any push.apple.com host).
const DefaultWebPushAllowedHosts = "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com"

// Config is every setting the handler reads.
type Config struct {
	Port int // FUNCTIONS_CUSTOMHANDLER_PORT

	StorageConnectionString string // STORAGE_CONNECTION_STRING
	StorageTableEndpoint    string // STORAGE_TABLE_ENDPOINT (managed identity)
	TablePrefix             string // TABLE_PREFIX

	ACSConnectionString string // ACS_CONNECTION_STRING
	ACSEndpoint         string // ACS_ENDPOINT (managed identity)

	AuthIssuer      string // AUTH_ISSUER
	AuthAudience    string // AUTH_AUDIENCE
	AuthUserClaim   string // AUTH_USER_CLAIM
	AuthEasyAuth    bool   // AUTH_EASYAUTH
	AuthServiceRole string // AUTH_SERVICE_ROLE
	AuthPSTNRole    string // AUTH_PSTN_ROLE: an end user needs it to dial phone numbers

	TokenScopes        []string // TOKEN_SCOPES: scopes a caller may ask for
	TokenDefaultScopes []string // TOKEN_DEFAULT_SCOPES: scopes issued when none are asked for

	TokenCacheKey         []byte // TOKEN_CACHE_KEY: AES-256 key sealing cached ACS tokens; nil means no cache
	TokenCacheKeyPrevious []byte // TOKEN_CACHE_KEY_PREVIOUS: the old key during a rotation (opens, never seals)

	NotificationHubConnectionString string // NOTIFICATION_HUB_CONNECTION_STRING
	NotificationHubName             string // NOTIFICATION_HUB_NAME
	APNSVoIPTopic                   string // APNS_VOIP_TOPIC

	WebPushVAPIDPublicKey  string // WEBPUSH_VAPID_PUBLIC_KEY
	WebPushVAPIDPrivateKey string // WEBPUSH_VAPID_PRIVATE_KEY
	WebPushSubject         string // WEBPUSH_SUBJECT

	WebPushAllowedHosts      egress.HostList // WEBPUSH_ALLOWED_HOSTS
	PushAllowLoopbackTargets bool            // PUSH_ALLOW_LOOPBACK_TARGETS

	DeviceTTL   time.Duration // DEVICE_TTL_DAYS
	MaxDevices  int           // MAX_DEVICES_PER_USER
	MaxContacts int           // MAX_CONTACTS_PER_USER

	PublicBaseURL         string // PUBLIC_BASE_URL
	ACSResourceID         string // ACS_RESOURCE_ID
	ACSCallbackOIDCConfig string // ACS_CALLBACK_OIDC_CONFIG
	ACSPSTNCallerID       string // ACS_PSTN_CALLER_ID
	// ACSCognitiveServicesEndpoint is the Azure AI services endpoint bots'
	// text-to-speech prompts use unless a bot names its own.
	ACSCognitiveServicesEndpoint string // ACS_COGNITIVE_SERVICES_ENDPOINT
	// ACSCallAutomationAPIVersion is the Call Automation api-version the
	// handler speaks: 2026-03-12 (the default) or 2025-06-15. Bots' menus
	// that connect a caller into a space's call need 2026-03-12.
	ACSCallAutomationAPIVersion string // ACS_CALL_AUTOMATION_API_VERSION
	// BotCallLogRetention is how long a bot's call log keeps a call.
	BotCallLogRetention time.Duration // BOT_CALL_LOG_RETENTION_DAYS

	PSTNAllowedPrefixes []string // PSTN_ALLOWED_PREFIXES: E.164 prefixes that may be dialled (none: no dialling)
	PSTNBlockedPrefixes []string // PSTN_BLOCKED_PREFIXES: never dialled, even when allowed

	// QuotaUser and QuotaService are the per-user limits (QUOTA_*) and those
	// of a service caller acting for a user (QUOTA_SERVICE_*).
	QuotaUser, QuotaService Quotas
	// Pushes that events cause have no service caller, so one limit each:
	// chat messages a sender's pushes may carry per hour, texts from one SMS
	// guest of one call pushed to its creator per hour, and incoming calls
	// (pushed or answered by a bot) per caller and callee per hour; and the
	// calls one bot answers per hour, whoever calls (callers' numbers can
	// be spoofed, so the pair limit alone does not bound a bot).
	QuotaChatPushesPerHour   int // QUOTA_CHAT_PUSHES_PER_HOUR
	QuotaGuestRepliesPerHour int // QUOTA_GUEST_REPLIES_PER_HOUR
	QuotaRingsPerHour        int // QUOTA_RINGS_PER_HOUR
	QuotaBotRingsPerHour     int // QUOTA_BOT_RINGS_PER_HOUR
	// QuotaAppTeamsMeetingsPerDay bounds the Teams meetings the whole app
	// creates per day, whoever asks (Graph allows 2000 per organizer, the
	// app's one organizer, per month).
	QuotaAppTeamsMeetingsPerDay int // QUOTA_APP_TEAMS_MEETINGS_PER_DAY

	Teams Teams // TEAMS_* and GRAPH_*: Teams meetings through Microsoft Graph

	EventGridTopicEndpoint string // EVENTGRID_TOPIC_ENDPOINT
	EventGridTopicKey      string // EVENTGRID_TOPIC_KEY
	EventsWebhookKey       string // EVENTS_WEBHOOK_KEY

	TURNURLs                 []string // TURN_URLS: stun:/turn:/turns: URLs; empty means no relay credentials
	TURNSharedSecret         string   // TURN_SHARED_SECRET: signs every new credential
	TURNSharedSecretPrevious string   // TURN_SHARED_SECRET_PREVIOUS: the old secret during a rotation (never signs)
	TURNUserKey              string   // TURN_USER_KEY: keys the opaque user part; default derived from TURN_SHARED_SECRET
	TURNTTLMinutes           int      // TURN_TTL_MINUTES: default and longest credential lifetime

	ChatPushPreview bool // CHAT_PUSH_PREVIEW (default true)
	SMS             SMS  // ACS_SMS_FROM, SMS_*, GUEST_JOIN_URL, MAX_GUESTS_PER_CALL (sms.go)

	LogLevel string // LOG_LEVEL
}

// Quotas are the limits of one kind of caller, each per its window.
type Quotas struct {
	TokensPerMinute           int
	CallsPerHour              int
	InvitesPerHour            int
	DialsPerDay               int
	DeviceRegistrationsPerDay int
	RelayPerHour              int
	SMSPerDay                 int
	SpacesPerHour             int
	SpaceInvitesPerHour       int
	CallAutomationPerHour     int
	RevocationsPerHour        int
	TeamsMeetingsPerDay       int
}

// DefaultUserQuotas and DefaultServiceQuotas are limits a normal user (or
// a back end serving one) does not meet.
var (
	DefaultUserQuotas = Quotas{TokensPerMinute: 20, CallsPerHour: 30, InvitesPerHour: 100, DialsPerDay: 20, DeviceRegistrationsPerDay: 50,
		RelayPerHour: 60, SMSPerDay: 20, SpacesPerHour: 20, SpaceInvitesPerHour: 200, CallAutomationPerHour: 30, RevocationsPerHour: 20, TeamsMeetingsPerDay: 20}
	DefaultServiceQuotas = Quotas{TokensPerMinute: 200, CallsPerHour: 300, InvitesPerHour: 1000, DialsPerDay: 200, DeviceRegistrationsPerDay: 500,
		RelayPerHour: 600, SMSPerDay: 200, SpacesPerHour: 200, SpaceInvitesPerHour: 2000, CallAutomationPerHour: 300, RevocationsPerHour: 200, TeamsMeetingsPerDay: 200}
)

// DefaultPSTNBlockedPrefixes is a starting point, not a complete list of
// premium-rate ranges: US/Canada 900 and 976, and the satellite and
// international networks +881, +882 and +883.
const DefaultPSTNBlockedPrefixes = "+1900,+1976,+881,+882,+883"

// Error names the setting that stopped the handler.
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return fmt.Sprintf("setting %s %s", e.Setting, e.Problem) }

// CallAutomationAPIVersions are the values ACS_CALL_AUTOMATION_API_VERSION
// takes, the default first (the acs client's CallAutomationAPIVersions).
var CallAutomationAPIVersions = []string{"2026-03-12", "2025-06-15"}

// Settings names every environment variable Load reads, for tools that keep
// local.settings.sample.json and the Bicep app settings in step.
var Settings = []string{
	"FUNCTIONS_CUSTOMHANDLER_PORT",
	"STORAGE_CONNECTION_STRING", "STORAGE_TABLE_ENDPOINT", "TABLE_PREFIX",
	"ACS_CONNECTION_STRING", "ACS_ENDPOINT",
	"AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_USER_CLAIM", "AUTH_EASYAUTH", "AUTH_SERVICE_ROLE", "AUTH_PSTN_ROLE",
	"TOKEN_SCOPES", "TOKEN_DEFAULT_SCOPES", "TOKEN_CACHE_KEY", "TOKEN_CACHE_KEY_PREVIOUS",
	"NOTIFICATION_HUB_CONNECTION_STRING", "NOTIFICATION_HUB_NAME", "APNS_VOIP_TOPIC",
	"WEBPUSH_VAPID_PUBLIC_KEY", "WEBPUSH_VAPID_PRIVATE_KEY", "WEBPUSH_SUBJECT",
	"WEBPUSH_ALLOWED_HOSTS", "PUSH_ALLOW_LOOPBACK_TARGETS",
	"DEVICE_TTL_DAYS", "MAX_DEVICES_PER_USER", "MAX_CONTACTS_PER_USER",
	"PUBLIC_BASE_URL", "ACS_RESOURCE_ID", "ACS_CALLBACK_OIDC_CONFIG", "ACS_PSTN_CALLER_ID",
	"ACS_COGNITIVE_SERVICES_ENDPOINT", "ACS_CALL_AUTOMATION_API_VERSION", "BOT_CALL_LOG_RETENTION_DAYS",
	"PSTN_ALLOWED_PREFIXES", "PSTN_BLOCKED_PREFIXES",
	"QUOTA_TOKENS_PER_MINUTE", "QUOTA_CALLS_PER_HOUR", "QUOTA_INVITES_PER_HOUR", "QUOTA_DIALS_PER_DAY", "QUOTA_DEVICE_REGISTRATIONS_PER_DAY", "QUOTA_RELAY_PER_HOUR", "QUOTA_SMS_PER_DAY",
	"QUOTA_SPACES_PER_HOUR", "QUOTA_SPACE_INVITES_PER_HOUR", "QUOTA_CALL_AUTOMATION_PER_HOUR", "QUOTA_REVOCATIONS_PER_HOUR", "QUOTA_TEAMS_MEETINGS_PER_DAY",
	"QUOTA_SERVICE_TOKENS_PER_MINUTE", "QUOTA_SERVICE_CALLS_PER_HOUR", "QUOTA_SERVICE_INVITES_PER_HOUR", "QUOTA_SERVICE_DIALS_PER_DAY", "QUOTA_SERVICE_DEVICE_REGISTRATIONS_PER_DAY", "QUOTA_SERVICE_RELAY_PER_HOUR", "QUOTA_SERVICE_SMS_PER_DAY",
	"QUOTA_SERVICE_SPACES_PER_HOUR", "QUOTA_SERVICE_SPACE_INVITES_PER_HOUR", "QUOTA_SERVICE_CALL_AUTOMATION_PER_HOUR", "QUOTA_SERVICE_REVOCATIONS_PER_HOUR", "QUOTA_SERVICE_TEAMS_MEETINGS_PER_DAY",
	"QUOTA_CHAT_PUSHES_PER_HOUR", "QUOTA_GUEST_REPLIES_PER_HOUR", "QUOTA_RINGS_PER_HOUR", "QUOTA_BOT_RINGS_PER_HOUR", "QUOTA_APP_TEAMS_MEETINGS_PER_DAY",
	"EVENTGRID_TOPIC_ENDPOINT", "EVENTGRID_TOPIC_KEY", "EVENTS_WEBHOOK_KEY",
	"TURN_URLS", "TURN_SHARED_SECRET", "TURN_SHARED_SECRET_PREVIOUS", "TURN_USER_KEY", "TURN_TTL_MINUTES",
	"TEAMS_ORGANIZER_ID", "TEAMS_LOBBY_BYPASS",
	"GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET", "GRAPH_AUTHORITY_HOST", "GRAPH_ENDPOINT",
	"CHAT_PUSH_PREVIEW",
	"ACS_SMS_FROM", "SMS_GUEST_TEMPLATE", "GUEST_JOIN_URL", "SMS_ALLOWED_PREFIXES", "SMS_BLOCKED_PREFIXES", "MAX_GUESTS_PER_CALL",
	"LOG_LEVEL",
}

// ValidScopes are the ACS token scopes (ref/acs-rest.md).
var ValidScopes = []string{"chat", "voip", "chat.join", "chat.join.limited", "voip.join"}

var (
	tablePrefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,29}$`)
	e164RE        = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	prefixRE      = regexp.MustCompile(`^\+[1-9][0-9]{0,14}$`)
	claimRE       = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)
)

// Load reads the settings through getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{}

	c.Port = r.port("FUNCTIONS_CUSTOMHANDLER_PORT")

	c.StorageConnectionString = r.str("STORAGE_CONNECTION_STRING")
	c.StorageTableEndpoint = r.upstreamURL("STORAGE_TABLE_ENDPOINT")
	r.exactlyOne("STORAGE_CONNECTION_STRING", c.StorageConnectionString, "STORAGE_TABLE_ENDPOINT", c.StorageTableEndpoint)
	if p := r.str("TABLE_PREFIX"); p != "" {
		if !tablePrefixRE.MatchString(p) {
			r.fail("TABLE_PREFIX", "must start with a letter and hold only letters and digits (at most 30)")
		}
		c.TablePrefix = p
	}

	c.ACSConnectionString = r.str("ACS_CONNECTION_STRING")
	if c.ACSConnectionString != "" {
		r.acsConnectionString("ACS_CONNECTION_STRING", c.ACSConnectionString)
	}
	c.ACSEndpoint = r.upstreamURL("ACS_ENDPOINT")
	r.exactlyOne("ACS_CONNECTION_STRING", c.ACSConnectionString, "ACS_ENDPOINT", c.ACSEndpoint)

	c.AuthIssuer = r.upstreamURL("AUTH_ISSUER")
	r.required("AUTH_ISSUER", c.AuthIssuer)
	c.AuthAudience = r.str("AUTH_AUDIENCE")
	r.required("AUTH_AUDIENCE", c.AuthAudience)
	c.AuthUserClaim = r.strDefault("AUTH_USER_CLAIM", "sub")
	if !claimRE.MatchString(c.AuthUserClaim) {
		r.fail("AUTH_USER_CLAIM", "must be a claim name such as sub or oid")
	}
	c.AuthEasyAuth = r.boolean("AUTH_EASYAUTH")
	c.AuthServiceRole = r.strDefault("AUTH_SERVICE_ROLE", "Switchboard.Service")
	c.AuthPSTNRole = r.strDefault("AUTH_PSTN_ROLE", "Switchboard.Dial")

	c.TokenScopes = r.scopes("TOKEN_SCOPES", "voip")
	c.TokenDefaultScopes = r.scopes("TOKEN_DEFAULT_SCOPES", "voip")
	for _, s := range c.TokenDefaultScopes {
		if !slices.Contains(c.TokenScopes, s) {
			r.fail("TOKEN_DEFAULT_SCOPES", fmt.Sprintf("holds %q, which TOKEN_SCOPES does not allow", s))
		}
	}
	r.tokenCache(c)

	c.NotificationHubConnectionString = r.str("NOTIFICATION_HUB_CONNECTION_STRING")
	c.NotificationHubName = r.str("NOTIFICATION_HUB_NAME")
	c.APNSVoIPTopic = r.str("APNS_VOIP_TOPIC")
	r.together("NOTIFICATION_HUB_CONNECTION_STRING", c.NotificationHubConnectionString, "NOTIFICATION_HUB_NAME", c.NotificationHubName)

	c.WebPushVAPIDPublicKey = r.str("WEBPUSH_VAPID_PUBLIC_KEY")
	c.WebPushVAPIDPrivateKey = r.str("WEBPUSH_VAPID_PRIVATE_KEY")
	c.WebPushSubject = r.str("WEBPUSH_SUBJECT")
	r.together("WEBPUSH_VAPID_PUBLIC_KEY", c.WebPushVAPIDPublicKey, "WEBPUSH_VAPID_PRIVATE_KEY", c.WebPushVAPIDPrivateKey)
	r.together("WEBPUSH_VAPID_PUBLIC_KEY", c.WebPushVAPIDPublicKey, "WEBPUSH_SUBJECT", c.WebPushSubject)
	if c.WebPushVAPIDPublicKey != "" {
		r.base64url("WEBPUSH_VAPID_PUBLIC_KEY", c.WebPushVAPIDPublicKey, 65)
		r.base64url("WEBPUSH_VAPID_PRIVATE_KEY", c.WebPushVAPIDPrivateKey, 32)
		if !strings.HasPrefix(c.WebPushSubject, "mailto:") && !strings.HasPrefix(c.WebPushSubject, "https://") {
			r.fail("WEBPUSH_SUBJECT", "must be a mailto: or https: URL (RFC 8292)")
		}
	}

	hosts, err := egress.ParseHostList(r.strDefault("WEBPUSH_ALLOWED_HOSTS", DefaultWebPushAllowedHosts))
	if err != nil {
		r.fail("WEBPUSH_ALLOWED_HOSTS", "must be comma-separated host names or *.<domain>: "+err.Error())
	}
	c.WebPushAllowedHosts = hosts
	c.PushAllowLoopbackTargets = r.boolean("PUSH_ALLOW_LOOPBACK_TARGETS")

	c.DeviceTTL = time.Duration(r.intRange("DEVICE_TTL_DAYS", 60, 1, 3650)) * 24 * time.Hour
	c.MaxDevices = r.intRange("MAX_DEVICES_PER_USER", 20, 1, 100)
	c.MaxContacts = r.intRange("MAX_CONTACTS_PER_USER", 1000, 1, 100000)

	c.PublicBaseURL = r.publicURL("PUBLIC_BASE_URL")
	c.ACSResourceID = r.str("ACS_RESOURCE_ID")
	c.ACSCallbackOIDCConfig = r.upstreamURL("ACS_CALLBACK_OIDC_CONFIG")
	if c.ACSCallbackOIDCConfig == "" {
		c.ACSCallbackOIDCConfig = DefaultCallbackOIDCConfig
	}
	if id := r.str("ACS_PSTN_CALLER_ID"); id != "" {
		if !e164RE.MatchString(id) {
			r.fail("ACS_PSTN_CALLER_ID", "must be an E.164 number such as +14255550100")
		}
		c.ACSPSTNCallerID = id
	}

	c.ACSCognitiveServicesEndpoint = r.publicURL("ACS_COGNITIVE_SERVICES_ENDPOINT")
	c.ACSCallAutomationAPIVersion = r.strDefault("ACS_CALL_AUTOMATION_API_VERSION", CallAutomationAPIVersions[0])
	if !slices.Contains(CallAutomationAPIVersions, c.ACSCallAutomationAPIVersion) {
		r.fail("ACS_CALL_AUTOMATION_API_VERSION", "must be one of "+strings.Join(CallAutomationAPIVersions, ", "))
	}
	c.BotCallLogRetention = time.Duration(r.intRange("BOT_CALL_LOG_RETENTION_DAYS", 30, 1, 3650)) * 24 * time.Hour

	c.PSTNAllowedPrefixes = r.prefixes("PSTN_ALLOWED_PREFIXES", "")
	c.PSTNBlockedPrefixes = r.prefixes("PSTN_BLOCKED_PREFIXES", DefaultPSTNBlockedPrefixes)

	c.QuotaUser = r.quotas("QUOTA_", DefaultUserQuotas)
	c.QuotaService = r.quotas("QUOTA_SERVICE_", DefaultServiceQuotas)
	c.QuotaChatPushesPerHour = r.intRange("QUOTA_CHAT_PUSHES_PER_HOUR", 600, 1, maxQuota)
	c.QuotaGuestRepliesPerHour = r.intRange("QUOTA_GUEST_REPLIES_PER_HOUR", 30, 1, maxQuota)
	c.QuotaRingsPerHour = r.intRange("QUOTA_RINGS_PER_HOUR", 100, 1, maxQuota)
	c.QuotaBotRingsPerHour = r.intRange("QUOTA_BOT_RINGS_PER_HOUR", 1000, 1, maxQuota)
	c.QuotaAppTeamsMeetingsPerDay = r.intRange("QUOTA_APP_TEAMS_MEETINGS_PER_DAY", 60, 1, maxQuota)

	c.EventGridTopicEndpoint = r.upstreamURL("EVENTGRID_TOPIC_ENDPOINT")
	c.EventGridTopicKey = r.str("EVENTGRID_TOPIC_KEY")
	if c.EventGridTopicKey != "" && c.EventGridTopicEndpoint == "" {
		r.fail("EVENTGRID_TOPIC_ENDPOINT", "is required when EVENTGRID_TOPIC_KEY is set")
	}

	c.EventsWebhookKey = r.str("EVENTS_WEBHOOK_KEY")
	if k := c.EventsWebhookKey; k != "" && len(k) < 32 {
		r.fail("EVENTS_WEBHOOK_KEY", "must be at least 32 characters (a random secret)")
	}

	r.turn(c)
	c.Teams = r.teams()
	c.ChatPushPreview = true
	if r.str("CHAT_PUSH_PREVIEW") != "" {
		c.ChatPushPreview = r.boolean("CHAT_PUSH_PREVIEW")
	}
	r.sms(c)

	c.LogLevel = strings.ToLower(r.strDefault("LOG_LEVEL", "info"))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.fail("LOG_LEVEL", "must be one of debug, info, warn, error")
	}

	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// reader keeps the first failure, so the handler reports one clear line.
type reader struct {
	getenv func(string) string
	err    *Error
}

func (r *reader) fail(name, problem string) {
	if r.err == nil {
		r.err = &Error{Setting: name, Problem: problem}
	}
}

func (r *reader) str(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) strDefault(name, def string) string {
	if v := r.str(name); v != "" {
		return v
	}
	return def
}

func (r *reader) required(name, v string) {
	if v == "" {
		r.fail(name, "is required but not set")
	}
}

func (r *reader) exactlyOne(a, av, b, bv string) {
	switch {
	case av == "" && bv == "":
		r.fail(a, fmt.Sprintf("or %s is required but neither is set", b))
	case av != "" && bv != "":
		r.fail(a, fmt.Sprintf("and %s are both set; set only one", b))
	}
}

func (r *reader) together(a, av, b, bv string) {
	if av != "" && bv == "" {
		r.fail(b, fmt.Sprintf("is required when %s is set", a))
	}
	if bv != "" && av == "" {
		r.fail(a, fmt.Sprintf("is required when %s is set", b))
	}
}

func (r *reader) port(name string) int {
	v := r.str(name)
	if v == "" {
		r.fail(name, "is required but not set (the Functions host sets it)")
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, fmt.Sprintf("must be a TCP port number, not %q", v))
	}
	return n
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v := r.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("must be a whole number from %d to %d, not %q", lo, hi, v))
		return def
	}
	return n
}

func (r *reader) boolean(name string) bool {
	v := r.str(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be true or false, not %q", v))
	}
	return b
}

func (r *reader) scopes(name, def string) []string {
	raw := r.strDefault(name, def)
	var out []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(ValidScopes, s) {
			r.fail(name, fmt.Sprintf("holds %q; ACS scopes are %s", s, strings.Join(ValidScopes, ", ")))
			return nil
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		r.fail(name, "must name at least one scope")
	}
	return out
}

// prefixes reads a comma-separated list of E.164 prefixes ("+44", "+1425").
func (r *reader) prefixes(name, def string) []string {
	var out []string
	for _, p := range strings.Split(r.strDefault(name, def), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !prefixRE.MatchString(p) {
			r.fail(name, fmt.Sprintf("holds %q; want E.164 prefixes such as +44 or +1425, comma-separated", p))
			return nil
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// maxQuota bounds a quota setting; it is large enough to mean "unlimited".
const maxQuota = 1_000_000

func (r *reader) quotas(prefix string, def Quotas) Quotas {
	return Quotas{
		TokensPerMinute:           r.intRange(prefix+"TOKENS_PER_MINUTE", def.TokensPerMinute, 1, maxQuota),
		CallsPerHour:              r.intRange(prefix+"CALLS_PER_HOUR", def.CallsPerHour, 1, maxQuota),
		InvitesPerHour:            r.intRange(prefix+"INVITES_PER_HOUR", def.InvitesPerHour, 1, maxQuota),
		DialsPerDay:               r.intRange(prefix+"DIALS_PER_DAY", def.DialsPerDay, 1, maxQuota),
		DeviceRegistrationsPerDay: r.intRange(prefix+"DEVICE_REGISTRATIONS_PER_DAY", def.DeviceRegistrationsPerDay, 1, maxQuota),
		RelayPerHour:              r.intRange(prefix+"RELAY_PER_HOUR", def.RelayPerHour, 1, maxQuota),
		SMSPerDay:                 r.intRange(prefix+"SMS_PER_DAY", def.SMSPerDay, 1, maxQuota),
		SpacesPerHour:             r.intRange(prefix+"SPACES_PER_HOUR", def.SpacesPerHour, 1, maxQuota),
		SpaceInvitesPerHour:       r.intRange(prefix+"SPACE_INVITES_PER_HOUR", def.SpaceInvitesPerHour, 1, maxQuota),
		CallAutomationPerHour:     r.intRange(prefix+"CALL_AUTOMATION_PER_HOUR", def.CallAutomationPerHour, 1, maxQuota),
		RevocationsPerHour:        r.intRange(prefix+"REVOCATIONS_PER_HOUR", def.RevocationsPerHour, 1, maxQuota),
		TeamsMeetingsPerDay:       r.intRange(prefix+"TEAMS_MEETINGS_PER_DAY", def.TeamsMeetingsPerDay, 1, maxQuota),
	}
}

func (r *reader) base64url(name, v string, size int) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil || len(b) != size {
		r.fail(name, fmt.Sprintf("must be %d bytes in base64url (as `npx web-push generate-vapid-keys` prints)", size))
	}
}

// upstreamURL reads an optional URL the handler calls: https, or plain http
// to a loopback host only (local emulators).
func (r *reader) upstreamURL(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if err := CheckUpstreamURL(v); err != nil {
		r.fail(name, err.Error())
	}
	return v
}

// publicURL reads an optional absolute base URL that others call us on.
func (r *reader) publicURL(name string) string {
	v := strings.TrimRight(r.str(name), "/")
	if v == "" {
		return ""
	}
	if err := CheckUpstreamURL(v); err != nil {
		r.fail(name, err.Error())
	}
	return v
}

func (r *reader) acsConnectionString(name, v string) {
	var endpoint, key string
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			endpoint = strings.TrimSpace(val)
		case "accesskey":
			key = strings.TrimSpace(part[len(k)+1:])
		}
	}
	if endpoint == "" || key == "" {
		r.fail(name, "must look like endpoint=https://<resource>.communication.azure.com/;accesskey=<key>")
		return
	}
	if _, err := base64.StdEncoding.DecodeString(key); err != nil {
		r.fail(name, "has an accesskey that is not base64; copy it again from the resource's Keys page")
		return
	}
	if err := CheckUpstreamURL(endpoint); err != nil {
		r.fail(name, "endpoint "+err.Error())
	}
}

// CheckUpstreamURL accepts absolute https URLs, and http only for loopback hosts.
func CheckUpstreamURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute URL such as https://example.com/")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("must use https (plain http is accepted only for loopback hosts, not %q)", u.Hostname())
	default:
		return fmt.Errorf("must be an https URL, not %s:", u.Scheme)
	}
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
