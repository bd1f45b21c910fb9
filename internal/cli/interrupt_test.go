package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
)

// hangingTxns is the reference connector whose transactions stream says it started
// and then waits for its end: the run is in the middle of the stream when the test
// interrupts it.
type hangingTxns struct {
	*reference.Driver
	started chan struct{}
}

func (h hangingTxns) Transactions(stream materialize.Driver_TransactionsServer) error {
	close(h.started)
	<-stream.Context().Done()
	return stream.Context().Err()
}

// An interrupted run is `interrupted` everywhere, never the connector's failure:
// text, JSON, JUnit (an error, not a failure), the result file, and the exit code
// 128+signal.
func TestInterruptedRunIsNotTheConnectorsFailure(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		for _, report := range []string{"text", "json"} {
			var dir = t.TempDir()
			var junit, res = filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.json")
			var server = hangingTxns{reference.New(), make(chan struct{})}
			var ctx, cancel = context.WithCancelCause(context.Background())
			go func() {
				<-server.started
				interrupt.Cancel(cancel, c.sig)
			}()
			var stdout, stderr bytes.Buffer
			var cmd = NewMatsimCommand(CommandOptions{Server: server, Stdout: &stdout, Stderr: &stderr})
			cmd.SetArgs([]string{"basic", "--loops", "2", "--start", "10", "--report", report, "--junit", junit, "--result-file", res})
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			var err = cmd.ExecuteContext(ctx)
			var name = (&interrupt.Error{Signal: c.sig}).Name()

			if got := cmdline.ExitCode(err); got != c.code {
				t.Errorf("%s, --report %s: exit %d, want %d (error %v)", name, report, got, c.code, err)
			}
			var out = stdout.String()
			if strings.Contains(out+stderr.String(), "connector.error") || strings.Contains(out, "FAIL") {
				t.Errorf("%s: the report blames the connector:\n%s%s", name, out, stderr.String())
			}
			if report == "text" {
				if !strings.HasPrefix(out, "matsim basic: INTERRUPTED (interrupted by "+name) {
					t.Errorf("%s: text report does not start with the interruption:\n%s", name, out)
				}
			} else {
				var rep engine.Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Result.Outcome != result.Interrupted || len(rep.Failures) != 0 {
					t.Errorf("%s: JSON report outcome %q with %d failures, want interrupted and none (%v)", name, rep.Result.Outcome, len(rep.Failures), err)
				}
			}
			var b, _ = os.ReadFile(res)
			if r, err := result.Parse(b); err != nil || r.Outcome != result.Interrupted || r.Check != "" || !strings.Contains(r.Message, name) {
				t.Errorf("%s: result file %+v (%v), want outcome interrupted naming the signal", name, r, err)
			}
			b, _ = os.ReadFile(junit)
			var suites struct {
				Suites []struct {
					Failures int `xml:"failures,attr"`
					Errors   int `xml:"errors,attr"`
					Cases    []struct {
						Error *struct {
							Type string `xml:"type,attr"`
						} `xml:"error"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Failures != 0 || suites.Suites[0].Errors != 1 ||
				suites.Suites[0].Cases[0].Error == nil || suites.Suites[0].Cases[0].Error.Type != "interrupted" {
				t.Errorf("%s: JUnit is not one error of type interrupted (%v):\n%s", name, err, b)
			}
		}
	}
}

// A signal during setup (here: before the connector is reached) is interrupted too,
// not a usage error.
func TestInterruptedBeforeTheRun(t *testing.T) {
	var ctx, cancel = context.WithCancelCause(context.Background())
	interrupt.Cancel(cancel, syscall.SIGTERM)
	var stdout, stderr bytes.Buffer
	var cmd = NewMatsimCommand(CommandOptions{Stdout: &stdout, Stderr: &stderr})
	cmd.SetArgs([]string{"basic", "--endpoint", "127.0.0.1:1", "--call-timeout", "1s"})
	var err = cmd.ExecuteContext(ctx)
	if got := cmdline.ExitCode(err); got != 143 || !strings.Contains(err.Error(), "SIGTERM") {
		t.Fatalf("exit %d (%v), want 143 naming SIGTERM", got, err)
	}
}
