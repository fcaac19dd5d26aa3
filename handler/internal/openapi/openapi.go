// Package openapi serves the OpenAPI document (docs/openapi.yaml) as JSON at
// GET /api/openapi.json, converted on its first request: parsing the YAML
// at start cost every cold start (and its first token) tens of milliseconds
// and several MB for a route few requests use. The tests parse it, so a
// document that does not convert never ships.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"

	"switchboard/docs"
	"switchboard/handler/internal/httpapi"
)

// Path is where the document is served.
const Path = "/api/openapi.json"

// JSON converts a YAML document to JSON. YAML that is not plain JSON data
// (a non-string key, say) is an error: the document must mean the same in both.
func JSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("openapi document as JSON: %w", err)
	}
	return b, nil
}

// Route registers GET /api/openapi.json, with no authentication: the
// document holds no secrets, and clients generate code from it.
func Route(rt *httpapi.Router) {
	body := sync.OnceValues(func() ([]byte, error) { return JSON(docs.OpenAPI) })
	rt.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		b, err := body()
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
	})
}
