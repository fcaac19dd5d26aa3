package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var echoBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "funchost-echo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "funchost tests:", err)
		os.Exit(1)
	}
	echoBinary = filepath.Join(dir, "echohandler")
	build := exec.Command("go", "build", "-o", echoBinary, "./testdata/echohandler")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "funchost tests: building testdata/echohandler failed (is the Go toolchain on PATH?): %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newAppRoot copies testdata/app to a temp dir, links the echo handler in as
// its executable, and lets edit rewrite host.json.
func newAppRoot(t *testing.T, edit func(h map[string]any)) string {
	t.Helper()
	root := t.TempDir()
	err := filepath.WalkDir("testdata/app", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/app", p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(echoBinary, filepath.Join(root, "echohandler")); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		p := filepath.Join(root, "host.json")
		var h map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		edit(h)
		b, _ = json.Marshal(h)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// lockedBuffer collects handler output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startHost(t *testing.T, root string, opts Options) (*Host, *lockedBuffer) {
	t.Helper()
	app, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	if opts.Stdout == nil {
		opts.Stdout = out
	}
	if opts.Stderr == nil {
		opts.Stderr = out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Start(ctx, app, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, out
}

type echoed struct {
	Method        string              `json:"method"`
	Path          string              `json:"path"`
	RawQuery      string              `json:"rawQuery"`
	Host          string              `json:"host"`
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"`
	ContentLength int64               `json:"contentLength"`
	Cwd           string              `json:"cwd"`
	Port          string              `json:"port"`
	AppRoot       string              `json:"appRoot"`
	Args          []string            `json:"args"`
}

func do(t *testing.T, method, url string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type handlerState struct {
	Probes      int `json:"probes"`
	ChildPID    int `json:"childPid"`
	Invocations []struct {
		Function string            `json:"function"`
		Headers  map[string]string `json:"headers"`
		Body     json.RawMessage   `json:"body"`
	} `json:"invocations"`
}

func stateOf(t *testing.T, h *Host) handlerState {
	t.Helper()
	_, b := do(t, "GET", h.HandlerURL()+"/echo/state", nil, nil)
	var s handlerState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("handler state %s: %v", b, err)
	}
	return s
}

func TestStartPollsReadinessAndSetsEnvironment(t *testing.T) {
	root := newAppRoot(t, nil)
	// The handler listens only after 400ms, so the host must poll GET / rather than try once.
	h, _ := startHost(t, root, Options{Env: []string{"ECHO_LISTEN_DELAY=400ms"}})
	if s := stateOf(t, h); s.Probes < 1 {
		t.Fatalf("handler saw %d readiness probes, want at least 1", s.Probes)
	}
	resp, b := do(t, "POST", h.URL()+"/api/token", strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/token: %d %s", resp.StatusCode, b)
	}
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(h.HandlerURL(), "http://127.0.0.1:"); e.Port != want {
		t.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT = %q, want %q", e.Port, want)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	if cwd, _ := filepath.EvalSymlinks(e.Cwd); cwd != realRoot {
		t.Errorf("working directory = %q, want the app root %q", e.Cwd, realRoot)
	}
	if e.AppRoot != h.App().Root {
		t.Errorf("FUNCTIONS_APP_ROOT_PATH = %q, want %q", e.AppRoot, h.App().Root)
	}
	if len(e.Args) != 1 || e.Args[0] != "--from-host-json" {
		t.Errorf("arguments = %q, want host.json's [--from-host-json]", e.Args)
	}
}

func TestStartUsesWorkingDirectory(t *testing.T) {
	root := newAppRoot(t, func(h map[string]any) {
		h["customHandler"].(map[string]any)["description"].(map[string]any)["workingDirectory"] = "work"
	})
	if err := os.Mkdir(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, _ := startHost(t, root, Options{})
	_, b := do(t, "POST", h.URL()+"/api/token", nil, nil)
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(filepath.Join(root, "work"))
	if cwd, _ := filepath.EvalSymlinks(e.Cwd); cwd != want {
		t.Errorf("working directory = %q, want %q", e.Cwd, want)
	}
}

func TestStartFailsWhenHandlerExits(t *testing.T) {
	app, err := Load(newAppRoot(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Start(context.Background(), app, Options{Env: []string{"ECHO_MODE=exit"}, Stdout: io.Discard, Stderr: io.Discard, ReadyTimeout: 20 * time.Second})
	if err == nil {
		t.Fatal("Start succeeded with a handler that exits")
	}
	if !strings.Contains(err.Error(), "exiting on purpose") || !strings.Contains(err.Error(), "exited") {
		t.Errorf("error should say the handler exited and carry its output: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Start took %s: it should notice the exit, not wait for the timeout", time.Since(start))
	}
}

func TestStartFailsWhenHandlerNeverListens(t *testing.T) {
	app, err := Load(newAppRoot(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), app, Options{Env: []string{"ECHO_MODE=nolisten"}, Stdout: io.Discard, Stderr: io.Discard, ReadyTimeout: 700 * time.Millisecond})
	if err == nil {
		t.Fatal("Start succeeded with a handler that never listens")
	}
	if !strings.Contains(err.Error(), "did not answer GET /") || !strings.Contains(err.Error(), `mode "nolisten"`) {
		t.Errorf("error should name the timeout and carry the output: %v", err)
	}
}

func TestForwardedRequestIsIdentical(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	body := `{"scopes":["voip"]}`
	req, _ := http.NewRequest("POST", h.URL()+"/api/token?b=2&a=1&a=3&enc=%2F%20x", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer abc")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("User-Agent", "switchboard-test/1")
	req.Header.Set("X-Echo-Status", "201")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("status %d, want the handler's 201: %s", resp.StatusCode, b)
	}
	if got := resp.Header.Values("X-Echo-Reply"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("response headers not passed back unchanged: X-Echo-Reply = %q", got)
	}
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"method", e.Method, "POST"},
		{"path", e.Path, "/api/token"},
		{"query", e.RawQuery, "b=2&a=1&a=3&enc=%2F%20x"},
		{"body", e.Body, body},
		{"Host", e.Host, strings.TrimPrefix(h.URL(), "http://")},
		{"Content-Type", first(e.Headers["Content-Type"]), "application/json"},
		{"Authorization", first(e.Headers["Authorization"]), "Bearer abc"},
		{"X-Multi", strings.Join(e.Headers["X-Multi"], ","), "one,two"},
		{"User-Agent", first(e.Headers["User-Agent"]), "switchboard-test/1 Azure-Functions-Host/" + HostVersion},
		{"X-Azure-Functions-HostVersion", first(e.Headers["X-Azure-Functions-Hostversion"]), HostVersion},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length = %d, want %d", e.ContentLength, len(body))
	}
	id := first(e.Headers["X-Azure-Functions-Invocationid"])
	if len(id) != 36 {
		t.Errorf("X-Azure-Functions-InvocationId = %q, want a uuid", id)
	}
	// Each invocation gets its own id.
	_, b2 := do(t, "POST", h.URL()+"/api/token", nil, nil)
	var e2 echoed
	_ = json.Unmarshal(b2, &e2)
	if id2 := first(e2.Headers["X-Azure-Functions-Invocationid"]); id2 == id || id2 == "" {
		t.Errorf("second invocation id %q, want a new one (first %q)", id2, id)
	}
	if ua := first(e2.Headers["User-Agent"]); ua != "Go-http-client/1.1 Azure-Functions-Host/"+HostVersion {
		t.Errorf("User-Agent = %q, want Go's own with the host's product appended", ua)
	}
}

func TestForwardDropsChunkedBodyLikeTheHost(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	// An io.Reader of unknown length makes the client send Transfer-Encoding: chunked.
	req, _ := http.NewRequest("POST", h.URL()+"/api/token", io.MultiReader(strings.NewReader(`{"a":1}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echoed
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if e.Body != "" || len(e.Headers["Content-Type"]) != 0 {
		t.Errorf("chunked body forwarded as %q with Content-Type %q; the host drops both", e.Body, e.Headers["Content-Type"])
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func TestRoutingThroughHost(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	const id = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
	cases := []struct {
		method, path string
		status       int
		// wantPath is the path the handler must see (the original one).
		wantPath string
	}{
		{"POST", "/api/token", 200, "/api/token"},
		{"POST", "/API/Token/", 200, "/API/Token/"},
		{"GET", "/api/token", 404, ""},    // known path, wrong method: the host says 404, not 405
		{"DELETE", "/api/token", 404, ""}, //
		{"GET", "/api/nothing", 404, ""},
		{"GET", "/token", 404, ""}, // no route prefix
		{"GET", "/api/users/" + id, 200, "/api/users/" + id},
		{"GET", "/api/users/me", 200, "/api/users/me"},
		{"GET", "/api/users/not-a-guid", 404, ""},
		{"GET", "/api/items/7", 200, "/api/items/7"},
		{"DELETE", "/api/items/7/name", 200, "/api/items/7/name"},
		{"GET", "/api/items/x", 404, ""},
		{"PUT", "/api/items/7", 404, ""},
		{"PATCH", "/api/files/a/b%20c/d.txt", 200, "/api/files/a/b%20c/d.txt"},
		{"GET", "/api/files", 200, "/api/files"},
		{"POST", "/api/withqueue", 501, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp, b := do(t, c.method, h.URL()+c.path, nil, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.status == 404 && len(b) != 0 {
				t.Errorf("404 body %q, want empty as the host sends", b)
			}
			if c.wantPath != "" {
				var e echoed
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatal(err)
				}
				if e.Path != c.wantPath || e.Method != c.method {
					t.Errorf("handler saw %s %s, want %s %s", e.Method, e.Path, c.method, c.wantPath)
				}
			}
		})
	}
}

func TestFunctionKeys(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{FunctionKey: "fkey", MasterKey: "mkey", SystemKey: "skey"})
	const id = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
	}{
		{"anonymous needs no key", "POST", "/api/token", nil, 200},
		{"function level without key", "GET", "/api/users/" + id, nil, 401},
		{"function level wrong key", "GET", "/api/users/" + id + "?code=nope", nil, 401},
		{"function level code", "GET", "/api/users/" + id + "?code=fkey", nil, 200},
		{"function level header", "GET", "/api/users/" + id, map[string]string{"x-functions-key": "fkey"}, 200},
		{"function level master key", "GET", "/api/users/" + id + "?code=mkey", nil, 200},
		{"function level system key refused", "GET", "/api/users/" + id + "?code=skey", nil, 401},
		{"literal beats parameter: users/me is anonymous", "GET", "/api/users/me", nil, 200},
		{"admin with function key", "POST", "/api/ops/reset?code=fkey", nil, 401},
		{"admin with master key", "POST", "/api/ops/reset?code=mkey", nil, 200},
		{"unknown route is 404 before keys", "GET", "/api/nothing", nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := do(t, c.method, h.URL()+c.path, nil, c.hdr)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
		})
	}
}

func TestInvokeEnvelope(t *testing.T) {
	h, out := startHost(t, newAppRoot(t, nil), Options{})
	ctx := context.Background()
	res, err := h.Invoke(ctx, "housekeeping", map[string]any{"timer": map[string]any{"IsPastDue": true}}, map[string]any{"extra": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.ReturnValue) != `{"function":"housekeeping"}` || string(res.Outputs["res"]) != `{"ok":true}` {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(out.String(), "[housekeeping] handled housekeeping\n") {
		t.Errorf("Logs not written to Stdout with the function name; output:\n%s", out.String())
	}
	s := stateOf(t, h)
	if len(s.Invocations) != 1 {
		t.Fatalf("handler saw %d invocations, want 1", len(s.Invocations))
	}
	inv := s.Invocations[0]
	if inv.Function != "housekeeping" {
		t.Errorf("POSTed to /%s, want /housekeeping", inv.Function)
	}
	if inv.Headers["X-Azure-Functions-Invocationid"] != res.InvocationID || inv.Headers["User-Agent"] != "Azure-Functions-Host/"+HostVersion {
		t.Errorf("invocation headers = %v", inv.Headers)
	}
	var env struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(inv.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("envelope %s: %v", inv.Body, err)
	}
	if string(env.Data["timer"]) != `{"IsPastDue":true}` || len(env.Data) != 1 {
		t.Errorf("Data = %s", inv.Body)
	}
	var sys struct{ MethodName, UtcNow, RandGuid string }
	if err := json.Unmarshal(env.Metadata["sys"], &sys); err != nil {
		t.Fatal(err)
	}
	if sys.MethodName != "housekeeping" || len(sys.RandGuid) != 36 {
		t.Errorf("Metadata.sys = %+v", sys)
	}
	if _, err := time.Parse(time.RFC3339Nano, sys.UtcNow); err != nil || !strings.HasSuffix(sys.UtcNow, "Z") {
		t.Errorf("sys.UtcNow %q is not a UTC timestamp: %v", sys.UtcNow, err)
	}
	if string(env.Metadata["extra"]) != `"x"` {
		t.Errorf("Metadata.extra = %s", env.Metadata["extra"])
	}
}

func TestInvokeFailures(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	ctx := context.Background()
	_, err := h.Invoke(ctx, "housekeeping", map[string]any{"timer": "fail-me"}, nil)
	ie, ok := IsInvocationError(err)
	if !ok || ie.StatusCode != 500 || !strings.Contains(string(ie.Body), "asked to fail") {
		t.Errorf("non-2xx answer: err = %v, want an InvocationError with status 500 and the body", err)
	}
	_, err = h.Invoke(ctx, "emptyanswer", nil, nil)
	if ie, ok := IsInvocationError(err); !ok || ie.StatusCode != 200 || ie.Reason == "" {
		t.Errorf("empty 2xx answer: err = %v, want an InvocationError with a reason", err)
	}
	if _, err := h.Invoke(ctx, "nosuchfunction", nil, nil); err == nil {
		t.Error("Invoke of an unknown function succeeded")
	}
}

func TestFireTimer(t *testing.T) {
	h, _ := startHost(t, newAppRoot(t, nil), Options{})
	for range 2 {
		if _, err := h.FireTimer(context.Background(), "housekeeping"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.FireTimer(context.Background(), "callevents"); err == nil {
		t.Error("FireTimer on an eventGridTrigger function succeeded")
	}
	s := stateOf(t, h)
	if len(s.Invocations) != 2 {
		t.Fatalf("%d invocations, want 2", len(s.Invocations))
	}
	var env struct {
		Data struct {
			Timer struct {
				Schedule       map[string]any
				ScheduleStatus struct{ Last, Next, LastUpdated string }
				IsPastDue      *bool
			} `json:"timer"`
		}
	}
	if err := json.Unmarshal(s.Invocations[1].Body, &env); err != nil {
		t.Fatal(err)
	}
	tm := env.Data.Timer
	if tm.IsPastDue == nil || *tm.IsPastDue || tm.Schedule["AdjustForDST"] != true {
		t.Errorf("timer Data = %s", s.Invocations[1].Body)
	}
	if strings.HasPrefix(tm.ScheduleStatus.Last, "0001") || tm.ScheduleStatus.LastUpdated == "" {
		t.Errorf("second firing should carry the first as Last: %+v", tm.ScheduleStatus)
	}
}

func TestShutdownSendsSIGTERM(t *testing.T) {
	h, out := startHost(t, newAppRoot(t, nil), Options{})
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Exited():
	default:
		t.Fatal("handler still running after Shutdown")
	}
	if !strings.Contains(out.String(), "echohandler: SIGTERM received") || !strings.Contains(out.String(), "echohandler: stopped") {
		t.Errorf("handler did not see SIGTERM and stop; output:\n%s", out.String())
	}
	if _, err := http.Get(h.URL() + "/api/token"); err == nil {
		t.Error("public listener still serving after Shutdown")
	}
}

func TestShutdownKillsStubbornHandlerAndItsChildren(t *testing.T) {
	h, out := startHost(t, newAppRoot(t, nil), Options{Env: []string{"ECHO_MODE=ignoreterm"}})
	h2, _ := startHost(t, newAppRoot(t, nil), Options{Env: []string{"ECHO_MODE=spawnchild"}})
	child := stateOf(t, h2).ChildPID
	if child == 0 {
		t.Fatal("handler did not start its child")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Shutdown of a handler ignoring SIGTERM: err = %v, want a 'killed' error", err)
	}
	if !strings.Contains(out.String(), "SIGTERM received") {
		t.Errorf("stubborn handler never saw SIGTERM; output:\n%s", out.String())
	}

	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for processAlive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("the handler's child %d outlived Shutdown: the process group was not signalled", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processAlive treats a zombie as dead: it has exited, only its reaping is pending.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
