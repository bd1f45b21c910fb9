package matsim

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
	"strings"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/internal/logging"
	"github.com/flowsim/flowsim/internal/redact"
	"github.com/go-logr/logr"
	"gopkg.in/yaml.v3"
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
}

// NewFlags defines the flags of test on fs and returns where they are parsed to.
func NewFlags(test string, fs *flag.FlagSet) *Flags {
	var f = &Flags{Test: test}
	fs.StringVar(&f.LogLevel, "log.level", "info", "log level: "+strings.Join(logging.Levels, "|"))
	fs.StringVar(&f.Config, "config", "", "connector endpoint config: an inline YAML mapping, or a path to a YAML file")
	fs.StringVar(&f.Resource, "resource", "", "connector resource config: an inline YAML mapping, or a path to a YAML file")
	fs.IntVar(&f.Loops, "loops", 5, "number of load/store/commit loops")
	fs.IntVar(&f.Start, "start", 500, "documents in the first loop; each loop doubles it (loop i has start·2^i)")
	fs.IntVar(&f.Batch, "batch", 1000, "documents per Load and Store request")
	fs.Uint64Var(&f.Seed, "seed", 0, "seed of the documents and choices (0: random; always printed)")
	fs.StringVar(&f.Report, "report", "text", "report format on stdout: text or json")
	fs.StringVar(&f.JUnit, "junit", "", "also write a JUnit XML report to this file")
	fs.StringVar(&f.ResultFile, "result-file", "", "write the compact versioned JSON result here (e.g. /dev/termination-log)")
	if test == "delta" {
		fs.StringVar(&f.Output, "output", "-", "where committed documents go as NDJSON (- is stdout)")
	}
	if test == "recovery" {
		fs.Var((*listValue)(&f.CrashAt), "crash-at", "crash points, comma separated: "+strings.Join(CrashPoints, ", ")+" (default all)")
	}
	fs.DurationVar(&f.CallTimeout, "call-timeout", 5*time.Minute, "longest wait for any one connector answer (a call, or a response of the transactions stream)")
	return f
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	*l = append(*l, strings.Split(s, ",")...)
	return nil
}

// exitError carries an exit code.
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

// UsageError is exit code 2.
func UsageError(format string, args ...interface{}) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// Session is a test whose flags were checked, ready to run against a connector.
type Session struct {
	// Options of the run; the caller sets the connector (Connector, Peer, Reopen)
	// and may set NewTestData and a default Resource.
	Options Options
	// Stdout and Stderr redact the connector config's secrets.
	Stdout, Stderr io.Writer
	Log            logr.Logger
	flags          *Flags
	red            *redact.Redactor
	redOut, redErr *redact.Writer
}

// RedactError returns err with the config's secrets redacted from its message.
func (s *Session) RedactError(err error) error { return s.red.Error(err) }

// Prepare checks the flags and returns a Session writing to stdout and stderr. Every
// error is a usage error (exit code 2).
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

	log, err := logging.New(f.LogLevel, stderr)
	if err != nil {
		return nil, UsageError("--log.level: %v", err)
	}
	resource, err := resolveYAML("--resource", f.Resource)
	if err != nil {
		return nil, UsageError("%v", err)
	}
	if f.Report != "text" && f.Report != "json" {
		return nil, UsageError("--report must be text or json (got %q)", f.Report)
	}
	for _, c := range f.CrashAt {
		if !knownCrashPoint(c) {
			return nil, UsageError("--crash-at: unknown crash point %q (want %s)", c, strings.Join(CrashPoints, ", "))
		}
	}
	if f.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return &Session{
		Options: Options{
			Test: f.Test, Config: config, Resource: resource,
			Loops: f.Loops, Start: f.Start, Batch: f.Batch, Seed: f.Seed,
			CallTimeout: f.CallTimeout, CrashAt: f.CrashAt,
			Progress: stderr, Log: log,
		},
		Stdout: stdout, Stderr: stderr, Log: log,
		flags: f, red: red, redOut: redOut, redErr: redErr,
	}, nil
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
			opts.Output = s.Stdout
			reportOut = s.Stderr // stdout carries the documents
		} else {
			var file, err = os.Create(f.Output)
			if err != nil {
				return UsageError("--output: %v", err)
			}
			defer file.Close()
			opts.Output = file
		}
	}

	if opts.Connector != nil {
		s.Log.V(1).Info("Starting", "test", f.Test, "seed", f.Seed, "connector", opts.Connector.Info().String())
	}
	var rep = Execute(ctx, opts)
	redactReport(s.red, rep)

	var werr error
	if f.Report == "json" {
		werr = rep.WriteJSON(reportOut)
	} else {
		werr = rep.WriteText(reportOut, rerun)
	}
	if werr == nil && f.JUnit != "" {
		werr = writeFile(f.JUnit, s.red, rep.WriteJUnit)
	}
	if werr == nil && f.ResultFile != "" {
		werr = writeFile(f.ResultFile, s.red, func(w io.Writer) error {
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
		return &exitError{code: 2, err: s.red.Error(fmt.Errorf("setup failed: %s", rep.Result.Message))}
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

// FlagValue is a flag given on the command line, for RerunLine.
type FlagValue struct{ Name, Value string }

// RerunLine renders a command that reruns this run with its seed: path is the
// command (e.g. "flowsim matsim basic"), set the flags the user gave.
func (s *Session) RerunLine(path string, set []FlagValue) string {
	var parts = []string{path}
	var config bool
	for _, fl := range set {
		if fl.Name == "seed" {
			continue
		}
		if fl.Name == "config" {
			config = true
			continue
		}
		parts = append(parts, "--"+fl.Name+"="+shellQuote(fl.Value))
	}
	if config {
		parts = append(parts, "--config=…")
	}
	parts = append(parts, fmt.Sprintf("--seed=%d", s.flags.Seed))
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
	var prog = filepath.Base(args[0])
	var err = runArgs(ctx, server, newTestData, prog, args[1:], stdout, stderr)
	if err != nil && !errors.Is(err, ErrFailed) {
		fmt.Fprintln(stderr, prog+":", err)
	}
	return ExitCode(err)
}

func runArgs(ctx context.Context, server materialize.DriverServer, newTestData func() TestData, prog string, args []string, stdout, stderr io.Writer) error {
	var usage = func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s TEST [flags]\n\nTests:\n", prog)
		for _, t := range Tests {
			fmt.Fprintf(w, "  %-9s %s\n", t, TestHelp[t])
		}
		fmt.Fprintf(w, "\nRun '%s TEST --help' for the flags of a test.\nExit code: 0 passed, 1 the connector failed a check, 2 usage or setup error.\n", prog)
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
	if !isTest(test) {
		return UsageError("unknown test %q (want one of %s)", test, strings.Join(Tests, ", "))
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
	fs.Visit(func(fl *flag.Flag) { set = append(set, FlagValue{fl.Name, fl.Value.String()}) })
	return sess.Run(ctx, sess.RerunLine(prog+" "+test, set))
}

func isTest(name string) bool {
	for _, t := range Tests {
		if t == name {
			return true
		}
	}
	return false
}

// TestHelp says in one line what each test does.
var TestHelp = map[string]string{
	"basic":    "Load/store/commit loops with upserts, then load every key back and verify it",
	"delta":    "Store-only loops against a delta-updates binding; committed documents go to --output as NDJSON",
	"fence":    "Two streams over overlapping key ranges: the older one's commit must fail, the newer one's succeed",
	"recovery": "Crash the stream at chosen points; the committed state and checkpoint must survive a restart",
}
