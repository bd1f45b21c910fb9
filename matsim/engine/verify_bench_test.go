package engine

import (
	"flag"
	"runtime"
	"testing"
)

var verifyRows = flag.Int("verify-rows", 10_000_000, "rows BenchmarkVerifyDelta reads back")

// BenchmarkVerifyDelta measures delta's verifier side: -verify-rows rows (10^7 by
// default) of a delta binding, read back and compared as a multiset with what the
// oracle says was committed (keys with 1 or 2 revisions, as delta's loops make
// them). Rows are regenerated one at a time, as a destination streams them, so what
// grows with the run is only the oracle and the tally: bytes/key (oracle + tally,
// basic's budget is ≤ 64) and B/row (allocated while verifying) are reported.
func BenchmarkVerifyDelta(b *testing.B) {
	var rows = *verifyRows
	var keys = rows * 2 / 3
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		var src, _ = newSource(func() TestData { return new(Rich) }, 42)
		var o = newOracle(src)
		o.allocate(keys)
		var doc []byte
		var total = 0
		for i := range o.rev {
			o.rev[i] = 1 + uint32(i%2)
			if total+int(o.rev[i]) > rows {
				o.rev[i] = 1
			}
			total += int(o.rev[i])
			doc = src.appendJSON(doc[:0], uint64(i), o.rev[i])
			o.sum[i] = docHash(doc)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		var tally = newDeltaTally(o, "bench", "t")
		var row = src.(*genSource).clone() // the destination's side
		for i := range o.rev {
			for rev := uint32(1); rev <= o.rev[i]; rev++ {
				doc = row.appendJSON(doc[:0], uint64(i), rev)
				tally.row(doc)
			}
		}
		if list := tally.finish(); len(list) != 0 {
			b.Fatalf("verify failed: %s", list[0].Error())
		}

		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		var tallyBytes = cap(tally.seen)*8 + cap(tally.changed)
		b.ReportMetric(float64(total)/b.Elapsed().Seconds()*float64(n+1), "rows/s")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(total), "B/row")
		b.ReportMetric(float64(o.memBytes()+tallyBytes)/float64(keys), "bytes/key")
		b.ReportMetric(float64(total), "rows")
		b.StartTimer()
	}
}
