// Package turnserver runs coturn (Debian's `coturn` package, `turnserver`)
// on loopback for tests and `make run`: TURN REST API auth with the given
// shared secrets, a bounded relay port range, no TLS, no CLI, no config file,
// nothing written outside a temporary folder. Start waits until coturn
// answers a STUN binding request; Close kills it.
package turnserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
)

// DefaultRealm is the realm coturn announces unless Options say otherwise.
const DefaultRealm = "switchboard.test"

// DevPort and DevSecret are what `make run` uses, so that
// local.settings.sample.json can name them; tests use free ports and random secrets.
const (
	DevPort   = 3478
	DevSecret = "switchboard-dev-turn-secret-not-a-secret"
)

// Options configure a coturn process.
type Options struct {
	// Secrets are the static-auth-secret values coturn accepts, at least one.
	Secrets []string
	// Realm defaults to DefaultRealm.
	Realm string
	// Port is the UDP and TCP listening port; 0 picks a free one.
	Port int
	// RelayPorts is the size of the relay port range; default 40.
	RelayPorts int
	// StartTimeout bounds the wait for the first STUN answer; default 15 s.
	StartTimeout time.Duration
}

// Server is a running turnserver.
type Server struct {
	opts             Options
	port             int
	minPort, maxPort int
	dir              string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
}

// Binary finds turnserver on PATH.
func Binary() (string, error) {
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		return "", errors.New("turnserver (coturn) is not installed: `apt-get install -y coturn` on Debian (`make test` does it)")
	}
	return bin, nil
}

// Start runs coturn and waits until it answers STUN.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if len(opts.Secrets) == 0 {
		return nil, errors.New("turnserver: at least one shared secret is required")
	}
	if opts.Realm == "" {
		opts.Realm = DefaultRealm
	}
	if opts.RelayPorts == 0 {
		opts.RelayPorts = 40
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 15 * time.Second
	}
	dir, err := os.MkdirTemp("", "switchboard-turn-")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, dir: dir, port: opts.Port}
	if s.port == 0 {
		if s.port, err = freePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	// A relay range coturn gets to itself is not guaranteed (another process
	// may hold a port in it); coturn skips busy ports.
	s.minPort = 20000 + rand.IntN(40000-opts.RelayPorts)
	if s.port >= s.minPort && s.port < s.minPort+opts.RelayPorts {
		s.minPort = s.port + 1
	}
	s.maxPort = s.minPort + opts.RelayPorts - 1
	if err := s.start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Addr is coturn's UDP and TCP address, host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the listening port.
func (s *Server) Port() int { return s.port }

// Realm is the realm coturn announces.
func (s *Server) Realm() string { return s.opts.Realm }

// URLs are the server's TURN and STUN URLs, as TURN_URLS takes them.
func (s *Server) URLs() []string {
	a := s.Addr()
	return []string{"turn:" + a + "?transport=udp", "turn:" + a + "?transport=tcp", "stun:" + a}
}

// RelayRange is the relay port range, inclusive.
func (s *Server) RelayRange() (lo, hi int) { return s.minPort, s.maxPort }

// Log is what coturn printed since its last start. coturn's stdout is
// block-buffered, so the whole of it is there only once coturn stopped.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Restart stops coturn and starts it again on the same ports, accepting
// only secrets: how an operator removes an old secret.
func (s *Server) Restart(ctx context.Context, secrets []string) error {
	if len(secrets) == 0 {
		return errors.New("turnserver: at least one shared secret is required")
	}
	if err := s.stop(); err != nil {
		return err
	}
	s.opts.Secrets = secrets
	return s.start(ctx)
}

// Close stops coturn and removes its folder.
func (s *Server) Close() error {
	err := s.stop()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

func (s *Server) args() []string {
	args := []string{
		"-n", // no configuration file
		"--listening-ip=127.0.0.1",
		"--listening-port=" + strconv.Itoa(s.port),
		"--relay-ip=127.0.0.1",
		"--min-port=" + strconv.Itoa(s.minPort),
		"--max-port=" + strconv.Itoa(s.maxPort),
		"--use-auth-secret",
		"--realm=" + s.opts.Realm,
		// Relays on 127.0.0.1 are loopback peers of each other; coturn allows
		// them only with this flag and with the CLI off.
		"--allow-loopback-peers",
		"--no-cli",
		"--no-tls", "--no-dtls", // no certificates here
		"--no-rfc5780", // one listening address: nothing to discover
		"--fingerprint",
		"--relay-threads=1",
		"--pidfile=" + filepath.Join(s.dir, "turnserver.pid"),
		"--userdb=" + filepath.Join(s.dir, "turndb"),
		"--log-file=stdout",
		"--simple-log",
	}
	for _, secret := range s.opts.Secrets {
		args = append(args, "--static-auth-secret="+secret)
	}
	return args
}

func (s *Server) start(ctx context.Context) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start turnserver: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()
	if err := waitReady(ctx, s.Addr(), done, s.opts.StartTimeout); err != nil {
		_ = s.stop()
		return fmt.Errorf("turnserver on %s: %w\n%s", s.Addr(), err, tail(out.String(), 3000))
	}
	return nil
}

func (s *Server) stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return nil
}

// waitReady sends STUN binding requests to addr until one is answered, the
// process exits, or timeout passes. Each read waits at most 200 ms, so an
// answer is seen as soon as coturn listens; nothing sleeps.
func waitReady(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for {
		select {
		case <-exited:
			return errors.New("turnserver exited before answering STUN")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no STUN answer within %v", timeout)
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if _, err := conn.WriteTo(req.Raw, to); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break // deadline: ask again
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID && res.Type == stun.BindingSuccess {
				return nil
			}
		}
	}
}

// freePort finds a loopback port free for both UDP and TCP.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no loopback port free for both UDP and TCP")
}

// PortFree reports whether port is free on loopback for UDP and TCP.
func PortFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

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

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
