package deploycheck

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"switchboard/dev/appdir"
)

// notInBicep are settings the handler reads that an Azure deployment does
// not set, and why.
var notInBicep = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "the Functions host sets it for the handler process",
	"STORAGE_CONNECTION_STRING":    "Azure uses STORAGE_TABLE_ENDPOINT with the managed identity",
	"ACS_CONNECTION_STRING":        "Azure uses ACS_ENDPOINT with the managed identity",
}

// hostSettings are app settings for the Functions host and azidentity, not
// Switchboard's own; the Function App module must set them.
var hostSettings = []string{
	"AzureWebJobsStorage__accountName",
	"AzureWebJobsStorage__credential",
	"AzureWebJobsStorage__clientId",
	"APPLICATIONINSIGHTS_CONNECTION_STRING",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
	"AZURE_CLIENT_ID",
}

// acsCallEvents are the ACS events the handler acts on (DESIGN.md).
var acsCallEvents = []string{
	"Microsoft.Communication.IncomingCall",
	"Microsoft.Communication.CallStarted",
	"Microsoft.Communication.CallEnded",
	"Microsoft.Communication.CallParticipantAdded",
	"Microsoft.Communication.CallParticipantRemoved",
	"Microsoft.Communication.ChatMessageReceived",
}

// handlerSettings reads config.Settings, the settings the handler reads
// (config_test.go checks it against config.Load), from its Go source: Go's
// internal-package rule keeps dev/ from importing handler/internal/config.
func handlerSettings(t *testing.T) []string {
	t.Helper()
	const file = "handler/internal/config/config.go"
	f, err := parser.ParseFile(token.NewFileSet(), file, readRepoFile(t, file), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "Settings" || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					t.Fatalf("%s: Settings is not a []string literal", file)
				}
				var settings []string
				for _, e := range lit.Elts {
					bl, ok := e.(*ast.BasicLit)
					if !ok || bl.Kind != token.STRING {
						t.Fatalf("%s: Settings holds a non-literal element", file)
					}
					s, err := strconv.Unquote(bl.Value)
					if err != nil {
						t.Fatal(err)
					}
					settings = append(settings, s)
				}
				if len(settings) == 0 {
					t.Fatalf("%s: Settings is empty", file)
				}
				return settings
			}
		}
	}
	t.Fatalf("%s declares no `var Settings = []string{...}`", file)
	return nil
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseBicep(t *testing.T, rel string) *File {
	t.Helper()
	f, err := Parse(string(readRepoFile(t, rel)))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return f
}

func mustDecl(t *testing.T, f *File, file, keyword, name string) *Decl {
	t.Helper()
	d := f.Find(keyword, name)
	if d == nil {
		t.Fatalf("%s has no %s %s", file, keyword, name)
	}
	return d
}

func TestSampleSettingsListEverySetting(t *testing.T) {
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(readRepoFile(t, "local.settings.sample.json"), &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	settings := handlerSettings(t)
	for _, s := range settings {
		if _, ok := sample.Values[s]; !ok && s != "FUNCTIONS_CUSTOMHANDLER_PORT" {
			t.Errorf("local.settings.sample.json lacks %s", s)
		}
	}
	for k := range sample.Values {
		if !slices.Contains(settings, k) && k != "FUNCTIONS_WORKER_RUNTIME" && k != "AzureWebJobsStorage" {
			t.Errorf("local.settings.sample.json sets %s, which the handler does not read", k)
		}
	}
	if _, ok := sample.Values["FUNCTIONS_CUSTOMHANDLER_PORT"]; ok {
		t.Error("local.settings.sample.json sets FUNCTIONS_CUSTOMHANDLER_PORT, which the host chooses")
	}
	if sample.Values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Error(`local.settings.sample.json needs "FUNCTIONS_WORKER_RUNTIME": "custom"`)
	}
}

// appSettings returns the Function App's settings as the Bicep declares
// them: the `settings` object main.bicep passes to the Function App module,
// and the object literals the module's appsettings resource unions with it.
func appSettings(t *testing.T) (fromMain, fromModule []string) {
	t.Helper()
	main := parseBicep(t, "infra/main.bicep")
	mod := mustDecl(t, main, "infra/main.bicep", "module", "functionApp")
	if mod.Type != "modules/functionapp.bicep" {
		t.Fatalf("infra/main.bicep: module functionApp is %q, want modules/functionapp.bicep", mod.Type)
	}
	settings := mod.Body().Get("params", "settings")
	if settings == nil || settings.Kind != Object {
		t.Fatalf("infra/main.bicep: module functionApp has no params.settings object")
	}

	site := parseBicep(t, "infra/modules/functionapp.bicep")
	if p := site.Find("param", "settings"); p == nil || p.Type != "object" {
		t.Fatal("infra/modules/functionapp.bicep: no `param settings object`")
	}
	var cfg *Decl
	for _, d := range site.All("resource") {
		if strings.HasPrefix(d.Type, "Microsoft.Web/sites/config@") {
			if n := d.Body().Get("name"); n != nil && n.Kind == String && n.Text == "appsettings" {
				cfg = d
			}
		}
	}
	if cfg == nil {
		t.Fatal("infra/modules/functionapp.bicep: no Microsoft.Web/sites/config resource named 'appsettings'")
	}
	props := cfg.Body().Get("properties")
	if props == nil || props.Kind != Call || props.Name != "union" {
		t.Fatalf("infra/modules/functionapp.bicep line %d: appsettings properties must be union(settings, {...})", cfg.Line)
	}
	passesSettings := false
	for _, arg := range props.Items {
		switch {
		case arg.Kind == Object:
			fromModule = append(fromModule, arg.Keys...)
		case arg.Kind == Other && arg.Text == "settings":
			passesSettings = true
		default:
			t.Errorf("infra/modules/functionapp.bicep line %d: union argument %q is neither `settings` nor an object literal", arg.Line, arg.Text)
		}
	}
	if !passesSettings {
		t.Errorf("infra/modules/functionapp.bicep line %d: the appsettings union leaves out `settings`", props.Line)
	}
	return settings.Keys, fromModule
}

func TestBicepWiresEverySetting(t *testing.T) {
	fromMain, fromModule := appSettings(t)
	all := append(slices.Clone(fromMain), fromModule...)
	settings := handlerSettings(t)
	for _, s := range settings {
		if _, exempt := notInBicep[s]; exempt {
			continue
		}
		if !slices.Contains(all, s) {
			t.Errorf("the Function App's app settings lack %s (infra/main.bicep, module functionApp, params.settings)", s)
		}
	}
	for _, k := range all {
		if why, exempt := notInBicep[k]; exempt {
			t.Errorf("the Bicep sets %s, but %s", k, why)
		}
	}
	for _, k := range fromMain {
		if !slices.Contains(settings, k) {
			t.Errorf("infra/main.bicep sets %s, which the handler does not read", k)
		}
		if slices.Contains(fromModule, k) {
			t.Errorf("%s is set both in infra/main.bicep and in the module, whose value silently wins", k)
		}
	}
	for _, k := range fromModule {
		if !slices.Contains(settings, k) && !slices.Contains(hostSettings, k) {
			t.Errorf("infra/modules/functionapp.bicep sets %s, which neither the handler nor the host reads", k)
		}
	}
	for _, want := range hostSettings {
		if !slices.Contains(fromModule, want) {
			t.Errorf("infra/modules/functionapp.bicep app settings lack %s", want)
		}
	}
}

// A required parameter that main.parameters.json does not fill makes azd
// prompt (or CI fail); one it fills that main.bicep lacks fails the deployment.
func TestParametersFileMatchesMainBicep(t *testing.T) {
	main := parseBicep(t, "infra/main.bicep")
	var params struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(readRepoFile(t, "infra/main.parameters.json"), &params); err != nil {
		t.Fatalf("infra/main.parameters.json: %v", err)
	}
	for _, p := range main.All("param") {
		if _, ok := params.Parameters[p.Name]; !ok && p.Value == nil {
			t.Errorf("infra/main.parameters.json does not fill the required parameter %s", p.Name)
		}
	}
	for name := range params.Parameters {
		if main.Find("param", name) == nil {
			t.Errorf("infra/main.parameters.json sets %s, which infra/main.bicep does not declare", name)
		}
	}
}

type functionJSON struct {
	Bindings []struct {
		Type     string   `json:"type"`
		Route    string   `json:"route"`
		Methods  []string `json:"methods"`
		Schedule string   `json:"schedule"`
	} `json:"bindings"`
}

var (
	// A documented route: `GET /api/x`, `PUT/DELETE /api/x/{id}`.
	docRouteRE = regexp.MustCompile("`((?:GET|POST|PUT|PATCH|DELETE)(?:/(?:GET|POST|PUT|PATCH|DELETE))*) (/api/[^`\\s]*)`")
	paramRE    = regexp.MustCompile(`\{[^}]*\}`)
)

// normalizeRoute names every path parameter {} so names need not match.
func normalizeRoute(r string) string { return paramRE.ReplaceAllString(r, "{}") }

// documentedRoutes reads "METHOD /api/route" pairs from the README.
func documentedRoutes(t *testing.T) map[string]bool {
	t.Helper()
	docs := map[string]bool{}
	for _, m := range docRouteRE.FindAllStringSubmatch(string(readRepoFile(t, "README.md")), -1) {
		for _, method := range strings.Split(m[1], "/") {
			docs[method+" "+normalizeRoute(m[2])] = true
		}
	}
	if len(docs) == 0 {
		t.Fatal("README.md documents no `METHOD /api/...` routes")
	}
	return docs
}

// routeVariants expands a trailing optional segment: contacts/{userId?}
// serves both contacts and contacts/{userId}.
func routeVariants(route string) []string {
	if i := strings.LastIndex(route, "/{"); i >= 0 && strings.HasSuffix(route, "?}") {
		return []string{"/api/" + route[:i], "/api/" + normalizeRoute(route)}
	}
	return []string{"/api/" + normalizeRoute(route)}
}

// subscribedFunctions returns the functions the Event Grid subscriptions in
// infra/modules/callevents-subscription.bicep deliver to, checking each one's
// destination, events, retries and dead-lettering.
func subscribedFunctions(t *testing.T) []string {
	t.Helper()
	const file = "infra/modules/callevents-subscription.bicep"
	f := parseBicep(t, file)
	destRE := regexp.MustCompile(`^\$\{(\w+)\.id\}/functions/([A-Za-z0-9_-]+)$`)
	var names []string
	for _, d := range f.All("resource") {
		if !strings.HasPrefix(d.Type, "Microsoft.EventGrid/systemTopics/eventSubscriptions@") {
			continue
		}
		props := d.Body().Get("properties")
		dest := props.Get("destination")
		if typ := dest.Get("endpointType"); typ == nil || typ.Text != "AzureFunction" {
			t.Errorf("%s: subscription %s must use the AzureFunction destination (the host's system key comes with it)", file, d.Name)
			continue
		}
		id := dest.Get("properties", "resourceId")
		if id == nil || id.Kind != String {
			t.Errorf("%s: subscription %s has no destination resourceId string", file, d.Name)
			continue
		}
		m := destRE.FindStringSubmatch(id.Text)
		if m == nil {
			t.Errorf("%s: subscription %s: resourceId %q is not '${<app>.id}/functions/<name>'", file, d.Name, id.Text)
			continue
		}
		if app := f.Find("resource", m[1]); app == nil || !strings.HasPrefix(app.Type, "Microsoft.Web/sites@") {
			t.Errorf("%s: subscription %s: %s is not a Microsoft.Web/sites resource", file, d.Name, m[1])
		}
		names = append(names, m[2])

		var types []string
		if arr := props.Get("filter", "includedEventTypes"); arr != nil && arr.Kind == Array {
			for _, it := range arr.Items {
				types = append(types, it.Text)
			}
		}
		for _, want := range acsCallEvents {
			if !slices.Contains(types, want) {
				t.Errorf("%s: subscription %s does not deliver %s", file, d.Name, want)
			}
		}
		if props.Get("retryPolicy", "maxDeliveryAttempts") == nil || props.Get("retryPolicy", "eventTimeToLiveInMinutes") == nil {
			t.Errorf("%s: subscription %s has no retryPolicy", file, d.Name)
		}
		dl := props.Get("deadLetterWithResourceIdentity", "deadLetterDestination")
		if dl == nil {
			dl = props.Get("deadLetterDestination")
		}
		if typ := dl.Get("endpointType"); typ == nil || typ.Text != "StorageBlob" || dl.Get("properties", "blobContainerName") == nil {
			t.Errorf("%s: subscription %s has no StorageBlob dead-letter container", file, d.Name)
		}
	}
	return names
}

func TestEveryFunctionIsReachable(t *testing.T) {
	root := repoRoot(t)
	names, err := appdir.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no function folders under functions/")
	}
	docs := documentedRoutes(t)
	served := map[string]bool{}
	subscribed := subscribedFunctions(t)
	eventGrid := map[string]bool{}
	for _, name := range names {
		var fj functionJSON
		b, err := os.ReadFile(filepath.Join(root, "functions", name, "function.json"))
		if err == nil {
			err = json.Unmarshal(b, &fj)
		}
		if err != nil || len(fj.Bindings) == 0 {
			t.Errorf("functions/%s/function.json is missing or malformed: %v", name, err)
			continue
		}
		trigger := fj.Bindings[0]
		switch trigger.Type {
		case "httpTrigger":
			variants := routeVariants(trigger.Route)
			for _, method := range trigger.Methods {
				method = strings.ToUpper(method)
				for _, v := range variants {
					served[method+" "+v] = true
				}
				// OPTIONS is the CloudEvents webhook handshake, not an API.
				if method == "OPTIONS" {
					continue
				}
				found := false
				for _, v := range variants {
					found = found || docs[method+" "+v]
				}
				if !found {
					t.Errorf("function %s: README.md does not document %s %s", name, method, variants[len(variants)-1])
				}
			}
		case "eventGridTrigger":
			eventGrid[name] = true
			if !slices.Contains(subscribed, name) {
				t.Errorf("function %s has no Event Grid subscription in infra/modules/callevents-subscription.bicep", name)
			}
		case "timerTrigger":
			if len(strings.Fields(trigger.Schedule)) != 6 {
				t.Errorf("function %s: schedule %q is not a 6-field cron expression", name, trigger.Schedule)
			}
		default:
			t.Errorf("function %s: unexpected trigger %s", name, trigger.Type)
		}
	}
	for _, name := range subscribed {
		if !eventGrid[name] {
			t.Errorf("an Event Grid subscription delivers to %s, which is not an eventGridTrigger function", name)
		}
	}
	for route := range docs {
		if !served[route] {
			t.Errorf("README.md documents %s, but no function serves it (Azure would answer 404)", route)
		}
	}
}

// The subscription module is deployed only by azure.yaml's hook, and the
// hook reads main.bicep outputs from the azd environment.
func TestAzureYAMLDeploysTheSubscription(t *testing.T) {
	main := parseBicep(t, "infra/main.bicep")
	var lines []string
	for _, l := range strings.Split(string(readRepoFile(t, "azure.yaml")), "\n") {
		if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
			lines = append(lines, l)
		}
	}
	yaml := strings.Join(lines, "\n")
	for _, want := range []string{
		"host: function", "dist: dist/app", "run: make package", "postdeploy:", "infra/modules/callevents-subscription.bicep",
		// az's default subscription need not be the azd environment's.
		`az deployment group create --subscription "$AZURE_SUBSCRIPTION_ID"`,
		// azd zips dist/app with Unix modes only from 1.26 (and not on Windows).
		"requiredVersions:\n  azd: \">= 1.26.0\"",
	} {
		if !strings.Contains(regexp.MustCompile(`\n\s+--`).ReplaceAllString(yaml, " --"), want) {
			t.Errorf("azure.yaml lacks %q", want)
		}
	}
	// On Windows azd would deploy the handler without its execute bit: the
	// package hook's Windows variant must stop, not package.
	if w := regexp.MustCompile(`(?m)^      prepackage:\n(?:        .*\n)*?        windows:\n((?:          .*\n?)+)`).FindStringSubmatch(yaml); w == nil {
		t.Error("azure.yaml: the prepackage hook has no windows: variant that stops azd on Windows")
	} else if !strings.Contains(w[1], "throw ") || !strings.Contains(w[1], "docs/deploy.md") {
		t.Errorf("azure.yaml: the prepackage hook's windows: variant must throw, pointing at docs/deploy.md:\n%s", w[1])
	}
	// The schema that lists `language: custom` (an alpha feature of azd).
	if !strings.Contains(string(readRepoFile(t, "azure.yaml")), "$schema=https://raw.githubusercontent.com/Azure/azure-dev/main/schemas/alpha/azure.yaml.json") {
		t.Error("azure.yaml: $schema must be azd's alpha schema, the one that lists language: custom")
	}
	azdProvided := []string{"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(yaml, -1) {
		if main.Find("output", m[1]) == nil && !slices.Contains(azdProvided, m[1]) {
			t.Errorf("azure.yaml uses $%s, which infra/main.bicep does not output", m[1])
		}
	}
}

// TestPackagedZipLayout checks the zip `make package` builds (the same
// appdir.Package call), the one docs/deploy.md deploys with az where azd
// cannot keep the execute bit.
func TestPackagedZipLayout(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	zipPath, err := appdir.Package(context.Background(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	if zipPath != filepath.Join(dir, "switchboard.zip") {
		t.Errorf("the package is %s, docs/deploy.md deploys dist/switchboard.zip", zipPath)
	}
	// azd zips dist/app itself and keeps the file's own mode (from azd 1.26,
	// on Linux and macOS), so the staged binary must be executable too.
	if runtime.GOOS != "windows" {
		if info, err := os.Stat(filepath.Join(dir, "app", appdir.BinaryName)); err != nil || info.Mode()&0o111 == 0 {
			t.Errorf("dist/app/%s is not executable (%v): azd would deploy it so", appdir.BinaryName, err)
		}
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
	}

	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(readZipEntry(t, entries, "host.json"), &host); err != nil {
		t.Fatalf("host.json in the zip: %v", err)
	}
	if !host.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("host.json must enable forwarding HTTP requests")
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	if exe != appdir.BinaryName {
		t.Errorf("host.json names %q as the handler; make package builds %q", exe, appdir.BinaryName)
	}
	bin, ok := entries[exe]
	if !ok {
		t.Fatalf("the zip has no %q at its root", exe)
	}
	checkExecutable(t, bin)
	ef, err := elf.NewFile(bytes.NewReader(readZipEntry(t, entries, exe)))
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", exe, err)
	}
	if ef.Machine != elf.EM_X86_64 {
		t.Errorf("%s is built for %v, want x86-64 (the Flex Consumption workers)", exe, ef.Machine)
	}

	names, err := appdir.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"host.json", exe}
	for _, name := range names {
		want = append(want, name+"/function.json")
		if got := readZipEntry(t, entries, name+"/function.json"); !bytes.Equal(got, readRepoFile(t, "functions/"+name+"/function.json")) {
			t.Errorf("%s/function.json in the zip differs from functions/%s/function.json", name, name)
		}
	}
	var got []string
	for name := range entries {
		got = append(got, name)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("zip entries:\n got %v\nwant %v (host.json, the handler and each function folder beside them)", got, want)
	}
}

// checkExecutable fails unless the zip entry carries a Unix mode with the
// execute bit. Unix mode bits live in the high 16 bits of the external
// attributes, read only when the entry says it was made on Unix.
func checkExecutable(t *testing.T, f *zip.File) {
	t.Helper()
	if f.CreatorVersion>>8 != 3 {
		t.Errorf("%s: zip creator OS %d, want 3 (Unix) so the Linux host reads its mode", f.Name, f.CreatorVersion>>8)
	}
	if mode := f.ExternalAttrs >> 16; mode&0o111 == 0 {
		t.Errorf("%s: zip mode %o has no execute bit: the Linux host cannot start it", f.Name, mode)
	}
}

// A checkout or build on Windows leaves no execute bit on the file; the zip
// must carry one all the same (that is why it is the documented way to deploy
// from Windows).
func TestZipSetsExecuteBitWhateverTheFileMode(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(filepath.Join(app, "fn"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{
		appdir.BinaryName:  0o644, // as on Windows
		"host.json":        0o755, // a stray bit elsewhere is dropped
		"fn/function.json": 0o600,
	} {
		p := filepath.Join(app, filepath.FromSlash(name))
		if err := os.WriteFile(p, []byte("{}"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	zipPath := filepath.Join(dir, "app.zip")
	if err := appdir.Zip(app, zipPath); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == appdir.BinaryName {
			checkExecutable(t, f)
			continue
		}
		if mode := f.ExternalAttrs >> 16 & 0o777; mode != 0o644 {
			t.Errorf("%s: zip mode %o, want 644", f.Name, mode)
		}
	}
}

func readZipEntry(t *testing.T, entries map[string]*zip.File, name string) []byte {
	t.Helper()
	f, ok := entries[name]
	if !ok {
		t.Fatalf("the zip has no %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}
