package conformance

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/dev/acsemu"
)

// TestIdentitySDK drives the ACS emulator with @azure/communication-identity.
func TestIdentitySDK(t *testing.T) {
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	wrong := "endpoint=" + emu.Endpoint() + ";accesskey=" + base64.StdEncoding.EncodeToString([]byte("not-the-resource-key"))

	type token struct{ Token, ExpiresOn string }
	type failure struct {
		Status  int
		Code    string
		Message string
	}
	var res struct {
		CreateUser          struct{ ID string }
		CreateUserAndToken  struct{ ID, Token, ExpiresOn string }
		GetToken            token
		RevokeTokens        struct{ Revoked string }
		GetTokenAfterRevoke token
		DeleteUser          struct{ ID string }
		GetTokenForDeleted  failure
		GetTokenTooShort    failure
		WrongKey            failure
	}
	start := time.Now()
	runNode(t, "identity.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "ACS_WRONG_CONNECTION_STRING=" + wrong},
		&res, "@azure/communication-identity")

	prefix := "8:acs:" + emu.ResourceID() + "_"
	if !strings.HasPrefix(res.CreateUser.ID, prefix) || !strings.HasPrefix(res.CreateUserAndToken.ID, prefix) {
		t.Errorf("ids %q, %q lack the resource prefix %q", res.CreateUser.ID, res.CreateUserAndToken.ID, prefix)
	}

	expires := func(name, s string, want time.Duration) {
		t.Helper()
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Errorf("%s expiresOn %q: %v", name, s, err)
			return
		}
		if d := at.Sub(start); d < want-time.Minute || d > want+2*time.Minute {
			t.Errorf("%s expires in %v, want about %v", name, d, want)
		}
	}
	expires("createUserAndToken", res.CreateUserAndToken.ExpiresOn, 24*time.Hour)
	expires("getToken(60)", res.GetToken.ExpiresOn, time.Hour)
	expires("getToken after revoke", res.GetTokenAfterRevoke.ExpiresOn, 24*time.Hour)

	if _, err := emu.Verify(res.RevokeTokens.Revoked); err == nil {
		t.Error("the token revoked through the SDK still verifies")
	}
	claims, err := emu.Verify(res.GetTokenAfterRevoke.Token)
	if err != nil {
		t.Fatalf("the token issued after revocation does not verify: %v", err)
	}
	if claims.ID != res.CreateUser.ID || !slices.Equal(claims.Scopes, []string{"chat", "voip.join"}) {
		t.Errorf("claims = %+v", claims)
	}
	if _, err := emu.Verify(res.CreateUserAndToken.Token); err == nil {
		t.Error("the token of the user deleted through the SDK still verifies")
	}
	if res.DeleteUser.ID != res.CreateUserAndToken.ID {
		t.Errorf("deleted %q, want %q", res.DeleteUser.ID, res.CreateUserAndToken.ID)
	}
	if res.GetTokenForDeleted.Status != 404 {
		t.Errorf("getToken for a deleted user = %+v, want 404", res.GetTokenForDeleted)
	}
	if res.GetTokenTooShort.Status != 400 {
		t.Errorf("getToken with 30 minutes = %+v, want 400", res.GetTokenTooShort)
	}
	if res.WrongKey.Status != 401 || res.WrongKey.Code != "Denied" {
		t.Errorf("wrong key = %+v, want 401 Denied", res.WrongKey)
	}

	if n := emu.IdentityCount(); n != 1 {
		t.Errorf("emulator holds %d identities, want 1 (one created, one created and deleted; the wrong key created none)", n)
	}
	want := map[string]int{"CreateIdentity": 3, "IssueAccessToken": 4, "RevokeAccessTokens": 1, "DeleteIdentity": 1}
	for op, n := range want {
		if got := emu.Requests(op); got != n {
			t.Errorf("%s requests = %d, want %d", op, got, n)
		}
	}
}
