// Package matsim is the library entry point of flowsim's materialization tests for
// a connector's own main:
//
//	func main() { os.Exit(matsim.Run(context.Background(), myDriver, nil)) }
//
// `go run . basic --config ...` then runs a test in process with the flags, the
// report and the exit codes of `flowsim matsim`. The tests, their checks and their
// Options are the engine's (matsim/engine); flags, report files, rerun lines and
// exit codes are the command-line layer's (matsim/cmdline). Imports point down:
// matsim → matsim/cmdline → matsim/engine.
package matsim

import (
	"context"
	"os"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
)

// Tests are the names of the tests, in documentation order (basic, delta, fence,
// recovery, migrate): a main can tell a test from its own subcommands with them.
var Tests = engine.Tests

// TestData is the type of the documents a test stores (nil in Run: engine.Rich).
type TestData = engine.TestData

// Rich (the default) and Basic are the document types matsim provides.
type (
	Rich  = engine.Rich
	Basic = engine.Basic
)

// Run is the entry point for a connector's own main: it parses os.Args like
// `flowsim matsim` (`go run . basic --config ...`) and runs the test in process
// against server. It returns the exit code: 0 passed, 1 the connector failed a
// check, 2 usage or setup error, 130/143 interrupted (SIGINT/SIGTERM).
func Run(ctx context.Context, server materialize.DriverServer, newTestData func() TestData) int {
	ctx, stop := interrupt.Notify(ctx) // SIGINT, SIGTERM: outcome interrupted, exit 130, 143
	defer stop()
	return cmdline.Main(ctx, server, newTestData, os.Args, os.Stdout, os.Stderr)
}
