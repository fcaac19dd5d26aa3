// Package stack starts Switchboard's whole local stack: Azurite, the local
// OIDC issuer, the ACS emulator, and the staged function app behind the
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
	"strconv"
	"time"

	"switchboard/dev/acsemu"
	"switchboard/dev/appdir"
	"switchboard/dev/azurite"
	"switchboard/dev/funchost"
	"switchboard/dev/oidc"
	"switchboard/dev/pushemu"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// Audience is the audience of the development tokens.
const Audience = "api://switchboard"

// DevAccessKey is the ACS emulator's fixed key in `make run`, so that
// local.settings.sample.json can name it; tests use a random one.
var DevAccessKey = []byte("switchboard-dev-key-not-a-secret")

// DevTokenCacheKey is `make run`'s TOKEN_CACHE_KEY (base64 of 32 bytes), so
// that local.settings.sample.json can name it; it protects nothing.
const DevTokenCacheKey = "c3dpdGNoYm9hcmQtZGV2LWNhY2hlLWtleS0wMTIzNDU="

// WebPushAllowedHosts is the stack's WEBPUSH_ALLOWED_HOSTS: the handler's
// default list plus the loopback hosts the Web Push emulator listens on.
const WebPushAllowedHosts = "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com,127.0.0.1,::1,localhost"

// Ports fix where `make run` listens (0 = a random free port). Tests leave them 0.
type Ports struct {
	Host, Issuer, ACS, Azurite, NotificationHubs, PushReceivers int
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
	// Stdout and Stderr receive the handler's output; default discard.
	Stdout, Stderr io.Writer
}

// Stack is a running local stack.
type Stack struct {
	Azurite *azurite.Server
	Issuer  *oidc.Issuer
	ACS     *acsemu.Emulator
	Push    *pushemu.Emulators
	Host    *funchost.Host
	// Env is the handler's settings, as passed to it.
	Env []string
	// EventsKey is the key of the handler's direct Event Grid webhook.
	EventsKey string
	AppDir    string

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

	if s.ACS, err = acsemu.Start(acsemu.Options{Addr: addr(opts.Ports.ACS), AccessKey: opts.ACSAccessKey}); err != nil {
		return nil, fmt.Errorf("acs emulator: %w", err)
	}
	s.closers = append(s.closers, s.ACS.Close)

	if s.Push, err = pushemu.Start(pushemu.Options{NHAddr: addr(opts.Ports.NotificationHubs), HTTPAddr: addr(opts.Ports.PushReceivers)}); err != nil {
		return nil, fmt.Errorf("push emulators: %w", err)
	}
	s.closers = append(s.closers, s.Push.Close)
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
		// The push emulators serve TLS with their own certificate: trust it the
		// standard way (Go reads SSL_CERT_FILE), with no special code path.
		"SSL_CERT_FILE=" + s.Push.CAFile(),
		"LOG_LEVEL=info",
	}
	s.Env = append(s.Env, opts.Env...)
	out, errOut := opts.Stdout, opts.Stderr
	if out == nil {
		out = io.Discard
	}
	if errOut == nil {
		errOut = io.Discard
	}
	s.Host, err = funchost.Start(ctx, app, funchost.Options{
		Env:          s.Env,
		Stdout:       out,
		Stderr:       errOut,
		ListenAddr:   addr(hostPort),
		ReadyTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("functions host stand-in: %w", err)
	}
	s.closers = append(s.closers, s.Host.Close)
	return s, nil
}

// URL is the function app's base URL (as a client app would call it).
func (s *Stack) URL() string { return s.Host.URL() }

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
