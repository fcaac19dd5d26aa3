//go:build unix && !linux

package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group, which Close kills.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
