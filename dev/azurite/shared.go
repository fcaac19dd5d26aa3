package azurite

import (
	"context"
	"os"
	"sync"
	"testing"
)

var shared struct {
	once sync.Once
	mu   sync.Mutex
	srv  *Server
	err  error
}

// Shared returns the Azurite of this test binary, started by the first test
// that asks; every later test reuses it (give each test its own table names).
// Call Main from TestMain so the process stops when the tests end:
//
//	func TestMain(m *testing.M) { azurite.Main(m) }
//
// A test binary that skips Main still leaves no Azurite behind on Linux, where
// the process is killed with its parent.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		srv, err := Start(context.Background(), Options{})
		shared.mu.Lock()
		shared.srv, shared.err = srv, err
		shared.mu.Unlock()
	})
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.err != nil {
		t.Fatalf("azurite: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests, then stops the shared Azurite, and exits.
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	os.Exit(code)
}
