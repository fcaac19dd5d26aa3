// Package openapilint lints docs/openapi.yaml with @redocly/cli, the linter
// pinned in dev/package.json, run with node as the SDK conformance tests are,
// and checks that a typed TypeScript client generates from it.
package openapilint

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"switchboard/dev/appdir"
)

func TestOpenAPILintsClean(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: install Node.js 20 or later to lint the OpenAPI document")
	}
	repo, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(repo, "dev", "node_modules", "@redocly", "cli", "bin", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("@redocly/cli is not installed (run npm ci in dev/, as make test does): %v", err)
	}
	cmd := exec.Command(node, cli, "lint", "--config", filepath.Join(repo, "dev", "openapilint", "redocly.yaml"),
		"--format", "stylish", filepath.Join(repo, "docs", "openapi.yaml"))
	cmd.Dir = filepath.Join(repo, "dev")
	// No usage reports leave the machine from a test run.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint found problems in docs/openapi.yaml (%v):\n%s", err, out)
	}
	// recommended-strict makes every rule an error; a warning would come from a rule set to warn.
	if regexp.MustCompile(`You have \d+ warnings?`).Match(out) {
		t.Fatalf("redocly lint warned about docs/openapi.yaml:\n%s", out)
	}
}

// TestTypeScriptClientGenerates follows the README's recipe: openapi-typescript
// (pinned in dev/package.json) turns the document into types, and the example
// client (client/example.ts) type-checks against them with tsc --strict.
func TestTypeScriptClientGenerates(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: install Node.js 20 or later")
	}
	repo, err := appdir.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(repo, "dev", "node_modules")
	gen := filepath.Join(modules, "openapi-typescript", "bin", "cli.js")
	tsc := filepath.Join(modules, "typescript", "bin", "tsc")
	for _, p := range []string{gen, tsc} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is not installed (run npm ci in dev/, as make test does): %v", p, err)
		}
	}
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join(repo, "dev", "openapilint", "client", "example.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.ts"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(node, args...)
		cmd.Dir = filepath.Join(repo, "dev")
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node %v: %v\n%s", args, err, out)
		}
	}
	run(gen, filepath.Join(repo, "docs", "openapi.yaml"), "-o", filepath.Join(dir, "switchboard.d.ts"))
	types, err := os.ReadFile(filepath.Join(dir, "switchboard.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"/api/token": {`, "IncomingCallPush:", "issueToken: {"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).Match(types) {
			t.Errorf("the generated types lack %q", want)
		}
	}
	run(tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
		"--lib", "es2022,dom", filepath.Join(dir, "example.ts"))
}
