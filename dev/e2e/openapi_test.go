package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"switchboard/docs"
)

// contract validates traffic against docs/openapi.yaml: client.do checks
// every request it sends and every answer it gets, so a route that drifts
// from the document fails the test that called it.
var contract = struct {
	once sync.Once
	mu   sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v    validator.Validator
	err  error
}{}

func contractValidator() (validator.Validator, error) {
	contract.once.Do(func() {
		doc, err := libopenapi.NewDocument(docs.OpenAPI)
		if err != nil {
			contract.err = fmt.Errorf("docs/openapi.yaml: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			contract.err = fmt.Errorf("docs/openapi.yaml: %v", errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			contract.err = fmt.Errorf("docs/openapi.yaml is not a valid OpenAPI document: %s", describe(verrs))
			return
		}
		contract.v = v
	})
	return contract.v, contract.err
}

// checkContract fails t when the exchange drifts from the document. Requests
// the handler refused with a 4xx are often invalid on purpose (a missing
// token, a bad field): their request is not checked, their answer always is.
// A route under /api/ the document does not have must be the router's own 404 or 405.
func checkContract(t *testing.T, req *http.Request, reqBody string, resp *http.Response, respBody []byte) {
	t.Helper()
	if err := contractError(req, reqBody, resp, respBody); err != nil {
		t.Fatal(err)
	}
}

func contractError(req *http.Request, reqBody string, resp *http.Response, respBody []byte) error {
	if !strings.HasPrefix(req.URL.Path, "/api/") {
		return nil // the custom-handler protocol's own routes (GET /, POST /{function}): the host's, not the public API
	}
	v, err := contractValidator()
	if err != nil {
		return err
	}
	rq := req.Clone(req.Context())
	rq.Body = io.NopCloser(strings.NewReader(reqBody))
	rs := *resp
	rs.Body = io.NopCloser(bytes.NewReader(respBody))
	rs.Request = rq

	contract.mu.Lock()
	ok, errs := v.ValidateHttpResponse(rq, &rs)
	contract.mu.Unlock()
	if !ok && undocumentedRoute(errs) {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(respBody, &p)
		if (resp.StatusCode == http.StatusNotFound && p.Code == "not-found") || (resp.StatusCode == http.StatusMethodNotAllowed && p.Code == "method-not-allowed") {
			return nil
		}
		return fmt.Errorf("contract: %s %s is not in docs/openapi.yaml, yet answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, respBody)
	}
	if !ok {
		return fmt.Errorf("contract: the answer to %s %s (%d) drifts from docs/openapi.yaml: %s\nbody: %.2000s", req.Method, req.URL.Path, resp.StatusCode, describe(errs), respBody)
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil
	}
	rq.Body = io.NopCloser(strings.NewReader(reqBody))
	contract.mu.Lock()
	ok, errs = v.ValidateHttpRequestSync(rq)
	contract.mu.Unlock()
	if !ok {
		return fmt.Errorf("contract: %s %s was accepted (%d) but drifts from docs/openapi.yaml: %s\nbody: %.2000s", req.Method, req.URL.Path, resp.StatusCode, describe(errs), reqBody)
	}
	return nil
}

func undocumentedRoute(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			return true
		}
	}
	return false
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s: %s", s.FieldPath, s.Reason)
		}
	}
	return b.String()
}

// TestContractCatchesDrift: the check client.do runs refuses answers and
// accepted requests that the document does not allow.
func TestContractCatchesDrift(t *testing.T) {
	problem := func(status int, code string) string {
		return fmt.Sprintf(`{"type":"urn:switchboard:problem:%s","title":"x","status":%d,"code":%q}`, code, status, code)
	}
	cases := []struct {
		name, method, path, reqBody string
		status                      int
		contentType, respBody       string
		drift                       bool
	}{
		{"profile as documented", "GET", "/api/me", "", 200, "application/json", `{"userId":"a","acsUserId":""}`, false},
		{"profile without userId", "GET", "/api/me", "", 200, "application/json", `{"acsUserId":""}`, true},
		{"a number where a string goes", "GET", "/api/me", "", 200, "application/json", `{"userId":1,"acsUserId":""}`, true},
		{"a documented problem code", "GET", "/api/users/x", "", 404, "application/problem+json", problem(404, "user-not-found"), false},
		{"a problem code the route does not list", "GET", "/api/users/x", "", 404, "application/problem+json", problem(404, "space-not-found"), true},
		{"an undocumented status", "GET", "/api/users/x", "", 418, "application/problem+json", problem(418, "teapot"), true},
		{"an accepted request with a field the document lacks", "POST", "/api/spaces", `{"name":"a","colour":"red"}`, 201, "application/json",
			`{"id":"s","name":"a","owner":"o","members":[]}`, true},
		{"a refused invalid request", "POST", "/api/spaces", `{"name":1}`, 400, "application/problem+json", problem(400, "invalid-json"), false},
		{"the router's 404 for an unknown route", "GET", "/api/nope", "", 404, "application/problem+json", problem(404, "not-found"), false},
		{"an unknown route that answers", "GET", "/api/nope", "", 200, "application/json", `{}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://127.0.0.1:7071"+c.path, strings.NewReader(c.reqBody))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer x")
			if c.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.contentType}}}
			err = contractError(req, c.reqBody, resp, []byte(c.respBody))
			if (err != nil) != c.drift {
				t.Fatalf("drift %v, got %v", c.drift, err)
			}
		})
	}
}
