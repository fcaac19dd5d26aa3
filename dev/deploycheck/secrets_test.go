package deploycheck

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// notSecret are names that look like secrets but are not, and why; each
// reason is checked where it can be.
var notSecret = map[string]string{
	// Application Insights takes Entra tokens only (DisableLocalAuth, checked
	// in TestAppInsightsConnectionStringIsNoCredential): its connection string
	// names the resource and grants nothing.
	"infra/modules/monitoring.bicep output connectionString": "Application Insights ingestion is Entra-only",
	"APPLICATIONINSIGHTS_CONNECTION_STRING":                  "Application Insights ingestion is Entra-only",
}

// secretName says whether a setting or output name looks like it holds a
// credential. Public keys (WEBPUSH_VAPID_PUBLIC_KEY) are meant to be shared.
func secretName(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", ""))
	if strings.Contains(n, "publickey") {
		return false
	}
	for _, w := range []string{"connectionstring", "key", "secret", "password"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// walk calls fn on v and everything inside it.
func walk(v *Value, fn func(*Value)) {
	if v == nil {
		return
	}
	fn(v)
	for _, it := range v.Items {
		walk(it, fn)
	}
	for _, k := range v.Keys {
		walk(v.Fields[k], fn)
	}
}

// listCall returns the name of a list*() call in v (listKeys,
// listConnectionStrings, ...), which reads a credential, or "".
func listCall(v *Value) string {
	found := ""
	walk(v, func(x *Value) {
		if x.Kind == Call && strings.HasPrefix(x.Name, "list") && found == "" {
			found = x.Name
		}
	})
	return found
}

// secureParams returns the names of a file's @secure() parameters.
func secureParams(f *File) []string {
	var names []string
	for _, p := range f.All("param") {
		if p.Decorator("secure") != nil {
			names = append(names, p.Name)
		}
	}
	return names
}

// mentions returns the first of names that v refers to, or "".
func mentions(v *Value, names []string) string {
	var text []string
	walk(v, func(x *Value) {
		if x.Kind == Other || x.Kind == String {
			text = append(text, x.Text)
		}
	})
	joined := strings.Join(text, " ")
	for _, n := range names {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).MatchString(joined) {
			return n
		}
	}
	return ""
}

func infraBicepFiles(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	var rels []string
	for _, pattern := range []string{"infra/*.bicep", "infra/modules/*.bicep"} {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				t.Fatal(err)
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
	}
	if len(rels) < 2 {
		t.Fatalf("found only %d Bicep files under infra/", len(rels))
	}
	return rels
}

// Deployment outputs (of main.bicep and of every module) are stored in plain
// text in the resource group's deployment history, and azd copies
// main.bicep's into .azure/<env>/.env: no credential may be one.
func TestNoSecretOutputs(t *testing.T) {
	for _, rel := range infraBicepFiles(t) {
		for _, problem := range secretOutputs(rel, string(readRepoFile(t, rel))) {
			t.Error(problem)
		}
	}
}

// secretOutputs lists the outputs of one Bicep file that are, or may be,
// credentials.
func secretOutputs(rel, src string) []string {
	var problems []string
	if strings.Contains(src, "outputs-should-not-contain-secrets") {
		problems = append(problems, rel+" silences the linter's outputs-should-not-contain-secrets rule: read the secret where it is used instead")
	}
	f, err := Parse(src)
	if err != nil {
		return append(problems, fmt.Sprintf("%s: %v", rel, err))
	}
	secure := secureParams(f)
	for _, o := range f.All("output") {
		where := fmt.Sprintf("%s line %d: output %s", rel, o.Line, o.Name)
		if _, ok := notSecret[rel+" output "+o.Name]; !ok && secretName(o.Name) {
			problems = append(problems, where+": the name says it holds a credential; outputs are kept in plain text in the deployment history")
		}
		if fn := listCall(o.Value); fn != "" {
			problems = append(problems, fmt.Sprintf("%s calls %s(): call it where the app setting is built, not in an output", where, fn))
		}
		if p := mentions(o.Value, secure); p != "" {
			problems = append(problems, fmt.Sprintf("%s passes on the @secure() parameter %s", where, p))
		}
	}
	return problems
}

// secretSource says whether a secret-looking app setting gets its value
// from a safe place: a @secure() parameter, a list*() call at this spot, a
// Key Vault reference, or nothing.
func secretSource(v *Value, secure []string) bool {
	switch {
	case v == nil:
		return false
	case v.Kind == String:
		return v.Text == "" || strings.HasPrefix(v.Text, "@Microsoft.KeyVault(")
	case listCall(v) != "":
		return true
	case v.Kind == Other && len(v.Items) == 0:
		return slices.Contains(secure, v.Text)
	}
	return false
}

// The rule for every setting the next issues add (docs/deploy.md, "Adding a
// setting"): a credential comes from a @secure() parameter, a listKeys() call
// where the setting is built, or a Key Vault reference; never from a module
// output or a plain parameter.
func TestSecretSettingsComeFromSafeSources(t *testing.T) {
	main := parseBicep(t, "infra/main.bicep")
	settings := mustDecl(t, main, "infra/main.bicep", "module", "functionApp").Body().Get("params", "settings")
	if settings == nil || settings.Kind != Object {
		t.Fatal("infra/main.bicep: module functionApp has no params.settings object")
	}
	checkSecretSettings(t, "infra/main.bicep", settings, secureParams(main))

	const file = "infra/modules/functionapp.bicep"
	site := parseBicep(t, file)
	for _, d := range site.All("resource") {
		if !strings.HasPrefix(d.Type, "Microsoft.Web/sites/config@") {
			continue
		}
		props := d.Body().Get("properties")
		walk(props, func(x *Value) {
			if x.Kind == Object {
				checkSecretSettings(t, file, x, secureParams(site))
			}
		})
	}
}

func checkSecretSettings(t *testing.T, file string, settings *Value, secure []string) {
	t.Helper()
	for _, k := range settings.Keys {
		if _, ok := notSecret[k]; ok || !secretName(k) {
			continue
		}
		if v := settings.Fields[k]; !secretSource(v, secure) {
			t.Errorf("%s line %d: %s looks like a credential but comes from %q: use a @secure() parameter, listKeys() right here, or a Key Vault reference (docs/deploy.md, \"Adding a setting\")", file, v.Line, k, v.Text)
		}
	}
}

func TestAppInsightsConnectionStringIsNoCredential(t *testing.T) {
	const file = "infra/modules/monitoring.bicep"
	f := parseBicep(t, file)
	found := false
	for _, d := range f.All("resource") {
		if !strings.HasPrefix(d.Type, "Microsoft.Insights/components@") {
			continue
		}
		found = true
		if v := d.Body().Get("properties", "DisableLocalAuth"); v == nil || v.Text != "true" {
			t.Errorf("%s: %s must set DisableLocalAuth: true, or its connection string is an ingestion credential and may not be an output", file, d.Name)
		}
	}
	if !found {
		t.Errorf("%s declares no Microsoft.Insights/components resource", file)
	}
}

func TestSecretCheckers(t *testing.T) {
	for name, want := range map[string]bool{
		"connectionString": true, "NOTIFICATION_HUB_CONNECTION_STRING": true, "EVENTGRID_TOPIC_KEY": true,
		"apiKey": true, "clientSecret": true, "adminPassword": true, "TOKEN_CACHE_KEY": true,
		"WEBPUSH_VAPID_PUBLIC_KEY": false, "hubName": false, "endpoint": false, "AZURE_FUNCTION_APP_NAME": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}

	src := `@secure()
param secret string
param plain string

module m 'm.bicep' = {
  params: {
    settings: {
      A_KEY: secret
      B_KEY: plain
      C_KEY: m0.outputs.key
      D_CONNECTION_STRING: rule.listKeys().primaryConnectionString
      E_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/e)'
      F_PASSWORD: ''
      G_KEY: 'hard-coded'
      H_NAME: plain
    }
  }
}

output ok string = plain
output leaksSecret string = 'x${secret}'
output listed string = rule.listKeys().primaryConnectionString
`
	f, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	settings := f.Find("module", "m").Body().Get("params", "settings")
	secure := secureParams(f)
	var unsafe []string
	for _, k := range settings.Keys {
		if secretName(k) && !secretSource(settings.Fields[k], secure) {
			unsafe = append(unsafe, k)
		}
	}
	if want := []string{"B_KEY", "C_KEY", "G_KEY"}; !slices.Equal(unsafe, want) {
		t.Errorf("unsafe settings %q, want %q", unsafe, want)
	}
	if got := mentions(f.Find("output", "leaksSecret").Value, secure); got != "secret" {
		t.Errorf("mentions(leaksSecret) = %q, want secret", got)
	}
	if got := mentions(f.Find("output", "ok").Value, secure); got != "" {
		t.Errorf("mentions(ok) = %q, want nothing", got)
	}
	if got := listCall(f.Find("output", "listed").Value); got != "listKeys" {
		t.Errorf("listCall(listed) = %q, want listKeys", got)
	}
}

func TestSecretOutputsCatches(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{
			// The Notification Hubs module before issue 19.
			name: "connection string output",
			src:  "resource sendRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' = {\n  name: 'SwitchboardSend'\n}\n\n#disable-next-line outputs-should-not-contain-secrets\noutput connectionString string = sendRule.listKeys().primaryConnectionString\n",
			want: 3, // the pragma, the name, the listKeys() call
		},
		{name: "list call under a harmless name", src: "output hub string = rule.listKeys().primaryKey\n", want: 1},
		{name: "secure parameter passed on", src: "@secure()\nparam p string\noutput url string = 'https://x/?code=${p}'\n", want: 1},
		{name: "secret name", src: "output adminPassword string = 'x'\n", want: 1},
		{name: "harmless", src: "param p string\noutput hubName string = p\noutput endpoint string = 'https://${p}'\n", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secretOutputs("x.bicep", tt.src); len(got) != tt.want {
				t.Errorf("%d problems, want %d: %q", len(got), tt.want, got)
			}
		})
	}
}
