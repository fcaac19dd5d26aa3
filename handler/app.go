package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/config"
	"switchboard/handler/internal/customhandler"
	"switchboard/handler/internal/health"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/identity"
	"switchboard/handler/internal/store"
)

// app is the wired handler: every dependency built once at start. Nothing
// here talks to the network; dependencies connect on first use, so the
// readiness probe is answered at once.
type app struct {
	cfg    *config.Config
	log    *slog.Logger
	router *httpapi.Router
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

	var acsClient *acs.Client
	if cfg.ACSConnectionString != "" {
		acsClient, err = acs.NewClientFromConnectionString(cfg.ACSConnectionString, nil)
	} else {
		var c azcore.TokenCredential
		if c, err = managedIdentity(); err == nil {
			acsClient, err = acs.NewClientWithTokenCredential(cfg.ACSEndpoint, c, nil)
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
	})

	rt := httpapi.NewRouter(log)
	rt.HandleFunc("GET /{$}", customhandler.Readiness)
	fns := customhandler.NewFunctions()
	rt.Handle("POST /{function}", fns)
	rt.Handle("GET /api/health", health.NewHandler(version, map[string]health.Check{
		"storage": st.Ping,
		"auth":    authn.Check,
	}))
	identity.Routes(rt, authn, ids)

	return &app{cfg: cfg, log: log, router: rt}, nil
}

func (a *app) serve(ctx context.Context) error {
	return customhandler.Serve(ctx, a.cfg.Port, a.router, a.log, func(addr string) {
		a.log.Info("listening", "addr", addr, "version", version)
	})
}
