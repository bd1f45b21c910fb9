package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest/echo"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/spf13/cobra"
)

// TestMain lets this test binary act as `flowsim` (FLOWSIM_CLI_TEST_MAIN=1): a pasted
// rerun line, or `reference-connector` behind --command, runs the code under test.
func TestMain(m *testing.M) {
	echo.Main() // this test binary doubles as the echoing connector (secrets_test.go)
	if os.Getenv("FLOWSIM_CLI_TEST_MAIN") == "1" {
		if len(os.Args) > 1 && os.Args[1] == "reference-connector" {
			if err := stdio.ServeArgs(context.Background(), reference.New(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		}
		var root = &cobra.Command{Use: "flowsim", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(NewMatsimCommand(CommandOptions{}))
		var err = root.Execute()
		if err != nil && !errors.Is(err, cmdline.ErrReported) {
			fmt.Fprintln(os.Stderr, "flowsim:", err)
		}
		os.Exit(cmdline.ExitCode(err))
	}
	os.Exit(m.Run())
}

func TestUnknownTestExitsTwo(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{}, "basci")
	if code != 2 || !strings.Contains(errOut, `unknown test "basci"`) || out != "" {
		t.Fatalf("exit %d (want 2), stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, code := cli(t, CommandOptions{}); code != 0 {
		t.Fatalf("`matsim` alone prints help and exits 0, got %d", code)
	}
}

// flowsim runs `flowsim ARGS...` as the binary does, in process.
func flowsim(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var root = &cobra.Command{Use: "flowsim", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(NewMatsimCommand(CommandOptions{Stdout: &stdout, Stderr: &stderr}))
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	var err = root.ExecuteContext(context.Background())
	if err != nil {
		stderr.WriteString("error: " + err.Error())
	}
	return stdout.String(), stderr.String(), cmdline.ExitCode(err)
}

// reproduceLine finds the rerun line of a text report, and the note after it.
func reproduceLine(t *testing.T, report string) (string, string) {
	t.Helper()
	var m = regexp.MustCompile(`(?m)^  reproduce: (.*)$\n?(.*)`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no reproduce line in:\n%s", report)
	}
	return m[1], m[2]
}

// TestPastedRerunLineReproduces runs the printed line in a shell, with flowsim being
// this test binary, and gets the same outcome and check.
func TestPastedRerunLineReproduces(t *testing.T) {
	var self, _ = os.Executable()
	var bin = t.TempDir()
	var script = fmt.Sprintf("#!/bin/sh\nFLOWSIM_CLI_TEST_MAIN=1 exec %q \"$@\"\n", self)
	if err := os.WriteFile(filepath.Join(bin, "flowsim"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var dir = t.TempDir()
	for _, c := range []struct {
		name, config string
		code         int
		check        string
		secret       bool
	}{
		{"passing run", "{}", 0, "", false},
		{"a failed check", "{defect: drop-store}", 1, "load.missing", false},
		{"a config with a secret", "{password: 'it''s hunter2'}", 2, "setup.validate", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var junit, res = filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.json")
			var out, errOut, code = flowsim(t, "matsim", "basic", "--loops", "2", "--start", "20", "--config", c.config,
				"--junit", junit, "--result-file", res, "--resource", "{name: t}")
			if code != c.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, c.code, out, errOut)
			}
			var line, note = reproduceLine(t, out)
			for _, report := range []string{"--junit", "--result-file", "--report"} {
				if strings.Contains(line, report) {
					t.Errorf("the rerun line repeats %s (a rerun would overwrite the reports): %s", report, line)
				}
			}
			if strings.Contains(line, "hunter2") || c.secret != strings.Contains(line, `--config="$FLOWSIM_CONFIG"`) || c.secret != strings.Contains(note, "FLOWSIM_CONFIG") {
				t.Fatalf("secret %v, but the line is %q and the note %q", c.secret, line, note)
			}
			var sh = exec.Command("sh", "-c", line)
			sh.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FLOWSIM_CONFIG="+c.config)
			var b, _ = sh.CombinedOutput()
			if got := sh.ProcessState.ExitCode(); got != c.code || !strings.Contains(string(b), "matsim basic: ") ||
				(c.check != "" && !strings.Contains(string(b), "("+c.check+")")) {
				t.Fatalf("pasted %q: exit %d (want %d, check %q):\n%s", line, got, c.code, c.check, b)
			}
		})
	}
}

func TestReportJSONAndResultFileAgreeOnVersion(t *testing.T) {
	var res = filepath.Join(t.TempDir(), "r.json")
	var out, errOut, code = cli(t, CommandOptions{}, "basic", "--loops", "1", "--start", "10", "--report", "json", "--result-file", res)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct{ Result result.Result }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var b, _ = os.ReadFile(res)
	var file, err = result.Parse(b)
	if err != nil || rep.Result.V != file.V || file.V != result.Version {
		t.Fatalf("--report json says v%d, --result-file v%d (%v)", rep.Result.V, file.V, err)
	}
}

// Bad values are found before anything runs: one line on stderr, nothing on stdout,
// exit 2, and no report files.
func TestBadValuesAreOneLineBeforeTheRun(t *testing.T) {
	var dir = t.TempDir()
	var missing = filepath.Join(dir, "no", "such", "dir", "out")
	// A config file of 17 MiB (a mapping): over the cap. Outside dir, which must stay empty.
	var huge = filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(huge, append([]byte("a: "), bytes.Repeat([]byte("x"), 17<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"basic", "--junit", missing}, "--junit: "},
		{[]string{"basic", "--result-file", missing}, "--result-file: "},
		{[]string{"delta", "--output", missing}, "--output: "},
		{[]string{"basic", "--result-file", dir}, "is a directory"},
		{[]string{"basic", "--call-timeout", "0s"}, "--call-timeout must be positive"},
		{[]string{"basic", "--call-timeout", "-1s"}, "--call-timeout must be positive"},
		{[]string{"basic", "--max-frame", "0"}, "--max-frame must be positive"},
		{[]string{"basic", "--max-frame", "-5"}, "--max-frame must be positive"},
		{[]string{"recovery", "--crash-at", ""}, `unknown crash point ""`},
		{[]string{"recovery", "--crash-at", "after-stores,"}, `unknown crash point ""`},
		{[]string{"basic", "--loops", "0"}, "--loops must be at least 1"},
		{[]string{"basic", "--start", "-1"}, "--start must be at least 1"},
		{[]string{"basic", "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"fence", "--loops", "x"}, "invalid argument"},
		{[]string{"basic", "--output", "x"}, "unknown flag: --output"},
		{[]string{"basic", "--crash-at", "after-commit"}, "unknown flag: --crash-at"},
		// An unset variable in CI ("--command $CONNECTOR") must not run the built-in
		// reference connector and pass.
		{[]string{"basic", "--command", ""}, `"--command" flag: empty`},
		{[]string{"basic", "--command", " "}, `"--command" flag: empty`},
		{[]string{"basic", "--command=\t"}, `"--command" flag: empty`},
		{[]string{"basic", "--image", ""}, `"--image" flag: empty`},
		{[]string{"basic", "--endpoint", ""}, `"--endpoint" flag: empty`},
		{[]string{"fence", "--peer-endpoint", ""}, `"--peer-endpoint" flag: empty`},
		// Inputs without a bound: a runtime crash, a run that grows until the
		// machine kills it, a read that never ends.
		{[]string{"basic", "--start", "10000000000"}, "--start 10000000000 doubled over --loops 5 is about"},
		{[]string{"basic", "--start", "1000000000"}, "lower --start"},
		{[]string{"fence", "--start", "10000000000"}, "--start 10000000000 is about"},
		{[]string{"recovery", "--start", "10000000000"}, "lower --start"},
		{[]string{"migrate", "--start", "10000000000"}, "lower --start"},
		{[]string{"basic", "--start", "1e9"}, `invalid argument "1e9" for "--start"`},
		{[]string{"basic", "--config", "/dev/zero"}, "--config: not an inline YAML mapping"},
		{[]string{"basic", "--config", "/dev/zero"}, "larger than 16 MiB"},
		{[]string{"basic", "--resource", "/dev/zero"}, "larger than 16 MiB"},
		{[]string{"basic", "--config", huge}, "larger than 16 MiB"},
	} {
		var stdout, stderr bytes.Buffer
		var cmd = NewMatsimCommand(CommandOptions{Stdout: &stdout, Stderr: &stderr})
		cmd.SetArgs(c.args)
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		var err = cmd.ExecuteContext(context.Background())
		// What main prints: the one error line.
		var msg = ""
		if err != nil {
			msg = err.Error()
		}
		if cmdline.ExitCode(err) != 2 || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") || stdout.Len() != 0 || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, error %q (want one line with %q), stdout %q, stderr %q", c.args, cmdline.ExitCode(err), msg, c.says, stdout.String(), stderr.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("checking output paths left files: %v", entries)
	}
}

// fence, recovery and migrate accept --loops (one set of flags runs every test),
// ignore it, and say so when it is given.
func TestFenceRecoveryAndMigrateIgnoreLoops(t *testing.T) {
	for _, test := range []string{"fence", "recovery", "migrate"} {
		var res = filepath.Join(t.TempDir(), "r.json")
		var args = []string{test, "--loops", "0", "--start", "10", "--result-file", res}
		if test == "recovery" {
			args = append(args, "--crash-at", "after-commit")
		}
		var out, errOut, code = cli(t, CommandOptions{}, args...)
		if code != 0 {
			t.Fatalf("%s --loops 0: exit %d\n%s%s", test, code, out, errOut)
		}
		if !strings.Contains(errOut, "note: "+test+" ignores --loops") {
			t.Errorf("%s --loops 0 does not say --loops is ignored; stderr:\n%s", test, errOut)
		}
		var b, _ = os.ReadFile(res)
		var r, _ = result.Parse(b)
		if r.Loops == 0 || r.LoopsDone != r.Loops {
			t.Errorf("%s: result has loopsDone %d of loops %d; want its phases, all done", test, r.LoopsDone, r.Loops)
		}
		// Not given: no note.
		var without = append([]string{test}, args[3:]...) // no --loops
		if _, errOut, _ := cli(t, CommandOptions{}, without...); strings.Contains(errOut, "ignores --loops") {
			t.Errorf("%s without --loops says it is ignored:\n%s", test, errOut)
		}
	}
	if _, errOut, _ := cli(t, CommandOptions{}, "basic", "--loops", "1", "--start", "10"); strings.Contains(errOut, "ignores --loops") {
		t.Errorf("basic --loops says it is ignored:\n%s", errOut)
	}
}

func TestEachTestsHelpShowsItsOwnFlags(t *testing.T) {
	var help = map[string]string{}
	for _, test := range engine.Tests {
		var out, _, code = cli(t, CommandOptions{}, test, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", test, code)
		}
		help[test] = out
	}
	for _, c := range []struct {
		test, flag string
		shown      bool
	}{
		{"basic", "--loops", true}, {"fence", "--loops", false}, {"recovery", "--loops", false}, {"migrate", "--loops", false},
		{"delta", "--output", true}, {"basic", "--output", false}, {"fence", "--output", false},
		{"recovery", "--crash-at", true}, {"basic", "--crash-at", false},
		{"fence", "--peer-endpoint", true}, {"basic", "--peer-endpoint", false}, {"recovery", "--peer-endpoint", false},
		{"basic", "-q, --quiet", true}, {"basic", "-v, --verbose", true},
	} {
		if strings.Contains(help[c.test], c.flag) != c.shown {
			t.Errorf("%s --help shows %s: %v, want %v", c.test, c.flag, !c.shown, c.shown)
		}
	}
	for _, test := range []string{"fence", "recovery"} {
		if !strings.Contains(help[test], "documents per transaction") || strings.Contains(help[test], "each loop doubles") {
			t.Errorf("%s --help must say --start is per transaction:\n%s", test, help[test])
		}
	}
}

func TestTextReportLinesAreTidy(t *testing.T) {
	for _, test := range engine.Tests {
		var out, errOut, code = cli(t, CommandOptions{}, test, "--loops", "2", "--start", "10", "--output", "-")
		if test != "delta" {
			out, errOut, code = cli(t, CommandOptions{}, test, "--loops", "2", "--start", "10")
		} else {
			out = errOut // delta's report goes to stderr when documents use stdout
		}
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", test, code, errOut)
		}
		for _, line := range strings.Split(out, "\n") {
			if len([]rune(line)) > 120 || strings.TrimRight(line, " ") != line {
				t.Errorf("%s: line of %d columns or with trailing spaces: %q", test, len([]rune(line)), line)
			}
			if regexp.MustCompile(`\d(µs|ns|m\d|h\d)`).MatchString(line) {
				t.Errorf("%s: mixed duration notation in %q", test, line)
			}
		}
		if !strings.Contains(out, "load ms") || !strings.Contains(out, "reproduce: matsim "+test) {
			t.Errorf("%s: want timing columns in ms and a reproduce line on a passing run:\n%s", test, out)
		}
	}
}

// TestReportLabelsKeepTheCrashPointAndStream: the text report of fence and recovery
// shows each group (the crash point, the key ranges) whole, and the stream and step
// of each transaction (no "(cr…dge)").
func TestReportLabelsKeepTheCrashPointAndStream(t *testing.T) {
	for test, want := range map[string][]string{
		"recovery": {"recovery 1 of 11 (crash before-acknowledge)", "recovery 10 of 11 (crash after-committed)", "did not commit", "transaction after the restart"},
		"fence":    {"fence 3 of 4 (split: child range inside the parent)", "stream B, read back", "stream L [80000000, bfffffff], held transaction"},
	} {
		var out, errOut, code = cli(t, CommandOptions{}, test, "--start", "10")
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", test, code, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the report lacks %q:\n%s", test, w, out)
			}
		}
	}
}

func TestQuietAndVerbose(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{}, "basic", "--loops", "1", "--start", "10", "-q")
	if code != 0 || strings.Contains(out, "transaction") || !strings.Contains(out, "matsim basic: PASSED") || strings.Contains(errOut, result.ProgressPrefix) {
		t.Fatalf("-q: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	_, errOut, _ = cli(t, CommandOptions{}, "basic", "--loops", "1", "--start", "10", "-v")
	if !strings.Contains(errOut, "Starting") || !strings.Contains(errOut, result.ProgressPrefix) {
		t.Fatalf("-v logs at debug level, and stderr (not a terminal) has the plain progress lines:\n%s", errOut)
	}
}

func TestCompletionOfEnumsAndTests(t *testing.T) {
	var root = &cobra.Command{Use: "flowsim"}
	root.AddCommand(NewMatsimCommand(CommandOptions{}))
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"matsim", ""}, engine.Tests},
		{[]string{"matsim", "recovery", "--crash-at", ""}, engine.CrashPoints},
		{[]string{"matsim", "basic", "--report", ""}, []string{"text", "json"}},
		{[]string{"matsim", "basic", "--protocol", ""}, []string{"auto", "2021-12", "2021-10"}},
	} {
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(new(bytes.Buffer))
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, c.args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if n := len(regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(w)+`(\t|$)`).FindAllString(out.String(), -1)); n != 1 {
				t.Errorf("completing %v: %q listed %d times (want once) in\n%s", c.args, w, n, out.String())
			}
		}
	}
}

func TestVersion(t *testing.T) {
	var v = Version()
	for _, want := range []string{"flowsim ", "commit:", "2021-12", "2021-10", fmt.Sprintf("result format:      v%d", result.Version)} {
		if !strings.Contains(v, want) {
			t.Errorf("version lacks %q:\n%s", want, v)
		}
	}
}

func TestDeltaOnATerminalWritesAFile(t *testing.T) {
	var dir = t.TempDir()
	t.Chdir(dir)
	var f = &cmdline.Flags{Test: "delta", LogLevel: "info", Loops: 1, Start: 5, Batch: 10, Seed: 7, Report: "text", CallTimeout: 1e9, Terminal: true}
	if _, err := f.Prepare(new(bytes.Buffer), new(bytes.Buffer)); err != nil || f.Output != "delta-7.ndjson" {
		t.Fatalf("on a terminal --output defaults to delta-SEED.ndjson; got %q, %v", f.Output, err)
	}
	f = &cmdline.Flags{Test: "delta", LogLevel: "info", Loops: 1, Start: 5, Batch: 10, Seed: 7, Report: "text", CallTimeout: 1e9, Terminal: true, Output: "-"}
	if _, err := f.Prepare(new(bytes.Buffer), new(bytes.Buffer)); err != nil || f.Output != "-" {
		t.Fatalf("--output - is stdout even on a terminal; got %q, %v", f.Output, err)
	}
}

// The reference connector through --command runs a process per call; fence,
// recovery and migrate then need its state_dir, which flowsim creates and says so.
func TestReferenceThroughCommandGetsAStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a process per connector call")
	}
	var self, _ = os.Executable()
	t.Setenv("FLOWSIM_CLI_TEST_MAIN", "1")
	for _, test := range []string{"fence", "recovery", "migrate"} {
		var out, errOut, code = cli(t, CommandOptions{}, test, "--command", self+" reference-connector", "--start", "10", "--crash-at", "after-commit")
		switch test {
		case "fence":
			out, errOut, code = cli(t, CommandOptions{}, test, "--command", self+" reference-connector", "--start", "10")
		case "migrate":
			out, errOut, code = cli(t, CommandOptions{}, test, "--command", self+" reference-connector", "--start", "10", "--resource", "{name: t1}")
		}
		if code != 0 || !strings.Contains(errOut, "uses state_dir") {
			t.Fatalf("%s: exit %d\n%s\n%s", test, code, out, errOut)
		}
	}
}

// TestFenceAndRecoveryEmitProgressLines: like basic's loops, each phase of fence and
// each crash point of recovery ends with a FLOWSIM-PROGRESS line (the operator's
// progress of a run).
func TestFenceAndRecoveryEmitProgressLines(t *testing.T) {
	for test, phases := range map[string]int{"fence": 4, "recovery": 11} {
		var out, errOut, code = cli(t, CommandOptions{}, test, "--start", "10")
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", test, code, out, errOut)
		}
		var n int
		var last result.Progress
		for _, l := range strings.Split(errOut, "\n") {
			if j, ok := strings.CutPrefix(l, result.ProgressPrefix); ok {
				if err := json.Unmarshal([]byte(j), &last); err != nil {
					t.Fatalf("%s: %q: %v", test, l, err)
				}
				if n++; last.Loop != n || last.Loops != phases || last.Test != test || last.Docs <= 0 {
					t.Errorf("%s: progress line %d is %+v", test, n, last)
				}
			}
		}
		if n != phases {
			t.Errorf("%s: %d FLOWSIM-PROGRESS lines, want %d:\n%s", test, n, phases, errOut)
		}
	}
}

// A connector endpoint that cannot be reached for good (nothing listens, no such
// host) is a setup error within seconds, naming the dial error: not a 5-minute wait
// for --call-timeout.
func TestUnreachableEndpointFailsInSeconds(t *testing.T) {
	for _, c := range []struct{ addr, says string }{
		{"127.0.0.1:1", "connection refused"},
		{"flowsim-no-such-host.invalid:9000", "flowsim-no-such-host.invalid"},
	} {
		var ctx, cancel = context.WithTimeout(context.Background(), time.Minute) // the test's own bound
		var start = time.Now()
		var stdout, stderr bytes.Buffer
		var cmd = NewMatsimCommand(CommandOptions{Stdout: &stdout, Stderr: &stderr})
		cmd.SetArgs([]string{"basic", "--endpoint", c.addr})
		var err = cmd.ExecuteContext(ctx)
		cancel()
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("--endpoint %s took %s, want seconds", c.addr, took.Round(time.Millisecond))
		}
		if cmdline.ExitCode(err) != 2 || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--endpoint %s: exit %d, error %v; want exit 2, one line with %q", c.addr, cmdline.ExitCode(err), err, c.says)
		}
	}
}
