package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
)

// cli runs `matsim ARGS...` and returns stdout, stderr and the exit code.
func cli(t testing.TB, o CommandOptions, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o.Stdout, o.Stderr = &stdout, &stderr
	var cmd = NewMatsimCommand(o)
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	var err = cmd.ExecuteContext(context.Background())
	if err != nil {
		stderr.WriteString("error: " + err.Error())
	}
	return stdout.String(), stderr.String(), cmdline.ExitCode(err)
}

func TestCLIBasicPassesWithDefaults(t *testing.T) {
	var out, _, code = cli(t, CommandOptions{}, "basic", "--loops", "2", "--start", "50", "--seed", "42")
	if code != 0 || !strings.Contains(out, "matsim basic: PASSED") || !strings.Contains(out, "seed:      42") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestCLIFailureExitsOneWithReproduction(t *testing.T) {
	var out, _, code = cli(t, CommandOptions{}, "basic", "--loops", "2", "--start", "50", "--config", "{defect: drop-store}", "--seed", "9")
	if code != 1 || !strings.Contains(out, "FAILED (load.missing)") || !strings.Contains(out, "--seed=9") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestCLIBadInput(t *testing.T) {
	var dir = t.TempDir()
	var badYAML = filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("a: [1, 2\n"), 0o644)
	var list = filepath.Join(dir, "list.yaml")
	os.WriteFile(list, []byte("- a\n- b\n"), 0o644)

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"basic", "--nope"}, "unknown flag: --nope"},
		{[]string{"basic", "--loops", "x"}, `invalid argument "x" for "--loops"`},
		{[]string{"basic", "--loops", "0"}, "--loops must be at least 1"},
		{[]string{"basic", "--log.level", "loud"}, `unknown log level "loud"`},
		{[]string{"basic", "--report", "xml"}, "--report must be text or json"},
		{[]string{"basic", "--config", "no/such/file.yaml"}, "--config: not an inline YAML mapping"},
		{[]string{"basic", "--config", "no/such/file.yaml"}, "not a readable file"},
		{[]string{"basic", "--config", badYAML}, "bad.yaml: invalid YAML"},
		{[]string{"basic", "--resource", list}, "list.yaml: YAML is not a mapping"},
		{[]string{"basic", "--resource", "{a: 1"}, "--resource"},
		{[]string{"recovery", "--crash-at", "before-lunch"}, `unknown crash point "before-lunch"`},
		{[]string{"basic", "extra-arg"}, "unknown command"},
		{[]string{"fence", "--peer-endpoint", "127.0.0.1:1"}, "--peer-endpoint needs"},
	} {
		var _, errOut, code = cli(t, CommandOptions{}, c.args...)
		if code != 2 || !strings.Contains(errOut, c.says) {
			t.Errorf("%v: exit %d (want 2), stderr %q should contain %q", c.args, code, errOut, c.says)
		}
	}
}

func TestCLIReportsJSONJUnitAndResultFile(t *testing.T) {
	var dir = t.TempDir()
	var junit, res = filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.json")
	var out, errOut, code = cli(t, CommandOptions{}, "basic", "--loops", "1", "--start", "20", "--config", "{defect: stale-value}",
		"--report", "json", "--junit", junit, "--result-file", res)
	if code != 0 {
		// stale-value needs a second loop to show; one loop passes.
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep engine.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Result.Outcome != result.Passed {
		t.Fatalf("--report json is not a passing report: %v\n%s", err, out)
	}
	_, _, code = cli(t, CommandOptions{}, "basic", "--loops", "2", "--start", "20", "--config", "{defect: stale-value}",
		"--junit", junit, "--result-file", res)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var b, _ = os.ReadFile(junit)
	var suites struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Failure struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil || suites.Suites[0].Failures != 1 || suites.Suites[0].Cases[0].Failure.Type != "load.value" {
		t.Fatalf("junit: %v\n%s", err, b)
	}
	b, _ = os.ReadFile(res)
	var r, err = result.Parse(b)
	if err != nil || r.Outcome != result.Failed || r.Check != "load.value" || r.Seed == 0 {
		t.Fatalf("result file: %v %+v", err, r)
	}
}

func TestDeltaOutputToStdoutMovesReportToStderr(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{}, "delta", "--loops", "2", "--start", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 30 {
		t.Fatalf("stdout has %d lines, want 30 NDJSON documents:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("not JSON: %s", l)
		}
	}
	if !strings.Contains(errOut, "matsim delta: PASSED") {
		t.Fatalf("the report must go to stderr when documents use stdout:\n%s", errOut)
	}
}

// leaky echoes its config in errors, as careless connectors do.
type leaky struct{ *reference.Driver }

func (l leaky) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	return nil, &json.UnsupportedValueError{Str: "cannot connect with config " + string(req.EndpointSpecJson)}
}

func TestSecretsNeverPrinted(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{Server: leaky{reference.New()}},
		"basic", "--log.level", "trace", "--config", "{user: flow, password: hunter2-s3cret, nested: {api_key: k-123456}}")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var all = out + errOut
	if strings.Contains(all, "hunter2-s3cret") || strings.Contains(all, "k-123456") {
		t.Fatalf("a secret was printed:\n%s", all)
	}
	if !strings.Contains(all, "[REDACTED]") || !strings.Contains(all, "setup.validate") {
		t.Fatalf("want the redacted error in the report:\n%s", all)
	}
}

func TestCLIConfigAndResourceFiles(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{}, "basic", "--loops", "2", "--start", "30",
		"--config", "../../testdata/reference-config.yaml", "--resource", "../../testdata/resource.yaml")
	if code != 0 || !strings.Contains(out, "resource:  flowsim_example (standard updates)") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	out, _, code = cli(t, CommandOptions{}, "basic", "--loops", "2", "--start", "30", "--config", "../../testdata/drop-store.yaml")
	if code != 1 || !strings.Contains(out, "FAILED (load.missing)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
