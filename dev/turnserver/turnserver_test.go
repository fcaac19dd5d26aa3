package turnserver

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

func TestStartRestartClose(t *testing.T) {
	if _, err := Start(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Start without a secret: %v", err)
	}
	s, err := Start(context.Background(), Options{Secrets: []string{"turnserver-test-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lo, hi := s.RelayRange()
	if hi-lo+1 != 40 || (s.Port() >= lo && s.Port() <= hi) {
		t.Errorf("relay range %d-%d, listening port %d", lo, hi, s.Port())
	}
	if got := strings.Join(s.URLs(), " "); got != "turn:"+s.Addr()+"?transport=udp turn:"+s.Addr()+"?transport=tcp stun:"+s.Addr() {
		t.Errorf("URLs %s", got)
	}
	binding(t, s.Addr())
	pid := s.cmd.Process.Pid

	if err := s.Restart(context.Background(), []string{"turnserver-test-secret-2"}); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("the first coturn (%d) survived the restart", pid)
	}
	binding(t, s.Addr())
	pid = s.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("coturn (%d) survived Close", pid)
	}
	if !strings.Contains(s.Log(), "Coturn") {
		t.Errorf("no coturn output captured: %q", s.Log())
	}
}

// binding checks coturn answers a STUN binding request with our address.
func binding(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no STUN answer: %v", err)
	}
	res := &stun.Message{Raw: buf[:n]}
	var xor stun.XORMappedAddress
	if err := res.Decode(); err != nil || res.Type != stun.BindingSuccess || xor.GetFrom(res) != nil {
		t.Fatalf("answer %v %v", res, err)
	}
	if xor.String() != c.LocalAddr().String() {
		t.Errorf("mapped address %v, want %v", xor, c.LocalAddr())
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
