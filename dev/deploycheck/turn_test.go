package deploycheck

import (
	"regexp"
	"strings"
	"testing"
)

// turnSecrets are the TURN settings that hold secrets, by main.bicep
// parameter, and the token cache keys, which follow the same rule.
var turnSecrets = map[string]string{
	"TURN_SHARED_SECRET":          "turnSharedSecret",
	"TURN_SHARED_SECRET_PREVIOUS": "turnSharedSecretPrevious",
	"TURN_USER_KEY":               "turnUserKey",
	"TOKEN_CACHE_KEY":             "tokenCacheKey",
	"TOKEN_CACHE_KEY_PREVIOUS":    "tokenCacheKeyPrevious",
}

// TURN secrets reach the app only through @secure() parameters (kept out of
// deployment history and logs) and never leave main.bicep as an output.
func TestTURNSecretsAreSecureParams(t *testing.T) {
	const file = "infra/main.bicep"
	src := string(readRepoFile(t, file))
	main := parseBicep(t, file)
	settings := mustDecl(t, main, file, "module", "functionApp").Body().Get("params", "settings")
	lines := strings.Split(src, "\n")
	for setting, param := range turnSecrets {
		v := settings.Get(setting)
		if v == nil || v.Kind != Other || v.Text != param {
			t.Errorf("%s: %s must be set from the parameter %s, got %+v", file, setting, param, v)
		}
		d := main.Find("param", param)
		if d == nil {
			t.Errorf("%s has no param %s", file, param)
			continue
		}
		if d.Type != "string" || d.Value == nil || d.Value.Text != "" {
			t.Errorf("%s: param %s must be a string defaulting to '' (the capability is optional)", file, param)
		}
		secure := false
		for i := d.Line - 2; i >= 0 && strings.HasPrefix(strings.TrimSpace(lines[i]), "@"); i-- {
			secure = secure || strings.TrimSpace(lines[i]) == "@secure()"
		}
		if !secure {
			t.Errorf("%s line %d: param %s lacks @secure()", file, d.Line, param)
		}
		ref := regexp.MustCompile(`\b` + param + `\b`)
		for _, o := range main.All("output") {
			if ref.MatchString(lines[o.Line-1]) || (o.Value != nil && ref.MatchString(o.Value.Text)) {
				t.Errorf("%s line %d: output %s exposes the secret %s", file, o.Line, o.Name, param)
			}
		}
	}
}
