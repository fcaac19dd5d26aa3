package funchost

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestJournalRecordsDeliveriesAndInvocations(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{JournalSize: 3, SystemKey: "skey"})
	if got := h.Journal(0); len(got) != 0 {
		t.Fatalf("a fresh journal holds %v", got)
	}
	resp, _ := do(t, "POST", h.URL()+"/api/token?x=1", strings.NewReader(`{"hello":"world"}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/token: %d", resp.StatusCode)
	}
	batch := `[{"id":"j1","eventType":"Microsoft.Communication.CallStarted","subject":"s","data":{},"dataVersion":"1"},` +
		`{"id":"j2","eventType":"Microsoft.Communication.CallEnded","subject":"s","data":{},"dataVersion":"1"}]`
	if err := h.DeliverEventGrid(context.Background(), "callevents", []byte(batch)); err != nil {
		t.Fatal(err)
	}
	got := h.Journal(0)
	if len(got) != 2 {
		t.Fatalf("journal has %d entries, want 2: %+v", len(got), got)
	}
	eg, inv := got[0], got[1] // newest first
	if eg.Kind != "eventgrid" || eg.Function != "callevents" || eg.Status != 202 || eg.Method != "POST" ||
		!slices.Equal(eg.EventTypes, []string{"Microsoft.Communication.CallStarted", "Microsoft.Communication.CallEnded"}) || eg.Request != batch {
		t.Errorf("Event Grid entry: %+v", eg)
	}
	if strings.Contains(eg.Path, "skey") || eg.Path != "/runtime/webhooks/eventgrid?functionName=callevents" {
		t.Errorf("the journal must not keep the system key: %s", eg.Path)
	}
	if inv.Kind != "http" || inv.Function != "token" || inv.Status != 200 || inv.Path != "/api/token?x=1" ||
		inv.Request != `{"hello":"world"}` || !strings.Contains(inv.Answer, `"path":"/api/token"`) || inv.DurationMS <= 0 || inv.At.IsZero() {
		t.Errorf("HTTP entry: %+v", inv)
	}
	if inv.Seq >= eg.Seq {
		t.Errorf("sequence numbers must grow: %d then %d", inv.Seq, eg.Seq)
	}
	if since := h.Journal(inv.Seq); len(since) != 1 || since[0].Seq != eg.Seq {
		t.Errorf("Journal(%d) = %+v, want only the delivery", inv.Seq, since)
	}

	// A batch of CloudEvents posted to a function (an ACS callback) is named by its types.
	do(t, "POST", h.URL()+"/api/token", strings.NewReader(`[{"type":"Microsoft.Communication.CallConnected","data":{}}]`), nil)
	if cb := h.Journal(eg.Seq); len(cb) != 1 || !slices.Equal(cb[0].EventTypes, []string{"Microsoft.Communication.CallConnected"}) {
		t.Errorf("callback entry: %+v", cb)
	}

	// Bounded: the oldest go first; an unknown route is journaled with no function.
	for i := range 3 {
		do(t, "GET", h.URL()+fmt.Sprintf("/api/nothing/%d", i), nil, nil)
	}
	got = h.Journal(0)
	if len(got) != 3 || got[0].Path != "/api/nothing/2" || got[2].Path != "/api/nothing/0" || got[0].Status != 404 || got[0].Function != "" {
		t.Errorf("after 5 requests a journal of 3 holds %+v", got)
	}
}

func TestJournalKeepsBoundedBodies(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{JournalSize: 10})
	big := strings.Repeat("x", 3*JournalBodyLimit)
	resp, _ := do(t, "POST", h.URL()+"/api/token", strings.NewReader(big), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/token: %d", resp.StatusCode)
	}
	e := h.Journal(0)[0]
	if len(e.Request) != JournalBodyLimit || len(e.Answer) != JournalBodyLimit || !e.Truncated {
		t.Errorf("kept %d and %d bytes (truncated %v), want %d each", len(e.Request), len(e.Answer), e.Truncated, JournalBodyLimit)
	}
}

func TestJournalOffByDefault(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	do(t, "POST", h.URL()+"/api/token", strings.NewReader(`{}`), nil)
	if got := h.Journal(0); len(got) != 0 {
		t.Errorf("without JournalSize nothing is kept, got %+v", got)
	}
}
