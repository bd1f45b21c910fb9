package transports_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim"
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
		var rep = matsim.Execute(context.Background(), matsim.Options{
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
