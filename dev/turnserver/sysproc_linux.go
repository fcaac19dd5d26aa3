package turnserver

import "syscall"

// sysProcAttr puts coturn in its own process group (Close kills the group)
// and has the kernel kill it if the test binary dies without closing it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
