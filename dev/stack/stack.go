// Package stack starts Switchboard's whole local stack: Azurite, the local
// OIDC issuer, the ACS emulator, the push, Entra and Graph emulators, and
// the staged function app behind the
// Functions host stand-in, with the handler's settings pointing at them.
// `make run`, the end-to-end tests and the benchmarks all start it here.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/appdir"
	"switchboard/dev/azurite"
	"switchboard/dev/devtls"
	"switchboard/dev/entraemu"
	"switchboard/dev/funchost"
	"switchboard/dev/graphemu"
	"switchboard/dev/oidc"
	"switchboard/dev/pushemu"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// Audience is the audience of the development tokens.
const Audience = "api://switchboard"

// SMSFrom is the stack's ACS_SMS_FROM, a toll-free number.
const SMSFrom = "+18005550100"

// DevAccessKey is the ACS emulator's fixed key in `make run`, so that
// local.settings.sample.json can name it; tests use a random one.
var DevAccessKey = []byte("switchboard-dev-key-not-a-secret")

// DevTokenCacheKey is `make run`'s TOKEN_CACHE_KEY (base64 of 32 bytes), so
// that local.settings.sample.json can name it; it protects nothing.
const DevTokenCacheKey = "c3dpdGNoYm9hcmQtZGV2LWNhY2hlLWtleS0wMTIzNDU="

// WebPushAllowedHosts is the stack's WEBPUSH_ALLOWED_HOSTS: the handler's
// default list plus the loopback hosts the Web Push emulator listens on.
const WebPushAllowedHosts = "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com,127.0.0.1,::1,localhost"

// The Entra tenant, Graph app and Teams organizer of the local stack: fixed
// ids, so logs and `make run` read the same every time (the secret is random).
const (
	DevTenantID       = "72f988bf-0000-4000-8000-00000000d3e0"
	DevGraphClientID  = "5b1c1a2e-0000-4000-8000-00000000a991"
	DevTeamsOrganizer = "0a7e2b1c-0000-4000-8000-0000000009a1"
)

// Ports fix where `make run` listens (0 = a random free port). Tests leave them 0.
type Ports struct {
	Host, Issuer, ACS, Azurite, NotificationHubs, PushReceivers int
	Entra, Graph                                                int
}

// Options configure a stack.
type Options struct {
	Ports Ports
	// AppDir is where the app is staged; default a temporary folder.
	AppDir string
	// Binary, if set, is a prebuilt handler to stage instead of building one.
	Binary string
	// ACSAccessKey defaults to a random key (DevAccessKey for `make run`).
	ACSAccessKey []byte
	// Env overrides or adds handler settings ("KEY=value").
	Env []string
	// WithoutTeams leaves TEAMS_* and GRAPH_* unset (Teams meetings off).
	WithoutTeams bool
	// Stdout and Stderr receive the handler's output; default discard.
	Stdout, Stderr io.Writer
	// SMSEventsAuto has the ACS emulator deliver its SMS events (delivery
	// reports, texts from guests) to callevents as soon as they are raised,
	// as Event Grid would (`make run`); otherwise they wait for
	// ACS.DeliverSMSEvents (tests, deterministic).
	SMSEventsAuto bool
	// Journal keeps the last JournalSize requests the host stand-in passed
	// to the handler (Host.Journal), for the developer console.
	Journal bool
}

// JournalSize is how many requests the host keeps when Options.Journal is set.
const JournalSize = 500

// Stack is a running local stack.
type Stack struct {
	Azurite *azurite.Server
	Issuer  *oidc.Issuer
	ACS     *acsemu.Emulator
	Push    *pushemu.Emulators
	Entra   *entraemu.Emulator
	Graph   *graphemu.Emulator
	// GraphApp is the app registration the handler's Graph credential is,
	// and TeamsOrganizer the Entra user who organizes its meetings (a
	// user of the Graph emulator's tenant whom the app's access policy grants).
	GraphApp       entraemu.App
	TeamsOrganizer string
	Host           *funchost.Host
	// Env is the handler's settings, as passed to it.
	Env []string
	// EventsKey is the key of the handler's direct Event Grid webhook.
	EventsKey string
	AppDir    string
	// CAFile trusts every local TLS emulator (SSL_CERT_FILE; NODE_EXTRA_CA_CERTS for Node).
	CAFile string

	journal bool
	closers []func() error
}

// Start brings the stack up; Close takes it down.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	s = &Stack{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	repo, err := appdir.RepoRoot()
	if err != nil {
		return nil, err
	}

	if s.Azurite, err = azurite.Start(ctx, azurite.Options{Port: opts.Ports.Azurite}); err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	s.closers = append(s.closers, s.Azurite.Close)

	if s.Issuer, err = oidc.Start(oidc.Options{Addr: addr(opts.Ports.Issuer)}); err != nil {
		return nil, fmt.Errorf("oidc issuer: %w", err)
	}
	s.closers = append(s.closers, s.Issuer.Close)

	// https, as ACS: the Chat SDK refuses plain http.
	if s.ACS, err = acsemu.Start(acsemu.Options{Addr: addr(opts.Ports.ACS), AccessKey: opts.ACSAccessKey, TLS: true}); err != nil {
		return nil, fmt.Errorf("acs emulator: %w", err)
	}
	s.closers = append(s.closers, s.ACS.Close)

	if s.Push, err = pushemu.Start(pushemu.Options{NHAddr: addr(opts.Ports.NotificationHubs), HTTPAddr: addr(opts.Ports.PushReceivers)}); err != nil {
		return nil, fmt.Errorf("push emulators: %w", err)
	}
	s.closers = append(s.closers, s.Push.Close)
	tenant, err := graphemu.StartTenant(graphemu.TenantOptions{EntraAddr: addr(opts.Ports.Entra), GraphAddr: addr(opts.Ports.Graph),
		TenantID: DevTenantID, ClientID: DevGraphClientID, Organizer: DevTeamsOrganizer})
	if err != nil {
		return nil, fmt.Errorf("entra and graph emulators: %w", err)
	}
	s.closers = append(s.closers, tenant.Close)
	s.Entra, s.Graph, s.GraphApp, s.TeamsOrganizer = tenant.Entra, tenant.Graph, tenant.App, tenant.Organizer
	// SSL_CERT_FILE names a single file: the push, ACS, Entra and Graph
	// emulators' certificates go in one bundle.
	caDir, err := os.MkdirTemp("", "switchboard-ca-")
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { return os.RemoveAll(caDir) })
	s.CAFile = filepath.Join(caDir, "ca.pem")
	acsPEM, err := os.ReadFile(s.ACS.CAFile())
	if err != nil {
		return nil, fmt.Errorf("ACS emulator certificate: %w", err)
	}
	if err := devtls.WriteBundle(s.CAFile, s.Push.CAPEM(), tenant.Cert.PEM(), acsPEM); err != nil {
		return nil, err
	}

	vapidPrivate, vapidPublic, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return nil, err
	}
	s.EventsKey = randomKey()

	s.AppDir = opts.AppDir
	if s.AppDir == "" {
		if s.AppDir, err = os.MkdirTemp("", "switchboard-app-"); err != nil {
			return nil, err
		}
		dir := s.AppDir
		s.closers = append(s.closers, func() error { return os.RemoveAll(dir) })
	}
	if opts.Binary != "" {
		if err := appdir.StageWithBinary(repo, s.AppDir, opts.Binary); err != nil {
			return nil, err
		}
	} else if _, err := appdir.Stage(ctx, repo, s.AppDir, appdir.Options{}); err != nil {
		return nil, err
	}
	app, err := funchost.Load(s.AppDir)
	if err != nil {
		return nil, err
	}

	hostPort := opts.Ports.Host
	if hostPort == 0 {
		if hostPort, err = funchost.FreePort(); err != nil {
			return nil, err
		}
	}
	s.Env = []string{
		"STORAGE_CONNECTION_STRING=" + s.Azurite.ConnectionString(),
		"ACS_CONNECTION_STRING=" + s.ACS.ConnectionString(),
		"AUTH_ISSUER=" + s.Issuer.URL(),
		"AUTH_AUDIENCE=" + Audience,
		"TOKEN_SCOPES=voip,chat",
		"TOKEN_DEFAULT_SCOPES=voip",
		"PUBLIC_BASE_URL=http://127.0.0.1:" + strconv.Itoa(hostPort),
		"ACS_RESOURCE_ID=" + s.ACS.ResourceID(),
		"ACS_CALLBACK_OIDC_CONFIG=" + s.ACS.OIDCConfigURL(),
		"ACS_PSTN_CALLER_ID=+14255550100",
		// Bots' text-to-speech: the emulator needs only an https endpoint.
		"ACS_COGNITIVE_SERVICES_ENDPOINT=https://switchboard-dev.cognitiveservices.azure.com/",
		// The fictional 555 range only: dialling also needs AUTH_PSTN_ROLE
		// (mint a token with role=Switchboard.Dial) or a service caller.
		"PSTN_ALLOWED_PREFIXES=+1425555",
		"NOTIFICATION_HUB_CONNECTION_STRING=" + s.Push.ConnectionString(),
		"NOTIFICATION_HUB_NAME=" + s.Push.Hub(),
		"APNS_VOIP_TOPIC=com.example.switchboard.voip",
		"WEBPUSH_VAPID_PUBLIC_KEY=" + vapidPublic,
		"WEBPUSH_VAPID_PRIVATE_KEY=" + vapidPrivate,
		"WEBPUSH_SUBJECT=mailto:dev@example.com",
		// The push emulators listen on loopback, which only local development
		// may reach; the browsers' real push services stay allowed too.
		"PUSH_ALLOW_LOOPBACK_TARGETS=true",
		"WEBPUSH_ALLOWED_HOSTS=" + WebPushAllowedHosts,
		"EVENTS_WEBHOOK_KEY=" + s.EventsKey,
		// SMS guests: texts from a toll-free number to the fictional 555 range,
		// join links on the host's own URL.
		"ACS_SMS_FROM=" + SMSFrom,
		"GUEST_JOIN_URL=http://127.0.0.1:" + strconv.Itoa(hostPort) + "/join?code={code}",
		"SMS_ALLOWED_PREFIXES=+1425555",
		// The push, ACS, Entra and Graph emulators serve TLS with their own
		// certificates: trust them the standard way (Go reads SSL_CERT_FILE),
		// with no special code path.
		"SSL_CERT_FILE=" + s.CAFile,
		"LOG_LEVEL=info",
	}
	if !opts.WithoutTeams {
		s.Env = append(s.Env,
			"TEAMS_ORGANIZER_ID="+s.TeamsOrganizer,
			"GRAPH_TENANT_ID="+s.Entra.TenantID(),
			"GRAPH_CLIENT_ID="+s.GraphApp.ClientID,
			"GRAPH_CLIENT_SECRET="+s.GraphApp.Secret,
			"GRAPH_AUTHORITY_HOST="+s.Entra.AuthorityHost(),
			"GRAPH_ENDPOINT="+s.Graph.Endpoint(),
		)
	}
	s.Env = append(s.Env, opts.Env...)
	out, errOut := opts.Stdout, opts.Stderr
	if out == nil {
		out = io.Discard
	}
	if errOut == nil {
		errOut = io.Discard
	}
	hostOpts := funchost.Options{
		Env:          s.Env,
		Stdout:       out,
		Stderr:       errOut,
		ListenAddr:   addr(hostPort),
		ReadyTimeout: 30 * time.Second,
	}
	if opts.Journal {
		hostOpts.JournalSize = JournalSize
		s.journal = true
	}
	s.Host, err = funchost.Start(ctx, app, hostOpts)
	if err != nil {
		return nil, fmt.Errorf("functions host stand-in: %w", err)
	}
	s.closers = append(s.closers, s.Host.Close)
	// The ACS resource's system topic: IncomingCall, recording, chat and SMS
	// events reach the callevents function through the host stand-in, as
	// Event Grid delivers them.
	host := s.Host
	s.ACS.SetEventSink(func(ctx context.Context, batch []byte) error {
		return host.DeliverEventGrid(ctx, "callevents", batch)
	}, opts.SMSEventsAuto)
	return s, nil
}

// URL is the function app's base URL (as a client app would call it).
func (s *Stack) URL() string { return s.Host.URL() }

// JournalOn reports whether the host keeps a journal (Options.Journal).
func (s *Stack) JournalOn() bool { return s.journal }

// Token mints a development bearer token for an app user.
func (s *Stack) Token(userID, name string) (string, error) {
	return s.Issuer.MintUser(userID, name, time.Hour, nil)
}

// Close stops everything, last started first.
func (s *Stack) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func randomKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
