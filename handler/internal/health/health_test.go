package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	h := NewHandler("v1", map[string]Check{
		"storage": func(context.Context) error { return nil },
		"acs":     func(context.Context) error { return errors.New("connection refused") },
		"push":    nil,
		"slow": func(ctx context.Context) error {
			<-ctx.Done() // a hung dependency is cut off at CheckTimeout
			return ctx.Err()
		},
	})
	start := time.Now()
	w := httptest.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/health", nil).WithContext(ctx))
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
	if resp.Status != "degraded" || resp.Version != "v1" {
		t.Errorf("%+v", resp)
	}
}
