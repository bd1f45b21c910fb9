//go:build unix

package current

import (
	"os/exec"
	"syscall"
)

// ownGroup starts flowsim in a process group of its own, so that a terminal's
// Ctrl-C reaches it once, passed on by Run, not twice (flowsim ends at once on a
// second signal, before it can report the run as interrupted).
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
