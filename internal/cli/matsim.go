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
	"os"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/internal/cli/progress"
	"github.com/flowsim/flowsim/lib/logging"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/spf13/cobra"
)

// CommandOptions configure the `matsim` command.
type CommandOptions struct {
	// Server, when set, is the connector under test, run in process (tests).
	// Otherwise the transport flags pick one, or the built-in reference connector.
	Server materialize.DriverServer
	// NewTestData makes documents of the type to test; nil means Rich.
	NewTestData func() engine.TestData
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
newer one over overlapping keys), recovery (crashes at chosen points; the committed
state and checkpoint must survive) or migrate (an evolved spec applied over tables that
hold data).

With no connector flag, the built-in reference connector runs in process.
Exit code: 0 passed, 1 the connector failed a check, 2 usage or setup error,
130/143 interrupted by SIGINT/SIGTERM (the connector is stopped and not judged).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		// Without this, cobra prints help and exits 0 for `flowsim matsim basci`:
		// a typo in CI would pass.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return cmdline.UsageError("unknown test %q for \"flowsim matsim\" (want one of %s)", args[0], strings.Join(engine.Tests, ", "))
			}
			return cmd.Help()
		},
	}
	for _, test := range engine.Tests {
		cmd.AddCommand(newTestCommand(test, o))
	}
	return cmd
}

var testExample = map[string]string{
	"basic": `  flowsim matsim basic                                   # the built-in reference connector
  flowsim matsim basic --image ghcr.io/acme/materialize-x:dev --config config.yaml --resource '{table: t1}'
  flowsim matsim basic --command ./my-connector --config '{address: "localhost:5432", password: s3cret}'
  flowsim matsim basic --endpoint 127.0.0.1:9000 --loops 3 --start 1000 --seed 42`,
	"delta": `  flowsim matsim delta --output docs.ndjson --resource '{table: events, delta_updates: true}' --command ./my-connector
  flowsim matsim delta --output /dev/null --command ./my-connector --config config.yaml --resource '{table: events, delta_updates: true}' \
      --verify-sql 'SELECT flow_document FROM $FLOWSIM_TABLE'
  flowsim matsim delta --command ./my-connector --verify-command 'my-dump-tool --table $FLOWSIM_TABLE --format ndjson'`,
	"fence":    `  flowsim matsim fence --command ./my-connector --config config.yaml --resource '{table: t1}'`,
	"recovery": `  flowsim matsim recovery --crash-at after-commit --command ./my-connector --config config.yaml`,
	"migrate":  `  flowsim matsim migrate --command ./my-connector --config config.yaml --resource '{table: t1}'`,
}

func newTestCommand(test string, o CommandOptions) *cobra.Command {
	var transport transportFlags
	var goFlags = flag.NewFlagSet(test, flag.ContinueOnError)
	var f = cmdline.NewFlags(test, goFlags)
	var cmd = &cobra.Command{
		Use:           test,
		Short:         cmdline.TestHelp[test],
		Example:       testExample[test],
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdline.Interrupted(cmd.Context(), runTest(cmd.Context(), f, &transport, o, cmd))
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdline.UsageError("%v (see 'flowsim matsim %s --help')", err, test)
	})
	var fs = cmd.Flags()
	if o.Server == nil {
		// The transport flags define --call-timeout (it bounds dialing and process
		// waits too); AddGoFlagSet keeps that definition and skips matsim's.
		transport.addFlags(fs, test)
	}
	// The same fields as matsim's --quiet and --verbose, with shorthands.
	fs.BoolVarP(&f.Quiet, "quiet", "q", false, cmdline.QuietUsage)
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, cmdline.VerboseUsage)
	fs.AddGoFlagSet(goFlags)
	for _, name := range cmdline.IgnoredFlags(test) {
		_ = fs.MarkHidden(name)
	}
	registerCompletions(cmd)
	return cmd
}

// registerCompletions completes the values of enum flags in shell completion.
func registerCompletions(cmd *cobra.Command) {
	var enums = map[string][]string{
		"report":    {"text", "json"},
		"crash-at":  engine.CrashPoints,
		"protocol":  connector.RevisionNames,
		"codec":     {"proto", "json"},
		"log.level": logging.Levels,
	}
	for name, values := range enums {
		if cmd.Flags().Lookup(name) == nil {
			continue
		}
		var values = values
		_ = cmd.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

func runTest(ctx context.Context, f *cmdline.Flags, t *transportFlags, o CommandOptions, cmd *cobra.Command) error {
	var stdout, stderr = o.Stdout, o.Stderr
	if stdout == nil {
		stdout = cmd.OutOrStdout()
	}
	if stderr == nil {
		stderr = cmd.ErrOrStderr()
	}
	if o.Server == nil {
		f.CallTimeout = t.opts.CallTimeout
		if t.opts.MaxFrame <= 0 {
			return cmdline.UsageError("--max-frame must be positive (got %d)", t.opts.MaxFrame)
		}
	}
	f.Terminal = progress.IsTerminal(stdout)

	// On a terminal, a live display on stderr; other output to stderr prints above it.
	var display = progress.New(stderr, !f.Quiet && progress.CanDraw(stderr))
	var errOut = stderr
	if display.Live() {
		errOut = display
	}
	var sess, err = f.Prepare(stdout, errOut)
	if err != nil {
		return err
	}
	defer display.Stop()
	sess.Options.NewTestData = o.NewTestData
	if !f.Quiet {
		// Off a terminal: a plain line every 10s within a long transaction, next to
		// the per-loop FLOWSIM-PROGRESS lines.
		display.Plain = 10 * time.Second
		sess.Options.OnProgress = func(e engine.ProgressEvent) { display.Update(e.Phase, e.Done, e.Total, e.Committed) }
	}
	if display.Live() {
		sess.Options.Progress = nil // the display replaces the progress lines
		sess.BeforeReport = display.Stop
	}
	if f.Report == "text" && progress.ColorFor(stdout) {
		var p = progress.NewPainter(true)
		sess.Paint = func(o result.Outcome, s string) string {
			switch o {
			case result.Passed:
				return p.Pass(s)
			case result.Failed:
				return p.Fail(s)
			}
			return p.Warn(s)
		}
	}

	// The connector.
	switch {
	case o.Server != nil:
		sess.Options.Connector = connector.InProcess(o.Server, fmt.Sprintf("%T", o.Server))
	default:
		sess.Redactor().Learn(transports.DockerSecrets(t.opts.DockerArgs)) // -e PGPASSWORD=…
		conn, peer, ok, err := t.open(ctx, sess.Stderr, sess.Redactor())
		if err != nil {
			return cmdline.UsageError("%w", sess.RedactError(err))
		}
		if ok {
			sess.Options.Connector, sess.Options.Peer = conn, peer
			var dir, err = defaultStateDir(ctx, sess, t)
			if err != nil {
				conn.Close()
				return err
			}
			if dir != "" {
				defer os.RemoveAll(dir)
			}
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
			if f.Test == "delta" && sess.Options.Verifier == nil {
				sess.Options.Verifier = referenceRows(ref, sess.Options.Config) // its rows are in this process
			}
		}
	}
	var set = rerunFlags(cmd, sess.Redactor())
	sess.NoteIgnored(set)
	return sess.Run(ctx, sess.RerunLine(cmd.CommandPath(), set))
}

// defaultStateDir gives the reference connector a store shared by its processes.
// Run through --command or --image it starts a process per call and, without
// state_dir, keeps its store in that process's memory: fence's second stream, migrate's later streams and
// recovery's restarted connector would find nothing (load.missing), which says
// nothing about the connector. A connector whose endpoint schema has state_dir is
// given a fresh directory, and the run says so.
func defaultStateDir(ctx context.Context, sess *cmdline.Session, t *transportFlags) (string, error) {
	var o = &sess.Options
	if (o.Test != "fence" && o.Test != "recovery" && o.Test != "migrate") || (t.opts.Command == "" && t.opts.Image == "") {
		return "", nil
	}
	var config map[string]json.RawMessage
	if json.Unmarshal(o.Config, &config) != nil {
		return "", nil
	}
	if _, ok := config["state_dir"]; ok {
		return "", nil
	}
	var cctx, cancel = context.WithTimeout(ctx, o.CallTimeout)
	defer cancel()
	var spec, err = o.Connector.Spec(cctx, &materialize.SpecRequest{EndpointType: pf.EndpointType_FLOW_SINK, EndpointSpecJson: o.Config})
	if err != nil {
		return "", nil // the run's own Spec reports it
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(spec.EndpointSpecSchemaJson, &schema) != nil || schema.Properties["state_dir"] == nil {
		return "", nil
	}
	if t.opts.Image != "" {
		return "", cmdline.UsageError("the reference connector keeps its store in each process's memory and --image starts a container per call: " +
			"give it a state_dir on a volume its containers share, e.g. --config '{state_dir: /state}' --docker-arg=-v --docker-arg=/tmp/flowsim-state:/state")
	}
	var dir string
	if dir, err = os.MkdirTemp("", "flowsim-state-*"); err != nil {
		return "", cmdline.UsageError("creating a state_dir for the reference connector: %w", err)
	}
	config["state_dir"], _ = json.Marshal(dir)
	o.Config, _ = json.Marshal(config)
	fmt.Fprintf(sess.Stderr, "note: the reference connector keeps its store in each process's memory and --command starts a process per call; "+
		"%s uses state_dir %s, removed afterwards (set --config '{state_dir: DIR}' to choose one)\n", o.Test, dir)
	return dir, nil
}

// referenceRows verifies the built-in reference connector's delta rows in process.
func referenceRows(d *reference.Driver, config json.RawMessage) engine.Verifier {
	return engine.VerifierFunc{Name: "the reference connector's rows", Fn: func(_ context.Context, path []string, fn func([]byte) error) error {
		if len(path) != 1 {
			return fmt.Errorf("resource path %q is not a reference connector table", path)
		}
		return d.DeltaRows(config, path[0], fn)
	}}
}
