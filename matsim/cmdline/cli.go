// Package cmdline is matsim's command-line layer: the flags of a test (one
// flag.FlagSet, shared by a connector's own main and the flowsim CLI), the YAML
// inputs, the report files, the rerun line and the exit codes. It runs the engine
// (matsim/engine) and never the other way round.
package cmdline

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowsim/flowsim/lib/shell"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/lib/logging"
	"github.com/flowsim/flowsim/lib/matsimtests"
	"github.com/flowsim/flowsim/lib/outfile"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/lib/yamljson"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/go-logr/logr"
)

// Flags are the command-line options of one test. They are defined once, here, on a
// standard library flag.FlagSet: Run parses them in a connector's own main, and the
// flowsim CLI adds the same set to its cobra command (pflag's AddGoFlagSet), next to
// the flags that pick a transport.
type Flags struct {
	Test        string
	LogLevel    string
	Config      string
	Resource    string
	Loops       int
	Start       int
	Batch       int
	Seed        uint64
	Output      string
	Report      string
	JUnit       string
	ResultFile  string
	CallTimeout time.Duration
	CrashAt     []string
	ExactlyOnce bool
	Cleanup     bool
	// Quiet prints only the outcome, failures and the reproduce line; Verbose logs
	// at debug level (unless --log.level says otherwise).
	Quiet, Verbose bool
	// Terminal says stdout is a terminal (set by the caller): delta's documents then
	// go to a file unless --output - asks for stdout.
	Terminal bool
	// Verify selects an engine.Verifier (delta, recovery): cli_verify.go.
	Verify VerifyFlags
}

// IgnoredFlags are flags a test accepts and ignores, so that one set of flags runs
// every test; help does not show them.
func IgnoredFlags(test string) []string {
	if _, ok := loopsIgnored[test]; ok {
		return []string{"loops"}
	}
	return nil
}

// loopsIgnored says, per test that ignores --loops, what it runs instead.
var loopsIgnored = map[string]string{
	"fence":    "it runs one phase per key-range case",
	"recovery": "it runs one phase per --crash-at point",
	"migrate":  "it runs three steps: store with spec v1, apply v2, store and load with v2",
}

// NoteIgnored writes a note on stderr for each flag in given (the flags set on the
// command line) that the test ignores: a user who asked for --loops 10 learns that
// migrate did not run ten loops.
func (s *Session) NoteIgnored(given []FlagValue) {
	for _, fl := range given {
		if slices.Contains(IgnoredFlags(s.flags.Test), fl.Name) {
			fmt.Fprintf(s.Stderr, "note: %s ignores --%s (%s)\n", s.flags.Test, fl.Name, loopsIgnored[s.flags.Test])
		}
	}
}

// ReportFlags write reports; a rerun line leaves them out so that it does not
// overwrite the reports of the run it reproduces.
var ReportFlags = []string{"report", "junit", "result-file", "quiet", "verbose"}

// QuietUsage and VerboseUsage document --quiet and --verbose (-q, -v in the CLI).
const (
	QuietUsage   = "no progress; the report shows only the outcome, failures and the reproduce line"
	VerboseUsage = "log at debug level (--log.level overrides)"
)

// NewFlags defines the flags of test on fs and returns where they are parsed to.
// Each flag's help says what it means for that test.
func NewFlags(test string, fs *flag.FlagSet) *Flags {
	var f = &Flags{Test: test}
	fs.StringVar(&f.LogLevel, "log.level", "info", "log level: "+strings.Join(logging.Levels, "|"))
	fs.StringVar(&f.Config, "config", "", "connector endpoint config: an inline YAML mapping, or a path to a YAML file")
	fs.StringVar(&f.Resource, "resource", "", "connector resource config: an inline YAML mapping, or a path to a YAML file")
	switch test {
	case "fence":
		fs.IntVar(&f.Loops, "loops", 5, "ignored: fence runs two phases")
		fs.IntVar(&f.Start, "start", 500, "documents per transaction (stream A's held transaction stores twice as many)")
	case "recovery":
		fs.IntVar(&f.Loops, "loops", 5, "ignored: recovery runs one phase per --crash-at point")
		fs.IntVar(&f.Start, "start", 500, "documents per transaction (three transactions per crash point)")
	case "migrate":
		fs.IntVar(&f.Loops, "loops", 5, "ignored: migrate runs three steps")
		fs.IntVar(&f.Start, "start", 500, "documents stored with spec v1, and as many new ones with spec v2")
	default:
		fs.IntVar(&f.Loops, "loops", 5, "number of load/store/commit loops")
		fs.IntVar(&f.Start, "start", 500, "documents in the first loop; each loop doubles it (loop i has start·2^i)")
	}
	fs.IntVar(&f.Batch, "batch", 1000, "documents per Load and Store request")
	fs.Uint64Var(&f.Seed, "seed", 0, "seed of the documents and choices (0: random; always printed)")
	fs.StringVar(&f.Report, "report", "text", "report format on stdout: text or json")
	fs.StringVar(&f.JUnit, "junit", "", "also write a JUnit XML report to this file")
	fs.StringVar(&f.ResultFile, "result-file", "", "write the compact versioned JSON result here (e.g. /dev/termination-log)")
	if test == "delta" {
		fs.StringVar(&f.Output, "output", "", "where committed documents go as NDJSON: a file, or - for stdout (default: stdout, or delta-SEED.ndjson when stdout is a terminal)")
	}
	if test == "delta" || test == "recovery" {
		f.Verify.AddFlags(fs)
	}
	if test == "recovery" {
		fs.Var((*listValue)(&f.CrashAt), "crash-at", "crash points, comma separated: "+strings.Join(engine.CrashPoints, ", ")+" (default all)")
	}
	if test == "fence" || test == "recovery" {
		fs.BoolVar(&f.ExactlyOnce, "exactly-once", false, "assert that the connector stores Flow checkpoints transactionally: an empty Opened checkpoint after a commit fails the run")
	}
	fs.BoolVar(&f.Cleanup, "cleanup", false, "after a passing run, ask the connector to delete what the test applied (apply-delete: SQL connectors drop its tables); a run that did not pass is left as it is")
	fs.DurationVar(&f.CallTimeout, "call-timeout", 5*time.Minute, "longest wait for any one connector answer (a call, or a response of the transactions stream)")
	fs.BoolVar(&f.Quiet, "quiet", false, QuietUsage)
	fs.BoolVar(&f.Verbose, "verbose", false, VerboseUsage)
	return f
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	for _, c := range strings.Split(s, ",") {
		if !engine.KnownCrashPoint(c) {
			return fmt.Errorf("unknown crash point %q (want %s)", c, strings.Join(engine.CrashPoints, ", "))
		}
		*l = append(*l, c)
	}
	return nil
}

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ErrReported is wrapped by the error of a run whose report was printed (a failed
// check, or a setup error the report explains): the caller prints no second copy.
var ErrReported = errors.New("the report says why")

// ErrFailed is returned (wrapped) when a run failed a check; the report has already
// been printed. It wraps ErrReported.
var ErrFailed = fmt.Errorf("matsim: the connector failed a check (%w)", ErrReported)

// ExitCode maps an error from a flowsim command to the exit code: 0 passed, 1 a
// connector failed a check, 2 usage or setup error, 130/143 interrupted by
// SIGINT/SIGTERM (see Interrupted).
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

// UsageError is exit code 2.
func UsageError(format string, args ...interface{}) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// Session is a test whose flags were checked, ready to run against a connector.
type Session struct {
	// Options of the run; the caller sets the connector (Connector, Peer, Reopen)
	// and may set NewTestData and a default Resource.
	Options engine.Options
	// Stdout and Stderr redact the connector config's secrets.
	Stdout, Stderr io.Writer
	Log            logr.Logger
	// BeforeReport, when set, runs after the test and before the report is written
	// (a live display stops there).
	BeforeReport func()
	// Paint, when set, colours the status words of the text report.
	Paint          func(result.Outcome, string) string
	flags          *Flags
	red            *redact.Redactor
	redOut, redErr *redact.Writer
}

// Redactor is the redactor of the config's secrets: a transport given it redacts
// what it quotes of a connector's output before cutting it.
func (s *Session) Redactor() *redact.Redactor { return s.red }

// RedactError returns err with the config's secrets redacted from its message.
func (s *Session) RedactError(err error) error { return s.red.Error(err) }

// Prepare checks the flags and returns a Session writing to stdout and stderr. Every
// error is a usage error (exit code 2) of one line, found before anything starts:
// values out of range, unreadable config, and output paths that cannot be written.
func (f *Flags) Prepare(stdout, stderr io.Writer) (*Session, error) {
	config, err := resolveYAML("--config", f.Config)
	if err != nil {
		return nil, UsageError("%v", err)
	}
	// Everything printed from here on is redacted, also the connector's stderr as it
	// is relayed (a secret written in pieces included); Run flushes the writers.
	var red = redact.New(config)
	var redOut, redErr = red.Writer(stdout), red.Writer(stderr)
	stdout, stderr = redOut, redErr

	if f.Verbose && f.LogLevel == "info" {
		f.LogLevel = "debug"
	}
	log, err := logging.New(f.LogLevel, stderr)
	if err != nil {
		return nil, UsageError("--log.level: %v", err)
	}
	resource, err := resolveYAML("--resource", f.Resource)
	if err != nil {
		return nil, UsageError("%v", err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	verifier, err := f.Verify.build(config, red)
	if err != nil {
		return nil, UsageError("%v", err)
	}
	if f.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	if f.Test == "delta" && f.Output == "" && f.Terminal {
		f.Output = fmt.Sprintf("delta-%d.ndjson", f.Seed)
	}
	for _, o := range []struct{ flag, path string }{{"--junit", f.JUnit}, {"--result-file", f.ResultFile}, {"--output", f.Output}} {
		if err := checkWritable(o.path); err != nil {
			return nil, UsageError("%s: %v", o.flag, err)
		}
	}
	var loops = engine.Phases(f.Test, f.Loops, f.CrashAt)
	var progress = engine.RedactedProgress(red, stderr)
	if f.Quiet {
		progress = nil
	}
	return &Session{
		Options: engine.Options{
			Test: f.Test, Config: config, Resource: resource,
			Loops: loops, Start: f.Start, Batch: f.Batch, Seed: f.Seed,
			CallTimeout: f.CallTimeout, CrashAt: f.CrashAt, ExactlyOnce: f.ExactlyOnce, Cleanup: f.Cleanup,
			Progress: progress, Log: log, Verifier: verifier,
		},
		Stdout: stdout, Stderr: stderr, Log: log,
		flags: f, red: red, redOut: redOut, redErr: redErr,
	}, nil
}

// check rejects flag values the engine would reject later, or would accept and
// misbehave on, with a one-line usage error.
func (f *Flags) check() error {
	var loops = f.Loops
	if IgnoredFlags(f.Test) != nil {
		loops = 1 // ignored
	}
	switch {
	case loops < 1:
		return UsageError("--loops must be at least 1 (got %d)", f.Loops)
	case f.Start < 1:
		return UsageError("--start must be at least 1 (got %d)", f.Start)
	case f.Batch < 1:
		return UsageError("--batch must be at least 1 (got %d)", f.Batch)
	case !engine.Addressable(f.Start, loops):
		return UsageError("--start %d doubled over --loops %d is more documents than matsim can address", f.Start, loops)
	case f.CallTimeout <= 0:
		return UsageError("--call-timeout must be positive (got %s)", f.CallTimeout)
	case f.Report != "text" && f.Report != "json":
		return UsageError("--report must be text or json (got %q)", f.Report)
	}
	for _, c := range f.CrashAt {
		if !engine.KnownCrashPoint(c) {
			return UsageError("--crash-at: unknown crash point %q (want %s)", c, strings.Join(engine.CrashPoints, ", "))
		}
	}
	return checkDocuments(f.Test, f.Start, loops, len(engine.CrashPointsOf(f.CrashAt)), memoryLimit())
}

// checkWritable fails when path (a file to write after the run; "" and "-" are
// none) cannot be created or written. It leaves no new file behind.
func checkWritable(path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	var _, statErr = os.Stat(path)
	var file, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	file.Close()
	if os.IsNotExist(statErr) {
		os.Remove(path)
	}
	return nil
}

// Run runs the test and writes its reports; rerun is a command line that reproduces
// the run. The error is nil when the run passed; ExitCode maps it otherwise.
func (s *Session) Run(ctx context.Context, rerun string) error {
	var f, opts = s.flags, s.Options
	defer s.redOut.Close()
	defer s.redErr.Close()
	defer func() {
		if opts.Connector != nil {
			opts.Connector.Close()
		}
		if opts.Peer != nil {
			opts.Peer.Close()
		}
	}()

	// Delta output.
	var reportOut = s.Stdout
	if f.Test == "delta" {
		if f.Output == "-" || f.Output == "" {
			// Stdout is not a terminal (see Prepare), or the user asked for it.
			opts.Output = engine.RedactedJSONLines(s.red, s.Stdout)
			reportOut = s.Stderr // stdout carries the documents
		} else {
			var file, err = os.Create(f.Output)
			if err != nil {
				return UsageError("--output: %v", err)
			}
			defer file.Close()
			opts.Output = file
			if f.Terminal {
				fmt.Fprintf(s.Stderr, "delta: committed documents go to %s (--output - writes them to stdout)\n", f.Output)
			}
		}
	}

	if opts.Connector != nil {
		s.Log.V(1).Info("Starting", "test", f.Test, "seed", f.Seed, "connector", opts.Connector.Info().String())
	}
	var rep = engine.Execute(ctx, opts)
	rep.Redact(s.red)
	rep.SetPaint(s.Paint)
	if s.BeforeReport != nil {
		s.BeforeReport()
	}

	var werr error
	switch {
	case f.Report == "json":
		werr = rep.WriteJSONRedacted(reportOut, s.red)
	case f.Quiet:
		werr = rep.WriteSummary(reportOut, rerun)
	default:
		werr = rep.WriteText(reportOut, rerun)
	}
	if werr == nil && f.JUnit != "" {
		werr = writeFile(f.JUnit, nil, func(w io.Writer) error { return rep.WriteJUnitRedacted(w, s.red) })
	}
	if werr == nil && f.ResultFile != "" {
		werr = writeFile(f.ResultFile, nil, func(w io.Writer) error {
			_, err := w.Write(s.red.JSON(rep.Result.Marshal(4096)))
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
	case 2:
		return &exitError{code: 2, err: fmt.Errorf("setup failed: %s (%w)", rep.Result.Check, ErrReported)}
	default: // interrupted
		return &exitError{code: rep.ExitCode(), err: fmt.Errorf("%s (%w)", rep.Result.Message, ErrReported)}
	}
}

// Interrupted returns err, or, when a signal cancelled ctx (lib/interrupt), an error
// saying so with the signal's exit code (130, 143): what failed because the run was
// stopped is not a usage error nor the connector's fault. An error whose report was
// written (ErrReported) keeps the report's verdict and exit code.
func Interrupted(ctx context.Context, err error) error {
	if ie := interrupt.Of(ctx); ie != nil && err != nil && !errors.Is(err, ErrReported) {
		return &exitError{code: ie.ExitCode(), err: ie}
	}
	return err
}

// writeFile writes a report file through the redactor (nil: as it is, for
// structured output redacted as values).
func writeFile(path string, red *redact.Redactor, fn func(io.Writer) error) error {
	return outfile.Write(path, func(f io.Writer) error {
		var w = red.Writer(f)
		return errors.Join(fn(w), w.Close())
	})
}

// FlagValue is a flag given on the command line, for RerunLine: one per value of a
// repeated flag. Shown, when set, is what the line shows instead of Value, for a
// value that holds a secret; Note then says what to set before running the line.
type FlagValue struct{ Name, Value, Shown, Note string }

// ConfigEnv is the variable a rerun line reads a secret-holding --config from.
const ConfigEnv = "FLOWSIM_CONFIG"

// RerunLine renders a command that reruns this run with its seed and can be pasted
// into a shell: path is the command (e.g. "flowsim matsim basic"), set the flags the
// user gave. Report flags are left out (a rerun must not overwrite the reports). A
// --config holding secrets becomes "$FLOWSIM_CONFIG", and any other value in which a
// secret is found "$FLOWSIM_<FLAG>" (--verify-connection: FLOWSIM_VERIFY_CONNECTION),
// with a line below saying so.
func (s *Session) RerunLine(path string, set []FlagValue) string {
	var parts = []string{path}
	var notes []string
	var seen = map[string]int{}
	for _, fl := range set {
		switch {
		case fl.Name == "seed" || slices.Contains(ReportFlags, fl.Name):
			continue
		case fl.Shown != "":
			parts = append(parts, "--"+fl.Name+"="+shell.Quote(fl.Shown))
			if fl.Note != "" && !slices.Contains(notes, fl.Note) {
				notes = append(notes, fl.Note)
			}
			continue
		case fl.Name == "config" && s.red.Any(), s.red.String(fl.Value) != fl.Value && !isNumber(fl.Value):
			var env = ConfigEnv
			if fl.Name != "config" {
				env = "FLOWSIM_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(fl.Name))
			}
			if seen[fl.Name]++; seen[fl.Name] > 1 { // a repeated flag
				env += fmt.Sprintf("_%d", seen[fl.Name])
			}
			parts = append(parts, "--"+fl.Name+"=\"$"+env+"\"")
			notes = append(notes, "--"+fl.Name+" holds secrets: set "+env+" to its value before running the line above")
			continue
		}
		parts = append(parts, "--"+fl.Name+"="+shell.Quote(fl.Value))
	}
	parts = append(parts, fmt.Sprintf("--seed=%d", s.flags.Seed))
	var line = strings.Join(parts, " ")
	for _, n := range notes {
		line += "\n  (" + n + ")"
	}
	return line
}

// isNumber reports whether a flag value is a number or a duration: a count, never
// a secret, even when it equals a short one (--start=500 with a password 500).
func isNumber(v string) bool {
	var _, err = strconv.ParseFloat(v, 64)
	var _, derr = time.ParseDuration(v)
	return err == nil || derr == nil
}

// resolveYAML reads a flag that is an inline YAML mapping or a path to a YAML file
// holding one, and returns it as JSON (lib/yamljson.Flag: the rule of `flowsim kube
// run` too). Empty means {}.
func resolveYAML(flag, value string) (json.RawMessage, error) {
	var b, _, err = yamljson.Flag(flag, value)
	return b, err
}

// Main runs a test in process against server the way a connector's own main does
// (matsim.Run): args are os.Args (`my-connector basic --config ...`), parsed like
// `flowsim matsim`. It returns the exit code.
func Main(ctx context.Context, server materialize.DriverServer, newTestData func() engine.TestData, args []string, stdout, stderr io.Writer) int {
	var prog = filepath.Base(args[0])
	var err = runArgs(ctx, server, newTestData, prog, args[1:], stdout, stderr)
	if err != nil && !errors.Is(err, ErrReported) {
		fmt.Fprintln(stderr, prog+":", err)
	}
	return ExitCode(err)
}

func runArgs(ctx context.Context, server materialize.DriverServer, newTestData func() engine.TestData, prog string, args []string, stdout, stderr io.Writer) error {
	var usage = func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s TEST [flags]\n\nTests:\n", prog)
		for _, t := range engine.Tests {
			fmt.Fprintf(w, "  %-9s %s\n", t, TestHelp[t])
		}
		fmt.Fprintf(w, "\nRun '%s TEST --help' for the flags of a test.\nExit code: 0 passed, 1 the connector failed a check, 2 usage or setup error, 130/143 interrupted (SIGINT/SIGTERM).\n", prog)
	}
	if len(args) == 0 {
		usage(stderr)
		return UsageError("no test given")
	}
	var test = args[0]
	switch test {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	if !matsimtests.Is(test) {
		return UsageError("unknown test %q (want one of %s)", test, strings.Join(engine.Tests, ", "))
	}
	var fs = flag.NewFlagSet(prog+" "+test, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f = NewFlags(test, fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\n\nUsage: %s %s [flags]\n\nFlags:\n", TestHelp[test], prog, test)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		var msg = err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag: --" + name
		}
		return UsageError("%s (see '%s %s --help')", msg, prog, test)
	}
	if fs.NArg() != 0 {
		return UsageError("unexpected argument %q (see '%s %s --help')", fs.Arg(0), prog, test)
	}
	var sess, err = f.Prepare(stdout, stderr)
	if err != nil {
		return err
	}
	sess.Options.NewTestData = newTestData
	sess.Options.Connector = connector.InProcess(server, fmt.Sprintf("%T", server))
	var set []FlagValue
	fs.Visit(func(fl *flag.Flag) { set = append(set, FlagValue{Name: fl.Name, Value: fl.Value.String()}) })
	sess.NoteIgnored(set)
	return sess.Run(ctx, sess.RerunLine(prog+" "+test, set))
}

// TestHelp says in one line what each test does.
var TestHelp = map[string]string{
	"basic":    "Load/store/commit loops with upserts, then load every key back and verify it",
	"delta":    "Store-only loops against a delta-updates binding; committed documents go to --output as NDJSON",
	"fence":    "Streams over the same, overlapping, split, disjoint and straddling key ranges: fencing must be per key range",
	"recovery": "Crash the stream at chosen points; the committed state and checkpoint must survive a restart",
	"migrate":  "Store with spec v1, apply v2 (new optional field, nullable field, second binding) twice, store and load with v2",
}
