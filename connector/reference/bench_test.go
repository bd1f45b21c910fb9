package reference

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkReferenceMemory measures what the reference connector holds per
// document: n documents of about 400 bytes (like matsim's) stored through its
// Transactions stream in transactions of 1,000, each of which first loads its keys,
// as a basic run's first loop does. Per store:
//
//   - map: the layout of the store before the arenas (a Go map from each key to a
//     slice of one copied document), filled with the same documents directly: the
//     baseline, for the ratio in one run;
//   - arena: the connector as New makes it (DefaultMemoryBudget of documents in
//     memory, the rest spilled);
//   - spilled: the connector with a budget of one byte, so that every full chunk
//     goes to the spill file: what each document costs in memory beyond any budget.
//
// At 10^7 documents (not with -short) only the connector as New makes it runs,
// to show its budget at work: 5 GB of documents, most of them in a spill file.
//
// Metrics: live-B/doc (the live heap after the run, after a GC, over n), peak-B/doc
// (the peak of the heap's objects during the run, garbage included), ns/doc, and
// late/early (the time of the last tenth of the transactions over the first:
// about 1 when the time per commit does not grow with the store).
//
//	go test -tags nozstd -run '^$' -bench ReferenceMemory -benchtime 1x ./connector/reference/
func BenchmarkReferenceMemory(b *testing.B) {
	for _, n := range []int{1e5, 1e6, 1e7} {
		for _, store := range []string{"map", "arena", "spilled"} {
			if n > 1e6 && (store != "arena" || testing.Short()) {
				continue
			}
			b.Run(fmt.Sprintf("docs=%d/store=%s", n, store), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					runtime.GC()
					var before = liveHeap()
					var peak = samplePeakHeap()
					var start = time.Now()
					var keep any
					var early, late time.Duration
					if store == "map" {
						keep = fillMap(n)
					} else {
						var d = New()
						if store == "spilled" {
							d = NewWithOptions(Options{MemoryBudget: 1, SpillDir: b.TempDir()})
						}
						early, late = fillDriver(b, d, n)
						keep = d
					}
					var elapsed = time.Since(start)
					var peakHeap = peak()
					runtime.GC()
					var after = liveHeap()
					runtime.KeepAlive(keep)
					b.ReportMetric(float64(after-before)/float64(n), "live-B/doc")
					b.ReportMetric(float64(peakHeap-before)/float64(n), "peak-B/doc")
					b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/doc")
					if early > 0 {
						b.ReportMetric(float64(late)/float64(early), "late/early")
					}
				}
			})
		}
	}
}

// fillMap stores n documents in the layout of the store before the arenas.
func fillMap(n int) map[string][]json.RawMessage {
	var m = map[string][]json.RawMessage{}
	for i := 0; i < n; i++ {
		m[string(testKey(i))] = []json.RawMessage{append(json.RawMessage(nil), testDoc(i, 0)...)}
	}
	return m
}

// fillDriver stores n documents through d's Transactions, and returns how long its
// first and last tenths of the transactions took.
func fillDriver(b *testing.B, d *Driver, n int) (early, late time.Duration) {
	var spec = testSpec("bench", `{}`, "t0")
	apply(b, d, spec)
	var s = open(b, d, spec, 0, math.MaxUint32)
	const batch = 1000
	var tenth = max(1, n/batch/10)
	for t, from := 0, 0; from < n; t, from = t+1, from+batch {
		var to = min(n, from+batch)
		var keys, docs = testKeys(from, to), testDocs(from, to, 0)
		var start = time.Now()
		if loaded, err := s.txn(keys, 0, docs); err != nil || len(loaded) != 0 {
			b.Fatalf("transaction %d: %v, %d documents loaded of keys never stored", t, err, len(loaded))
		}
		switch took := time.Since(start); {
		case t < tenth:
			early += took
		case t >= n/batch-tenth:
			late += took
		}
	}
	s.close()
	return early, late
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// samplePeakHeap samples the heap's objects (garbage not yet collected included)
// every 5ms until the returned func is called, which returns their peak.
func samplePeakHeap() func() uint64 {
	var stop = make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	var s = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var tick = time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak
	}
}
