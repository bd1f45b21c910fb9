//go:build unix

package stdio

import (
	"os"
	"os/exec"
	"syscall"
)

// newGroup starts cmd in a process group of its own: a kill then reaches the
// children of a connector that is a wrapper script (whose child holds its stdout),
// and a Ctrl-C on flowsim's terminal reaches flowsim only, which stops the
// connector itself.
func newGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup sends SIGKILL to p's process group (started by newGroup), and to p
// itself should that fail.
func killGroup(p *os.Process) {
	if syscall.Kill(-p.Pid, syscall.SIGKILL) != nil {
		_ = p.Signal(syscall.SIGKILL)
	}
}
