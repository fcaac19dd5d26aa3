package acsemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// signed builds a request signed the way the ACS SDKs sign, written here
// from the reference independently of the Go client under handler/.
type signed struct {
	method, target, body, host, date, contentType string
	key                                           []byte
	mutate                                        func(r *http.Request)
}

func (s signed) do(t *testing.T, e *Emulator) (int, http.Header, []byte) {
	t.Helper()
	base := strings.TrimSuffix(e.Endpoint(), "/")
	r, err := http.NewRequest(s.method, base+s.target, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	host := s.host
	if host == "" {
		host = r.URL.Host
	}
	date := s.date
	if date == "" {
		date = time.Now().UTC().Format(http.TimeFormat)
	}
	key := s.key
	if key == nil {
		key = e.AccessKey()
	}
	sum := sha256.Sum256([]byte(s.body))
	hash := base64.StdEncoding.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s.method + "\n" + s.target + "\n" + date + ";" + host + ";" + hash))
	r.Header.Set("x-ms-date", date)
	r.Header.Set("x-ms-content-sha256", hash)
	r.Header.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	if s.body != "" {
		ct := s.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if s.mutate != nil {
		s.mutate(r)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func start(t *testing.T, opts Options) *Emulator {
	t.Helper()
	e, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Error.Code == "" || v.Error.Message == "" {
		t.Fatalf("body %q is not an ACS error body: %v", body, err)
	}
	return v.Error.Code
}

const create = "/identities?api-version=2023-10-01"

func TestAuthentication(t *testing.T) {
	e := start(t, Options{})
	now := time.Now().UTC()
	tests := []struct {
		name   string
		req    signed
		status int
	}{
		{"valid", signed{}, 201},
		{"date 14 minutes behind", signed{date: now.Add(-14 * time.Minute).Format(http.TimeFormat)}, 201},
		{"wrong key", signed{key: []byte("wrong")}, 401},
		{"date 16 minutes behind", signed{date: now.Add(-16 * time.Minute).Format(http.TimeFormat)}, 401},
		{"date 16 minutes ahead", signed{date: now.Add(16 * time.Minute).Format(http.TimeFormat)}, 401},
		{"date not RFC 1123", signed{date: now.Format(time.RFC3339)}, 401},
		{"signed for another host", signed{host: "res.communication.azure.com"}, 401},
		{"missing x-ms-date", signed{mutate: func(r *http.Request) { r.Header.Del("x-ms-date") }}, 401},
		{"missing content hash", signed{mutate: func(r *http.Request) { r.Header.Del("x-ms-content-sha256") }}, 401},
		{"missing Authorization", signed{mutate: func(r *http.Request) { r.Header.Del("Authorization") }}, 401},
		{"content hash of another body", signed{body: `{}`, mutate: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"createTokenWithScopes":["voip"]}`))
			r.ContentLength = int64(len(`{"createTokenWithScopes":["voip"]}`))
		}}, 401},
		{"other signed headers", signed{mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "x-ms-date;host;", "host;x-ms-date;", 1))
		}}, 401},
		{"bearer without Entra configured", signed{mutate: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.method, req.target = http.MethodPost, create
			status, _, body := req.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.status)
			}
			if status == 401 && errorCode(t, body) != "Denied" {
				t.Errorf("401 body = %s", body)
			}
		})
	}
}

// TestSignatureCoversEncodedPath checks that the path is signed as sent: a
// signature over the decoded id does not pass for the encoded request.
func TestSignatureCoversEncodedPath(t *testing.T) {
	e := start(t, Options{})
	_, _, body := signed{method: http.MethodPost, target: create}.do(t, e)
	var created struct{ Identity struct{ ID string } }
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	enc := "/identities/" + strings.ReplaceAll(created.Identity.ID, ":", "%3A") + "/:revokeAccessTokens?api-version=2023-10-01"
	if status, _, b := (signed{method: http.MethodPost, target: enc}).do(t, e); status != http.StatusNoContent {
		t.Fatalf("revoke with encoded id: %d %s", status, b)
	}
	decoded := "/identities/" + created.Identity.ID + "/:revokeAccessTokens?api-version=2023-10-01"
	req := signed{method: http.MethodPost, target: decoded, mutate: func(r *http.Request) {
		r.URL.RawPath = strings.ReplaceAll(r.URL.Path, ":", "%3A")
		r.URL.RawPath = strings.Replace(r.URL.RawPath, "/%3ArevokeAccessTokens", "/:revokeAccessTokens", 1)
	}}
	if status, _, _ := req.do(t, e); status != http.StatusUnauthorized {
		t.Errorf("signature over the decoded path was accepted for an encoded request: %d", status)
	}
}

func TestAPIVersion(t *testing.T) {
	e := start(t, Options{})
	tests := []struct {
		query  string
		status int
	}{
		{"?api-version=2023-10-01", 201},
		{"?api-version=2026-07-22", 201},
		{"?api-version=2027-01-15", 201},
		{"", 400},
		{"?api-version=", 400},
		{"?api-version=2022-10-01", 400},
		{"?api-version=2025-03-02-preview", 400},
		{"?api-version=2023-13-01", 400},
		{"?api-version=latest", 400},
		{"?api-version=2023-10-01&api-version=2023-10-01", 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, _, body := signed{method: http.MethodPost, target: "/identities" + tt.query}.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.status)
			}
			if status == 400 && errorCode(t, body) != "InvalidApiVersion" {
				t.Errorf("body = %s", body)
			}
		})
	}
}

func TestIdentityShapes(t *testing.T) {
	e := start(t, Options{})
	status, _, body := signed{method: http.MethodPost, target: create}.do(t, e)
	var plain map[string]json.RawMessage
	if status != 201 || json.Unmarshal(body, &plain) != nil || plain["identity"] == nil || plain["accessToken"] != nil {
		t.Fatalf("create without scopes: %d %s", status, body)
	}
	status, _, body = signed{method: http.MethodPost, target: create, body: `{"createTokenWithScopes":["voip","chat"],"expiresInMinutes":60}`}.do(t, e)
	var withTok struct {
		Identity    struct{ ID string }
		AccessToken struct{ Token, ExpiresOn string }
	}
	if status != 201 || json.Unmarshal(body, &withTok) != nil || withTok.AccessToken.Token == "" {
		t.Fatalf("create with scopes: %d %s", status, body)
	}
	exp, err := time.Parse(time.RFC3339, withTok.AccessToken.ExpiresOn)
	if err != nil || exp.Sub(time.Now()) < 59*time.Minute || exp.Sub(time.Now()) > 61*time.Minute {
		t.Errorf("expiresOn = %q, want an RFC 3339 time one hour ahead", withTok.AccessToken.ExpiresOn)
	}
	claims, err := e.Verify(withTok.AccessToken.Token)
	if err != nil || claims.ID != withTok.Identity.ID || strings.Join(claims.Scopes, ",") != "chat,voip" || claims.ResourceID != e.ResourceID() {
		t.Errorf("claims = %+v, %v", claims, err)
	}

	path := "/identities/" + strings.ReplaceAll(withTok.Identity.ID, ":", "%3A")
	issue := path + "/:issueAccessToken?api-version=2023-10-01"
	tests := []struct {
		name, target, body, ct string
		status                 int
		code                   string
	}{
		{"issue", issue, `{"scopes":["chat.join","voip.join","chat.join.limited"]}`, "", 200, ""},
		{"issue 1440", issue, `{"scopes":["chat"],"expiresInMinutes":1440}`, "", 200, ""},
		{"issue without scopes", issue, `{"expiresInMinutes":60}`, "", 400, "ValidationError"},
		{"issue empty scopes", issue, `{"scopes":[]}`, "", 400, "ValidationError"},
		{"issue no body", issue, ``, "", 400, "ValidationError"},
		{"issue unknown scope", issue, `{"scopes":["admin"]}`, "", 400, "ValidationError"},
		{"issue 59 minutes", issue, `{"scopes":["chat"],"expiresInMinutes":59}`, "", 400, "ValidationError"},
		{"issue 1441 minutes", issue, `{"scopes":["chat"],"expiresInMinutes":1441}`, "", 400, "ValidationError"},
		{"issue 0 minutes", issue, `{"scopes":["chat"],"expiresInMinutes":0}`, "", 400, "ValidationError"},
		{"issue unknown field", issue, `{"scopes":["chat"],"scope":"x"}`, "", 400, "ValidationError"},
		{"issue not JSON", issue, `scopes=chat`, "application/x-www-form-urlencoded", 415, "UnsupportedMediaType"},
		{"create unknown scope", create, `{"createTokenWithScopes":["x"]}`, "", 400, "ValidationError"},
		{"create 2000 minutes", create, `{"createTokenWithScopes":["chat"],"expiresInMinutes":2000}`, "", 400, "ValidationError"},
		{"issue for unknown id", "/identities/8%3Aacs%3Anope/:issueAccessToken?api-version=2023-10-01", `{"scopes":["chat"]}`, "", 404, "IdentityNotFound"},
		{"unknown operation", path + "/:frobnicate?api-version=2023-10-01", ``, "", 404, "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := signed{method: http.MethodPost, target: tt.target, body: tt.body, contentType: tt.ct}.do(t, e)
			if status != tt.status {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.status)
			}
			if tt.code != "" && errorCode(t, body) != tt.code {
				t.Errorf("body = %s, want code %s", body, tt.code)
			}
		})
	}

	if status, _, _ := (signed{method: http.MethodPost, target: path + "/:revokeAccessTokens?api-version=2023-10-01"}).do(t, e); status != 204 {
		t.Errorf("revoke = %d, want 204", status)
	}
	if status, _, _ := (signed{method: http.MethodDelete, target: path + "?api-version=2023-10-01"}).do(t, e); status != 204 {
		t.Errorf("delete = %d, want 204", status)
	}
	if status, _, _ := (signed{method: http.MethodDelete, target: path + "?api-version=2023-10-01"}).do(t, e); status != 404 {
		t.Errorf("second delete = %d, want 404", status)
	}
	if e.IdentityCount() != 1 {
		t.Errorf("IdentityCount = %d, want 1", e.IdentityCount())
	}
	if n := e.Requests("IssueAccessToken"); n != 12 {
		t.Errorf("IssueAccessToken requests = %d, want 12", n)
	}
}

func TestVerifyRejects(t *testing.T) {
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	e := start(t, Options{Now: now})
	newToken := func() string {
		_, _, body := signed{method: http.MethodPost, target: create, body: `{"createTokenWithScopes":["voip"],"expiresInMinutes":60}`}.do(t, e)
		var v struct{ AccessToken struct{ Token string } }
		_ = json.Unmarshal(body, &v)
		return v.AccessToken.Token
	}
	verifyRoute := func(tok string) int {
		resp, err := http.Post(e.Endpoint()+"emulator/verify", "application/json", strings.NewReader(`{"token":"`+tok+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := newToken()
	if code := verifyRoute(tok); code != 200 {
		t.Fatalf("fresh token: verify route = %d", code)
	}
	parts := strings.Split(tok, ".")
	if _, err := e.Verify(parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("forged"))); err == nil {
		t.Error("a forged signature verifies")
	}
	other := start(t, Options{})
	if _, err := other.Verify(tok); err == nil {
		t.Error("another emulator's token verifies")
	}
	mu.Lock()
	clock = clock.Add(61 * time.Minute)
	mu.Unlock()
	if _, err := e.Verify(tok); err == nil {
		t.Error("an expired token verifies")
	}
	if code := verifyRoute(tok); code != 401 {
		t.Errorf("expired token: verify route = %d, want 401", code)
	}
}

func TestFaultsRoute(t *testing.T) {
	e := start(t, Options{})
	post := func(body string) {
		resp, err := http.Post(e.Endpoint()+"emulator/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("POST /emulator/faults %s = %d", body, resp.StatusCode)
		}
	}
	post(`{"fail":{"count":2,"status":429,"retryAfterSeconds":3}}`)
	for i := 0; i < 2; i++ {
		status, h, body := signed{method: http.MethodPost, target: create}.do(t, e)
		if status != 429 || h.Get("Retry-After") != "3" || errorCode(t, body) != "TooManyRequests" {
			t.Fatalf("attempt %d: %d Retry-After=%q %s", i, status, h.Get("Retry-After"), body)
		}
	}
	if status, _, _ := (signed{method: http.MethodPost, target: create}).do(t, e); status != 201 {
		t.Errorf("after the injected failures: %d", status)
	}

	post(`{"latencyMs":300}`)
	begin := time.Now()
	signed{method: http.MethodPost, target: create}.do(t, e)
	if el := time.Since(begin); el < 300*time.Millisecond {
		t.Errorf("latency 300ms: answered in %v", el)
	}

	post(`{"down":true}`)
	r, _ := http.NewRequest(http.MethodPost, e.Endpoint()+"identities?api-version=2023-10-01", nil)
	if resp, err := http.DefaultClient.Do(r); err == nil {
		resp.Body.Close()
		t.Errorf("down: got an answer %d, want a dropped connection", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.Endpoint()+"emulator/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE /emulator/faults: %v", err)
	}
	if status, _, _ := (signed{method: http.MethodPost, target: create}).do(t, e); status != 201 {
		t.Errorf("after reset: %d", status)
	}

	resp, err := http.Get(e.Endpoint() + "emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Identities int
		Requests   map[string]int
	}
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	// 2 throttled + 1 created + 1 slow + 1 after reset; the dropped one never reached an operation.
	if stats.Identities != 3 || stats.Requests["CreateIdentity"] != 5 {
		t.Errorf("stats = %+v", stats)
	}
	for _, bad := range []string{`{"fail":{"count":1,"status":200}}`, `{"latencyMs":-1}`, `{"nope":1}`} {
		resp, err := http.Post(e.Endpoint()+"emulator/faults", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("faults %s = %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestConcurrentCreates(t *testing.T) {
	e := start(t, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			if status, _, body := (signed{method: http.MethodPost, target: create, body: `{"createTokenWithScopes":["chat"]}`}).do(t, e); status != 201 {
				t.Errorf("create: %d %s", status, body)
			}
		})
	}
	wg.Wait()
	if e.IdentityCount() != 20 || e.Requests("CreateIdentity") != 20 {
		t.Errorf("IdentityCount = %d, requests = %d, want 20", e.IdentityCount(), e.Requests("CreateIdentity"))
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=C7Ha6/IGTWJxNhQlm1uj+uYLPU/0opSaOx1mUN2og6E=", true},
		{"HMAC-SHA256 Signature=QQ==&SignedHeaders=X-MS-DATE;HOST;X-MS-CONTENT-SHA256", true},
		{"", false},
		{"Bearer abc", false},
		{"HMAC-SHA256 SignedHeaders=host&Signature=QQ==", false},
		{"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256", false},
		{"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=", false},
		{"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=***", false},
		{"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=QQ==&Extra=1", false},
	}
	for _, tt := range tests {
		if _, err := parseAuthorization(tt.in); (err == nil) != tt.ok {
			t.Errorf("parseAuthorization(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=QQ==")
	f.Add("HMAC-SHA256 &&==")
	f.Fuzz(func(t *testing.T, h string) {
		sig, err := parseAuthorization(h)
		if err == nil && (len(sig) == 0 || !strings.HasPrefix(h, "HMAC-SHA256 ")) {
			t.Fatalf("accepted %q with signature %x", h, sig)
		}
	})
}

func FuzzCheckAPIVersion(f *testing.F) {
	for _, s := range []string{"2023-10-01", "2026-07-22", "2025-03-02-preview", "2023-9-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if checkAPIVersion([]string{v}) != nil {
			return
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil || v < MinAPIVersion || len(v) != 10 {
			t.Fatalf("accepted api-version %q", v)
		}
	})
}
