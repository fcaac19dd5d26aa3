package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// HostVersion is what the stand-in reports in X-Azure-Functions-HostVersion
// and User-Agent, shaped like a Functions v4 host version.
const HostVersion = "4.1040.0.0"

// Options configures Start. The zero value is like Core Tools running locally.
type Options struct {
	// Env is extra environment for the handler ("KEY=value"), after os.Environ().
	Env []string
	// Stdout and Stderr receive the handler's output and invocation Logs (default os.Stdout, os.Stderr).
	Stdout, Stderr io.Writer
	// ReadyTimeout bounds the wait for the handler to answer GET / (default 30s).
	ReadyTimeout time.Duration
	// FunctionKey, when set, is required (?code= or x-functions-key) by
	// authLevel function functions. Empty disables every key check.
	FunctionKey string
	// MasterKey is accepted everywhere a key is required and is the only key
	// authLevel admin accepts; without it admin functions answer 401 when keys are on.
	MasterKey string
	// SystemKey is the Event Grid extension's system key, required on
	// /runtime/webhooks/eventgrid when keys are on. Defaults to FunctionKey.
	SystemKey string
	// ListenAddr is where the host's public side listens (default "127.0.0.1:0").
	ListenAddr string
	// EventEncoding chooses how an Event Grid event is put in Data (default
	// TriggerAsHostString, what the real host sends).
	EventEncoding TriggerEncoding
	// Limits are the public side's connection limits (default Kestrel's).
	Limits FrontEndLimits
	// JournalSize, when positive, keeps the last JournalSize requests the
	// public side passed on, for the developer console (see Journal). With
	// a journal, answers other than server-sent events are sent when the
	// invocation ends rather than streamed, so that they are journaled first.
	JournalSize int
}

// TriggerEncoding is how a trigger value is placed in an invocation's Data.
type TriggerEncoding int32

const (
	// TriggerAsHostString is what the host does for an Event Grid trigger: it
	// binds the event to a string (indented JSON), and, as that string is not
	// a JSON object, serialises it once more before the envelope is
	// serialised, so Data.<name> is a JSON string holding a JSON string
	// holding the event (ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue).
	TriggerAsHostString TriggerEncoding = iota
	// TriggerAsString puts the event's JSON text in Data as one JSON string.
	TriggerAsString
	// TriggerAsObject puts the event in Data as a JSON object.
	TriggerAsObject
)

// Host is a running stand-in: the handler process and the public listener.
type Host struct {
	app        *App
	opts       Options
	stdout     io.Writer
	handlerURL string
	port       int
	routes     []*httpRoute
	encoding   atomic.Int32

	cmd     *exec.Cmd
	tail    *tailBuffer
	exited  chan struct{}
	waitErr error

	ln  net.Listener
	srv *http.Server
	url string

	// forward carries forwarded HTTP requests; invoke carries envelopes.
	forward *http.Transport
	invoke  *http.Client

	journal *journal

	timerMu   sync.Mutex
	lastTimer map[string]time.Time

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts the handler the way the host does and serves the host's public
// side. Call Close or Shutdown to stop both.
func Start(ctx context.Context, app *App, opts Options) (*Host, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.ListenAddr == "" {
		opts.ListenAddr = "127.0.0.1:0"
	}
	if opts.SystemKey == "" {
		opts.SystemKey = opts.FunctionKey
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	h := &Host{
		app:        app,
		opts:       opts,
		stdout:     &syncWriter{w: opts.Stdout},
		port:       port,
		handlerURL: "http://127.0.0.1:" + strconv.Itoa(port),
		routes:     buildRoutes(app),
		exited:     make(chan struct{}),
		lastTimer:  map[string]time.Time{},
		journal:    newJournal(opts.JournalSize),
		forward: &http.Transport{
			// The request goes as the client sent it: no added Accept-Encoding, no transparent gunzip.
			DisableCompression:  true,
			MaxIdleConnsPerHost: 16,
		},
	}
	h.invoke = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	h.encoding.Store(int32(opts.EventEncoding))

	if err := h.startProcess(); err != nil {
		return nil, err
	}
	if err := h.waitReady(ctx); err != nil {
		h.stopProcess(2 * time.Second)
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.ListenAddr)
	if err != nil {
		h.stopProcess(2 * time.Second)
		return nil, fmt.Errorf("funchost: listen on %s: %w", opts.ListenAddr, err)
	}
	h.ln = ln
	h.url = "http://" + ln.Addr().String()
	h.opts.Limits = opts.Limits.withDefaults()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: h.opts.Limits.RequestHeadersTimeout, IdleTimeout: h.opts.Limits.KeepAliveTimeout}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

// URL is the host's public base URL, e.g. http://127.0.0.1:41234.
func (h *Host) URL() string { return h.url }

// HandlerURL is where the handler listens (http://127.0.0.1:{FUNCTIONS_CUSTOMHANDLER_PORT}).
func (h *Host) HandlerURL() string { return h.handlerURL }

// App is the app the host runs.
func (h *Host) App() *App { return h.app }

// Exited is closed when the handler process has exited, for whatever reason.
func (h *Host) Exited() <-chan struct{} { return h.exited }

// SetEventEncoding changes how later Event Grid invocations carry the event.
func (h *Host) SetEventEncoding(e TriggerEncoding) { h.encoding.Store(int32(e)) }

func (h *Host) startProcess() error {
	exe, dir := h.resolveExecutable()
	cmd := exec.Command(exe, h.app.Arguments...)
	cmd.Dir = dir
	workerID := uuid.NewString()
	cmd.Env = append(append(os.Environ(), h.opts.Env...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(h.port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+workerID,
		"FUNCTIONS_HTTPWORKER_PORT="+strconv.Itoa(h.port),
		"FUNCTIONS_HTTPWORKER_ID="+workerID,
		"FUNCTIONS_APP_ROOT_PATH="+h.app.Root,
	)
	h.tail = &tailBuffer{max: 8 << 10}
	cmd.Stdout = io.MultiWriter(h.stdout, h.tail)
	cmd.Stderr = io.MultiWriter(&syncWriter{w: h.opts.Stderr}, h.tail)
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("funchost: start handler %s: %w", exe, err)
	}
	h.cmd = cmd
	go func() {
		h.waitErr = cmd.Wait()
		close(h.exited)
	}()
	return nil
}

// resolveExecutable follows HttpWorkerDescription: a relative executable is
// taken from the app root if it exists there, else looked up on PATH; the
// process runs in workingDirectory (relative to the app root), default the app root.
func (h *Host) resolveExecutable() (exe, dir string) {
	dir = h.app.Root
	if wd := h.app.WorkingDirectory; wd != "" {
		dir = wd
		if !filepath.IsAbs(wd) {
			dir = filepath.Join(h.app.Root, wd)
		}
	}
	exe = h.app.ExecutablePath
	if !filepath.IsAbs(exe) {
		if full := filepath.Join(h.app.Root, exe); fileExists(full) {
			return full, dir
		}
		if p, err := exec.LookPath(exe); err == nil {
			return p, dir
		}
		return filepath.Join(h.app.Root, exe), dir
	}
	return exe, dir
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// waitReady polls GET / like DefaultHttpWorkerService.IsWorkerReady: any HTTP
// answer means ready, a socket error means not yet.
func (h *Host) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(h.opts.ReadyTimeout)
	defer deadline.Stop()
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.handlerURL+"/", nil)
		resp, err := probe.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) && ctx.Err() == nil {
			return nil // the host treats any non-socket failure as a live server
		}
		select {
		case <-h.exited:
			return fmt.Errorf("funchost: handler exited before answering GET / on port %d (%v); its output ends with:\n%s", h.port, h.waitErr, h.tail.String())
		case <-deadline.C:
			return fmt.Errorf("funchost: handler did not answer GET / on 127.0.0.1:%d within %s; its output ends with:\n%s", h.port, h.opts.ReadyTimeout, h.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("funchost: waiting for the handler: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Shutdown stops serving, sends SIGTERM to the handler's process group and
// waits for it to exit until ctx ends, then kills the group. It returns an
// error if the handler had to be killed.
func (h *Host) Shutdown(ctx context.Context) error {
	h.shutdownOnce.Do(func() {
		if h.srv != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = h.srv.Shutdown(sctx)
			cancel()
		}
		grace := 10 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			grace = time.Until(dl)
		}
		h.shutdownErr = h.stopProcess(grace)
		h.forward.CloseIdleConnections()
		h.invoke.CloseIdleConnections()
	})
	return h.shutdownErr
}

// Close is Shutdown with a 10-second grace period.
func (h *Host) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}

func (h *Host) stopProcess(grace time.Duration) error {
	if h.cmd == nil {
		return nil
	}
	select {
	case <-h.exited:
		return nil
	default:
	}
	_ = signalGroup(h.cmd, sigTerm)
	t := time.NewTimer(max(grace, 0))
	defer t.Stop()
	select {
	case <-h.exited:
		return nil
	case <-t.C:
	}
	_ = signalGroup(h.cmd, sigKill)
	<-h.exited
	return fmt.Errorf("funchost: handler did not exit within %s of SIGTERM and was killed", grace)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1, as the host does
// before starting the handler.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("funchost: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// syncWriter serialises writes from the process pipes and invocation logs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
