package azurite

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedIsOneServer(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared started a second Azurite")
	}
	want := "http://127.0.0.1:" + strconv.Itoa(a.Port()) + "/devstoreaccount1"
	if a.TableEndpoint() != want {
		t.Fatalf("endpoint %q, want %q", a.TableEndpoint(), want)
	}
	if !strings.Contains(a.ConnectionString(), ";TableEndpoint="+want+";") ||
		!strings.HasPrefix(a.ConnectionString(), "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") {
		t.Fatalf("connection string %q", a.ConnectionString())
	}
	if !a.answers(context.Background(), http.DefaultClient) {
		t.Fatal("shared Azurite does not answer")
	}
}

func TestCloseStopsTheProcessGroup(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Fatal("Azurite's process group survived Close")
	}
	if c, err := net.DialTimeout("tcp", s.addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("port still accepts connections after Close")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("work folder left behind: %v", err)
	}
}

func TestStartOnABusyPortFails(t *testing.T) {
	// A fixed port someone else holds: Start must say so, not report success
	// because something accepted a connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.NotFoundHandler())
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s, err := Start(ctx, Options{Port: port, StartTimeout: 15 * time.Second}); err == nil {
		s.Close()
		t.Fatal("Start succeeded on a port held by another server")
	}
}

func TestMissingBinaryNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := Start(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("error %v does not say to run make deps", err)
	}
}
