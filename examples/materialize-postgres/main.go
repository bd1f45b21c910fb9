// Command materialize-postgres is a Flow materialization connector for PostgreSQL,
// and flowsim's worked example of testing a connector with matsim. It runs two ways:
//
// As a connector (how a Flow runtime, an image entrypoint or `flowsim matsim
// --command` runs it), one subcommand per call, length-prefixed protobuf on
// stdin/stdout, logs on stderr:
//
//	materialize-postgres spec|validate|apply-upsert|apply-delete|transactions
//
// Under matsim, in process, no image or transport needed:
//
//	materialize-postgres basic|delta|fence|recovery|migrate --config config.json --resource resource.json [flags]
//	go run -tags nozstd ./examples/materialize-postgres basic --config ... --resource ...
//
// See docs/postgres.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
	"github.com/flowsim/flowsim/matsim"
	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() { os.Exit(run(os.Args)) }

func run(args []string) int {
	var ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(args) < 2 {
		usage(os.Stderr)
		return 2
	}
	var verb = args[1]
	switch {
	case slices.Contains(stdio.Dec2021Subcommands, verb) || verb == "apply" || strings.HasPrefix(verb, "--protocol") || strings.HasPrefix(verb, "--max-frame"):
		// [--protocol 2021-10|2021-12] [--max-frame N] SUBCOMMAND: 2021-10 emulates a
		// connector of the October 2021 revision (its `apply` subcommand, no Acknowledge).
		var driver = pgdriver.New(newLogger(os.Stderr))
		if err := stdio.ServeArgs(ctx, driver, args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err) // logs and errors go to stderr, never stdout
			return 1
		}
		return 0
	case slices.Contains(matsim.Tests, verb):
		return runMatsim(ctx, pgdriver.New(newLogger(os.Stderr)))
	case verb == "help" || verb == "-h" || verb == "--help":
		usage(os.Stdout)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown subcommand %q\n\n", verb)
	usage(os.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `materialize-postgres: a Flow materialization connector for PostgreSQL.

As a connector (stdio convention: length-prefixed protobuf on stdin/stdout):
  materialize-postgres [--protocol 2021-12|2021-10] spec | validate | apply-upsert | apply-delete | transactions
  materialize-postgres --protocol 2023        (today's era: no subcommand, one stream; codec from $FLOW_RUNTIME_CODEC)
  (2021-10 speaks the October 2021 revision: apply instead of apply-upsert/apply-delete;
  also $FLOWSIM_CONNECTOR_PROTOCOL)

Under matsim, in process:
  materialize-postgres %s --config config.json --resource resource.json [flags]

Example:
  echo '{"address":"localhost:5432","user":"flow","password":"secret","database":"flow"}' > config.json
  echo '{"table":"matsim_basic"}' > resource.json
  go run -tags nozstd ./examples/materialize-postgres basic --config config.json --resource resource.json --start 5000 --loops 5

Set LOG_LEVEL=debug for per-transaction logs. See docs/postgres.md.
`, strings.Join(matsim.Tests, "|"))
}

// newLogger logs to w (stderr), at info level unless LOG_LEVEL=debug.
func newLogger(w io.Writer) logr.Logger {
	var level = zapcore.InfoLevel
	if os.Getenv("LOG_LEVEL") == "debug" {
		level = zapcore.DebugLevel
	}
	var enc = zap.NewDevelopmentEncoderConfig()
	var core = zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), level)
	return zapr.NewLogger(zap.New(core))
}
