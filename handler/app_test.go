package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"switchboard/docs"
	"switchboard/handler/internal/config"
)

// internalRoutes are the custom-handler protocol's own routes, which the
// Functions host calls and clients never do: not part of the public API.
var internalRoutes = map[string]string{
	"GET /{$}":         "the host's readiness probe",
	"POST /{function}": "the host's invocations of non-HTTP functions (callevents, housekeeping)",
}

// pendingRoutes are documented routes another branch is adding; each must
// leave this list in the merge that registers it.
var pendingRoutes = map[string]string{}

// testApp wires the handler as main does, with settings that reach nothing:
// wiring connects to no dependency.
func testApp(t *testing.T) *app {
	t.Helper()
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "7071",
		"STORAGE_CONNECTION_STRING":    "UseDevelopmentStorage=true",
		"ACS_CONNECTION_STRING":        "endpoint=https://example.communication.azure.com/;accesskey=" + strings.Repeat("QUJD", 11),
		"AUTH_ISSUER":                  "https://127.0.0.1:1/issuer",
		"AUTH_AUDIENCE":                "api://switchboard",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// documentedRoutes lists "METHOD /path" for every operation in docs/openapi.yaml.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "options", "head", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	return out
}

// TestOpenAPICoversRoutes: every route the router registers is in the
// document, and every operation in the document is a registered route.
func TestOpenAPICoversRoutes(t *testing.T) {
	registered := testApp(t).router.Patterns()
	documented := documentedRoutes(t)
	if len(documented) < 40 {
		t.Fatalf("only %d operations in the document", len(documented))
	}
	for _, p := range registered {
		if _, internal := internalRoutes[p]; internal {
			continue
		}
		if !slices.Contains(documented, p) {
			t.Errorf("route %q is registered but not in docs/openapi.yaml", p)
		}
	}
	for _, p := range documented {
		if _, pending := pendingRoutes[p]; pending {
			continue
		}
		if !slices.Contains(registered, p) {
			t.Errorf("docs/openapi.yaml has %q, which no route serves", p)
		}
	}
	for p := range internalRoutes {
		if !slices.Contains(registered, p) {
			t.Errorf("internal route %q is no longer registered: drop it from internalRoutes", p)
		}
	}
	for p := range pendingRoutes {
		if slices.Contains(registered, p) {
			t.Errorf("pending route %q is registered now: drop it from pendingRoutes", p)
		}
		if !slices.Contains(documented, p) {
			t.Errorf("pending route %q is not in docs/openapi.yaml", p)
		}
	}
}

// TestOpenAPIServed: GET /api/openapi.json answers the document as JSON, without a token.
func TestOpenAPIServed(t *testing.T) {
	a := testApp(t)
	w := httptest.NewRecorder()
	a.router.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	if !strings.HasPrefix(w.Body.String(), `{`) || !strings.Contains(w.Body.String(), `"openapi":"3.1.0"`) {
		t.Fatalf("not the document: %.200s", w.Body.String())
	}
}
