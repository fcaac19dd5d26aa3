package openapi

import (
	"encoding/json"
	"testing"

	"switchboard/docs"
)

// The document is converted on its first request, not at start: a document
// that does not convert must fail here instead.
func TestDocumentConverts(t *testing.T) {
	b, err := JSON(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || v["openapi"] == nil {
		t.Fatalf("converted document: %v (openapi field %v)", err, v["openapi"])
	}
}
