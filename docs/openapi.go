// Package docs holds Switchboard's OpenAPI document, embedded so the handler
// serves exactly the file the tests check.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the OpenAPI 3.1 contract of every route.
//
//go:embed openapi.yaml
var OpenAPI []byte
