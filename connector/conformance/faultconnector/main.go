// Command faultconnector is the conformance suite's fault connector as a standalone
// binary, for images: the scenario comes from $FLOWSIM_FAULT ("" is none).
//
// With $FLOWSIM_FAULT_WRAP=1 it is its own wrapper, as connector images' entrypoint
// scripts are: it runs itself as a child holding its stdin and stdout, does not exec
// it and does not pass signals on, and exits with the child's code. Killing the
// wrapper alone leaves the child running with the stdout (scratch images have no
// shell, so the wrapper cannot be a script).
package main

import (
	"errors"
	"os"
	"os/exec"

	"github.com/flowsim/flowsim/connector/conformance"
)

// WrapEnv makes the binary a wrapper of itself.
const WrapEnv = "FLOWSIM_FAULT_WRAP"

func main() {
	if os.Getenv(WrapEnv) == "1" {
		os.Exit(wrap())
	}
	conformance.Run(os.Getenv(conformance.Env), os.Args[1:])
}

func wrap() int {
	var self, err = os.Executable()
	if err != nil {
		os.Stderr.WriteString("wrapper: " + err.Error() + "\n")
		return 1
	}
	var child = exec.Command(self, os.Args[1:]...)
	child.Env = append(os.Environ(), WrapEnv+"=0")
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err = child.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		os.Stderr.WriteString("wrapper: " + err.Error() + "\n")
		return 1
	}
	return 0
}
