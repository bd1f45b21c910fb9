// Package cli is the flowsim command line around the matsim engine: the cobra
// commands, the flags that pick a transport (connector/transports), the built-in
// reference connector as the default, and the README tables. The engine (package
// matsim) imports none of these, so that a connector's own main can run it through
// matsim.Run with the standard library's flag package alone.
package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CommandOptions configure the `matsim` command.
type CommandOptions struct {
	// Server, when set, is the connector under test, run in process (tests).
	// Otherwise the transport flags pick one, or the built-in reference connector.
	Server materialize.DriverServer
	// NewTestData makes documents of the type to test; nil means Rich.
	NewTestData func() matsim.TestData
	// Stdout and Stderr default to the command's.
	Stdout, Stderr io.Writer
}

// NewMatsimCommand returns the `matsim` command with one subcommand per test.
func NewMatsimCommand(o CommandOptions) *cobra.Command {
	var cmd = &cobra.Command{
		Use:   "matsim",
		Short: "Drive a materialization connector through the materialize protocol and verify what it stores",
		Long: `matsim runs a test against a materialization connector: basic (load/store/commit
loops with upserts, then every key loaded back and verified), delta (store-only loops,
committed documents written as NDJSON), fence (an older stream must be fenced off by a
newer one over overlapping keys) or recovery (crashes at chosen points; the committed
state and checkpoint must survive).

With no connector flag, the built-in reference connector runs in process.
Exit code: 0 passed, 1 the connector failed a check, 2 usage or setup error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, test := range matsim.Tests {
		cmd.AddCommand(newTestCommand(test, o))
	}
	return cmd
}

var testExample = map[string]string{
	"basic": `  flowsim matsim basic                                   # the built-in reference connector
  flowsim matsim basic --image ghcr.io/acme/materialize-x:dev --config config.yaml --resource '{table: t1}'
  flowsim matsim basic --command ./my-connector --config '{address: "localhost:5432", password: s3cret}'
  flowsim matsim basic --endpoint 127.0.0.1:9000 --loops 3 --start 1000 --seed 42`,
	"delta":    `  flowsim matsim delta --output docs.ndjson --resource '{table: events, delta_updates: true}' --command ./my-connector`,
	"fence":    `  flowsim matsim fence --command ./my-connector --config config.yaml --resource '{table: t1}'`,
	"recovery": `  flowsim matsim recovery --crash-at after-commit --command ./my-connector --config config.yaml`,
}

func newTestCommand(test string, o CommandOptions) *cobra.Command {
	var transport transportFlags
	var goFlags = flag.NewFlagSet(test, flag.ContinueOnError)
	var f = matsim.NewFlags(test, goFlags)
	var cmd = &cobra.Command{
		Use:           test,
		Short:         matsim.TestHelp[test],
		Example:       testExample[test],
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTest(cmd.Context(), f, &transport, o, cmd)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return matsim.UsageError("%v (see 'flowsim matsim %s --help')", err, test)
	})
	var fs = cmd.Flags()
	if o.Server == nil {
		// The transport flags define --call-timeout (it bounds dialing and process
		// waits too); AddGoFlagSet keeps that definition and skips matsim's.
		transport.addFlags(fs)
	}
	fs.AddGoFlagSet(goFlags)
	return cmd
}

func runTest(ctx context.Context, f *matsim.Flags, t *transportFlags, o CommandOptions, cmd *cobra.Command) error {
	var stdout, stderr = o.Stdout, o.Stderr
	if stdout == nil {
		stdout = cmd.OutOrStdout()
	}
	if stderr == nil {
		stderr = cmd.ErrOrStderr()
	}
	if o.Server == nil {
		f.CallTimeout = t.opts.CallTimeout
	}
	var sess, err = f.Prepare(stdout, stderr)
	if err != nil {
		return err
	}
	sess.Options.NewTestData = o.NewTestData

	// The connector.
	switch {
	case o.Server != nil:
		sess.Options.Connector = connector.InProcess(o.Server, fmt.Sprintf("%T", o.Server))
	default:
		conn, peer, ok, err := t.open(ctx, sess.Stderr)
		if err != nil {
			return matsim.UsageError("%w", sess.RedactError(err))
		}
		if ok {
			sess.Options.Connector, sess.Options.Peer = conn, peer
		} else {
			var ref = reference.New()
			sess.Options.Connector = connector.InProcess(ref, "built-in reference connector")
			sess.Options.Reopen = func(context.Context) (connector.Connector, error) {
				ref = ref.Restart()
				return connector.InProcess(ref, "built-in reference connector (restarted)"), nil
			}
			if f.Resource == "" {
				sess.Options.Resource = json.RawMessage(fmt.Sprintf(`{"name":"flowsim_%s","delta_updates":%v}`, f.Test, f.Test == "delta"))
			}
		}
	}
	var set []matsim.FlagValue
	cmd.Flags().Visit(func(fl *pflag.Flag) { set = append(set, matsim.FlagValue{Name: fl.Name, Value: fl.Value.String()}) })
	return sess.Run(ctx, sess.RerunLine(cmd.CommandPath(), set))
}
