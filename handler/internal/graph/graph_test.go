package graph_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"switchboard/dev/entraemu"
	"switchboard/dev/graphemu"
	"switchboard/handler/internal/graph"
)

type env struct {
	entra     *entraemu.Emulator
	graph     *graphemu.Emulator
	app       entraemu.App
	organizer string
	transport *http.Client
}

// start runs the Entra and Graph emulators with an app registration that
// holds OnlineMeetings.ReadWrite.All and an access policy for the organizer.
func start(t *testing.T) *env {
	t.Helper()
	tn, err := graphemu.StartTenant(graphemu.TenantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	return &env{entra: tn.Entra, graph: tn.Graph, app: tn.App, organizer: tn.Organizer,
		transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tn.Cert.Pool()}}}}
}

func (e *env) client(t *testing.T, secret string) *graph.Client {
	t.Helper()
	cred, err := graph.NewCredential(graph.CredentialConfig{TenantID: e.entra.TenantID(), ClientID: e.app.ClientID, ClientSecret: secret,
		AuthorityHost: e.entra.AuthorityHost(), Transport: e.transport})
	if err != nil {
		t.Fatal(err)
	}
	opts := &graph.ClientOptions{}
	opts.Transport = e.transport
	opts.Retry.RetryDelay = 10 * time.Millisecond
	c, err := graph.NewClient(e.graph.Endpoint(), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMeetingLifecycle(t *testing.T) {
	e := start(t)
	c := e.client(t, e.app.Secret)
	ctx := t.Context()
	startAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	req := graph.CreateOrGetRequest{ExternalID: uuid.NewString(), Subject: "Standup", StartDateTime: startAt, EndDateTime: startAt.Add(30 * time.Minute)}
	m, created, err := c.CreateOrGetMeeting(ctx, e.organizer, req)
	if err != nil || !created {
		t.Fatalf("createOrGet = %+v, created %v, %v", m, created, err)
	}
	if m.ID == "" || !strings.HasPrefix(m.JoinWebURL, "https://teams.microsoft.com/l/meetup-join/") || m.JoinMeetingIDSettings == nil ||
		m.JoinMeetingIDSettings.JoinMeetingID == "" || m.JoinMeetingIDSettings.Passcode == "" || !m.StartDateTime.Equal(req.StartDateTime) {
		t.Errorf("meeting = %+v", m)
	}
	again, created, err := c.CreateOrGetMeeting(ctx, e.organizer, req)
	if err != nil || created || again.ID != m.ID {
		t.Errorf("second createOrGet = %s, created %v, %v; want %s, not created", again.ID, created, err, m.ID)
	}
	if n := len(e.graph.Meetings()); n != 1 {
		t.Errorf("emulator holds %d meetings, want 1", n)
	}
	up, err := c.UpdateMeeting(ctx, e.organizer, m.ID, graph.MeetingPatch{LobbyBypassSettings: &graph.LobbyBypassSettings{Scope: "everyone"}})
	if err != nil || up.LobbyBypassSettings == nil || up.LobbyBypassSettings.Scope != "everyone" {
		t.Errorf("update = %+v, %v", up.LobbyBypassSettings, err)
	}
	got, err := c.GetMeeting(ctx, e.organizer, m.ID)
	if err != nil || got.LobbyBypassSettings.Scope != "everyone" || got.JoinWebURL != m.JoinWebURL {
		t.Errorf("get = %+v, %v", got, err)
	}
	if err := c.DeleteMeeting(ctx, e.organizer, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetMeeting(ctx, e.organizer, m.ID); !graph.IsNotFound(err) {
		t.Errorf("get after delete = %v, want 404", err)
	}
	if n := e.entra.Issued(); n != 1 {
		t.Errorf("Entra issued %d tokens, want 1 (the bearer policy caches it)", n)
	}
}

func TestRetries(t *testing.T) {
	e := start(t)
	c := e.client(t, e.app.Secret)
	for _, tc := range []struct {
		name   string
		status int
		wait   time.Duration
	}{{"throttled", http.StatusTooManyRequests, time.Second}, {"unavailable", http.StatusServiceUnavailable, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.graph.Requests("createOrGet")
			e.graph.FailNext(1, tc.status, tc.wait)
			if _, _, err := c.CreateOrGetMeeting(t.Context(), e.organizer, graph.CreateOrGetRequest{ExternalID: uuid.NewString()}); err != nil {
				t.Fatalf("a single %d was not retried: %v", tc.status, err)
			}
			if n := e.graph.Requests("createOrGet") - before; n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
		})
	}
	t.Run("long Retry-After goes back to the caller", func(t *testing.T) {
		before := e.graph.Requests("createOrGet")
		e.graph.FailNext(1, http.StatusTooManyRequests, 90*time.Second)
		_, _, err := c.CreateOrGetMeeting(t.Context(), e.organizer, graph.CreateOrGetRequest{ExternalID: uuid.NewString()})
		var ge *graph.Error
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusTooManyRequests || ge.RetryAfter != 90*time.Second {
			t.Fatalf("err = %v, want a 429 with Retry-After 90 s", err)
		}
		if n := e.graph.Requests("createOrGet") - before; n != 1 {
			t.Errorf("%d requests, want 1 (no retry past %s)", n, graph.DefaultMaxRetryWait)
		}
	})
}

func TestMonthlyCap(t *testing.T) {
	e := start(t)
	c := e.client(t, e.app.Secret)
	e.graph.SetMonthlyCap(1)
	first := graph.CreateOrGetRequest{ExternalID: uuid.NewString()}
	if _, _, err := c.CreateOrGetMeeting(t.Context(), e.organizer, first); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.CreateOrGetMeeting(t.Context(), e.organizer, graph.CreateOrGetRequest{ExternalID: uuid.NewString()})
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusTooManyRequests || ge.RetryAfter <= 0 {
		t.Errorf("a meeting over the cap = %v, want 429 until next month", err)
	}
	if _, created, err := c.CreateOrGetMeeting(t.Context(), e.organizer, first); err != nil || created {
		t.Errorf("createOrGet of an existing meeting at the cap = created %v, %v; want the meeting", created, err)
	}
}

func TestRefusals(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	t.Run("access policy missing", func(t *testing.T) {
		e.graph.RevokeAccessPolicies(e.app.ClientID)
		defer e.graph.GrantAccessPolicy(e.app.ClientID, e.organizer)
		_, _, err := e.client(t, e.app.Secret).CreateOrGetMeeting(ctx, e.organizer, graph.CreateOrGetRequest{ExternalID: "x"})
		if !graph.IsAccessPolicyMissing(err) {
			t.Errorf("err = %v, want the access policy refusal", err)
		}
	})
	t.Run("global policy", func(t *testing.T) {
		e.graph.RevokeAccessPolicies(e.app.ClientID)
		defer e.graph.GrantAccessPolicy(e.app.ClientID, e.organizer)
		e.graph.GrantAccessPolicy(e.app.ClientID, "")
		if _, _, err := e.client(t, e.app.Secret).CreateOrGetMeeting(ctx, e.organizer, graph.CreateOrGetRequest{ExternalID: "y"}); err != nil {
			t.Error(err)
		}
	})
	t.Run("organizer not in the tenant", func(t *testing.T) {
		_, _, err := e.client(t, e.app.Secret).CreateOrGetMeeting(ctx, uuid.NewString(), graph.CreateOrGetRequest{ExternalID: "x"})
		var ge *graph.Error
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusNotFound || !strings.Contains(ge.Message, "not found") {
			t.Errorf("err = %v, want 404 with Graph's reason", err)
		}
	})
	t.Run("no application permission", func(t *testing.T) {
		bare := e.entra.RegisterApp(entraemu.App{ClientID: uuid.NewString(), Secret: "other"})
		e.graph.GrantAccessPolicy(bare.ClientID, "")
		cred, err := graph.NewCredential(graph.CredentialConfig{TenantID: e.entra.TenantID(), ClientID: bare.ClientID, ClientSecret: bare.Secret,
			AuthorityHost: e.entra.AuthorityHost(), Transport: e.transport})
		if err != nil {
			t.Fatal(err)
		}
		opts := &graph.ClientOptions{}
		opts.Transport = e.transport
		c, _ := graph.NewClient(e.graph.Endpoint(), cred, opts)
		_, _, err = c.CreateOrGetMeeting(ctx, e.organizer, graph.CreateOrGetRequest{ExternalID: "x"})
		if graph.StatusOf(err) != http.StatusForbidden || graph.IsAccessPolicyMissing(err) {
			t.Errorf("err = %v, want 403 for the missing permission", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, _, err := e.client(t, "wrong").CreateOrGetMeeting(ctx, e.organizer, graph.CreateOrGetRequest{ExternalID: "x"})
		var af *azidentity.AuthenticationFailedError
		if !errors.As(err, &af) || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Errorf("err = %v, want Entra's invalid_client", err)
		}
	})
}

func TestScope(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"},
		{"https://graph.microsoft.us/beta/", "https://graph.microsoft.us/.default"},
		{"https://127.0.0.1:8443/v1.0", "https://127.0.0.1:8443/.default"},
		{"v1.0", ""},
	} {
		got, err := graph.Scope(tc.endpoint)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("Scope(%q) = %q, %v; want %q", tc.endpoint, got, err, tc.want)
		}
	}
}

func TestNewClientRefusesPlainHTTP(t *testing.T) {
	var cred azcore.TokenCredential = fakeCred{}
	if _, err := graph.NewClient("http://graph.example.com/v1.0", cred, nil); err == nil {
		t.Error("plain http to a remote host was accepted")
	}
}

type fakeCred struct{}

func (fakeCred) GetToken(_ context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("unused")
}
