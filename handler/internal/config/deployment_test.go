package config

// These tests keep the deployment in step with the handler: every setting
// the handler reads is in local.settings.sample.json and wired in the Bicep,
// every function folder is reachable, and the packaged zip has the layout
// the Functions host expects.

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchboard/dev/appdir"
)

// notInBicep are settings Azure deployments do not set, and why.
var notInBicep = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "the Functions host sets it for the handler process",
	"STORAGE_CONNECTION_STRING":    "Azure uses STORAGE_TABLE_ENDPOINT with the managed identity",
	"ACS_CONNECTION_STRING":        "Azure uses ACS_ENDPOINT with the managed identity",
}

func repo(t *testing.T) string {
	t.Helper()
	r, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSampleSettingsListEverySetting(t *testing.T) {
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	b, err := os.ReadFile(filepath.Join(repo(t), "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	for _, s := range Settings {
		if _, ok := sample.Values[s]; !ok && s != "FUNCTIONS_CUSTOMHANDLER_PORT" {
			t.Errorf("local.settings.sample.json lacks %s", s)
		}
	}
	for k := range sample.Values {
		if !slices.Contains(Settings, k) && k != "FUNCTIONS_WORKER_RUNTIME" && k != "AzureWebJobsStorage" {
			t.Errorf("local.settings.sample.json sets %s, which the handler does not read", k)
		}
	}
	if sample.Values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Error(`local.settings.sample.json needs "FUNCTIONS_WORKER_RUNTIME": "custom"`)
	}
}

// bicepObjectKeys returns the keys of the object literal that starts on the
// line matching start, in a Bicep file: it tracks braces and skips comments,
// so a name mentioned only in a comment or elsewhere does not count.
func bicepObjectKeys(t *testing.T, path string, start *regexp.Regexp) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keyRE := regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:`)
	var keys []string
	depth := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 && !strings.Contains(line[:i], "'") {
			line = line[:i]
		}
		if depth < 0 {
			if start.MatchString(line) {
				depth = strings.Count(line, "{") - strings.Count(line, "}")
			}
			continue
		}
		if depth == 1 {
			if m := keyRE.FindStringSubmatch(line); m != nil {
				keys = append(keys, m[1])
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth <= 0 {
			return keys
		}
	}
	t.Fatalf("%s: no object matching %s", path, start)
	return nil
}

func TestBicepWiresEverySetting(t *testing.T) {
	keys := bicepObjectKeys(t, filepath.Join(repo(t), "infra", "main.bicep"), regexp.MustCompile(`^\s*settings:\s*\{`))
	for _, s := range Settings {
		if _, exempt := notInBicep[s]; exempt {
			continue
		}
		if !slices.Contains(keys, s) {
			t.Errorf("infra/main.bicep does not set %s in the Function App's settings", s)
		}
	}
	for _, k := range keys {
		if !slices.Contains(Settings, k) {
			t.Errorf("infra/main.bicep sets %s, which the handler does not read", k)
		}
		if _, exempt := notInBicep[k]; exempt {
			t.Errorf("infra/main.bicep sets %s, but %s", k, notInBicep[k])
		}
	}
	host := bicepObjectKeys(t, filepath.Join(repo(t), "infra", "modules", "functionapp.bicep"), regexp.MustCompile(`^var hostSettings = \{`))
	for _, want := range []string{"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"} {
		if !slices.Contains(host, want) {
			t.Errorf("infra/modules/functionapp.bicep hostSettings lacks %s", want)
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

func TestEveryFunctionIsReachable(t *testing.T) {
	root := repo(t)
	names, err := appdir.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	sub, _ := os.ReadFile(filepath.Join(root, "infra", "modules", "callevents-subscription.bicep"))
	subscribed := regexp.MustCompile(`/functions/([A-Za-z0-9_-]+)'`).FindAllStringSubmatch(string(sub), -1)
	eventGrid := map[string]bool{}
	for _, name := range names {
		var fj functionJSON
		b, err := os.ReadFile(filepath.Join(root, "functions", name, "function.json"))
		if err != nil || json.Unmarshal(b, &fj) != nil || len(fj.Bindings) == 0 {
			t.Errorf("functions/%s/function.json is missing or malformed", name)
			continue
		}
		trigger := fj.Bindings[0]
		switch trigger.Type {
		case "httpTrigger":
			// The README documents the route (an optional last segment may be left out).
			route := regexp.MustCompile(`/\{[^}]*\?\}$`).ReplaceAllString(trigger.Route, "")
			route = strings.ReplaceAll(route, "?}", "}")
			if !strings.Contains(string(readme), "/api/"+route) {
				t.Errorf("function %s: README does not document /api/%s", name, route)
			}
		case "eventGridTrigger":
			eventGrid[name] = true
			found := false
			for _, m := range subscribed {
				found = found || m[1] == name
			}
			if !found {
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
	for _, m := range subscribed {
		if !eventGrid[m[1]] {
			t.Errorf("the Event Grid subscription targets %s, which is not an eventGridTrigger function", m[1])
		}
	}
}

func TestPackagedZipLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the linux/amd64 handler")
	}
	root := repo(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if _, err := appdir.Stage(context.Background(), root, app, appdir.Options{GOOS: "linux", GOARCH: "amd64"}); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "switchboard.zip")
	if err := appdir.Zip(app, zipPath); err != nil {
		t.Fatal(err)
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
	hostJSON, ok := entries["host.json"]
	if !ok {
		t.Fatal("the zip has no host.json at its root")
	}
	rc, _ := hostJSON.Open()
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	err = json.NewDecoder(rc).Decode(&host)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	bin, ok := entries[exe]
	if !ok || exe != appdir.BinaryName {
		t.Fatalf("host.json names %q as the handler; the zip has it: %v", exe, ok)
	}
	if bin.Mode()&0o111 == 0 {
		t.Errorf("the handler in the zip has mode %v: the Linux host cannot run it", bin.Mode())
	}
	if !host.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("host.json must enable forwarding HTTP requests")
	}
	names, _ := appdir.Functions(root)
	for _, name := range names {
		if _, ok := entries[name+"/function.json"]; !ok {
			t.Errorf("the zip lacks %s/function.json beside host.json", name)
		}
	}
	for name := range entries {
		if strings.Count(name, "/") > 1 {
			t.Errorf("unexpected nested entry %s", name)
		}
	}
}
