package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/stack"
)

func TestTokenForNewAndKnownUser(t *testing.T) {
	c := userClient(t, st, "tok-user", "Tok User")
	created := st.ACS.Requests("CreateIdentity")
	first := c.ok("POST", "/api/token", "", 200)
	id, _ := first["acsUserId"].(string)
	if !strings.HasPrefix(id, "8:acs:") || first["token"] == "" || first["expiresOn"] == "" {
		t.Fatalf("first token: %v", first)
	}
	claims, err := st.ACS.Verify(first["token"].(string))
	if err != nil {
		t.Fatalf("emulator does not accept the token: %v", err)
	}
	_ = claims
	second := c.ok("POST", "/api/token", `{"scopes":["voip","chat"],"expiresInMinutes":120}`, 200)
	if second["acsUserId"] != id {
		t.Fatalf("known user got a new identity: %v vs %s", second["acsUserId"], id)
	}
	exp, err := time.Parse(time.RFC3339, second["expiresOn"].(string))
	if err != nil || time.Until(exp) < 110*time.Minute || time.Until(exp) > 125*time.Minute {
		t.Fatalf("expiresOn %v for 120 minutes (%v)", second["expiresOn"], err)
	}
	if n := st.ACS.Requests("CreateIdentity") - created; n != 1 {
		t.Fatalf("%d identities created for one user", n)
	}
	me := c.ok("GET", "/api/me", "", 200)
	if me["acsUserId"] != id || me["userId"] != "tok-user" {
		t.Fatalf("me: %v", me)
	}
}

func TestTokenRequestValidation(t *testing.T) {
	c := userClient(t, st, "tok-bad", "")
	p := c.do("POST", "/api/token", `{"scopes":["voip","chat.join"]}`).problem(t, 400, "invalid-request")
	if !strings.Contains(p["detail"].(string), "chat.join") {
		t.Errorf("detail must name the scope: %v", p["detail"])
	}
	c.do("POST", "/api/token", `{"scopes":[]}`).problem(t, 400, "invalid-request")
	c.do("POST", "/api/token", `{"expiresInMinutes":59}`).problem(t, 400, "invalid-request")
	c.do("POST", "/api/token", `{"expiresInMinutes":1441}`).problem(t, 400, "invalid-request")
	c.do("POST", "/api/token", `{"expiresInMinutes":60.5}`).problem(t, 400, "invalid-request")
	c.do("POST", "/api/token", `{"expiresInMinutes":"60"}`).problem(t, 400, "invalid-request")
	if st.ACS.Requests("CreateIdentity") > 0 {
		// Only valid requests reach ACS: this user must have no identity.
		if me := c.ok("GET", "/api/me", "", 200); me["acsUserId"] != "" {
			t.Fatalf("invalid requests created an identity: %v", me)
		}
	}
}

func TestConcurrentFirstRequestsCreateOneIdentity(t *testing.T) {
	c := userClient(t, st, "burst-user", "Burst")
	st.ACS.SetLatency(100 * time.Millisecond) // widen the race window
	defer st.ACS.SetLatency(0)
	before := st.ACS.IdentityCount()
	const n = 24
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/api/token", "")
			if r.status == 200 {
				ids[i], _ = r.json(t)["acsUserId"].(string)
			} else {
				t.Errorf("request %d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if got := st.ACS.IdentityCount() - before; got != 1 {
		t.Fatalf("%d ACS identities for one user after a burst of %d first requests", got, n)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("different ids handed out: %v", ids)
		}
	}
}

func TestUserIDsWithForbiddenKeyCharacters(t *testing.T) {
	for _, id := range []string{"a/b", `back\slash`, "hash#tag", "what?", "tab\there", "del\x7f", "percent%2Fencoded", "ünïcødé"} {
		t.Run(url.PathEscape(id), func(t *testing.T) {
			c := userClient(t, st, id, "")
			tok := c.ok("POST", "/api/token", "", 200)
			me := c.ok("GET", "/api/me", "", 200)
			if me["userId"] != id || me["acsUserId"] != tok["acsUserId"] {
				t.Fatalf("me %v, token %v", me, tok)
			}
		})
	}
	long := userClient(t, st, strings.Repeat("x", 1100), "")
	long.do("POST", "/api/token", "").problem(t, 400, "invalid-key")
}

func TestContactsAndLookup(t *testing.T) {
	alice := userClient(t, st, "c-alice", "Alice")
	bob := userClient(t, st, "c-bob", "Bob")
	dave := userClient(t, st, "c-dave", "Dave")
	bobID := bob.ok("POST", "/api/token", "", 200)["acsUserId"]
	alice.ok("POST", "/api/token", "", 200)
	dave.ok("POST", "/api/token", "", 200)

	// Asking a user who does not exist reads exactly like asking one who does.
	if r := alice.ok("PUT", "/api/contacts/c-nobody", "", 200); r["state"] != "requested" || len(r) != 2 {
		t.Fatalf("request to nobody: %v", r)
	}
	alice.do("PUT", "/api/contacts/c-alice", "").problem(t, 400, "contact-is-self")
	// Strangers cannot look anyone up: same answer as for a user that does not exist.
	dave.do("GET", "/api/users/c-bob", "").problem(t, 404, "user-not-found")
	dave.do("GET", "/api/users/c-nobody", "").problem(t, 404, "user-not-found")

	// A request reveals nothing until it is returned.
	added := alice.ok("PUT", "/api/contacts/c-bob", "", 200)
	if added["state"] != "requested" || added["acsUserId"] != nil || added["displayName"] != nil {
		t.Fatalf("request: %v", added)
	}
	alice.do("GET", "/api/users/c-bob", "").problem(t, 404, "user-not-found")
	bob.do("GET", "/api/users/c-alice", "").problem(t, 404, "user-not-found")
	reqs := bob.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any)
	if len(reqs) != 1 || reqs[0].(map[string]any)["userId"] != "c-alice" || reqs[0].(map[string]any)["displayName"] != "Alice" {
		t.Fatalf("bob's requests: %v", reqs)
	}
	accepted := bob.ok("PUT", "/api/contacts/c-alice", "", 200)
	if accepted["state"] != "mutual" || accepted["acsUserId"] == nil || accepted["displayName"] != "Alice" {
		t.Fatalf("accept: %v", accepted)
	}
	if reqs := bob.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any); len(reqs) != 0 {
		t.Fatalf("requests after accepting: %v", reqs)
	}
	if again := alice.ok("PUT", "/api/contacts/c-bob", "", 200); again["state"] != "mutual" || again["acsUserId"] != bobID { // idempotent
		t.Fatalf("re-add: %v", again)
	}
	list := alice.ok("GET", "/api/contacts", "", 200)["value"].([]any)
	if len(list) != 2 {
		t.Fatalf("contacts: %v", list)
	}
	for _, e := range list {
		c := e.(map[string]any)
		switch c["userId"] {
		case "c-bob":
			if c["state"] != "mutual" || c["acsUserId"] != bobID || c["displayName"] != "Bob" {
				t.Fatalf("bob in alice's list: %v", c)
			}
		case "c-nobody":
			if c["state"] != "requested" || c["acsUserId"] != nil {
				t.Fatalf("nobody in alice's list: %v", c)
			}
		default:
			t.Fatalf("contacts: %v", list)
		}
	}
	if u := alice.ok("GET", "/api/users/c-bob", "", 200); u["acsUserId"] != bobID || u["userId"] != "c-bob" {
		t.Fatalf("lookup: %v", u)
	}
	alice.ok("DELETE", "/api/contacts/c-nobody", "", 204)

	// A back-end service may look anyone up, and act for a user.
	svcTok, err := st.Issuer.MintUser("backend-service", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok}
	if u := svc.ok("GET", "/api/users/c-dave", "", 200); u["userId"] != "c-dave" {
		t.Fatalf("service lookup: %v", u)
	}
	svc.do("GET", "/api/contacts", "").problem(t, 400, "on-behalf-of-required")
	svc.hdr = map[string]string{"X-On-Behalf-Of": "c-alice"}
	if l := svc.ok("GET", "/api/contacts", "", 200)["value"].([]any); len(l) != 1 || l[0].(map[string]any)["state"] != "mutual" {
		t.Fatalf("service acting for alice: %v", l)
	}
	// An end user cannot act for someone else.
	dave.hdr = map[string]string{"X-On-Behalf-Of": "c-alice"}
	if r := dave.do("GET", "/api/contacts", ""); r.status != 403 {
		t.Fatalf("end user with X-On-Behalf-Of: %d %s", r.status, r.body)
	}
	dave.hdr = nil

	// Ending it: bob's side goes back to requested, and neither reaches the other.
	alice.ok("DELETE", "/api/contacts/c-bob", "", 204)
	alice.ok("DELETE", "/api/contacts/c-bob", "", 204)
	if l := alice.ok("GET", "/api/contacts", "", 200)["value"].([]any); len(l) != 0 {
		t.Fatalf("contacts after delete: %v", l)
	}
	if l := bob.ok("GET", "/api/contacts", "", 200)["value"].([]any); len(l) != 1 || l[0].(map[string]any)["state"] != "requested" || l[0].(map[string]any)["acsUserId"] != nil {
		t.Fatalf("bob's side after alice left: %v", l)
	}
	alice.do("GET", "/api/users/c-bob", "").problem(t, 404, "user-not-found")
	bob.do("GET", "/api/users/c-alice", "").problem(t, 404, "user-not-found")
}

func TestEraseLeavesNothingBehind(t *testing.T) {
	alice := userClient(t, st, "e-alice", "Alice")
	bob := userClient(t, st, "e-bob", "Bob")
	alice.ok("POST", "/api/token", "", 200)
	tok := bob.ok("POST", "/api/token", "", 200)
	bobID := tok["acsUserId"].(string)
	alice.ok("PUT", "/api/contacts/e-bob", "", 200)
	bob.ok("PUT", "/api/contacts/e-alice", "", 200)

	bob.ok("DELETE", "/api/me", "", 204)
	bob.ok("DELETE", "/api/me", "", 204) // idempotent

	if _, err := st.ACS.Verify(tok["token"].(string)); err == nil {
		t.Error("bob's token still verifies after erase")
	}
	if l := alice.ok("GET", "/api/contacts", "", 200)["value"].([]any); len(l) != 0 {
		t.Errorf("alice still lists bob: %v", l)
	}
	alice.do("GET", "/api/users/e-bob", "").problem(t, 404, "user-not-found")
	for _, table := range []string{"users", "contacts", "contactof"} {
		for _, key := range []string{"e-bob", bobID} {
			if n := countRows(t, st, table, key); n != 0 {
				t.Errorf("%d rows left in %s for %s", n, table, key)
			}
		}
	}
	// Bob may come back: a new identity.
	again := bob.ok("POST", "/api/token", "", 200)
	if again["acsUserId"] == bobID {
		t.Error("erased identity reused")
	}
}

func TestACSFailures(t *testing.T) {
	c := userClient(t, st, "acs-fail", "")
	c.ok("POST", "/api/token", "", 200)

	st.ACS.FailNext(10, 429, time.Second)
	r := c.do("POST", "/api/token", "")
	st.ACS.ResetFaults()
	r.problem(t, 503, "acs-throttled")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	st.ACS.FailNext(1, 429, 100*time.Millisecond)
	c.ok("POST", "/api/token", "", 200) // one 429 is retried

	// ACS down while creating a new user: 503, and no mapping row left behind.
	down := userClient(t, st, "acs-down", "")
	st.ACS.SetDown(true)
	down.do("POST", "/api/token", "").problem(t, 503, "upstream-unavailable")
	st.ACS.SetDown(false)
	if n := countRows(t, st, "users", "acs-down"); n != 0 {
		t.Fatalf("%d rows left for a user whose identity could not be created", n)
	}
	before := st.ACS.IdentityCount()
	down.ok("POST", "/api/token", "", 200)
	if st.ACS.IdentityCount()-before != 1 {
		t.Fatal("retry after outage did not create exactly one identity")
	}
}

func TestWrongACSKeyIs502(t *testing.T) {
	// A handler configured with the wrong access key for the shared emulator.
	wrongKey := base64.StdEncoding.EncodeToString([]byte("not-the-key-of-this-acs-resource"))
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Env: []string{
		"ACS_CONNECTION_STRING=endpoint=" + st.ACS.Endpoint() + ";accesskey=" + wrongKey,
		"SSL_CERT_FILE=" + st.CAFile, // the shared stack's emulators
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := userClient(t, s, "wrong-key", "")
	p := c.do("POST", "/api/token", "").problem(t, 502, "acs-credential-rejected")
	if !strings.Contains(p["detail"].(string), "ACS_CONNECTION_STRING") {
		t.Errorf("detail must say what to fix: %v", p["detail"])
	}
	if n := countRows(t, s, "users", "wrong-key"); n != 0 {
		t.Fatalf("%d rows left behind", n)
	}
}

// countRows counts the rows of one partition, read straight from Azurite.
func countRows(t *testing.T, s *stack.Stack, table, pk string) int {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(s.Azurite.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("PartitionKey eq '%s'", strings.ReplaceAll(pk, "'", "''"))
	pager := svc.NewClient(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == 404 {
				return 0 // the table was never created
			}
			t.Fatal(err)
		}
		n += len(page.Entities)
	}
	return n
}

func TestStorageFailureAfterIdentityCreatedLeavesNoOrphan(t *testing.T) {
	// A proxy in front of the ACS emulator stops Table Storage the moment ACS
	// has created an identity, before the handler can record it.
	var target atomic.Pointer[stack.Stack]
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		// The emulator serves https with its own certificate, as ACS does.
		Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: target.Load().ACS.CertPool()}}
			defer tr.CloseIdleConnections()
			return tr.RoundTrip(r)
		}),
		Rewrite: func(r *httputil.ProxyRequest) {
			u, _ := url.Parse(target.Load().ACS.Endpoint())
			r.SetURL(u)
			r.Out.Host = r.In.Host // the HMAC signature covers the host the handler sent to
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == "POST" && resp.Request.URL.Path == "/identities" {
				target.Load().Azurite.Kill()
			}
			return nil
		},
	})
	defer proxy.Close()
	key := []byte("storage-outage-test-key-0123456789")
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, ACSAccessKey: key, Env: []string{
		"ACS_CONNECTION_STRING=endpoint=" + proxy.URL + "/;accesskey=" + base64.StdEncoding.EncodeToString(key),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	target.Store(s)
	c := userClient(t, s, "storage-dies", "")
	r := c.do("POST", "/api/token", "")
	r.problem(t, 503, "storage-unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if s.ACS.Requests("CreateIdentity") != 1 {
		t.Fatalf("the identity was not created through the proxy (%d)", s.ACS.Requests("CreateIdentity"))
	}
	if n := s.ACS.IdentityCount(); n != 0 {
		t.Fatalf("%d ACS identities left that no mapping records", n)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
