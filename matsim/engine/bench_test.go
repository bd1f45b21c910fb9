package engine

import (
	"context"
	"testing"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// BenchmarkBasic measures a basic run against the reference connector in process:
// docs/s (loaded+stored per second of the transactions phase) and the oracle's
// memory per key. Targets: ≥ 500,000 docs/s on 2 cores, ≤ 64 bytes/key.
func BenchmarkBasic(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var rep = Execute(context.Background(), Options{
			Test: "basic", Connector: connector.InProcess(reference.New(), "reference"),
			Loops: 6, Start: 10000, Batch: 1000, Seed: uint64(i + 1),
		})
		if !rep.Passed() {
			b.Fatalf("run failed: %s", rep.Result.Message)
		}
		b.ReportMetric(rep.Result.DocsPerSecond, "docs/s")
		b.ReportMetric(float64(rep.OracleBytes)/float64(rep.Keys), "bytes/key")
		b.ReportMetric(float64(rep.Keys), "keys")
	}
}
