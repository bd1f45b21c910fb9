// Command fakeconnector is the stdiotest connector as a standalone binary, for the
// Docker tests: the mode comes from $STDIOTEST_MODE (default "ok").
package main

import (
	"os"

	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
)

func main() {
	var mode = os.Getenv(stdiotest.ModeEnv)
	if mode == "" {
		mode = stdiotest.ModeOK
	}
	stdiotest.Run(mode, os.Args[1:])
}
