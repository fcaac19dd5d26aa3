// Package openapilint lints docs/openapi.yaml with @redocly/cli, the linter
// pinned in dev/package.json, run with node as the SDK conformance tests are.
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
