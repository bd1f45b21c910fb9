package transports_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/era2021"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim/engine"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/grpc"
)

// serveCurrentEndpoint serves the reference connector as today's gRPC service
// (materialize.Connector) on a loopback port, for the duration of tb.
func serveCurrentEndpoint(tb testing.TB) string {
	tb.Helper()
	var lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var srv = grpc.NewServer()
	w.RegisterConnectorServer(srv, era2023.ConnectorServer(era2021.Server(reference.New())))
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// The transports of a connector of today's era (2023): no subcommand, proto or
// JSON framing on stdio, the materialize.Connector service over gRPC.
func currentEraTransports() []transport {
	return []transport{
		{"command", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Command: fmt.Sprintf("'%s' --protocol 2023", refBin(tb))}
		}},
		{"command-json", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Command: fmt.Sprintf("'%s' --protocol 2023", refBin(tb)), Codec: w.JSON}
		}},
		{"image", func(tb testing.TB, stateDir string) transports.Options {
			var o = imageTransport.options(tb, stateDir)
			o.DockerArgs = append(o.DockerArgs, "-e", stdio.ProtocolEnv+"=2023")
			return o
		}},
		{"endpoint", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Endpoint: serveCurrentEndpoint(tb)}
		}},
		// connector-proxy (as in a pod) in front of a child of today's era.
		{"proxy", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Endpoint: serveProxy(tb, []string{refBin(tb), "--protocol", "2023"})}
		}},
	}
}

// The transports of a connector of the 2022 era (the reference connector holding
// itself to that era's rules, stdio.ServeOptions): --command, detected as
// 2021-12|2022, and connector-proxy in front of it.
func era2022Transports() []transport {
	return []transport{
		{"command-2022", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Command: fmt.Sprintf("'%s' --protocol 2022", refBin(tb))}
		}},
		{"proxy-2022", func(tb testing.TB, _ string) transports.Options {
			return transports.Options{Endpoint: serveProxy(tb, []string{refBin(tb), "--protocol", "2022"})}
		}},
	}
}

// Every test passes against a connector of the 2022 era, detected, through a command
// and connector-proxy; driven as 2021-12 (which may send Loads before Acknowledge) it
// fails, with its own words: the emulation holds the era's rules.
func TestMatsim2022EraThroughTransports(t *testing.T) {
	for _, tr := range era2022Transports() {
		t.Run(tr.name, func(t *testing.T) {
			for _, test := range engine.Tests {
				t.Run(test, func(t *testing.T) {
					var dir = t.TempDir()
					var rep = runMatsim(t, test, tr.options(t, dir), stateConfig(dir, ""), 2, 60)
					if !rep.Passed() {
						t.Fatalf("%s through %s: %s: %s", test, tr.name, rep.Result.Check, rep.Result.Message)
					}
					if rep.Result.Protocol != string(connector.Compat) {
						t.Errorf("result protocol = %s, want %s (2021-12 and 2022 cannot be told apart before transactions)", rep.Result.Protocol, connector.Compat)
					}
				})
			}
		})
	}
	var dir = t.TempDir()
	var rep = runMatsimAt(t, "basic", transports.Options{Command: fmt.Sprintf("'%s' --protocol 2022", refBin(t)), Protocol: connector.Dec2021},
		stateConfig(dir, ""), 3, 60, nil, func(o *engine.Options) { o.Batch = 5 })
	if rep.Passed() || rep.Result.Check != string(engine.CheckConnectorError) || !strings.Contains(rep.Result.Message, "expected Acknowledge") {
		t.Errorf("a 2022 connector driven as 2021-12: %s: %s; want connector.error saying it expected Acknowledge", rep.Result.Check, rep.Result.Message)
	}
}

// Every matsim test passes against the reference connector speaking today's era
// through every transport, and the era is detected (no --protocol given).
func TestMatsimCurrentEraThroughTransports(t *testing.T) {
	for _, tr := range currentEraTransports() {
		t.Run(tr.name, func(t *testing.T) {
			if tr.name == "image" {
				buildImage(t)
			}
			for _, test := range engine.Tests {
				t.Run(test, func(t *testing.T) {
					var dir = t.TempDir()
					var rep = runMatsim(t, test, tr.options(t, dir), stateConfig(dir, ""), 2, 60)
					if !rep.Passed() {
						t.Fatalf("%s through %s: %s: %s", test, tr.name, rep.Result.Check, rep.Result.Message)
					}
					if rep.Result.Stored == 0 {
						t.Errorf("nothing was stored: %+v", rep.Result)
					}
					if want := connector.Current; tr.name == "proxy" {
						// The proxy serves the 2021 service and translates for its child.
						if rep.Connector.Protocol != connector.Compat || rep.Connector.Behind != connector.Current {
							t.Errorf("report's connector = %v, want protocol %s behind the proxy", rep.Connector, connector.Current)
						}
						if rep.Result.Protocol != string(connector.Current) {
							t.Errorf("result protocol = %s, want %s", rep.Result.Protocol, connector.Current)
						}
					} else if rep.Connector.Protocol != want {
						t.Errorf("report's connector = %v, want protocol %s", rep.Connector, connector.Current)
					}
				})
			}
		})
	}
}

// The same defect gives the same failing check whichever era the connector speaks
// and however it is reached: the verdict never depends on the era.
func TestDefectVerdictIndependentOfEra(t *testing.T) {
	var cases = []struct{ defect, test, check string }{
		{"drop-store", "basic", "load.missing"},
		{"stale-value", "basic", "load.value"},
		{"loaded-twice", "basic", "load.duplicate"},
		{"left-join", "basic", "load.phantom"},
		{"ack-twice", "basic", "protocol.ack-twice"},
		{"committed-early", "basic", "protocol.committed-early"},
		{"crash-on-store", "basic", "connector.error"},
		// Commits: fencing, recovery and migration judge what StartedCommit and the
		// Acknowledged after it confirm in the later eras.
		{"no-fence", "fence", "fence.not-fenced"},
		{"zombie-writes", "fence", "fence.zombie-visible"},
		// (lazy-commit is not here: completing a commit at the next Acknowledge is
		// what the later eras allow; the defect matrix holds it to 2021-12's rule.)
		{"drop-on-version-change", "migrate", "migrate.state"},
	}
	var trs = append(append([]transport{commandTransport("")}, era2022Transports()...), currentEraTransports()...)
	for _, tr := range trs {
		if tr.name == "image" {
			continue // the full suite above runs the image; defects need no Docker
		}
		for _, c := range cases {
			t.Run(tr.name+"/"+c.defect, func(t *testing.T) {
				var dir = t.TempDir()
				var rep = runMatsim(t, c.test, tr.options(t, dir), stateConfig(dir, c.defect), 2, 60)
				if rep.Passed() {
					t.Fatalf("defect %s passed %s through %s", c.defect, c.test, tr.name)
				}
				if string(rep.Result.Check) != c.check {
					t.Errorf("defect %s through %s: check %s (%s), want %s", c.defect, tr.name, rep.Result.Check, rep.Result.Message, c.check)
				}
			})
		}
	}
}

// A connector that answers in no era flowsim speaks fails setup, naming both
// attempts, never with a verdict on its transactions.
func TestNoEraIsSetupError(t *testing.T) {
	var dir = t.TempDir()
	var script = dir + "/noera.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'usage: noera run' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var rep = runMatsim(t, "basic", transports.Options{Command: script}, "{}", 1, 10)
	if rep.Passed() || rep.Result.Check != string(engine.CheckSetupSpec) {
		t.Fatalf("check %s, want %s: %s", rep.Result.Check, engine.CheckSetupSpec, rep.Result.Message)
	}
	for _, want := range []string{"did not answer Spec in any protocol era", "spec subcommand", "2023"} {
		if !strings.Contains(rep.Result.Message, want) {
			t.Errorf("message lacks %q: %s", want, rep.Result.Message)
		}
	}
}

// The defect lazy-commit completes a commit only at the next Acknowledge. In
// 2021-12 that is a defect (DriverCommitted means durable); in today's era it is
// what the protocol allows: a crash before that Acknowledged loses the commit and
// its checkpoint together, and recovery accepts the state Opened reports.
func TestLazyCommitIsJudgedByTheEra(t *testing.T) {
	var dir = t.TempDir()
	var rep = runMatsimAt(t, "recovery", transports.Options{Command: "'" + refBin(t) + "'", Protocol: connector.Dec2021},
		stateConfig(dir, "lazy-commit"), 2, 60, []string{"before-acknowledge"})
	if rep.Passed() || rep.Result.Check != "recovery.checkpoint" {
		t.Errorf("2021-12: lazy-commit: check %q (%s), want recovery.checkpoint", rep.Result.Check, rep.Result.Message)
	}
	for _, tr := range currentEraTransports() {
		if tr.name == "image" {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			var dir = t.TempDir()
			var rep = runMatsimAt(t, "recovery", tr.options(t, dir), stateConfig(dir, "lazy-commit"), 2, 60, []string{"before-acknowledge"})
			if !rep.Passed() {
				t.Fatalf("today's era through %s: %s: %s", tr.name, rep.Result.Check, rep.Result.Message)
			}
			// The crash lost the unconfirmed commit, and recovery judged that state.
			var judged bool
			for _, l := range rep.Loops {
				judged = judged || strings.Contains(l.Phase, "unconfirmed one before it")
			}
			if !judged {
				t.Errorf("today's era through %s: no read back judged the lost unconfirmed commit: %+v", tr.name, rep.Loops)
			}
		})
	}
}

// --cleanup on every transport: a 2021 connector is asked to apply-delete (the
// reference connector drops its tables); a connector of today's era, whose protocol
// has no apply-delete, is skipped — also behind connector-proxy, which answers
// Unimplemented for it — and the passing verdict stands either way.
func TestCleanupOnEveryTransport(t *testing.T) {
	var cases = []struct {
		tr   transport
		want string
	}{
		{commandTransport(""), "done: dropped tables"},
		{endpointTransport, "done: dropped tables"},
	}
	for _, tr := range currentEraTransports() {
		if tr.name == "command" || tr.name == "endpoint" || tr.name == "proxy" {
			cases = append(cases, struct {
				tr   transport
				want string
			}{tr, "skipped: the connector's protocol has no apply-delete"})
		}
	}
	for _, c := range cases {
		t.Run(c.tr.name+"/"+strings.Fields(c.want)[0], func(t *testing.T) {
			var dir = t.TempDir()
			var rep = runMatsimAt(t, "basic", c.tr.options(t, dir), stateConfig(dir, ""), 2, 60, nil, func(o *engine.Options) { o.Cleanup = true })
			if !rep.Passed() || !strings.HasPrefix(rep.Result.Cleanup, c.want) {
				t.Fatalf("basic --cleanup through %s: %s (%s), cleanup %q; want passed and %q", c.tr.name, rep.Result.Outcome, rep.Result.Message, rep.Result.Cleanup, c.want)
			}
		})
	}
}

// A connector of today's era that keeps state in the runtime (StartedCommit and
// Acknowledged carry state, which the 2021 messages have no field for) gets that
// state back in its next Open on every transport — connector-proxy included, which
// relays it to the driver beside the 2021 message (grpcconn.AttachState). Each Open's
// state is logged by the connector itself (stdio.RuntimeStateLogEnv).
func TestRuntimeStateReachesTheConnectorOnEveryTransport(t *testing.T) {
	for _, tr := range currentEraTransports() {
		if tr.name == "image" || tr.name == "endpoint" {
			continue // the image reads no host file; the endpoint is served in this process
		}
		t.Run(tr.name, func(t *testing.T) {
			var log = filepath.Join(t.TempDir(), "opens.ndjson")
			t.Setenv(stdio.RuntimeStateLogEnv, log)
			var dir = t.TempDir()
			var rep = runMatsimAt(t, "recovery", tr.options(t, dir), stateConfig(dir, ""), 1, 20, []string{"after-stores", "after-next-acknowledge"})
			if !rep.Passed() {
				t.Fatalf("recovery through %s: %s: %s", tr.name, rep.Result.Check, rep.Result.Message)
			}
			var b, err = os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			var opens = strings.Split(strings.TrimSpace(string(b)), "\n")
			var commits, acks int64
			for _, line := range opens {
				var st struct{ Commits, Acks int64 }
				if err := json.Unmarshal([]byte(line), &st); err != nil {
					t.Fatalf("Open state %q: %v", line, err)
				}
				commits, acks = max(commits, st.Commits), max(acks, st.Acks)
			}
			if len(opens) < 3 || commits == 0 || acks == 0 {
				t.Fatalf("through %s the connector's StartedCommit and Acknowledged state never came back in an Open: %d Opens, states:\n%s",
					tr.name, len(opens), b)
			}
		})
	}
}
