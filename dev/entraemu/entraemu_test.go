package entraemu

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTokenEndpointRefusals(t *testing.T) {
	e, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	app := e.RegisterApp(App{ClientID: "11111111-1111-4111-8111-111111111111", Secret: "right", Roles: []string{"OnlineMeetings.ReadWrite.All"}})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Certificate().Pool()}}}
	post := func(tenant string, form url.Values) (int, map[string]any) {
		resp, err := hc.PostForm(e.AuthorityHost()+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {"right"}, "scope": {"https://graph.microsoft.com/.default"}}
	}
	status, body := post(e.TenantID(), good())
	if status != 200 || body["token_type"] != "Bearer" || body["access_token"] == "" {
		t.Fatalf("good request = %d %v", status, body)
	}
	for _, tc := range []struct {
		name   string
		tenant string
		change func(url.Values)
		status int
		code   string
	}{
		{"other tenant", "00000000-0000-4000-8000-000000000000", func(url.Values) {}, 400, "invalid_tenant"},
		{"authorization code grant", "", func(v url.Values) { v.Set("grant_type", "authorization_code") }, 400, "unsupported_grant_type"},
		{"unknown client", "", func(v url.Values) { v.Set("client_id", "22222222-2222-4222-8222-222222222222") }, 400, "unauthorized_client"},
		{"wrong secret", "", func(v url.Values) { v.Set("client_secret", "wrong") }, 401, "invalid_client"},
		{"no secret", "", func(v url.Values) { v.Del("client_secret") }, 401, "invalid_client"},
		{"not .default", "", func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/OnlineMeetings.ReadWrite.All") }, 400, "invalid_scope"},
		{"two resources", "", func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/.default api://other/.default") }, 400, "invalid_scope"},
		{"unknown resource", "", func(v url.Values) { v.Set("scope", "api://nobody/.default") }, 400, "invalid_resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := good()
			tc.change(form)
			tenant := tc.tenant
			if tenant == "" {
				tenant = e.TenantID()
			}
			status, body := post(tenant, form)
			if status != tc.status || body["error"] != tc.code || !strings.HasPrefix(body["error_description"].(string), "AADSTS") {
				t.Errorf("= %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if n := e.Issued(); n != 1 {
		t.Errorf("issued %d tokens, want 1", n)
	}
}
