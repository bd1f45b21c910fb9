package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest/echo"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
)

// issueConfig is the config of issue 11 as a user writes it for --config.
const issueConfig = `{password: hunter2, token: abc, auth: {password: x}, dsn: "postgres://u:hunter3@h/db", api_key: "p\"q\\r"}`

var issueSecrets = []string{"hunter2", "abc", "x", "hunter3", `p"q\r`}

func jsonEscaped(s string) string {
	var b, _ = json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// shown returns the forms of secret v that out shows: raw, JSON-escaped (once or
// twice) and URL-encoded; a short value only where it stands quoted or alone after
// "key: ", as the echo prints it.
func shown(out, v string) []string {
	out = strings.ReplaceAll(out, redact.Marker, "\x00")
	var forms []string
	if len(v) >= redact.ShortLen {
		forms = []string{v, jsonEscaped(v), jsonEscaped(jsonEscaped(v)), url.QueryEscape(v), url.QueryEscape(jsonEscaped(v))}
	} else {
		var q = `"` + jsonEscaped(v) + `"`
		forms = []string{q, jsonEscaped(q), url.QueryEscape(q), ": " + v + "\n", ":" + v + "]", "&#34;" + v + "&#34;"}
	}
	var found []string
	for _, f := range forms {
		if strings.Contains(out, f) {
			found = append(found, f)
		}
	}
	return found
}

// TestSecretsNeverShownEndToEnd runs the issue's config against a connector process
// that echoes it to stderr (in pieces, raw, JSON-escaped, URL-encoded, base64) and
// fails Validate quoting it: no output shows a secret.
func TestSecretsNeverShownEndToEnd(t *testing.T) {
	var command = strings.Join(echo.Command(), " ")
	for _, report := range []string{"text", "json"} {
		t.Run(report, func(t *testing.T) {
			var dir = t.TempDir()
			var junit, res = filepath.Join(dir, "junit.xml"), filepath.Join(dir, "result.json")
			var out, errOut, code = cli(t, CommandOptions{}, "basic", "--command", command, "--config", issueConfig,
				"--report", report, "--junit", junit, "--result-file", res, "--log.level", "trace")
			if code != 2 {
				t.Fatalf("exit %d, want 2 (Validate fails):\n%s\n%s", code, out, errOut)
			}
			var junitXML, _ = os.ReadFile(junit)
			var resultJSON, _ = os.ReadFile(res)
			var outputs = map[string]string{"stdout": out, "stderr": errOut, "junit": string(junitXML), "result file": string(resultJSON)}
			for name, o := range outputs {
				for _, s := range issueSecrets {
					if f := shown(o, s); len(f) != 0 {
						t.Errorf("%s shows secret %q as %q:\n%s", name, s, f, o)
					}
				}
			}
			// The echo did reach every output, redacted.
			if !strings.Contains(errOut, "config: {") || !strings.Contains(errOut, "base64: [REDACTED]") ||
				!strings.Contains(errOut, `"password":"[REDACTED]"`) {
				t.Errorf("stderr does not show the relayed, redacted echo:\n%s", errOut)
			}
			for name, o := range outputs {
				if !strings.Contains(o, "setup.validate") || !strings.Contains(o, "[REDACTED]") {
					t.Errorf("%s lacks the redacted Validate error:\n%s", name, o)
				}
			}
			if !strings.Contains(out+errOut, "auth.password, token") {
				t.Errorf("the report must note the short values:\n%s", out)
			}
		})
	}
}

// TestShortAndNumericSecretsKeepStructuredOutputValid: a password "500" (the default
// --start, so the count of stored documents) and a token 12345678 are redacted from
// structured output as values: --report json, the result file, the JUnit file and
// the FLOWSIM-PROGRESS lines stay valid and say the counts (issue 21, item 12).
func TestShortAndNumericSecretsKeepStructuredOutputValid(t *testing.T) {
	for _, config := range []string{`{password: "500", token: 12345678}`, `{password: 500, pin: {secret: "1"}}`} {
		t.Run(config, func(t *testing.T) {
			var dir = t.TempDir()
			var junit, res = filepath.Join(dir, "junit.xml"), filepath.Join(dir, "result.json")
			var out, errOut, code = cli(t, CommandOptions{Server: configless{reference.New()}}, "basic", "--loops", "2", "--start", "500", "--config", config,
				"--report", "json", "--junit", junit, "--result-file", res)
			if code != 0 {
				t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
			}
			var rep engine.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Errorf("--report json is not JSON: %v\n%s", err, out)
			} else if rep.Result.Stored != 1500 || len(rep.Loops) < 2 || rep.Loops[0].Stored != 500 || rep.Loops[0].Requested != 500 {
				t.Errorf("--report json must keep its counts: stored %d, first loop %+v", rep.Result.Stored, rep.Loops[0])
			}
			var b, _ = os.ReadFile(res)
			var r, err = result.Parse(b)
			if err != nil || r.Stored != 1500 || r.Outcome != result.Passed {
				t.Errorf("result file: %v %+v\n%s", err, r, b)
			}
			b, _ = os.ReadFile(junit)
			var suites struct {
				Suites []struct {
					Tests int `xml:"tests,attr"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Tests != 1 {
				t.Errorf("JUnit: %v\n%s", err, b)
			}
			var progress int
			for _, l := range strings.Split(errOut, "\n") {
				if j, ok := strings.CutPrefix(l, result.ProgressPrefix); ok {
					var p result.Progress
					if err := json.Unmarshal([]byte(j), &p); err != nil || p.V != result.Version || p.Loops != 2 {
						t.Errorf("FLOWSIM-PROGRESS line %q: %v", l, err)
					}
					progress++
				}
			}
			if p, ok := result.ParseProgress(errOut); progress != 2 || !ok || p.Loop != 2 {
				t.Errorf("want 2 FLOWSIM-PROGRESS lines, the last of loop 2: %+v\n%s", p, errOut)
			}
			for name, o := range map[string]string{"stdout": out, "result file": string(b)} {
				if strings.Contains(o, `"500"`) || strings.Contains(o, "12345678") {
					t.Errorf("%s shows a secret:\n%s", name, o)
				}
			}
		})
	}
}

// configless is the reference connector for a config it does not know: it is given
// {} instead (the reference connector rejects unknown keys).
type configless struct{ *reference.Driver }

func (c configless) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	var r = *req
	r.EndpointSpecJson = json.RawMessage("{}")
	return c.Driver.Validate(ctx, &r)
}

func withoutConfig(req *materialize.ApplyRequest) *materialize.ApplyRequest {
	var r, m = *req, *req.Materialization
	m.EndpointSpecJson = json.RawMessage("{}")
	r.Materialization = &m
	return &r
}

func (c configless) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return c.Driver.ApplyUpsert(ctx, withoutConfig(req))
}

func (c configless) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return c.Driver.ApplyDelete(ctx, withoutConfig(req))
}

func (c configless) Transactions(stream materialize.Driver_TransactionsServer) error {
	return c.Driver.Transactions(configlessStream{stream})
}

type configlessStream struct {
	materialize.Driver_TransactionsServer
}

func (s configlessStream) Recv() (*materialize.TransactionRequest, error) {
	var m, err = s.Driver_TransactionsServer.Recv()
	if err == nil && m.Open != nil && m.Open.Materialization != nil {
		var o, spec = *m.Open, *m.Open.Materialization
		spec.EndpointSpecJson = json.RawMessage("{}")
		o.Materialization = &spec
		m.Open = &o
	}
	return m, err
}

// cutSecret is cut by both excerpts of cuttingConnector: the 64-byte excerpt of its
// stdout ends within it, the 4096-byte tail of its stderr starts within it.
const cutSecret = "s3cr3t-Pa55word!"

// cuttingConnector writes the secret where flowsim cuts what it quotes: to stderr
// 5000 dots, the secret and 4089 '=' (the tail starts at "55word!", no line break to
// start it at), and to stdout, instead of a frame, a line whose 64th byte is within
// the secret.
func cuttingConnector(t *testing.T) string {
	var path = filepath.Join(t.TempDir(), "connector.sh")
	var script = `#!/bin/sh
s='` + cutSecret + `'
head -c 5000 /dev/zero | tr '\0' '.' >&2
printf '%s' "$s" >&2
head -c 4089 /dev/zero | tr '\0' '=' >&2
printf 'connecting to postgres as flow with the password %s now\n' "$s"
exit 3
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// fragments returns the pieces of 5 bytes or more of secret that s shows.
func fragments(s, secret string) []string {
	var found []string
	for n := len(secret); n >= 5; n-- {
		for i := 0; i+n <= len(secret); i++ {
			if f := secret[i : i+n]; strings.Contains(s, f) {
				return append(found, f)
			}
		}
	}
	return found
}

// TestCutsNeverShowAFragmentOfASecret: the stdout excerpt and the stderr tail of a
// failing connector are redacted before they are cut: neither the FAIL line nor the
// JUnit nor the result file shows a fragment of the secret (issue 21, item 10).
func TestCutsNeverShowAFragmentOfASecret(t *testing.T) {
	var connector = cuttingConnector(t)
	var dir = t.TempDir()
	var junit, res = filepath.Join(dir, "junit.xml"), filepath.Join(dir, "result.json")
	var out, errOut, code = cli(t, CommandOptions{}, "basic", "--command", connector, "--config", `{password: "`+cutSecret+`"}`,
		"--junit", junit, "--result-file", res)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (Spec fails):\n%s\n%s", code, out, errOut)
	}
	var junitXML, _ = os.ReadFile(junit)
	var resultJSON, _ = os.ReadFile(res)
	for name, o := range map[string]string{"report": out, "junit": string(junitXML), "result file": string(resultJSON)} {
		if f := fragments(o, cutSecret); len(f) != 0 {
			t.Errorf("%s shows %q of the secret:\n%s", name, f, o)
		}
		if !strings.Contains(o, "non-protocol bytes") || !strings.Contains(o, "password [REDACTED]") {
			t.Errorf("%s lacks the redacted excerpt of stdout:\n%s", name, o)
		}
	}
	if !strings.Contains(out, "bytes):\n    [REDACTED]====") {
		t.Errorf("the report must quote the tail of stderr, redacted:\n%s", out)
	}
}

// flowsimOnPath puts a `flowsim` that is this test binary first on a PATH for a
// pasted rerun line, and returns that directory.
func flowsimOnPath(t *testing.T) string {
	var self, _ = os.Executable()
	var bin = t.TempDir()
	var script = fmt.Sprintf("#!/bin/sh\nFLOWSIM_CLI_TEST_MAIN=1 exec %q \"$@\"\n", self)
	if err := os.WriteFile(filepath.Join(bin, "flowsim"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// paste runs a rerun line in a shell with env.
func paste(t *testing.T, line string, env ...string) (string, int) {
	var sh = exec.Command("sh", "-c", line)
	sh.Env = append(append(os.Environ(), "PATH="+flowsimOnPath(t)+":"+os.Getenv("PATH")), env...)
	var b, _ = sh.CombinedOutput()
	return string(b), sh.ProcessState.ExitCode()
}

// TestVerifyConnectionPasswordNeverShown: the password of --verify-connection is a
// secret: not in the report, and the rerun line reads the connection from
// $FLOWSIM_VERIFY_CONNECTION, and pasted reproduces the run (issue 21, item 11).
func TestVerifyConnectionPasswordNeverShown(t *testing.T) {
	const conn = `{url: "postgres://u:pw-s3cret@127.0.0.1:1/db"}`
	var out, errOut, code = flowsim(t, "matsim", "delta", "--loops", "1", "--start", "5", "--output", os.DevNull,
		"--verify-sql", "SELECT flow_document FROM $FLOWSIM_TABLE", "--verify-connection", conn)
	if code != 2 || !strings.Contains(out, "SETUP ERROR (setup.verify)") {
		t.Fatalf("exit %d, want 2 (nothing listens on port 1):\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "pw-s3cret") {
		t.Fatalf("the password of --verify-connection is shown:\n%s%s", out, errOut)
	}
	var line, note = reproduceLine(t, out)
	if !strings.Contains(line, `--verify-connection="$FLOWSIM_VERIFY_CONNECTION"`) || !strings.Contains(note, "FLOWSIM_VERIFY_CONNECTION") {
		t.Fatalf("the rerun line must read the connection from $FLOWSIM_VERIFY_CONNECTION: %q, note %q", line, note)
	}
	var pasted, got = paste(t, line, "FLOWSIM_VERIFY_CONNECTION="+conn)
	if got != 2 || !strings.Contains(pasted, "SETUP ERROR (setup.verify)") || !strings.Contains(pasted, "postgres://u@127.0.0.1:1/db") {
		t.Fatalf("pasted %q: exit %d:\n%s", line, got, pasted)
	}
}

// TestDockerArgSecretNeverShownAndPastes: --docker-arg=-e --docker-arg=PGPASSWORD=…
// is a secret: not in the report; the rerun line repeats --docker-arg once per value
// and passes PGPASSWORD from the environment; pasted, the connector's container gets
// the same value (issue 21, item 13). A fake docker CLI runs the reference connector
// and fails unless it was given PGPASSWORD and -v /tmp:/data as separate arguments.
func TestDockerArgSecretNeverShownAndPastes(t *testing.T) {
	const secret = "hunter2-pg"
	var self, _ = os.Executable()
	var bin = t.TempDir()
	var docker = fmt.Sprintf(`#!/bin/sh
case "$1" in
image) exit 0 ;;
rm) exit 0 ;;
run)
  pg=; vol=; prev=
  for a; do
    if [ "$prev" = -e ] && { [ "$a" = "PGPASSWORD=%[1]s" ] || { [ "$a" = PGPASSWORD ] && [ "$PGPASSWORD" = %[1]s ]; }; }; then pg=1; fi
    if [ "$prev" = -v ] && [ "$a" = /tmp:/data ]; then vol=1; fi
    prev="$a"; last="$a"
  done
  [ -n "$pg" ] && [ -n "$vol" ] || { echo "docker: want -e PGPASSWORD and -v /tmp:/data, got: $*" >&2; exit 7; }
  FLOWSIM_CLI_TEST_MAIN=1 exec %[2]q reference-connector "$last" ;;
esac
exit 3
`, secret, self)
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv(transports.DockerArgsEnv, "")
	var out, errOut, code = flowsim(t, "matsim", "basic", "--loops", "1", "--start", "5", "--image", "x:1",
		"--docker-arg=-e", "--docker-arg=PGPASSWORD="+secret, "--docker-arg=-v", "--docker-arg=/tmp:/data")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("the value of PGPASSWORD is shown:\n%s%s", out, errOut)
	}
	var line, note = reproduceLine(t, out)
	if !strings.Contains(line, "--docker-arg=-e --docker-arg=PGPASSWORD --docker-arg=-v --docker-arg=/tmp:/data") || !strings.Contains(note, "export PGPASSWORD") {
		t.Fatalf("rerun line %q, note %q", line, note)
	}
	var pasted, got = paste(t, line, "PGPASSWORD="+secret)
	if got != 0 || !strings.Contains(pasted, "matsim basic: PASSED") {
		t.Fatalf("pasted %q: exit %d:\n%s", line, got, pasted)
	}
}

// TestRerunLineKeepsCountsOfShortSecrets: a count equal to a short secret is no
// secret of the flag: --start=500 stays as it is when a password is 500.
func TestRerunLineKeepsCountsOfShortSecrets(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{Server: configless{reference.New()}}, "basic", "--loops", "1", "--start", "500", "--config", `{password: "500"}`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if line, _ := reproduceLine(t, out); !strings.Contains(line, "--start=500") || strings.Contains(line, "FLOWSIM_START") {
		t.Fatalf("rerun line %q", line)
	}
}

// TestDeltaDocumentsOnStdoutStayJSON: the NDJSON documents delta writes to stdout are
// structured output too: a short secret ("1") never turns a number of a document
// into [REDACTED].
func TestDeltaDocumentsOnStdoutStayJSON(t *testing.T) {
	var out, errOut, code = cli(t, CommandOptions{Server: configless{reference.New()}}, "delta", "--loops", "2", "--start", "10",
		"--output", "-", "--config", `{password: "1"}`, "--resource", "{name: t, delta_updates: true}")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 30 {
		t.Fatalf("stdout has %d lines, want 30 documents:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("not JSON: %s", l)
		}
	}
}
