package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/conformance"
	"github.com/flowsim/flowsim/connector/proxy/proxytest"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim/engine"
)

func TestMain(m *testing.M) {
	conformance.Main()
	proxytest.Main()
	// Under -race, a process sleeps 1s at exit (GORACE atexit_sleep_ms): a connector
	// re-executed from this binary would then fail the bound on exiting after its
	// answer at the suite's short timeouts.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

type sc = conformance.Scenario

// scenarios: every fault of engine.FaultTable at the calls where it can happen.
// Delays of slow exits are filled in per transport (a quarter of its timeout).
var scenarios = []sc{
	{}, // no fault: the run passes
	// Setup calls.
	{Call: conformance.CallSpec, Fault: engine.FaultError},
	{Call: conformance.CallSpec, Fault: engine.FaultHang},
	{Call: conformance.CallSpec, Fault: engine.FaultGarbage},
	{Call: conformance.CallSpec, Fault: engine.FaultNoAnswer},
	{Call: conformance.CallSpec, Fault: engine.FaultInvalid},
	{Call: conformance.CallSpec, Fault: engine.FaultSlowExit},
	{Call: conformance.CallSpec, Fault: engine.FaultLinger},
	{Call: conformance.CallValidate, Fault: engine.FaultHang},
	{Call: conformance.CallValidate, Fault: engine.FaultInvalid},
	{Call: conformance.CallValidate, Fault: engine.FaultLinger},
	{Call: conformance.CallApplyUpsert, Fault: engine.FaultError},
	{Call: conformance.CallApplyUpsert, Fault: engine.FaultHang},
	{Call: conformance.CallApplyUpsert, Fault: engine.FaultNoAnswer},
	// The transactions stream.
	{Call: conformance.CallOpen, Fault: engine.FaultError},
	{Call: conformance.CallOpen, Fault: engine.FaultHang},
	{Call: conformance.CallOpen, Fault: engine.FaultGarbage},
	{Call: conformance.CallOpen, Fault: engine.FaultNoAnswer},
	{Call: conformance.CallAcknowledge, Fault: engine.FaultHang},
	{Call: conformance.CallLoad, Fault: engine.FaultError}, // a crash mid-stream
	{Call: conformance.CallLoad, Fault: engine.FaultHang},
	{Call: conformance.CallLoad, Fault: engine.FaultGarbage},
	{Call: conformance.CallPrepare, Fault: engine.FaultHang},
	{Call: conformance.CallPrepare, Fault: engine.FaultInvalid},
	{Call: conformance.CallPrepare, Fault: engine.FaultNoAnswer},
	{Call: conformance.CallStore, Fault: engine.FaultError},
	{Call: conformance.CallCommit, Fault: engine.FaultError},
	{Call: conformance.CallCommit, Fault: engine.FaultHang},
	{Call: conformance.CallCommit, Fault: engine.FaultNoAnswer},
	{Call: conformance.CallEnd, Fault: engine.FaultSlowExit},
	{Call: conformance.CallEnd, Fault: engine.FaultLinger},
}

// Every fault of the table is exercised, during setup and in the stream.
func TestScenariosCoverTheTable(t *testing.T) {
	var setup, stream = map[engine.Fault]bool{}, map[engine.Fault]bool{}
	for _, s := range scenarios {
		if isSetup(s.Call) {
			setup[s.Fault] = true
		} else if s.Call != "" {
			stream[s.Fault] = true
		}
	}
	for _, r := range engine.FaultTable {
		if !setup[r.Fault] {
			t.Errorf("no scenario has fault %s in a setup call", r.Fault)
		}
		if !stream[r.Fault] {
			t.Errorf("no scenario has fault %s in the transactions stream", r.Fault)
		}
	}
}

// want is the check of the table (engine.FaultTable) for a scenario: during setup
// the call's check when the fault fails setup, during the stream the row's check.
func want(s sc) engine.Check {
	if s.Call == "" {
		return ""
	}
	for _, r := range engine.FaultTable {
		if r.Fault != s.Fault {
			continue
		}
		if !isSetup(s.Call) {
			return r.Stream
		}
		if !r.Setup {
			return ""
		}
		for _, c := range engine.SetupCallChecks {
			if c.Call == s.Call {
				return c.Check
			}
		}
	}
	return ""
}

// isSetup reports whether call is a setup call (its faults fail its setup check).
func isSetup(call string) bool {
	return call == conformance.CallSpec || call == conformance.CallValidate || call == conformance.CallApplyUpsert
}

type transport struct {
	name    string
	timeout time.Duration
	// prepare runs once before the transport's scenarios (builds an image).
	prepare func(t *testing.T)
	// open returns the connector with the scenario's fault, its store in dir.
	open func(t *testing.T, s sc, dir string) connector.Connector
}

func self(t *testing.T) string {
	var p, err = os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openTransport(t *testing.T, o transports.Options, timeout time.Duration) connector.Connector {
	t.Helper()
	o.CallTimeout = timeout
	o.Stderr = io.Discard // the tail is in the errors
	var conn, ok, err = transports.Open(context.Background(), o)
	if err != nil || !ok {
		t.Fatalf("opening the transport: %v, %v", ok, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

var inProcess = transport{name: "in-process", timeout: timeoutScale * 500 * time.Millisecond,
	open: func(t *testing.T, s sc, _ string) connector.Connector {
		return connector.InProcess(conformance.Server(s), "conformance "+s.String())
	}}

var command = transport{name: "command", timeout: timeoutScale * time.Second,
	open: func(t *testing.T, s sc, _ string) connector.Connector {
		return openTransport(t, transports.Options{Command: fmt.Sprintf("'%s' %s %s", self(t), conformance.Arg, s)}, timeoutScale*time.Second)
	}}

var endpoint = transport{name: "endpoint", timeout: timeoutScale * time.Second,
	open: func(t *testing.T, s sc, _ string) connector.Connector {
		// As the operator runs it: no --call-timeout of its own; the driver's
		// deadlines reach it (gRPC deadlines, the kill handshake).
		var addr = serveProxy(t, self(t), conformance.Arg, s.String())
		return openTransport(t, transports.Options{Endpoint: addr}, timeoutScale*time.Second)
	}}

var imageTag = fmt.Sprintf("flowsim-conformance:%d", os.Getpid())

// A container per call takes seconds to start on a loaded machine, and setup's Spec
// and Validate share one deadline.
var image = transport{name: "image", timeout: 10 * time.Second,
	prepare: func(t *testing.T) {
		stdiotest.RequireDocker(t)
		var bin = stdiotest.BuildStatic(t, "github.com/flowsim/flowsim/connector/conformance/faultconnector", t.TempDir())
		stdiotest.BuildImage(t, bin, imageTag)
	},
	open: func(t *testing.T, s sc, dir string) connector.Connector {
		return openTransport(t, transports.Options{Image: imageTag, Network: "none", DockerArgs: []string{
			"--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), "-v", dir + ":" + dir,
			"-e", conformance.Env + "=" + s.String(),
		}}, 10*time.Second)
	}}

// serveProxy runs connector-proxy (this test binary re-executed) in front of argv,
// with a short grace period, and returns its address.
func serveProxy(t *testing.T, argv ...string) string {
	t.Helper()
	return serveProxyWith(t, nil, argv...)
}

// serveProxyWith is serveProxy with more connector-proxy flags.
func serveProxyWith(t *testing.T, flags []string, argv ...string) string {
	t.Helper()
	return proxytest.Serve(t, append([]string{"--grace-period", "1s"}, flags...), argv...)
}

// The same scenario fails the same check, with the same exit code, on every
// transport: the one of engine.FaultTable.
func TestConformance(t *testing.T) {
	for _, tr := range []transport{inProcess, command, endpoint, image} {
		t.Run(tr.name, func(t *testing.T) {
			if tr.prepare != nil {
				tr.prepare(t)
			}
			for _, s := range scenarios {
				if s.Fault == engine.FaultSlowExit {
					s.Delay = min(tr.timeout/4, time.Second)
				}
				var name = s.String()
				if s.Call == "" {
					name = "none"
				}
				t.Run(strings.ReplaceAll(name, ":", "/"), func(t *testing.T) {
					if tr.name == "in-process" && !conformance.InProcess(s) {
						t.Skipf("%s cannot happen in process", s)
					}
					runScenario(t, tr, s)
				})
			}
		})
	}
}

func runScenario(t *testing.T, tr transport, s sc) {
	var dir = t.TempDir()
	var conn = tr.open(t, s, dir)
	var config, _ = json.Marshal(map[string]string{"state_dir": dir})
	var start = time.Now()
	var rep = engine.Execute(context.Background(), engine.Options{
		Test: "basic", Connector: conn,
		Config: config, Resource: json.RawMessage(`{"name":"t"}`),
		Loops: 2, Start: 3, Batch: 10, Seed: 1,
		CallTimeout: tr.timeout,
	})
	var took = time.Since(start)
	t.Logf("%s over %s in %s: %s exit %d: %s", s, tr.name, time.Since(start).Round(time.Millisecond), rep.Result.Check, rep.ExitCode(), rep.Result.Message)
	var check = want(s)
	if engine.Check(rep.Result.Check) != check || rep.ExitCode() != engine.ExitCodeOf(check) {
		t.Fatalf("%s over %s: got check %q exit %d, want %q exit %d (the fault table); message: %s",
			s, tr.name, rep.Result.Check, rep.ExitCode(), check, engine.ExitCodeOf(check), rep.Result.Message)
	}
	// Every wait is bounded: no scenario runs far beyond its timeouts.
	if bound := 6*tr.timeout + 15*time.Second; took > bound {
		t.Errorf("%s over %s took %s, more than %s", s, tr.name, took, bound)
	}
	var msg = rep.Result.Message
	var says []string
	switch {
	case s.Fault == engine.FaultError:
		says = append(says, conformance.Injected(s.Call)) // the stderr tail, or the error
	case s.Fault == engine.FaultHang && isSetup(s.Call):
		// The engine's deadline, or the proxy's answer just before it.
		if !strings.Contains(msg, fmt.Sprintf("did not finish %s within %s", s.Call, tr.timeout)) {
			says = append(says, "no response within")
		}
	case s.Fault == engine.FaultHang:
		says = append(says, "did not answer")
	case s.Fault == engine.FaultLinger && isSetup(s.Call):
		// The answer came: the message must not say it did not.
		says = append(says, "answered", "did not exit within", "kept stdout open")
	case s.Fault == engine.FaultLinger:
		says = append(says, "did not end the stream within")
	}
	for _, w := range says {
		if !strings.Contains(msg, w) {
			t.Errorf("%s over %s: the message does not say %q: %s", s, tr.name, w, msg)
		}
	}
	if s.Fault == engine.FaultLinger && strings.Contains(msg, "no response") {
		t.Errorf("%s over %s: the answer came, but the message blames no response: %s", s, tr.name, msg)
	}
	// Nothing outlives the run.
	if c, ok := conn.(*stdio.Client); ok {
		if n := c.Running(); n != 0 {
			t.Errorf("%s over %s: %d connector processes still run after the run", s, tr.name, n)
		}
	}
}

// A proxy run with its own --call-timeout, shorter than the driver's, gives up
// first: the verdict is still the table's (connector.timeout for a hang in the
// stream, the call's setup check during setup), not connector.error.
func TestProxyDeadlineFirst(t *testing.T) {
	var driver, proxy = timeoutScale * 3 * time.Second, timeoutScale * 500 * time.Millisecond
	var short = transport{name: "endpoint with a shorter proxy deadline", timeout: driver,
		open: func(t *testing.T, s sc, _ string) connector.Connector {
			var addr = serveProxyWith(t, []string{"--call-timeout", proxy.String()}, self(t), conformance.Arg, s.String())
			return openTransport(t, transports.Options{Endpoint: addr}, driver)
		}}
	for _, s := range scenarios {
		if s.Fault != engine.FaultHang {
			continue
		}
		t.Run(strings.ReplaceAll(s.String(), ":", "/"), func(t *testing.T) { runScenario(t, short, s) })
	}
}

// A connector that stops reading its requests (hung in its first Load, with
// megabytes of Loads still to come) blocks matsim's Send once the transport's
// buffers are full. That wait is bounded too: connector.timeout, exit 1, naming
// the request it did not take, on every transport.
func TestStalledReaderIsATimeout(t *testing.T) {
	var s = sc{Call: conformance.CallLoad, Fault: engine.FaultHang}
	for _, tr := range []transport{inProcess, command, endpoint} {
		t.Run(tr.name, func(t *testing.T) {
			var dir = t.TempDir()
			var conn = tr.open(t, s, dir)
			var config, _ = json.Marshal(map[string]string{"state_dir": dir})
			var start = time.Now()
			var rep = engine.Execute(context.Background(), engine.Options{
				Test: "basic", Connector: conn,
				Config: config, Resource: json.RawMessage(`{"name":"t"}`),
				Loops: 1, Start: 200000, Batch: 1000, Seed: 1,
				CallTimeout: tr.timeout,
			})
			var took = time.Since(start)
			t.Logf("over %s in %s: %s: %s", tr.name, took.Round(time.Millisecond), rep.Result.Check, rep.Result.Message)
			if rep.Result.Check != string(engine.CheckTimeout) || rep.ExitCode() != 1 {
				t.Fatalf("got %s exit %d, want connector.timeout exit 1: %s", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
			}
			if bound := 6*tr.timeout + 15*time.Second; took > bound {
				t.Errorf("took %s, more than %s", took, bound)
			}
		})
	}
}
