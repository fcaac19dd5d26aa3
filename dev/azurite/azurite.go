// Package azurite runs Azurite's table service (the npm package pinned in
// dev/package.json) in memory on a free loopback port, for tests and for
// `make run`. Tests share one process per test binary through Shared and Main.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard/dev/appdir"
)

// AccountName and AccountKey are Azurite's well-known development account.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Options configure a server.
type Options struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// StartTimeout bounds the wait for Azurite to answer; 0 means 30s.
	StartTimeout time.Duration
}

// Server is a running azurite-table process.
type Server struct {
	cmd  *exec.Cmd
	port int
	dir  string
	out  *lockedBuffer
	done chan struct{}

	closeOnce sync.Once
}

// Binary is where `npm ci` in dev/ installs azurite-table.
func Binary() (string, error) {
	repo, err := appdir.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(repo, "dev", "node_modules", ".bin", "azurite-table")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("azurite-table is not installed (%w): run `make deps` (npm ci in dev/)", err)
	}
	return bin, nil
}

// Start runs azurite-table and waits until it answers HTTP as Azurite.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	// A free port found by listening can be taken before Azurite binds it;
	// when we picked it, try another.
	for attempt := 0; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := start(ctx, bin, port, opts.StartTimeout)
		if err == nil || opts.Port != 0 || attempt == 2 || !errors.Is(err, errAddrInUse) {
			return s, err
		}
	}
}

var errAddrInUse = errors.New("address in use")

func start(ctx context.Context, bin string, port int, timeout time.Duration) (*Server, error) {
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	s := &Server{port: port, dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
		"--disableProductStyleUrl",
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port))
	s.cmd.Dir = dir // in memory, Azurite refuses --location but still writes files to its working folder
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start azurite-table: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if s.answers(ctx, client) {
			return s, nil
		}
		select {
		case <-s.done:
			s.cleanup()
			out := s.out.String()
			if strings.Contains(out, "EADDRINUSE") {
				return nil, fmt.Errorf("azurite-table on %s: %w:\n%s", s.addr(), errAddrInUse, out)
			}
			return nil, fmt.Errorf("azurite-table exited during start:\n%s", out)
		case <-ctx.Done():
			_ = s.Close()
			return nil, fmt.Errorf("wait for azurite-table: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Close()
			return nil, fmt.Errorf("azurite-table did not answer on %s within %s:\n%s", s.addr(), timeout, s.out.String())
		}
	}
}

// answers reports whether Azurite itself (not whoever else took the port)
// serves HTTP on s's port; any status will do, unauthenticated it is 403.
func (s *Server) answers(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.TableEndpoint()+"/Tables", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return strings.HasPrefix(resp.Header.Get("Server"), "Azurite-Table")
}

func (s *Server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the port Azurite listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// TableEndpoint is the development account's table endpoint.
func (s *Server) TableEndpoint() string { return "http://" + s.addr() + "/" + AccountName }

// ConnectionString is the explicit development-account connection string.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AccountName + ";AccountKey=" + AccountKey +
		";TableEndpoint=" + s.TableEndpoint() + ";"
}

// Close stops Azurite (its whole process group: npm shims may fork) and
// removes its folder. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.signal(syscall.SIGKILL)
			<-s.done
		}
		s.cleanup()
	})
	return nil
}

// Kill stops Azurite abruptly, dropping open connections, as an outage would.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL)
	<-s.done
}

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	}
}

func (s *Server) cleanup() { os.RemoveAll(s.dir) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write keeps the last 64 KiB or so: enough to explain a failed start.
func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
