package events

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/handler/internal/httpapi"
)

// eventOfSize is an Event Grid batch of one IncomingCall whose call context
// pads the batch to exactly n bytes.
func eventOfSize(t *testing.T, n int) string {
	t.Helper()
	head := `[{"id":"big","topic":"t","subject":"s","eventType":"Microsoft.Communication.IncomingCall","eventTime":"2026-11-25T10:00:00Z","data":{"serverCallId":"srv","incomingCallContext":"`
	tail := `"}}]`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("%d bytes is too small for an event", n)
	}
	return head + strings.Repeat("x", pad) + tail
}

func TestWebhookSizeAndContentType(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	var handled int
	d := NewDispatcher()
	d.Handle("Microsoft.Communication.IncomingCall", func(ctx context.Context, ev Event) error {
		handled++
		return nil
	})
	rt := httpapi.NewRouter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.Handle("POST /api/events", d.Webhook(key))
	srv := httptest.NewServer(rt)
	defer srv.Close()

	small := eventOfSize(t, 1000)
	cases := []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"event grid schema", "application/json", small, 200, ""},
		{"with charset", "application/json; charset=utf-8", small, 200, ""},
		{"cloudevents batch type", "application/cloudevents-batch+json; charset=utf-8", small, 200, ""},
		{"cloudevent type", "application/cloudevents+json", strings.TrimSuffix(strings.TrimPrefix(small, "["), "]"), 200, ""},
		{"over the old 64 KiB limit", "application/json", eventOfSize(t, 200<<10), 200, ""},
		{"exactly 1 MiB", "application/json", eventOfSize(t, MaxBatchBytes), 200, ""},
		{"over 1 MiB", "application/json", eventOfSize(t, MaxBatchBytes+1), 413, httpapi.CodeBodyTooLarge},
		{"no content type", "", small, 415, httpapi.CodeUnsupportedMediaType},
		{"text", "text/plain", small, 415, httpapi.CodeUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", small, 415, httpapi.CodeUnsupportedMediaType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := handled
			req, _ := http.NewRequest("POST", srv.URL+"/api/events?code="+key, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
			}
			if tc.code != "" && !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
				t.Errorf("body %.300s, want code %s", b, tc.code)
			}
			if wantHandled := tc.status == 200; (handled > before) != wantHandled {
				t.Errorf("handled %d events, want handled = %v", handled-before, wantHandled)
			}
		})
	}
}
