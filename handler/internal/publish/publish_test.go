package publish

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azeventgrid"
)

func TestPublishEventGridSchema(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	var key, version string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		key, version = r.Header.Get("aeg-sas-key"), r.URL.Query().Get("api-version")
		_ = json.Unmarshal(b, &got)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	p, err := New(Config{Endpoint: srv.URL + "/api/events", Key: "topic-key", Options: &azeventgrid.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: srv.Client()}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(context.Background(), CallCreated, "calls/123", map[string]string{"callId": "123"})
	mu.Lock()
	defer mu.Unlock()
	if key != "topic-key" || version != "2018-01-01" || len(got) != 1 {
		t.Fatalf("key %q version %q events %v", key, version, got)
	}
	ev := got[0]
	if ev["eventType"] != CallCreated || ev["subject"] != "calls/123" || ev["id"] == "" || ev["dataVersion"] != "1.0" || ev["data"].(map[string]any)["callId"] != "123" {
		t.Fatalf("event %v", ev)
	}
	var nilPub *Publisher
	nilPub.Publish(context.Background(), CallCreated, "x", nil) // not configured: a no-op
}
