package matsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/internal/logging"
	"github.com/flowsim/flowsim/internal/redact"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// CommandOptions configure the `matsim` command.
type CommandOptions struct {
	// Server, when set, is the connector under test, run in process (library use).
	// Otherwise the transport flags pick one, or the built-in reference connector.
	Server materialize.DriverServer
	// NewTestData makes documents of the type to test; nil means Rich.
	NewTestData func() TestData
	// Stdout and Stderr default to the process's.
	Stdout, Stderr io.Writer
}

// flags shared by every test.
type flags struct {
	logLevel    string
	config      string
	resource    string
	loops       int
	start       int
	batch       int
	seed        uint64
	output      string
	report      string
	junit       string
	resultFile  string
	callTimeout time.Duration
	crashAt     []string
	transport   transportFlags
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ErrFailed is returned (wrapped) when a run failed a check; the report has already
// been printed.
var ErrFailed = errors.New("matsim: the connector failed a check")

// ExitCode maps an error from a flowsim command to the exit code: 0 passed, 1 a
// connector failed a check, 2 usage or setup error.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 2
}

// usageError is exit code 2.
func usageError(format string, args ...interface{}) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// NewCommand returns the `matsim` command with one subcommand per test.
func NewCommand(o CommandOptions) *cobra.Command {
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
	for _, test := range Tests {
		cmd.AddCommand(newTestCommand(test, o))
	}
	return cmd
}

var testHelp = map[string]string{
	"basic":    "Load/store/commit loops with upserts, then load every key back and verify it",
	"delta":    "Store-only loops against a delta-updates binding; committed documents go to --output as NDJSON",
	"fence":    "Two streams over overlapping key ranges: the older one's commit must fail, the newer one's succeed",
	"recovery": "Crash the stream at chosen points; the committed state and checkpoint must survive a restart",
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
	var f flags
	var cmd = &cobra.Command{
		Use:           test,
		Short:         testHelp[test],
		Example:       testExample[test],
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTest(cmd.Context(), test, &f, o, cmd)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see 'flowsim matsim %s --help')", err, test)
	})
	var fs = cmd.Flags()
	fs.StringVar(&f.logLevel, "log.level", "info", "log level: "+strings.Join(logging.Levels, "|"))
	fs.StringVar(&f.config, "config", "", "connector endpoint config: an inline YAML mapping, or a path to a YAML file")
	fs.StringVar(&f.resource, "resource", "", "connector resource config: an inline YAML mapping, or a path to a YAML file")
	fs.IntVar(&f.loops, "loops", 5, "number of load/store/commit loops")
	fs.IntVar(&f.start, "start", 500, "documents in the first loop; each loop doubles it (loop i has start·2^i)")
	fs.IntVar(&f.batch, "batch", 1000, "documents per Load and Store request")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the documents and choices (0: random; always printed)")
	fs.StringVar(&f.report, "report", "text", "report format on stdout: text or json")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to this file")
	fs.StringVar(&f.resultFile, "result-file", "", "write the compact versioned JSON result here (e.g. /dev/termination-log)")
	if test == "delta" {
		fs.StringVar(&f.output, "output", "-", "where committed documents go as NDJSON (- is stdout)")
	}
	if test == "recovery" {
		fs.StringSliceVar(&f.crashAt, "crash-at", nil, "crash points, comma separated: "+strings.Join(CrashPoints, ", ")+" (default all)")
	}
	if o.Server == nil {
		f.transport.addFlags(fs, &f.callTimeout)
	} else {
		fs.DurationVar(&f.callTimeout, "call-timeout", 5*time.Minute, "longest wait for any one connector answer")
	}
	return cmd
}

func runTest(ctx context.Context, test string, f *flags, o CommandOptions, cmd *cobra.Command) error {
	var stdout, stderr = o.Stdout, o.Stderr
	if stdout == nil {
		stdout = cmd.OutOrStdout()
	}
	if stderr == nil {
		stderr = cmd.ErrOrStderr()
	}

	config, err := resolveYAML("--config", f.config)
	if err != nil {
		return usageError("%v", err)
	}
	// Everything printed from here on is redacted, also the connector's stderr as it
	// is relayed (a secret written in pieces included).
	var red = redact.New(config)
	var redOut, redErr = red.Writer(stdout), red.Writer(stderr)
	defer redErr.Close()
	defer redOut.Close()
	stdout, stderr = redOut, redErr

	log, err := logging.New(f.logLevel, stderr)
	if err != nil {
		return usageError("--log.level: %v", err)
	}
	resource, err := resolveYAML("--resource", f.resource)
	if err != nil {
		return usageError("%v", err)
	}
	if f.report != "text" && f.report != "json" {
		return usageError("--report must be text or json (got %q)", f.report)
	}
	for _, c := range f.crashAt {
		if !knownCrashPoint(c) {
			return usageError("--crash-at: unknown crash point %q (want %s)", c, strings.Join(CrashPoints, ", "))
		}
	}
	if o.Server == nil {
		f.callTimeout = f.transport.opts.CallTimeout
	}
	if f.seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f.seed = binary.LittleEndian.Uint64(b[:]) | 1
	}

	var opts = Options{
		Test: test, Config: config, Resource: resource,
		Loops: f.loops, Start: f.start, Batch: f.batch, Seed: f.seed,
		NewTestData: o.NewTestData, CallTimeout: f.callTimeout, CrashAt: f.crashAt,
		Progress: stderr, Log: log,
	}

	// The connector.
	switch {
	case o.Server != nil:
		opts.Connector = connector.InProcess(o.Server, fmt.Sprintf("%T", o.Server))
	default:
		conn, peer, ok, err := f.transport.open(ctx, stderr)
		if err != nil {
			return &exitError{code: 2, err: red.Error(err)}
		}
		if ok {
			opts.Connector, opts.Peer = conn, peer
		} else {
			var ref = reference.New()
			opts.Connector = connector.InProcess(ref, "built-in reference connector")
			opts.Reopen = func(context.Context) (connector.Connector, error) {
				ref = ref.Restart()
				return connector.InProcess(ref, "built-in reference connector (restarted)"), nil
			}
			if f.resource == "" {
				opts.Resource = json.RawMessage(fmt.Sprintf(`{"name":"flowsim_%s","delta_updates":%v}`, test, test == "delta"))
			}
		}
	}
	defer func() {
		if opts.Connector != nil {
			opts.Connector.Close()
		}
		if opts.Peer != nil {
			opts.Peer.Close()
		}
	}()

	// Delta output.
	var reportOut = stdout
	if test == "delta" {
		if f.output == "-" || f.output == "" {
			opts.Output = stdout
			reportOut = stderr // stdout carries the documents
		} else {
			var file, err = os.Create(f.output)
			if err != nil {
				return usageError("--output: %v", err)
			}
			defer file.Close()
			opts.Output = file
		}
	}

	log.V(1).Info("Starting", "test", test, "seed", f.seed, "connector", opts.Connector.Info().String())
	var rep = Execute(ctx, opts)
	redactReport(red, rep)

	var werr error
	if f.report == "json" {
		werr = rep.WriteJSON(reportOut)
	} else {
		werr = rep.WriteText(reportOut, commandLine(cmd, f.seed))
	}
	if werr == nil && f.junit != "" {
		werr = writeFile(f.junit, red, rep.WriteJUnit)
	}
	if werr == nil && f.resultFile != "" {
		werr = writeFile(f.resultFile, red, func(w io.Writer) error {
			_, err := w.Write(rep.Result.Marshal(4096))
			return err
		})
	}
	if werr != nil {
		return &exitError{code: 2, err: fmt.Errorf("writing the report: %w", werr)}
	}
	switch rep.ExitCode() {
	case 0:
		return nil
	case 1:
		return &exitError{code: 1, err: fmt.Errorf("%w: %s", ErrFailed, rep.Result.Check)}
	default:
		return &exitError{code: 2, err: red.Error(fmt.Errorf("setup failed: %s", rep.Result.Message))}
	}
}

// writeFile writes a report file through the redactor.
func writeFile(path string, red *redact.Redactor, fn func(io.Writer) error) error {
	var f, err = os.Create(path)
	if err != nil {
		return err
	}
	var w = red.Writer(f)
	if err := errors.Join(fn(w), w.Close()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// commandLine renders a command to rerun this run with its seed.
func commandLine(cmd *cobra.Command, seed uint64) string {
	var parts = []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name == "seed" || fl.Name == "config" {
			return
		}
		parts = append(parts, "--"+fl.Name+"="+shellQuote(fl.Value.String()))
	})
	if cmd.Flags().Changed("config") {
		parts = append(parts, "--config=…")
	}
	parts = append(parts, fmt.Sprintf("--seed=%d", seed))
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`{}[]*?;&|<>()#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// resolveYAML reads a flag that is an inline YAML mapping or a path to a YAML file
// holding one, and returns it as JSON. Empty means {}.
func resolveYAML(flag, value string) (json.RawMessage, error) {
	if strings.TrimSpace(value) == "" {
		return json.RawMessage("{}"), nil
	}
	var inline, inlineErr = yamlMapping([]byte(value))
	if inlineErr == nil {
		return inline, nil
	}
	var b, fileErr = os.ReadFile(value)
	if fileErr != nil {
		return nil, fmt.Errorf("%s: not an inline YAML mapping (%v), and not a readable file (%v)", flag, inlineErr, fileErr)
	}
	var fromFile, err = yamlMapping(b)
	if err != nil {
		return nil, fmt.Errorf("%s: file %s: %v", flag, value, err)
	}
	return fromFile, nil
}

func yamlMapping(b []byte) (json.RawMessage, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(b, &node); err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	if len(node.Content) == 0 {
		return nil, fmt.Errorf("empty YAML document")
	}
	if node.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("YAML is not a mapping (line %d)", node.Content[0].Line)
	}
	var v interface{}
	if err := node.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	var out, err = json.Marshal(jsonable(v))
	if err != nil {
		return nil, fmt.Errorf("YAML cannot be expressed as JSON: %v", err)
	}
	return out, nil
}

// jsonable converts YAML-decoded values (which may have non-string map keys) to
// JSON-encodable ones.
func jsonable(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	case map[interface{}]interface{}:
		var out = make(map[string]interface{}, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []interface{}:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	}
	return v
}

// Run is the entry point for a connector's own main: it parses os.Args like
// `flowsim matsim` (`go run . basic --config ...`) and runs the test in process
// against server. It returns the exit code.
func Run(ctx context.Context, server materialize.DriverServer, newTestData func() TestData) int {
	return runMain(ctx, server, newTestData, os.Args, os.Stdout, os.Stderr)
}

func runMain(ctx context.Context, server materialize.DriverServer, newTestData func() TestData, args []string, stdout, stderr io.Writer) int {
	var cmd = NewCommand(CommandOptions{Server: server, NewTestData: newTestData, Stdout: stdout, Stderr: stderr})
	cmd.Use = args[0]
	cmd.SetArgs(args[1:])
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	var err = cmd.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, ErrFailed) {
		fmt.Fprintln(stderr, "matsim:", err)
	}
	return ExitCode(err)
}

// writeReportText is kept on Report; see report.go.
var _ = result.Passed
var _ = bytes.MinRead
