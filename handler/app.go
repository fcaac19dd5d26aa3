package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/bots"
	"switchboard/handler/internal/calls"
	"switchboard/handler/internal/chat"
	"switchboard/handler/internal/config"
	"switchboard/handler/internal/customhandler"
	"switchboard/handler/internal/devices"
	"switchboard/handler/internal/egress"
	"switchboard/handler/internal/events"
	"switchboard/handler/internal/fanout"
	"switchboard/handler/internal/graph"
	"switchboard/handler/internal/guests"
	"switchboard/handler/internal/health"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/openapi"
	"switchboard/handler/internal/publish"
	"switchboard/handler/internal/push"
	"switchboard/handler/internal/quota"
	"switchboard/handler/internal/relay"
	"switchboard/handler/internal/spaces"
	"switchboard/handler/internal/store"
)

// app is the wired handler: every dependency built once at start. Nothing
// here talks to the network; dependencies connect on first use, so the
// readiness probe is answered at once.
type app struct {
	cfg    *config.Config
	log    *slog.Logger
	router *httpapi.Router
	// warm runs in the background once listening: what the first requests would otherwise wait for.
	warm func(context.Context) error
}

func newApp(cfg *config.Config, log *slog.Logger) (*app, error) {
	var cred azcore.TokenCredential
	managedIdentity := func() (azcore.TokenCredential, error) {
		if cred != nil {
			return cred, nil
		}
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("managed identity: %w", err)
		}
		cred = c
		return c, nil
	}

	storeCfg := store.Config{ConnectionString: cfg.StorageConnectionString, TableEndpoint: cfg.StorageTableEndpoint, Prefix: cfg.TablePrefix}
	if cfg.StorageTableEndpoint != "" {
		c, err := managedIdentity()
		if err != nil {
			return nil, fmt.Errorf("setting STORAGE_TABLE_ENDPOINT: %w", err)
		}
		storeCfg.Credential = c
	}
	st, err := store.New(storeCfg)
	if err != nil {
		return nil, fmt.Errorf("setting STORAGE_CONNECTION_STRING/STORAGE_TABLE_ENDPOINT: %w", err)
	}

	limits, err := quota.New(st, quota.Config{User: quotaLimits(cfg, cfg.QuotaUser, cfg.QuotaRingsPerHour), Service: quotaLimits(cfg, cfg.QuotaService, cfg.QuotaBotRingsPerHour)})
	if err != nil {
		return nil, fmt.Errorf("settings QUOTA_*: %w", err)
	}
	// App-wide bounds, whoever spends (calls.AppTeamsSubject): Teams meetings
	// per day (QUOTA_APP_TEAMS_MEETINGS_PER_DAY); only that quota is spent here.
	appBounds := quota.Every(1, quota.Limits{quota.TeamsMeetings: cfg.QuotaAppTeamsMeetingsPerDay})
	appLimits, err := quota.New(st, quota.Config{User: appBounds, Service: appBounds})
	if err != nil {
		return nil, fmt.Errorf("setting QUOTA_APP_TEAMS_MEETINGS_PER_DAY: %w", err)
	}

	var acsClient *acs.Client
	acsOpts := &acs.ClientOptions{CallAutomationAPIVersion: cfg.ACSCallAutomationAPIVersion}
	if cfg.ACSConnectionString != "" {
		acsClient, err = acs.NewClientFromConnectionString(cfg.ACSConnectionString, acsOpts)
	} else {
		var c azcore.TokenCredential
		if c, err = managedIdentity(); err == nil {
			acsClient, err = acs.NewClientWithTokenCredential(cfg.ACSEndpoint, c, acsOpts)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("setting ACS_CONNECTION_STRING/ACS_ENDPOINT: %w", err)
	}

	authn, err := auth.New(auth.Config{
		Issuer:      cfg.AuthIssuer,
		Audience:    cfg.AuthAudience,
		UserClaim:   cfg.AuthUserClaim,
		EasyAuth:    cfg.AuthEasyAuth,
		ServiceRole: cfg.AuthServiceRole,
	})
	if err != nil {
		return nil, fmt.Errorf("setting AUTH_ISSUER: %w", err)
	}

	ids := identity.NewService(st, acsClient, identity.Options{
		AllowedScopes: cfg.TokenScopes,
		DefaultScopes: cfg.TokenDefaultScopes,
		MaxContacts:   cfg.MaxContacts,

		TokenCacheKey:         cfg.TokenCacheKey,
		TokenCacheKeyPrevious: cfg.TokenCacheKeyPrevious,
	})

	if cfg.PushAllowLoopbackTargets {
		log.Warn("PUSH_ALLOW_LOOPBACK_TARGETS is true: webhooks and Web Push may reach loopback addresses; for local development only")
	}
	senders, err := newSenders(cfg)
	if err != nil {
		return nil, err
	}
	devs := devices.NewService(st, func(ctx context.Context, userID string) (string, error) {
		u, err := ids.Profile(ctx, userID)
		return u.ACSUserID, err
	}, senders, devices.Options{TTL: cfg.DeviceTTL, Max: cfg.MaxDevices})
	ids.OnErase(devs.EraseUser)
	// Incoming-call pushes spend the caller's QUOTA_RINGS_PER_HOUR.
	fan := fanout.NewService(st, devs, senders, limits)
	spc := spaces.NewService(st, ids)
	ids.AddRelation(spc.ShareSpace)
	ids.OnErase(spc.EraseUser)
	var pub *publish.Publisher
	if cfg.EventGridTopicEndpoint != "" {
		pcfg := publish.Config{Endpoint: cfg.EventGridTopicEndpoint, Key: cfg.EventGridTopicKey}
		if pcfg.Key == "" {
			if pcfg.Credential, err = managedIdentity(); err != nil {
				return nil, fmt.Errorf("setting EVENTGRID_TOPIC_ENDPOINT: %w", err)
			}
		}
		if pub, err = publish.New(pcfg); err != nil {
			return nil, fmt.Errorf("setting EVENTGRID_TOPIC_ENDPOINT: %w", err)
		}
	}
	callOpts := calls.Options{PublicBaseURL: cfg.PublicBaseURL, PSTNCallerID: cfg.ACSPSTNCallerID,
		PSTN: calls.PSTNPolicy{Role: cfg.AuthPSTNRole, Allowed: cfg.PSTNAllowedPrefixes, Blocked: cfg.PSTNBlockedPrefixes}}
	if cfg.ACSResourceID != "" {
		callOpts.Callbacks = calls.NewCallbackAuth(cfg.ACSCallbackOIDCConfig, cfg.ACSResourceID)
	}
	cls := calls.NewService(st, ids, spc, fan, pub, acsClient, callOpts)
	// Rings are charged to the caller's lasting identity; the app's own calls spend none.
	// Cheapest first: a phone, an app identity this instance knows, an app
	// user or bot (one read for a user's ring); only a caller none of those
	// is checked against the recorded app identities.
	ringCallers := func(ctx context.Context, caller string) (string, bool, error) {
		if n, ok := strings.CutPrefix(caller, "4:"); ok {
			return "tel:" + n, false, nil
		}
		if cls.KnownAppSource(caller) {
			return "", true, nil
		}
		uid, err := ids.UserByACSID(ctx, caller)
		switch {
		case err == nil:
			return "user:" + uid, false, nil
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalidKey):
			return "", false, err
		}
		if app, err := cls.IsAppSource(ctx, caller); err != nil || app {
			return "", app, err
		}
		return "acs:" + caller, false, nil
	}
	fan.UseCallers(ringCallers)
	if cfg.Teams.Enabled() {
		meetings, err := newGraph(cfg.Teams)
		if err != nil {
			return nil, err
		}
		cls.EnableTeams(calls.TeamsOptions{Graph: meetings, Spaces: spc, Organizer: cfg.Teams.OrganizerID,
			LobbyBypass: cfg.Teams.LobbyBypass, AppID: cfg.Teams.ClientID})
	}
	ids.OnErase(cls.EraseUser)
	cht, err := newChat(cfg, st, acsClient, fan, spc, cls, limits)
	if err != nil {
		return nil, err
	}
	if cht != nil {
		ids.OnErase(cht.EraseUser)
	}

	// Relay credentials spend the relay-credentials quota (QUOTA_RELAY_PER_HOUR).
	rel, err := relay.NewService(relay.Config{
		URLs:    cfg.TURNURLs,
		Secret:  cfg.TURNSharedSecret,
		UserKey: cfg.TURNUserKey,
		MaxTTL:  time.Duration(cfg.TURNTTLMinutes) * time.Minute,
	}, relay.Options{Limit: func(ctx context.Context, userID string, service bool) error {
		return limits.Take(ctx, quota.Subject{User: userID, Service: service}, quota.Cost{Quota: quota.Relay, N: 1})
	}})
	if err != nil {
		return nil, fmt.Errorf("setting TURN_URLS: %w", err)
	}

	// SMS guests of room calls (off without ACS_SMS_FROM); texts spend QUOTA_SMS_PER_DAY.
	gst := guests.NewService(st, guests.Config{From: cfg.SMS.From, Template: cfg.SMS.Template, JoinURL: cfg.SMS.JoinURL,
		Allowed: cfg.SMS.Allowed, Blocked: cfg.SMS.Blocked, MaxGuests: cfg.SMS.MaxGuests},
		cls, ids, acsClient, acsClient.SMS(""), fan, limits)
	cls.UseGuests(gst)
	// Calls bots answer spend the caller's QUOTA_RINGS_PER_HOUR too.
	bts := bots.NewService(st, ids, acsClient, limits, bots.Options{Callers: ringCallers, PublicBaseURL: cfg.PublicBaseURL, CognitiveServicesEndpoint: cfg.ACSCognitiveServicesEndpoint,
		PSTNCallerID: cfg.ACSPSTNCallerID, PSTN: callOpts.PSTN, Callbacks: callOpts.Callbacks, Calls: cls,
		Spaces: spc, CallAutomationAPIVersion: acsClient.CallAutomationAPIVersion(), CallLogRetention: cfg.BotCallLogRetention,
		Forget: ids.Erase})
	// Bots are parties users may reach once a service names them ("bot:<botId>").
	ids.SetBots(bts.Party, bts.BotByACSID)

	dispatch := events.NewDispatcher()
	// A bot's IncomingCalls are answered by the bot; everyone else's go to the push fan-out.
	dispatch.Handle(azsystemevents.TypeACSIncomingCall, bts.IncomingCall(fan.IncomingCall))
	dispatch.Handle(azsystemevents.TypeACSRecordingFileStatusUpdated, cls.RecordingFileReady)
	cls.Events(dispatch)
	if cht != nil {
		dispatch.Handle(azsystemevents.TypeACSChatMessageReceived, cht.MessageReceived)
	}
	gst.Events(dispatch)

	rt := httpapi.NewRouter(log)
	rt.HandleFunc("GET /{$}", customhandler.Readiness)
	fns := customhandler.NewFunctions()
	fns.Register("callevents", dispatch.Function("event"))
	fns.Register("housekeeping", housekeeping(devs, fan, limits, cht, gst, bts))
	rt.Handle("POST /{function}", fns)
	rt.Handle("POST /api/events", dispatch.Webhook(cfg.EventsWebhookKey))
	rt.HandleFunc("OPTIONS /api/events", events.WebhookOptions)
	rt.Handle("GET /api/health", health.NewHandler(version, map[string]health.Check{
		"storage": st.Ping,
		"auth":    authn.Check,
	}).DetailsFor(authn.IsService))
	identity.Routes(rt, authn, ids, limits)
	devices.Routes(rt, authn, devs, limits)
	spaces.Routes(rt, authn, spc, limits)
	calls.Routes(rt, authn, cls, limits, appLimits)
	calls.CallbackRoute(rt, cls)
	guests.Routes(rt, authn, gst)
	bots.Routes(rt, authn, bts)
	bots.CallbackRoute(rt, bts)
	bots.JoinRoute(rt, authn, bts, limits)
	calls.RecordingRoutes(rt, authn, cls, limits)
	relay.Routes(rt, authn, rel)
	calls.TeamsRoutes(rt, authn, cls)
	openapi.Route(rt)

	return &app{cfg: cfg, log: log, router: rt, warm: authn.Warm}, nil
}

// newGraph builds the Graph client for Teams meetings: client credentials
// when GRAPH_CLIENT_SECRET is set, otherwise the managed identity.
func newGraph(t config.Teams) (*graph.Client, error) {
	cred, err := graph.NewCredential(graph.CredentialConfig{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret, AuthorityHost: t.AuthorityHost})
	if err != nil {
		return nil, fmt.Errorf("setting GRAPH_CLIENT_ID/GRAPH_CLIENT_SECRET: %w", err)
	}
	c, err := graph.NewClient(t.Endpoint, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("setting GRAPH_ENDPOINT: %w", err)
	}
	return c, nil
}

// newSenders builds the push providers this deployment is configured for.
// Webhook and Web Push targets are end users' URLs: both go through one
// egress guard (the Notification Hubs endpoint is the operator's).
func newSenders(cfg *config.Config) (*push.Senders, error) {
	guard := egress.New(&egress.Options{AllowLoopback: cfg.PushAllowLoopbackTargets})
	s := &push.Senders{Webhook: push.NewWebhookSender(guard)}
	if cfg.NotificationHubConnectionString != "" {
		hub, err := push.NewNotificationHub(push.NotificationHubsConfig{
			ConnectionString: cfg.NotificationHubConnectionString,
			Hub:              cfg.NotificationHubName,
			APNsVoIPTopic:    cfg.APNSVoIPTopic,
		})
		if err != nil {
			return nil, fmt.Errorf("setting NOTIFICATION_HUB_CONNECTION_STRING: %w", err)
		}
		s.NotificationHub = hub
	}
	if cfg.WebPushVAPIDPublicKey != "" {
		wp, err := push.NewWebPushSender(push.WebPushConfig{
			PublicKey: cfg.WebPushVAPIDPublicKey, PrivateKey: cfg.WebPushVAPIDPrivateKey, Subject: cfg.WebPushSubject,
			AllowedHosts: cfg.WebPushAllowedHosts, Guard: guard,
		})
		if err != nil {
			return nil, fmt.Errorf("setting WEBPUSH_VAPID_PUBLIC_KEY: %w", err)
		}
		s.WebPush = wp
	}
	return s, nil
}

// quotaLimits maps the settings of one kind of caller onto the quotas.
// rings is the rings limit: per caller and callee in user buckets; the
// service bucket of a bot party (no service caller rings) is the bot's
// total of answered calls (bots.Service.answer).
func quotaLimits(cfg *config.Config, q config.Quotas, rings int) quota.Limits {
	return quota.Limits{
		quota.Tokens:              q.TokensPerMinute,
		quota.Calls:               q.CallsPerHour,
		quota.Invites:             q.InvitesPerHour,
		quota.Dials:               q.DialsPerDay,
		quota.DeviceRegistrations: q.DeviceRegistrationsPerDay,
		quota.Relay:               q.RelayPerHour,
		quota.SMS:                 q.SMSPerDay,
		quota.Spaces:              q.SpacesPerHour,
		quota.SpaceInvites:        q.SpaceInvitesPerHour,
		quota.CallAutomation:      q.CallAutomationPerHour,
		quota.Revocations:         q.RevocationsPerHour,
		quota.TeamsMeetings:       q.TeamsMeetingsPerDay,
		// Events have no service caller: one limit, whoever's bucket.
		quota.ChatPushes:   cfg.QuotaChatPushesPerHour,
		quota.GuestReplies: cfg.QuotaGuestRepliesPerHour,
		quota.Rings:        rings,
		// The join code is the guest's credential: fixed limits, per code and per source.
		quota.GuestCodeExchanges:   guests.CodeExchangesPerHour,
		quota.GuestExchangeSources: guests.SourceExchangesPerMinute,
	}
}

// newChat builds chat threads for spaces and calls when clients may hold
// chat tokens (TOKEN_SCOPES has chat); nil otherwise. Chat takes ACS user
// tokens only: Switchboard acts there as an ACS identity of its own.
func newChat(cfg *config.Config, st *store.Store, acsClient *acs.Client, fan *fanout.Service, spc *spaces.Service, cls *calls.Service, limits *quota.Limiter) (*chat.Service, error) {
	if !slices.Contains(cfg.TokenScopes, acs.ScopeChat) {
		return nil, nil
	}
	self := chat.NewIdentity(st, acsClient)
	client, err := acs.NewChatClient(acsClient.Endpoint(), self, nil)
	if err != nil {
		return nil, fmt.Errorf("setting ACS_CONNECTION_STRING/ACS_ENDPOINT: chat: %w", err)
	}
	// Message pushes spend the sender's QUOTA_CHAT_PUSHES_PER_HOUR.
	cht := chat.NewService(st, self, client, fan, limits, chat.Options{PushPreview: cfg.ChatPushPreview})
	spc.SetChat(cht)
	cls.SetChat(cht)
	cht.AddSource(spaces.ChatKind, spc.ThreadSource)
	cht.AddSource(calls.ChatKind, cls.ThreadSource)
	return cht, nil
}

// housekeeping is the timer function: it deletes expired device
// registrations, delivery claims Event Grid can no longer redeliver, and
// quota rows none of whose windows count any more, reconciles chat threads
// with their members (cht may be nil: chat off), sweeps SMS guests of ended
// calls and resends queued texts, and deletes bot call claims past the
// redelivery window and bot calls past BOT_CALL_LOG_RETENTION_DAYS.
func housekeeping(devs *devices.Service, fan *fanout.Service, limits *quota.Limiter, cht *chat.Service, gst *guests.Service, bts *bots.Service) customhandler.Func {
	return func(ctx context.Context, inv *customhandler.Invocation) (map[string]any, error) {
		n, err := devs.DeleteExpired(ctx)
		if err != nil {
			return nil, err
		}
		inv.Logf("deleted %d expired device registrations", n)
		m, err := fan.Prune(ctx, 48*time.Hour)
		if err != nil {
			return nil, err
		}
		inv.Logf("deleted %d old delivery claims", m)
		q, err := limits.DeleteExpired(ctx)
		if err != nil {
			return nil, err
		}
		inv.Logf("deleted %d expired quota rows", q)
		if cht != nil {
			k, err := cht.Reconcile(ctx)
			inv.Logf("reconciled %d chat threads", k)
			if err != nil {
				return nil, err
			}
		}
		g, resent, err := gst.Sweep(ctx)
		if err != nil {
			return nil, err
		}
		inv.Logf("deleted %d guests of ended calls; resent %d queued texts", g, resent)
		claims, botCalls, err := bts.Prune(ctx)
		inv.Logf("deleted %d old bot call claims and %d bot calls past the call log's retention", claims, botCalls)
		if err != nil {
			return nil, err
		}
		return nil, nil
	}
}

func (a *app) serve(ctx context.Context) error {
	return customhandler.Serve(ctx, a.cfg.Port, a.router, a.log, func(addr string) {
		a.log.Info("listening", "addr", addr, "version", version)
		if a.warm != nil {
			// Discovery and the key set, fetched now rather than by the first
			// request; readiness does not wait for them, and a failure here
			// only means the first request tries again.
			go func() {
				if err := a.warm(ctx); err != nil {
					a.log.Warn("could not reach the identity provider at start; requests will try again", "err", err)
				}
			}()
		}
	})
}
