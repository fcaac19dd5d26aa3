package acs

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"switchboard/dev/acsemu"
)

func startEmulator(t *testing.T, opts acsemu.Options) *acsemu.Emulator {
	t.Helper()
	emu, err := acsemu.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	return emu
}

// fastRetries keeps retry tests quick; Retry-After still takes precedence.
func fastRetries(maxRetries int32) *ClientOptions {
	var o ClientOptions
	o.Retry = policy.RetryOptions{MaxRetries: maxRetries, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 5 * time.Second}
	return &o
}

// wireRecorder records the request target of every attempt and then sends it for real.
type wireRecorder struct {
	mu      sync.Mutex
	targets []string
}

func (w *wireRecorder) Do(r *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.targets = append(w.targets, r.Method+" "+r.URL.RequestURI())
	w.mu.Unlock()
	return http.DefaultClient.Do(r)
}

func TestIdentityLifecycle(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	rec := &wireRecorder{}
	opts := &ClientOptions{}
	opts.Transport = rec
	c, err := NewClientFromConnectionString(emu.ConnectionString(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	plain, err := c.CreateIdentity(ctx, nil)
	if err != nil {
		t.Fatalf("CreateIdentity: %v", err)
	}
	if !strings.HasPrefix(plain.ID, "8:acs:"+emu.ResourceID()+"_") || plain.Token != nil {
		t.Fatalf("CreateIdentity(nil) = %+v, want an 8:acs id of this resource and no token", plain)
	}

	before := time.Now()
	withTok, err := c.CreateIdentity(ctx, &CreateIdentityOptions{Scopes: []string{ScopeVoIP, ScopeChat}, ExpiresInMinutes: 60})
	if err != nil {
		t.Fatalf("CreateIdentity with scopes: %v", err)
	}
	if withTok.Token == nil {
		t.Fatal("CreateIdentity with scopes returned no token")
	}
	assertToken(t, emu, *withTok.Token, withTok.ID, []string{"chat", "voip"}, before.Add(time.Hour))
	if emu.IdentityCount() != 2 {
		t.Errorf("emulator holds %d identities, want 2", emu.IdentityCount())
	}

	before = time.Now()
	tok, err := c.IssueToken(ctx, plain.ID, []string{ScopeChatJoin}, 0)
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	assertToken(t, emu, tok, plain.ID, []string{"chat.join"}, before.Add(24*time.Hour))

	if err := c.RevokeTokens(ctx, plain.ID); err != nil {
		t.Fatalf("RevokeTokens: %v", err)
	}
	if _, err := emu.Verify(tok.Token); err == nil {
		t.Error("a token issued before RevokeTokens still verifies")
	}
	fresh, err := c.IssueToken(ctx, plain.ID, []string{ScopeVoIP}, 90)
	if err != nil {
		t.Fatalf("IssueToken after revoke: %v", err)
	}
	if _, err := emu.Verify(fresh.Token); err != nil {
		t.Errorf("a token issued after RevokeTokens does not verify: %v", err)
	}

	if err := c.DeleteIdentity(ctx, plain.ID); err != nil {
		t.Fatalf("DeleteIdentity: %v", err)
	}
	if _, err := emu.Verify(fresh.Token); err == nil {
		t.Error("a token of a deleted identity still verifies")
	}
	if err := c.DeleteIdentity(ctx, plain.ID); !IsNotFound(err) {
		t.Errorf("second DeleteIdentity: err = %v, want not found", err)
	}
	if _, err := c.IssueToken(ctx, plain.ID, []string{ScopeVoIP}, 0); !IsNotFound(err) {
		t.Errorf("IssueToken for a deleted identity: err = %v, want not found", err)
	}
	var re *azcore.ResponseError
	if err := c.RevokeTokens(ctx, plain.ID); !errors.As(err, &re) || re.ErrorCode != "IdentityNotFound" {
		t.Errorf("RevokeTokens for a deleted identity: err = %v, want a ResponseError with the ACS error code", err)
	}
	if emu.IdentityCount() != 1 {
		t.Errorf("emulator holds %d identities, want 1", emu.IdentityCount())
	}

	// The HMAC was accepted for ids that need percent-encoding: check they went out encoded.
	enc := "/identities/" + strings.ReplaceAll(plain.ID, ":", "%3A")
	for _, want := range []string{
		"POST " + enc + "/:issueAccessToken?api-version=2023-10-01",
		"POST " + enc + "/:revokeAccessTokens?api-version=2023-10-01",
		"DELETE " + enc + "?api-version=2023-10-01",
	} {
		if !slices.Contains(rec.targets, want) {
			t.Errorf("no request %q on the wire; sent %q", want, rec.targets)
		}
	}
}

func assertToken(t *testing.T, emu *acsemu.Emulator, tok AccessToken, id string, scopes []string, wantExp time.Time) {
	t.Helper()
	claims, err := emu.Verify(tok.Token)
	if err != nil {
		t.Fatalf("emulator rejects the token it issued: %v", err)
	}
	if claims.ID != id || !slices.Equal(claims.Scopes, scopes) {
		t.Errorf("token claims = %+v, want id %s scopes %v", claims, id, scopes)
	}
	if d := tok.ExpiresOn.Sub(wantExp); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("ExpiresOn = %v, want about %v", tok.ExpiresOn, wantExp)
	}
	if !tok.ExpiresOn.Equal(claims.ExpiresAt) {
		t.Errorf("ExpiresOn %v differs from the token's exp %v", tok.ExpiresOn, claims.ExpiresAt)
	}
}

func TestIdentityValidationErrors(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateIdentity(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		scopes  []string
		minutes int
	}{
		{"no scopes", nil, 0},
		{"unknown scope", []string{"admin"}, 0},
		{"too short", []string{ScopeVoIP}, 59},
		{"too long", []string{ScopeVoIP}, 1441},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.IssueToken(t.Context(), id.ID, tt.scopes, tt.minutes)
			if statusOf(err) != http.StatusBadRequest {
				t.Errorf("err = %v, want a 400 ResponseError", err)
			}
			if IsUnavailable(err) || IsAuthFailure(err) || IsNotFound(err) {
				t.Errorf("a 400 was misclassified: %v", err)
			}
		})
	}
	for _, m := range []int{MinTokenMinutes, MaxTokenMinutes} {
		if _, err := c.IssueToken(t.Context(), id.ID, []string{ScopeVoIPJoin, ScopeChatJoinLimited}, m); err != nil {
			t.Errorf("IssueToken with %d minutes: %v", m, err)
		}
	}
}

func TestRetryOnThrottlingHonoursRetryAfter(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), fastRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	emu.FailNext(1, http.StatusTooManyRequests, time.Second)
	start := time.Now()
	if _, err := c.CreateIdentity(t.Context(), nil); err != nil {
		t.Fatalf("CreateIdentity after one 429: %v", err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %v, before the 1s Retry-After", el)
	}
	if n := emu.Requests("CreateIdentity"); n != 2 {
		t.Errorf("emulator saw %d CreateIdentity requests, want 2", n)
	}
}

func TestPersistentThrottlingSurfaces(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), fastRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	emu.FailNext(100, http.StatusTooManyRequests, time.Second)
	_, err = c.CreateIdentity(t.Context(), nil)
	if !IsThrottled(err) {
		t.Fatalf("err = %v, want throttled", err)
	}
	if d := RetryAfter(err); d != time.Second {
		t.Errorf("RetryAfter = %v, want 1s", d)
	}
	if n := emu.Requests("CreateIdentity"); n != 2 {
		t.Errorf("emulator saw %d requests, want 2 (one retry)", n)
	}
}

func TestRetryOnServerErrors(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			emu := startEmulator(t, acsemu.Options{})
			c, err := NewClientFromConnectionString(emu.ConnectionString(), fastRetries(3))
			if err != nil {
				t.Fatal(err)
			}
			emu.FailNext(2, status, 0)
			if _, err := c.CreateIdentity(t.Context(), nil); err != nil {
				t.Fatalf("CreateIdentity after two %d: %v", status, err)
			}
			if n := emu.Requests("CreateIdentity"); n != 3 {
				t.Errorf("emulator saw %d requests, want 3", n)
			}
			emu.FailNext(10, status, 0)
			_, err = c.CreateIdentity(t.Context(), nil)
			if !IsUnavailable(err) || IsThrottled(err) {
				t.Errorf("persistent %d: err = %v, want unavailable", status, err)
			}
		})
	}
}

func TestWrongKeyIsAuthFailure(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientWithKey(emu.Endpoint(), []byte("not the resource's key"), fastRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateIdentity(t.Context(), nil)
	if !IsAuthFailure(err) || IsUnavailable(err) {
		t.Fatalf("err = %v, want an auth failure", err)
	}
	if n := emu.Requests("CreateIdentity"); n != 1 {
		t.Errorf("a 401 was sent %d times; it must not be retried", n)
	}
}

func TestEmulatorDownIsUnavailable(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), fastRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	emu.SetDown(true)
	_, err = c.CreateIdentity(t.Context(), nil)
	if !IsUnavailable(err) {
		t.Errorf("dropped connection: err = %v, want unavailable", err)
	}
	emu.SetDown(false)
	if _, err := c.CreateIdentity(t.Context(), nil); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	_ = emu.Close()
	_, err = c.CreateIdentity(t.Context(), nil)
	if !IsUnavailable(err) {
		t.Errorf("connection refused: err = %v, want unavailable", err)
	}
}

func TestContextDeadlineUnderLatency(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{})
	c, err := NewClientFromConnectionString(emu.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	emu.SetLatency(3 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.CreateIdentity(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("returned after %v; the 200ms deadline was not honoured", el)
	}
	if !IsUnavailable(err) {
		t.Errorf("a timeout must count as unavailable: %v", err)
	}
}

// staticCredential stands in for azidentity: it hands out a fixed token and records the scopes asked for.
type staticCredential struct {
	mu     sync.Mutex
	scopes []string
}

func (s *staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = append(s.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestTokenCredential(t *testing.T) {
	emu := startEmulator(t, acsemu.Options{VerifyBearer: func(tok string) error {
		if tok != "entra-token" {
			return errors.New("unexpected bearer token")
		}
		return nil
	}})
	cred := &staticCredential{}
	c, err := NewClientWithTokenCredential(emu.Endpoint(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIdentity(t.Context(), &CreateIdentityOptions{Scopes: []string{ScopeVoIP}}); err != nil {
		t.Fatalf("CreateIdentity with a bearer token: %v", err)
	}
	if !slices.Equal(cred.scopes, []string{"https://communication.azure.com//.default"}) {
		t.Errorf("scopes asked of the credential = %q", cred.scopes)
	}
	if _, err := NewClientWithTokenCredential("http://example.com", cred, nil); err == nil {
		t.Error("a bearer token client accepted a plain-http remote endpoint")
	}
}

func TestClassifiers(t *testing.T) {
	resp := func(status int, h http.Header) error {
		if h == nil {
			h = http.Header{}
		}
		return &azcore.ResponseError{StatusCode: status, RawResponse: &http.Response{StatusCode: status, Header: h}}
	}
	tests := []struct {
		name                                   string
		err                                    error
		notFound, auth, throttled, unavailable bool
		retryAfter                             time.Duration
	}{
		{name: "404", err: resp(404, nil), notFound: true},
		{name: "401", err: resp(401, nil), auth: true},
		{name: "403 wrapped", err: errors.Join(errors.New("x"), resp(403, nil)), auth: true},
		{name: "429 seconds", err: resp(429, http.Header{"Retry-After": {"7"}}), throttled: true, retryAfter: 7 * time.Second},
		{name: "429 ms", err: resp(429, http.Header{"Retry-After-Ms": {"250"}}), throttled: true, retryAfter: 250 * time.Millisecond},
		{name: "503", err: resp(503, http.Header{"Retry-After": {"2"}}), unavailable: true, retryAfter: 2 * time.Second},
		{name: "400", err: resp(400, nil)},
		{name: "deadline", err: context.DeadlineExceeded, unavailable: true},
		{name: "canceled", err: context.Canceled},
		{name: "nil", err: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsNotFound(tt.err); got != tt.notFound {
				t.Errorf("IsNotFound = %v", got)
			}
			if got := IsAuthFailure(tt.err); got != tt.auth {
				t.Errorf("IsAuthFailure = %v", got)
			}
			if got := IsThrottled(tt.err); got != tt.throttled {
				t.Errorf("IsThrottled = %v", got)
			}
			if got := IsUnavailable(tt.err); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v", got)
			}
			if got := RetryAfter(tt.err); got != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", got, tt.retryAfter)
			}
		})
	}
}
