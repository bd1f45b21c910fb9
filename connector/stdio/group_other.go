//go:build !unix

package stdio

import (
	"os"
	"os/exec"
)

func newGroup(*exec.Cmd) {}

func killGroup(p *os.Process) { _ = p.Kill() }
