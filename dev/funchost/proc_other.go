//go:build !unix

package funchost

import (
	"os"
	"os/exec"
)

const (
	sigTerm = 0
	sigKill = 1
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup has no process groups or SIGTERM to use here: it kills the handler.
func signalGroup(cmd *exec.Cmd, _ int) error {
	return cmd.Process.Signal(os.Kill)
}
