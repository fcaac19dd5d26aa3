package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	h := testHandler()
	start := time.Now()
	w := httptest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest("GET", "/api/health", nil).WithContext(ctx)
	r.Header.Set("Authorization", "service")
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("liveness must answer 200, got %d", w.Code)
	}
	if time.Since(start) > CheckTimeout {
		t.Fatal("a hung check held the answer")
	}
	var resp Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"storage": "ok", "acs": "failing", "push": "not-configured", "slow": "failing"}
	for name, status := range want {
		if resp.Dependencies[name].Status != status {
			t.Errorf("%s: %+v, want %s", name, resp.Dependencies[name], status)
		}
	}
	if resp.Dependencies["acs"].Detail != "dial tcp acs.internal.example:443: connection refused" {
		t.Errorf("acs detail: %+v", resp.Dependencies["acs"])
	}
	if resp.Status != "degraded" || resp.Version != "v1" {
		t.Errorf("%+v", resp)
	}
}

// Without a service caller's credentials the answer is the status and the
// version only: a failing check's detail names hosts.
func TestHealthWithoutDetails(t *testing.T) {
	for name, h := range map[string]*Handler{"not allowed": testHandler(), "DetailsFor never called": NewHandler("v1", testChecks())} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/health", nil).WithContext(ctx))
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if w.Code != 200 || len(m) != 2 || m["status"] != "degraded" || m["version"] != "v1" {
				t.Fatalf("%d %s, want only status and version", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "acs.internal.example") {
				t.Fatalf("endpoint leaked: %s", w.Body)
			}
		})
	}
}

// testHandler shows details to requests whose Authorization is "service".
func testHandler() *Handler {
	return NewHandler("v1", testChecks()).DetailsFor(func(r *http.Request) bool { return r.Header.Get("Authorization") == "service" })
}

func testChecks() map[string]Check {
	return map[string]Check{
		"storage": func(context.Context) error { return nil },
		"acs": func(context.Context) error {
			return errors.New("dial tcp acs.internal.example:443: connection refused")
		},
		"push": nil,
		"slow": func(ctx context.Context) error {
			<-ctx.Done() // a hung dependency is cut off at CheckTimeout
			return ctx.Err()
		},
	}
}
