package conformance

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"switchboard/dev/entraemu"
	"switchboard/dev/graphemu"
)

// TestGraphSDK drives the Entra emulator with @azure/identity and the Graph
// emulator's onlineMeetings with @microsoft/microsoft-graph-client.
func TestGraphSDK(t *testing.T) {
	tn, err := graphemu.StartTenant(graphemu.TenantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	entra, graph, app, organizer, ungranted := tn.Entra, tn.Graph, tn.App, tn.Organizer, uuid.NewString()
	graph.AddUser(ungranted, "Nobody granted")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, tn.Cert.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}

	type meeting struct {
		ID, Subject, ExternalID, JoinWebURL, JoinMeetingID, Passcode, Lobby, Start, End, Organizer string
	}
	type failure struct {
		Status        int
		Code, Message string
	}
	var res struct {
		Token struct {
			Aud, Iss, AppID, TID string
			Roles                []string
			Lifetime             int
		}
		WrongSecret                                       struct{ Name, Message string }
		Create, CreateOrGet, CreateOrGetAgain, Get, Patch meeting
		BadPatch, GetDeleted, NoPolicy                    failure
	}
	runNode(t, "graph.mjs", []string{
		"ENTRA_AUTHORITY_HOST=" + entra.AuthorityHost(), "ENTRA_TENANT_ID=" + entra.TenantID(),
		"GRAPH_CLIENT_ID=" + app.ClientID, "GRAPH_CLIENT_SECRET=" + app.Secret, "GRAPH_BASE_URL=" + graph.Origin(),
		"ORGANIZER=" + organizer, "UNGRANTED_USER=" + ungranted, "NODE_EXTRA_CA_CERTS=" + ca,
	}, &res, "@azure/identity", "@microsoft/microsoft-graph-client")

	tk := res.Token
	if tk.Aud != entraemu.GraphResource || tk.Iss != entra.Issuer() || tk.AppID != app.ClientID || tk.TID != entra.TenantID() ||
		!slices.Contains(tk.Roles, graphemu.RoleReadWrite) || tk.Lifetime < 3000 || tk.Lifetime > 3600 {
		t.Errorf("token claims = %+v", tk)
	}
	if !strings.Contains(res.WrongSecret.Message, "AADSTS7000215") {
		t.Errorf("a wrong secret = %+v, want Entra's invalid_client", res.WrongSecret)
	}
	if c := res.Create; c.ID == "" || c.Subject != "Plain create" || c.ExternalID != "" || c.Organizer != organizer ||
		!strings.HasPrefix(c.JoinWebURL, "https://teams.microsoft.com/l/meetup-join/") || c.JoinMeetingID == "" || c.Passcode == "" {
		t.Errorf("create = %+v", c)
	}
	if c := res.CreateOrGet; c.ID == "" || c.ID == res.Create.ID || c.ExternalID != "conformance-1" || c.Lobby != "organization" {
		t.Errorf("createOrGet = %+v", c)
	}
	if res.CreateOrGetAgain != res.CreateOrGet || res.Get != res.CreateOrGet {
		t.Errorf("createOrGet again = %+v, get = %+v; want %+v", res.CreateOrGetAgain, res.Get, res.CreateOrGet)
	}
	if p := res.Patch; p.ID != res.CreateOrGet.ID || p.Lobby != "everyone" {
		t.Errorf("patch = %+v", p)
	}
	if res.BadPatch.Status != 400 || res.GetDeleted.Status != 404 {
		t.Errorf("bad patch = %+v, get after delete = %+v; want 400, 404", res.BadPatch, res.GetDeleted)
	}
	if res.NoPolicy.Status != 403 || !strings.Contains(res.NoPolicy.Message, "is not authorized to Create meeting on behalf of user "+ungranted) {
		t.Errorf("no access policy = %+v, want Graph's 403", res.NoPolicy)
	}
	if n := len(graph.Meetings()); n != 0 {
		t.Errorf("emulator holds %d meetings after the deletes", n)
	}
	want := map[string]int{"create": 1, "createOrGet": 3, "get": 2, "update": 2, "delete": 2}
	for op, n := range want {
		if got := graph.Requests(op); got != n {
			t.Errorf("%s requests = %d, want %d", op, got, n)
		}
	}
	if n := entra.Issued(); n != 1 {
		t.Errorf("Entra issued %d tokens, want 1 (the SDKs cache it)", n)
	}
}
