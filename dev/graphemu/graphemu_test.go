package graphemu

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/devtls"
	"switchboard/dev/entraemu"
)

// TestTokenChecks: Graph refuses tokens it cannot accept (401) and apps
// without the permission (403) before anything else.
func TestTokenChecks(t *testing.T) {
	cert, err := devtls.New("test")
	if err != nil {
		t.Fatal(err)
	}
	entra, err := entraemu.Start(entraemu.Options{TLS: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = entra.Close() })
	other, err := entraemu.Start(entraemu.Options{TLS: cert, TenantID: entra.TenantID()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	g, err := Start(Options{TLS: cert, Tokens: entra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	const organizer = "33333333-3333-4333-8333-333333333333"
	g.AddUser(organizer, "Org")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool()}}}
	token := func(e *entraemu.Emulator, roles []string, scope string) string {
		app := e.RegisterApp(entraemu.App{ClientID: uuid.NewString(), Secret: "s", Roles: roles})
		g.GrantAccessPolicy(app.ClientID, "")
		resp, err := hc.PostForm(e.AuthorityHost()+e.TenantID()+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {"s"}, "scope": {scope}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if body.AccessToken == "" {
			t.Fatalf("no token for %s (status %d)", scope, resp.StatusCode)
		}
		return body.AccessToken
	}
	rw := []string{RoleReadWrite}
	entra.AddResource("api://other", "api://other")
	good := token(entra, rw, "https://graph.microsoft.com/.default")
	for _, tc := range []struct {
		name   string
		token  string
		clock  time.Duration
		status int
		code   string
	}{
		{"good", good, 0, 201, ""},
		{"no token", "", 0, 401, "InvalidAuthenticationToken"},
		{"not a JWT", "abc.def", 0, 401, "InvalidAuthenticationToken"},
		{"signed by another key", token(other, rw, "https://graph.microsoft.com/.default"), 0, 401, "InvalidAuthenticationToken"},
		{"for another API", token(entra, append(rw, "x"), "api://other/.default"), 0, 401, "InvalidAuthenticationToken"},
		{"expired", good, 2 * time.Hour, 401, "InvalidAuthenticationToken"},
		{"no OnlineMeetings permission", token(entra, nil, "https://graph.microsoft.com/.default"), 0, 403, "Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.mu.Lock()
			g.now = func() time.Time { return time.Now().Add(tc.clock) }
			g.mu.Unlock()
			req, _ := http.NewRequest("POST", g.Endpoint()+"/users/"+organizer+"/onlineMeetings/createOrGet", strings.NewReader(`{"externalId":"`+tc.name+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status || body.Error.Code != tc.code {
				t.Errorf("= %d %+v, want %d %s", resp.StatusCode, body.Error, tc.status, tc.code)
			}
		})
	}
}
