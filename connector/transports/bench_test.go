package transports_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim/engine"
)

// BenchmarkTransports runs `basic` (batch 1000) against the same reference connector
// in process, through --command and through connector-proxy + --endpoint, in one run,
// and reports each transport's docs/s and its ratio to in-process (target ≥ 0.40).
// The ratios use the reference's in-memory store (`basic` needs one stream only);
// *-file-docs/s repeat the runs with its file-backed store (state_dir), which
// separate connector processes share, and which costs more than any transport.
func BenchmarkTransports(b *testing.B) {
	const loops, start, batch = 4, 10000, 1000
	var run = func(b *testing.B, conn connector.Connector, config string, reopen func(context.Context) (connector.Connector, error)) float64 {
		b.Helper()
		var rep = engine.Execute(context.Background(), engine.Options{
			Test: "basic", Connector: conn, Reopen: reopen,
			Config: json.RawMessage(config), Resource: json.RawMessage(`{"name":"bench"}`),
			Loops: loops, Start: start, Batch: batch, Seed: 1, CallTimeout: 5 * time.Minute,
		})
		if !rep.Passed() {
			b.Fatalf("%s: %s: %s", conn.Info(), rep.Result.Check, rep.Result.Message)
		}
		return rep.Result.DocsPerSecond
	}
	var open = func(b *testing.B, o transports.Options) connector.Connector {
		o.CallTimeout = 5 * time.Minute
		var c, ok, err = transports.Open(context.Background(), o)
		if err != nil || !ok {
			b.Fatalf("Open: %v %v", ok, err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	var bin = refBin(b)
	var endpoint = serveProxy(b, []string{bin})

	for i := 0; i < b.N; i++ {
		// The in-memory store: `basic` runs in one transactions stream, so even a
		// connector process per call keeps its documents for the whole test.
		var inproc = run(b, connector.InProcess(reference.New(), "reference"), `{}`, nil)
		var command = run(b, open(b, transports.Options{Command: "'" + bin + "'"}), `{}`, nil)
		var ep = run(b, open(b, transports.Options{Endpoint: endpoint}), `{}`, nil)
		// The file-backed store that separate processes share (fence, recovery).
		var inprocFile = run(b, connector.InProcess(reference.New(), "reference"), stateConfig(b.TempDir(), ""), nil)
		var commandFile = run(b, open(b, transports.Options{Command: "'" + bin + "'"}), stateConfig(b.TempDir(), ""), nil)
		var epFile = run(b, open(b, transports.Options{Endpoint: endpoint}), stateConfig(b.TempDir(), ""), nil)

		b.ReportMetric(inproc, "inproc-docs/s")
		b.ReportMetric(command, "command-docs/s")
		b.ReportMetric(ep, "endpoint-docs/s")
		b.ReportMetric(command/inproc, "command/inproc")
		b.ReportMetric(ep/inproc, "endpoint/inproc")
		b.ReportMetric(inprocFile, "inproc-file-docs/s")
		b.ReportMetric(commandFile, "command-file-docs/s")
		b.ReportMetric(epFile, "endpoint-file-docs/s")
		for name, ratio := range map[string]float64{"command": command / inproc, "endpoint": ep / inproc} {
			if ratio < 0.40 {
				b.Logf("%s reaches only %.0f%% of the in-process throughput (target: 40%%)", name, 100*ratio)
			}
		}
	}
}

// BenchmarkEras runs `basic` (batch 1000) against the reference connector in every
// era it speaks, in one run: in process (2021-12), through --command as 2021-12
// (pipelined), as detected (2021-12|2022, not pipelined), in today's era with
// the proto and JSON codecs, and today's gRPC service; it reports each one's
// docs/s and ratio to in-process (target ≥ 0.40).
func BenchmarkEras(b *testing.B) {
	const loops, start, batch = 4, 10000, 1000
	var run = func(b *testing.B, o *transports.Options) float64 {
		b.Helper()
		var conn connector.Connector = connector.InProcess(reference.New(), "reference")
		if o != nil {
			o.CallTimeout = 5 * time.Minute
			var c, ok, err = transports.Open(context.Background(), *o)
			if err != nil || !ok {
				b.Fatalf("Open: %v %v", ok, err)
			}
			b.Cleanup(func() { c.Close() })
			conn = c
		}
		var rep = engine.Execute(context.Background(), engine.Options{
			Test: "basic", Connector: conn, Config: json.RawMessage(`{}`), Resource: json.RawMessage(`{"name":"bench"}`),
			Loops: loops, Start: start, Batch: batch, Seed: 1, CallTimeout: 5 * time.Minute,
		})
		if !rep.Passed() {
			b.Fatalf("%s: %s: %s", conn.Info(), rep.Result.Check, rep.Result.Message)
		}
		return rep.Result.DocsPerSecond
	}
	var bin = refBin(b)
	for i := 0; i < b.N; i++ {
		var inproc = run(b, nil)
		var cases = []struct {
			name string
			o    transports.Options
		}{
			{"2021-12-command", transports.Options{Command: "'" + bin + "'", Protocol: connector.Dec2021}},
			{"compat-command", transports.Options{Command: "'" + bin + "'"}},
			{"2023-command", transports.Options{Command: "'" + bin + "' --protocol 2023"}},
			{"2023-command-json", transports.Options{Command: "'" + bin + "' --protocol 2023", Codec: "json"}},
			{"2023-endpoint", transports.Options{Endpoint: serveCurrentEndpoint(b)}},
		}
		b.ReportMetric(inproc, "inproc-docs/s")
		for _, c := range cases {
			var o = c.o
			var dps = run(b, &o)
			b.ReportMetric(dps, c.name+"-docs/s")
			b.ReportMetric(dps/inproc, c.name+"/inproc")
			if dps/inproc < 0.40 {
				b.Logf("%s reaches only %.0f%% of the in-process throughput (target: 40%%)", c.name, 100*dps/inproc)
			}
		}
	}
}
