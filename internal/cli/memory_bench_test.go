package cli

import (
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
// child processes through --command): the peak Go heap and the bytes allocated per
// document of a one-loop basic run at 10^5, 10^6 and 10^7 documents per loop, and the
// process's peak RSS (VmHWM, monotonic over the sub-benchmarks). -short stops at 10^6.
//
//	go test -tags nozstd -run '^$' -bench DriverMemory -benchtime 1x ./internal/cli/
func BenchmarkDriverMemory(b *testing.B) {
	var self, _ = os.Executable()
	b.Setenv("FLOWSIM_CLI_TEST_MAIN", "1")
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
					"--loops", "1", "--start", strconv.Itoa(n), "--batch", "1000", "--seed", "7")
				var heap = peak()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if code != 0 {
					b.Fatalf("exit %d:\n%s%s", code, out, errOut)
				}
				b.ReportMetric(float64(heap)/float64(n), "peak-heap-B/doc")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "alloc-B/doc")
				b.ReportMetric(float64(vmHWM())/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// samplePeakHeap samples the live heap every 5ms until the returned func is called,
// which returns the peak.
func samplePeakHeap() func() uint64 {
	var stop = make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	var s = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var t = time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); wg.Wait(); return peak }
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
