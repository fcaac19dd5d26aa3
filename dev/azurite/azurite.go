// Package azurite runs Azurite's table service (the npm package pinned in
// dev/package.json) in memory on a free loopback port, for tests and for
// `make run`.
package azurite

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"switchboard/dev/appdir"
)

// AccountKey is Azurite's well-known development account key.
const AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// Options configure a server.
type Options struct {
	// Port to listen on; 0 picks a free one.
	Port int
}

// Server is a running azurite-table process.
type Server struct {
	cmd  *exec.Cmd
	port int
	dir  string
	out  *lockedBuffer
	done chan struct{}
}

// Start runs azurite-table and waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	repo, err := appdir.RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(repo, "dev", "node_modules", ".bin", "azurite-table")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("azurite-table is not installed (%v): run `make deps` (npm ci in dev/)", err)
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	s := &Server{port: port, dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port))
	s.cmd.Dir = dir // Azurite writes its debug and telemetry files here
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start azurite-table: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case <-s.done:
			s.cleanup()
			return nil, fmt.Errorf("azurite-table exited during start:\n%s", s.out.String())
		case <-ctx.Done():
			_ = s.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Close()
			return nil, fmt.Errorf("azurite-table did not listen on %s within 30s:\n%s", s.addr(), s.out.String())
		}
	}
}

func (s *Server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// TableEndpoint is the development account's table endpoint.
func (s *Server) TableEndpoint() string { return "http://" + s.addr() + "/devstoreaccount1" }

// ConnectionString is the explicit development-account connection string.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + AccountKey +
		";TableEndpoint=" + s.TableEndpoint() + ";"
}

// Close stops Azurite (its whole process group) and removes its folder.
func (s *Server) Close() error {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	s.cleanup()
	return nil
}

// Kill stops Azurite abruptly, dropping open connections, as an outage would.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
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
