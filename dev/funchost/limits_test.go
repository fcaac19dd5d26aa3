package funchost

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends headers and a little of its body, then stalls, is
// answered 408 and its connection closed once the grace period is over, as
// Kestrel does; before this the stand-in held such connections forever.
func TestSlowBodyConnectionIsClosed(t *testing.T) {
	h, out := startHost(t, newAppRoot(t, nil), Options{Limits: FrontEndLimits{MinBodyRateGrace: time.Second}})
	for _, path := range []string{"/api/token", "/runtime/webhooks/eventgrid?functionName=callevents"} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL(), "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard only: the host must act long before this.
			_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\naeg-event-type: Notification\r\nContent-Length: 100000\r\n\r\n{\"a\":", path)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("connection still open after the 408: %v", err)
			}
		})
	}
	if !strings.Contains(out.String(), "request body too slow") {
		t.Errorf("host log does not say why: %s", out.String())
	}
}

// Headers that never finish are cut off at RequestHeadersTimeout.
func TestSlowHeadersConnectionIsClosed(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{Limits: FrontEndLimits{RequestHeadersTimeout: time.Second}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second)) // a guard only
	fmt.Fprint(conn, "GET /api/token HTTP/1.1\r\nHost: x\r\n")
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("connection not closed by the host: %v", err)
	}
}

// A body sent at once reaches the handler whole, however low the grace.
func TestBodyAboveMinimumRatePasses(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{Limits: FrontEndLimits{MinBodyRateGrace: time.Second, MinBodyDataRate: 1}})
	body := strings.Repeat("x", 3000)
	resp, b := do(t, "POST", h.URL()+"/api/token", strings.NewReader(body), map[string]string{"Content-Type": "text/plain"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), body) {
		t.Fatalf("%d %.200s", resp.StatusCode, b)
	}
}

func TestFrontEndDefaultsAreKestrels(t *testing.T) {
	l := FrontEndLimits{}.withDefaults()
	if l.RequestHeadersTimeout != 30*time.Second || l.KeepAliveTimeout != 130*time.Second || l.MinBodyDataRate != 240 || l.MinBodyRateGrace != 5*time.Second {
		t.Fatalf("%+v", l)
	}
}
