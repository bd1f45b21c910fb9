package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkDriverMemory measures the driver alone (the reference connector runs in
// child processes through --command) in a one-loop basic run at 10^5, 10^6 and 10^7
// documents per loop, per document: the peak Go heap (objects, garbage included),
// the peak live heap (as the last GC found it) and the bytes allocated; the growth
// of the peak heaps from the previous size (what each further document costs); the
// oracle's bytes per key (its share, which is allowed to grow with the keys); and the
// process's peak RSS (VmHWM, monotonic over the sub-benchmarks). The driver's memory
// is bounded by the batch when the growth per document is the oracle's per key (times
// the GC's headroom for the peak heap), whatever the size of the loop. -short stops
// at 10^6.
//
//	go test -tags nozstd -run '^$' -bench DriverMemory -benchtime 1x ./internal/cli/
func BenchmarkDriverMemory(b *testing.B) {
	var self, _ = os.Executable()
	b.Setenv("FLOWSIM_CLI_TEST_MAIN", "1")
	var prevN int
	var prevHeap, prevLive uint64
	for _, n := range []int{1e5, 1e6, 1e7} {
		if testing.Short() && n > 1e6 {
			continue
		}
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var peak = samplePeakHeap()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				var out, errOut, code = cli(b, CommandOptions{}, "basic", "--command", self+" reference-connector",
					"--loops", "1", "--start", strconv.Itoa(n), "--batch", "1000", "--seed", "7", "--report", "json")
				var heap, live = peak()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if code != 0 {
					b.Fatalf("exit %d:\n%s%s", code, out, errOut)
				}
				var rep struct{ OracleBytes, Keys int }
				if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Keys != n {
					b.Fatalf("the JSON report has %d keys for %d documents (%v):\n%s", rep.Keys, n, err, out)
				}
				b.ReportMetric(float64(heap)/float64(n), "peak-heap-B/doc")
				b.ReportMetric(float64(live)/float64(n), "peak-live-B/doc")
				if prevN != 0 {
					b.ReportMetric((float64(heap)-float64(prevHeap))/float64(n-prevN), "heap-growth-B/doc")
					b.ReportMetric((float64(live)-float64(prevLive))/float64(n-prevN), "live-growth-B/doc")
				}
				prevN, prevHeap, prevLive = n, heap, live
				b.ReportMetric(float64(rep.OracleBytes)/float64(rep.Keys), "oracle-B/key")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "alloc-B/doc")
				b.ReportMetric(float64(vmHWM())/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// samplePeakHeap samples the heap every 5ms until the returned func is called,
// which returns the peaks of the heap's objects (garbage not yet collected
// included) and of the live heap as the last GC marked it.
func samplePeakHeap() func() (heap, live uint64) {
	var stop = make(chan struct{})
	var wg sync.WaitGroup
	var peak, peakLive uint64
	var s = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var t = time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			peakLive = max(peakLive, s[1].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) { close(stop); wg.Wait(); return peak, peakLive }
}

// vmHWM is the process's peak resident set size in bytes (Linux; 0 elsewhere).
func vmHWM() uint64 {
	var b, _ = os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb, _ = strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
