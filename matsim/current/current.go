// Package current is matsim.Run for a connector of today's protocol era, called from
// the connector's own main.
//
// Such a connector links github.com/estuary/flow/go/protocols/materialize, and one Go
// binary cannot link that module and the 2021 module (github.com/estuary/protocols)
// that the matsim engine links: both register the same protobuf names and the binary
// panics at start-up ("proto: duplicate enum registered"). So this package links
// neither the engine nor the 2021 module. Run serves the connector's ConnectorServer
// from the connector's own process, on a private loopback gRPC address, and runs the
// engine as `flowsim matsim TEST ... --endpoint ADDRESS`: the same checks, report and
// exit code as every other transport, and the connector's code runs in the process
// (and under the debugger) of the developer's own main.
//
// The flowsim binary is $FLOWSIM when set, else `flowsim` on $PATH
// (`go install github.com/flowsim/flowsim/cmd/flowsim@latest`).
package current

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/lib/matsimtests"
	"google.golang.org/grpc"
)

// ExitUsage is Run's exit code for a usage or setup error found before flowsim ran
// (flowsim's own: its other codes, 0, 1, 130 and 143, come from flowsim).
const ExitUsage = 2

// maxMessage bounds one gRPC message each way, as flowsim's endpoint client does.
const maxMessage = 64 << 20

// IsTest reports whether name is a matsim test: a connector's main calls Run when
// its first argument is one.
func IsTest(name string) bool { return matsimtests.Is(name) }

// Options configure RunWith.
type Options struct {
	// Args are the arguments after the program name: TEST [flags] (os.Args[1:]).
	Args []string
	// Flowsim is the flowsim binary; empty: $FLOWSIM, else flowsim on $PATH.
	Flowsim string
	// Stdout and Stderr receive flowsim's output (default os.Stdout, os.Stderr).
	Stdout, Stderr io.Writer
}

// Run tests server with the matsim test named by os.Args[1] and the flags after it
// (as `flowsim matsim`), and returns flowsim's exit code: 0 passed, 1 the connector
// failed a check, 2 usage or setup error, 130/143 interrupted.
func Run(ctx context.Context, server pm.ConnectorServer) int {
	return RunWith(ctx, server, Options{Args: os.Args[1:]})
}

// RunWith is Run with explicit arguments, binary and output.
func RunWith(ctx context.Context, server pm.ConnectorServer, opts Options) int {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	var prog = filepath.Base(os.Args[0])
	var fail = func(format string, args ...any) int {
		fmt.Fprintf(opts.Stderr, prog+": "+format+"\n", args...)
		return ExitUsage
	}
	if len(opts.Args) == 0 || !IsTest(opts.Args[0]) {
		return fail("want a test first (one of %s), got %q", strings.Join(matsimtests.Names, ", "), strings.Join(opts.Args, " "))
	}
	for _, a := range opts.Args[1:] {
		var name, _, _ = strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && slices.Contains([]string{"command", "image", "endpoint"}, name) {
			return fail("--%s names another connector: this program's own connector is the one tested", name)
		}
	}
	var bin, err = flowsimBinary(opts.Flowsim)
	if err != nil {
		return fail("%v", err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("cannot listen for flowsim on a loopback address: %v", err)
	}
	var srv = grpc.NewServer(grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	pm.RegisterConnectorServer(srv, server)
	var served = make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	var args = append([]string{"matsim"}, opts.Args...)
	args = append(args, "--endpoint", lis.Addr().String())
	var cmd = exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, opts.Stdout, opts.Stderr
	ownGroup(cmd)
	// flowsim decides what an interrupt means (outcome interrupted, 130/143): pass
	// SIGINT and SIGTERM on to it and wait for its verdict rather than dying first.
	var sigs = make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err = cmd.Start(); err != nil {
		return fail("cannot start %s: %v", bin, err)
	}
	var done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err = <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &exit) && exit.ExitCode() >= 0:
				return exit.ExitCode()
			}
			return fail("%s did not finish: %v", bin, err)
		}
	}
}

// flowsimBinary finds the flowsim binary.
func flowsimBinary(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if env := os.Getenv("FLOWSIM"); env != "" {
		return env, nil
	}
	var path, err = exec.LookPath("flowsim")
	if err != nil {
		return "", errors.New("the flowsim binary runs the tests of a connector of today's era and is not on $PATH: " +
			"install it (go install github.com/flowsim/flowsim/cmd/flowsim@latest) or set $FLOWSIM to its path")
	}
	return path, nil
}
