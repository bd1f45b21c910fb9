package engine

import (
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector/reference"
)

// TestTotalsProperty: for any transactions, the totals are their sums, verified is
// within [0, loaded], and docs/s is (loaded+stored) per second of transactions.
func TestTotalsProperty(t *testing.T) {
	var rng = rand.New(rand.NewSource(1))
	for n := 0; n < 2000; n++ {
		var rep = &Report{txnTime: time.Duration(rng.Int63n(int64(time.Minute)))}
		var loaded, stored, verified int64
		for i := rng.Intn(6); i > 0; i-- {
			var l = LoopStats{Loaded: rng.Int63n(1000), Stored: rng.Int63n(1000)}
			l.Verified = l.Loaded - rng.Int63n(1200) + 100 // sometimes out of range, as a bug would make it
			rep.Loops = append(rep.Loops, l)
			loaded, stored = loaded+l.Loaded, stored+l.Stored
			verified += max(0, min(l.Verified, l.Loaded))
		}
		rep.totals()
		var r = rep.Result
		if r.Loaded != loaded || r.Stored != stored || r.Verified != verified || r.Verified < 0 || r.Verified > r.Loaded {
			t.Fatalf("totals of %+v: %+v", rep.Loops, r)
		}
		if rep.txnTime > 0 {
			if want := float64(loaded+stored) / rep.txnTime.Seconds(); r.DocsPerSecond != want {
				t.Fatalf("docs/s %f, want %f", r.DocsPerSecond, want)
			}
		} else if r.DocsPerSecond != 0 {
			t.Fatalf("docs/s %f without transactions", r.DocsPerSecond)
		}
	}
}

// TestTotalsOfRealRuns: whatever the defect, the report's totals are the sums of its
// transactions, and a failing run never has more verified than loaded documents (the
// issue saw "50 loaded (-50 verified)" and "56 loaded (244 verified)").
func TestTotalsOfRealRuns(t *testing.T) {
	var defects = []string{""}
	for _, d := range reference.Defects {
		defects = append(defects, d.Name)
	}
	for _, test := range Tests {
		for k, d := range defects {
			if testing.Short() && k%4 != 0 {
				continue
			}
			var rep = run(t, test, uint64(k+1), fmt.Sprintf(`{"defect":%q}`, d), nil)
			var loaded, stored, verified int64
			for _, l := range rep.Loops {
				if l.Verified < 0 || l.Verified > l.Loaded {
					t.Errorf("%s %s: transaction %q verified %d of %d loaded", test, d, l.Phase, l.Verified, l.Loaded)
				}
				loaded, stored, verified = loaded+l.Loaded, stored+l.Stored, verified+l.Verified
			}
			var r = rep.Result
			if r.Loaded != loaded || r.Stored != stored || r.Verified != verified || r.Verified > r.Loaded {
				t.Errorf("%s %s (%s): totals loaded %d stored %d verified %d; transactions sum to %d, %d, %d",
					test, d, r.Outcome, r.Loaded, r.Stored, r.Verified, loaded, stored, verified)
			}
			if r.Outcome == "passed" && r.Verified != r.Loaded {
				t.Errorf("%s %s passed with %d of %d loaded documents verified", test, d, r.Verified, r.Loaded)
			}
		}
	}
}

// TestProgressWithinATransaction: a display hears about a transaction while it runs,
// one event per request, not only when it commits.
func TestProgressWithinATransaction(t *testing.T) {
	var events []ProgressEvent
	var rep = run(t, "basic", 3, "{}", func(o *Options) {
		o.Loops, o.Start, o.Batch = 1, 1000, 100
		o.OnProgress = func(e ProgressEvent) { events = append(events, e) }
	})
	if !rep.Passed() {
		t.Fatal(rep.Result.Message)
	}
	var before, last = 0, int64(0)
	for _, e := range events {
		if e.Phase != "loop 1 of 1" {
			continue
		}
		if e.Done < last || e.Done > e.Total || e.Total != 2000 {
			t.Fatalf("event %+v after %d done", e, last)
		}
		last = e.Done
		if !e.Committed {
			before++
		}
	}
	// 10 Load requests and 10 Store requests of 100 documents each.
	if before != 20 || last != 2000 {
		t.Fatalf("%d events before the commit (want 20), last at %d of 2000", before, last)
	}
}

// TestEngineImportsNoCLI keeps the engine free of the CLI's dependencies, so that a
// connector's own main can run it (matsim.Run) with the standard flag package.
func TestEngineImportsNoCLI(t *testing.T) {
	var out, err = exec.Command("go", "list", "-tags", "nozstd", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/spf13/cobra", "github.com/spf13/pflag", "github.com/docker/",
			"github.com/flowsim/flowsim/connector/transports", "github.com/flowsim/flowsim/connector/grpcconn",
			"github.com/flowsim/flowsim/connector/stdio", "github.com/flowsim/flowsim/connector/proxy",
			"github.com/flowsim/flowsim/internal/cli", "github.com/vbauerster/mpb"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package matsim depends on %s", dep)
			}
		}
	}
}
