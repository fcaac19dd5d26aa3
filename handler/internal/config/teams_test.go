package config

import (
	"errors"
	"testing"
)

func TestLoadTeams(t *testing.T) {
	const org, tenant, app = "7f2b3c1e-1111-4a4a-9b9b-0123456789ab", "contoso.onmicrosoft.com", "2a1b3c4d-2222-4b4b-8c8c-0123456789ab"
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.Teams.Enabled() || c.Teams.Endpoint != DefaultGraphEndpoint || c.Teams.AuthorityHost != DefaultGraphAuthorityHost || c.Teams.LobbyBypass != "everyone" {
		t.Errorf("defaults: %+v", c.Teams)
	}
	env := base()
	env["TEAMS_ORGANIZER_ID"], env["GRAPH_TENANT_ID"], env["GRAPH_CLIENT_ID"], env["GRAPH_CLIENT_SECRET"] = org, tenant, app, "secret"
	env["GRAPH_ENDPOINT"], env["GRAPH_AUTHORITY_HOST"] = "https://graph.microsoft.us/v1.0/", "https://login.microsoftonline.us"
	env["TEAMS_LOBBY_BYPASS"] = "organization"
	if c, err = load(env); err != nil {
		t.Fatal(err)
	}
	want := Teams{OrganizerID: org, LobbyBypass: "organization", TenantID: tenant, ClientID: app, ClientSecret: "secret",
		AuthorityHost: "https://login.microsoftonline.us/", Endpoint: "https://graph.microsoft.us/v1.0"}
	if c.Teams != want || !c.Teams.Enabled() {
		t.Errorf("teams = %+v, want %+v", c.Teams, want)
	}

	for _, tc := range []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"organizer not a GUID", map[string]string{"TEAMS_ORGANIZER_ID": "alice@contoso.com", "GRAPH_TENANT_ID": tenant}, "TEAMS_ORGANIZER_ID"},
		{"no tenant", map[string]string{"TEAMS_ORGANIZER_ID": org}, "GRAPH_TENANT_ID"},
		{"graph settings without an organizer", map[string]string{"GRAPH_TENANT_ID": tenant}, "TEAMS_ORGANIZER_ID"},
		{"secret without a client id", map[string]string{"TEAMS_ORGANIZER_ID": org, "GRAPH_TENANT_ID": tenant, "GRAPH_CLIENT_SECRET": "s"}, "GRAPH_CLIENT_ID"},
		{"client id not a GUID", map[string]string{"TEAMS_ORGANIZER_ID": org, "GRAPH_TENANT_ID": tenant, "GRAPH_CLIENT_ID": "switchboard"}, "GRAPH_CLIENT_ID"},
		{"tenant with a slash", map[string]string{"TEAMS_ORGANIZER_ID": org, "GRAPH_TENANT_ID": "a/b"}, "GRAPH_TENANT_ID"},
		{"unknown lobby scope", map[string]string{"TEAMS_LOBBY_BYPASS": "anyone"}, "TEAMS_LOBBY_BYPASS"},
		{"endpoint without a version", map[string]string{"GRAPH_ENDPOINT": "https://graph.microsoft.com/"}, "GRAPH_ENDPOINT"},
		{"plain http endpoint", map[string]string{"GRAPH_ENDPOINT": "http://graph.example.com/v1.0"}, "GRAPH_ENDPOINT"},
		{"plain http authority", map[string]string{"GRAPH_AUTHORITY_HOST": "http://login.example.com/"}, "GRAPH_AUTHORITY_HOST"},
		{"plain http authority on loopback", map[string]string{"GRAPH_AUTHORITY_HOST": "http://127.0.0.1:7705/"}, "GRAPH_AUTHORITY_HOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := base()
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := load(env)
			var ce *Error
			if !errors.As(err, &ce) || ce.Setting != tc.setting {
				t.Errorf("err = %v, want one naming %s", err, tc.setting)
			}
		})
	}
}
