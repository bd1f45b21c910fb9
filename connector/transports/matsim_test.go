package transports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/proxy/proxytest"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim/engine"
)

// referenceBinary is the static reference-connector, built once per test binary.
var referenceBinary = sync.OnceValues(func() (string, error) {
	var dir, err = os.MkdirTemp("", "flowsim-transports-")
	if err != nil {
		return "", err
	}
	var t = &onceTB{}
	var bin = stdiotest.BuildStatic(t, "github.com/flowsim/flowsim/cmd/reference-connector", dir)
	if t.err != "" {
		return "", fmt.Errorf("%s", t.err)
	}
	return bin, nil
})

// onceTB lets BuildStatic report into a sync.OnceValues.
type onceTB struct {
	testing.TB
	err string
}

func (o *onceTB) Helper()                      {}
func (o *onceTB) Fatalf(f string, args ...any) { o.err = fmt.Sprintf(f, args...) }

func refBin(tb testing.TB) string {
	tb.Helper()
	var bin, err = referenceBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// serveProxy runs connector-proxy (this test binary re-executed, see TestMain) in
// front of argv and returns its address.
func serveProxy(tb testing.TB, argv []string) string {
	tb.Helper()
	return proxytest.Serve(tb, []string{"--call-timeout", "1m"}, argv...)
}

type transport struct {
	name string
	// options returns the transport flags for a connector whose store is in stateDir.
	options func(tb testing.TB, stateDir string) transports.Options
}

func commandTransport(extra string) transport {
	return transport{"command", func(tb testing.TB, _ string) transports.Options {
		return transports.Options{Command: fmt.Sprintf("'%s'%s", refBin(tb), extra)}
	}}
}

var endpointTransport = transport{"endpoint", func(tb testing.TB, _ string) transports.Options {
	return transports.Options{Endpoint: serveProxy(tb, []string{refBin(tb)})}
}}

var imageTag = fmt.Sprintf("flowsim-reference-connector-test:%d", os.Getpid())

// buildImage builds imageTag for the duration of t.
func buildImage(t *testing.T) {
	stdiotest.RequireDocker(t)
	stdiotest.BuildImage(t, refBin(t), imageTag)
}

var imageTransport = transport{"image", func(tb testing.TB, stateDir string) transports.Options {
	return transports.Options{Image: imageTag, Network: "none", DockerArgs: []string{
		"--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), "-v", stateDir + ":" + stateDir,
	}}
}}

// runMatsim runs one matsim test against the reference connector through o.
func runMatsim(tb testing.TB, test string, o transports.Options, config string, loops, start int) *engine.Report {
	tb.Helper()
	// A process (or container) per call makes each crash point take seconds:
	// through transports recovery crashes at one point of each kind; the full
	// sweep runs in process (matsim's tests) and in the PostgreSQL example.
	return runMatsimAt(tb, test, o, config, loops, start, []string{"after-load", "after-stores", "after-commit", "after-next-acknowledge"})
}

// runMatsimAt is runMatsim with recovery's crash points; mutate, when given,
// changes the engine's options last.
func runMatsimAt(tb testing.TB, test string, o transports.Options, config string, loops, start int, crashAt []string, mutate ...func(*engine.Options)) *engine.Report {
	tb.Helper()
	var ctx = context.Background()
	o.CallTimeout = time.Minute
	o.Stderr = io.Discard // the tail is in the errors
	var conn, ok, err = transports.Open(ctx, o)
	if err != nil || !ok {
		tb.Fatalf("Open: %v, %v", ok, err)
	}
	tb.Cleanup(func() { conn.Close() })
	var opts = engine.Options{
		Test:      test,
		Connector: conn,
		Reopen: func(ctx context.Context) (connector.Connector, error) {
			var o = o
			o.Protocol = conn.Info().Protocol // detected once, as a careful caller does
			var c, _, err = transports.Open(ctx, o)
			if err == nil {
				tb.Cleanup(func() { c.Close() })
			}
			return c, err
		},
		Config:      json.RawMessage(config),
		Resource:    json.RawMessage(fmt.Sprintf(`{"name":"t","delta_updates":%v}`, test == "delta")),
		Loops:       loops,
		Start:       start,
		Batch:       25,
		Seed:        1,
		CallTimeout: time.Minute,
		CrashAt:     crashAt,
	}
	for _, m := range mutate {
		m(&opts)
	}
	return engine.Execute(ctx, opts)
}

func stateConfig(dir, defect string) string {
	var b, _ = json.Marshal(map[string]string{"state_dir": dir, "defect": defect})
	if defect == "" {
		b, _ = json.Marshal(map[string]string{"state_dir": dir})
	}
	return string(b)
}

// Every matsim test passes against the reference connector through every transport.
func TestMatsimThroughTransports(t *testing.T) {
	for _, tr := range []transport{commandTransport(""), endpointTransport, imageTransport} {
		t.Run(tr.name, func(t *testing.T) {
			if tr.name == "image" {
				buildImage(t)
			}
			for _, test := range engine.Tests {
				t.Run(test, func(t *testing.T) {
					var dir = t.TempDir()
					var rep = runMatsim(t, test, tr.options(t, dir), stateConfig(dir, ""), 3, 60)
					if !rep.Passed() {
						t.Fatalf("%s through %s: %s: %s", test, tr.name, rep.Result.Check, rep.Result.Message)
					}
					if rep.Result.Stored == 0 {
						t.Errorf("nothing was stored: %+v", rep.Result)
					}
					if rep.Connector.Transport != tr.name || rep.Connector.Protocol != connector.Compat {
						t.Errorf("report's connector = %v", rep.Connector)
					}
				})
			}
		})
	}
}

// The Oct 2021 revision, emulated by the reference binary, is detected and adapted.
func TestMatsimOct2021(t *testing.T) {
	for _, tr := range []transport{commandTransport(" --protocol 2021-10"), {"endpoint", func(tb testing.TB, _ string) transports.Options {
		return transports.Options{Endpoint: serveProxy(tb, []string{refBin(tb), "--protocol", "2021-10"})}
	}}} {
		t.Run(tr.name, func(t *testing.T) {
			var dir = t.TempDir()
			var rep = runMatsim(t, "basic", tr.options(t, dir), stateConfig(dir, ""), 2, 50)
			if !rep.Passed() {
				t.Fatalf("%s: %s", rep.Result.Check, rep.Result.Message)
			}
			// Through the proxy the endpoint speaks the 2021-12|2022 subset; the proxy
			// adapted its child.
			var want = connector.Oct2021
			if tr.name == "endpoint" {
				want = connector.Compat
			}
			if rep.Connector.Protocol != want {
				t.Errorf("protocol = %s, want %s", rep.Connector.Protocol, want)
			}
			// The result names the era the connector itself speaks (through the
			// proxy, as the proxy reports its child's).
			if rep.Result.Protocol != string(connector.Oct2021) {
				t.Errorf("result protocol = %s, want %s", rep.Result.Protocol, connector.Oct2021)
			}
		})
	}
}

// A defect injected in the connector process is caught through the transport.
func TestMatsimDefectThroughCommand(t *testing.T) {
	var dir = t.TempDir()
	var rep = runMatsim(t, "basic", commandTransport("").options(t, dir), stateConfig(dir, "drop-store"), 1, 40)
	if rep.Passed() {
		t.Fatal("a connector dropping stores passed basic")
	}
	if rep.Result.Check == "" || len(rep.Failures) == 0 {
		t.Fatalf("no failing check named: %+v", rep.Result)
	}
}
