package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"switchboard/handler/internal/graph"
)

// Teams meetings through Microsoft Graph: on when TEAMS_ORGANIZER_ID is set.
type Teams struct {
	OrganizerID string // TEAMS_ORGANIZER_ID: the Entra object id of the user who organizes every meeting
	LobbyBypass string // TEAMS_LOBBY_BYPASS: lobbyBypassSettings.scope, default everyone

	TenantID      string // GRAPH_TENANT_ID
	ClientID      string // GRAPH_CLIENT_ID: app registration (with the secret) or user-assigned managed identity
	ClientSecret  string // GRAPH_CLIENT_SECRET: absent means the managed identity
	AuthorityHost string // GRAPH_AUTHORITY_HOST, with a trailing slash
	Endpoint      string // GRAPH_ENDPOINT, version included, no trailing slash
}

// Enabled reports whether Teams meetings are configured.
func (t Teams) Enabled() bool { return t.OrganizerID != "" }

// Defaults of the Graph settings: the public cloud.
const (
	DefaultGraphAuthorityHost = graph.DefaultAuthorityHost
	DefaultGraphEndpoint      = graph.DefaultEndpoint
	DefaultTeamsLobbyBypass   = "everyone"
)

func (r *reader) teams() Teams {
	t := Teams{
		OrganizerID:   r.str("TEAMS_ORGANIZER_ID"),
		LobbyBypass:   r.strDefault("TEAMS_LOBBY_BYPASS", DefaultTeamsLobbyBypass),
		TenantID:      r.str("GRAPH_TENANT_ID"),
		ClientID:      r.str("GRAPH_CLIENT_ID"),
		ClientSecret:  r.str("GRAPH_CLIENT_SECRET"),
		AuthorityHost: r.upstreamURL("GRAPH_AUTHORITY_HOST"),
		Endpoint:      strings.TrimRight(r.upstreamURL("GRAPH_ENDPOINT"), "/"),
	}
	if strings.HasPrefix(strings.ToLower(t.AuthorityHost), "http:") {
		r.fail("GRAPH_AUTHORITY_HOST", "must use https: MSAL sends client credentials to https authorities only (serve a local emulator with TLS)")
	}
	if t.AuthorityHost == "" {
		t.AuthorityHost = DefaultGraphAuthorityHost
	}
	if !strings.HasSuffix(t.AuthorityHost, "/") {
		t.AuthorityHost += "/"
	}
	if t.Endpoint == "" {
		t.Endpoint = DefaultGraphEndpoint
	}
	if u, err := url.Parse(t.Endpoint); err == nil && strings.Trim(u.Path, "/") == "" {
		r.fail("GRAPH_ENDPOINT", "must include the Graph version, such as https://graph.microsoft.com/v1.0")
	}
	if !slices.Contains(graph.LobbyBypassScopes, t.LobbyBypass) {
		r.fail("TEAMS_LOBBY_BYPASS", "must be one of "+strings.Join(graph.LobbyBypassScopes, ", "))
	}
	if t.OrganizerID != "" {
		if _, err := uuid.Parse(t.OrganizerID); err != nil {
			r.fail("TEAMS_ORGANIZER_ID", "must be the organizer's Entra object id (a GUID)")
		}
		r.required("GRAPH_TENANT_ID", t.TenantID)
	} else if t.TenantID != "" || t.ClientID != "" || t.ClientSecret != "" {
		r.fail("TEAMS_ORGANIZER_ID", "is required when GRAPH_TENANT_ID, GRAPH_CLIENT_ID or GRAPH_CLIENT_SECRET is set")
	}
	if t.TenantID != "" && !tenantRE.MatchString(t.TenantID) {
		r.fail("GRAPH_TENANT_ID", "must be the tenant's id (a GUID) or domain name")
	}
	if t.ClientSecret != "" && t.ClientID == "" {
		r.fail("GRAPH_CLIENT_ID", "is required when GRAPH_CLIENT_SECRET is set")
	}
	if t.ClientID != "" {
		if _, err := uuid.Parse(t.ClientID); err != nil {
			r.fail("GRAPH_CLIENT_ID", "must be an application (client) id (a GUID)")
		}
	}
	return t
}

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,256}$`)
