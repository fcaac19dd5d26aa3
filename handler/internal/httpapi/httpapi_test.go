package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type tokenRequest struct {
	Scopes           []string `json:"scopes"`
	ExpiresInMinutes int      `json:"expiresInMinutes"`
}

func testRouter() *Router {
	rt := NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.Handle("POST /api/token", ErrorHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req tokenRequest
		if err := DecodeJSON(r, &req, true); err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, req)
		return nil
	}))
	rt.HandleFunc("GET /api/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	return rt
}

func do(rt http.Handler, method, path, ctype, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	return w
}

func TestProblems(t *testing.T) {
	rt := testRouter()
	big := `{"scopes":["` + strings.Repeat("a", MaxBodyBytes) + `"]}`
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"ok", "POST", "/api/token", "application/json", `{"scopes":["voip"]}`, 200, ""},
		{"empty optional body", "POST", "/api/token", "", ``, 200, ""},
		{"invalid json", "POST", "/api/token", "application/json", `{"scopes":`, 400, CodeInvalidJSON},
		{"syntax error", "POST", "/api/token", "application/json", `{scopes}`, 400, CodeInvalidJSON},
		{"wrong type", "POST", "/api/token", "application/json", `{"expiresInMinutes":"sixty"}`, 400, CodeInvalidRequest},
		{"unknown field", "POST", "/api/token", "application/json", `{"scope":["voip"]}`, 400, CodeUnknownField},
		{"field name in another case", "POST", "/api/token", "application/json", `{"SCOPES":["chat"],"ExpiresInMinutes":1440}`, 400, CodeUnknownField},
		{"duplicate key", "POST", "/api/token", "application/json", `{"scopes":["voip"],"scopes":["chat"]}`, 400, CodeInvalidJSON},
		{"trailing data", "POST", "/api/token", "application/json", `{} {}`, 400, CodeInvalidJSON},
		{"trailing garbage", "POST", "/api/token", "application/json", `{} x`, 400, CodeInvalidJSON},
		{"wrong content type", "POST", "/api/token", "text/plain", `{"scopes":["voip"]}`, 415, CodeUnsupportedMediaType},
		{"oversized", "POST", "/api/token", "application/json", big, 413, CodeBodyTooLarge},
		{"unknown route", "GET", "/api/nope", "", "", 404, CodeNotFound},
		{"wrong method", "GET", "/api/token", "", "", 405, CodeMethodNotAllowed},
		{"panic", "GET", "/api/boom", "", "", 500, CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(rt, tc.method, tc.path, tc.ctype, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code == "" {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != tc.code || p.Status != tc.status || p.Type != ProblemTypePrefix+tc.code || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			if tc.status == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func FuzzUnmarshalStrict(f *testing.F) {
	f.Add([]byte(`{"scopes":["voip"],"expiresInMinutes":60}`))
	f.Add([]byte(`{"scopes":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"SCOPES":["chat"],"ExpiresInMinutes":1440}`))
	f.Add([]byte(`{"scopes":["voip"],"scopes":["chat"]}`))
	f.Add([]byte(`{"inner":{"name":"a","name":"b"},"extra":{"A":1,"a":2}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req fuzzBody
		err := UnmarshalStrict(body, &req)
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error is not a problem: %T %v", err, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		// What was accepted decodes the same with plain encoding/json...
		var plain fuzzBody
		if err := json.Unmarshal(body, &plain); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		a, _ := json.Marshal(req)
		b, _ := json.Marshal(plain)
		if string(a) != string(b) {
			t.Fatalf("%q decoded as %s, encoding/json says %s", body, a, b)
		}
		// ...has no key twice in any object, and names our fields exactly.
		checkKeysOracle(t, body)
		// ...and its re-encoding is accepted again.
		var again fuzzBody
		if err := UnmarshalStrict(a, &again); err != nil {
			t.Fatalf("re-encoded %s refused: %v", a, err)
		}
	})
}

type fuzzBody struct {
	Scopes           []string       `json:"scopes"`
	ExpiresInMinutes int            `json:"expiresInMinutes"`
	Inner            *fuzzInner     `json:"inner,omitempty"`
	Extra            map[string]any `json:"extra,omitempty"`
}

type fuzzInner struct {
	Name string `json:"name"`
}

// checkKeysOracle walks body's tokens independently of the checker: no
// object repeats a key; the top level and "inner" use only exact field names.
func checkKeysOracle(t *testing.T, body []byte) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	allowed := map[string][]string{"": {"scopes", "expiresInMinutes", "inner", "extra"}, "inner": {"name"}}
	type frame struct {
		object bool
		keys   map[string]bool
		at     string // path of this container
		key    string // last key read, while its value is pending
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key == "" {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					t.Fatalf("accepted %q with key %q twice", body, k)
				}
				top.keys[k] = true
				if names, ok := allowed[top.at]; ok && !slices.Contains(names, k) {
					t.Fatalf("accepted %q with key %q at %q", body, k, top.at)
				}
				top.key = k
				continue
			}
		}
		path := "?"
		if top != nil && top.object {
			path = top.key
			if top.at != "" {
				path = top.at + "." + top.key
			}
		} else if top == nil {
			path = ""
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, at: path})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{at: path + "[]"})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			stack[len(stack)-1].key = ""
		}
	}
}
