package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	f.Fuzz(func(t *testing.T, body []byte) {
		var req tokenRequest
		err := UnmarshalStrict(body, &req)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error is not a problem: %T %v", err, err)
			}
		}
	})
}
