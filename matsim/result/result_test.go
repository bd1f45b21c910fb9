package result

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMarshalFitsAndParses(t *testing.T) {
	var r = Result{Test: "basic", Outcome: Failed, Seed: 42, Check: "load.value",
		Message: strings.Repeat("ünïcödé 🚀 ", 2000)}
	var b = r.Marshal(4096)
	if len(b) > 4096 {
		t.Fatalf("marshalled %d bytes, want ≤ 4096", len(b))
	}
	var back, err = Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.V != Version || back.Check != "load.value" || back.Seed != 42 || !strings.HasSuffix(back.Message, "…(truncated)") {
		t.Fatalf("round trip: %+v", back)
	}
	if !utf8.ValidString(back.Message) {
		t.Fatal("truncation split a rune")
	}
	// Unlimited and small results are not truncated.
	r.Message = "short"
	if got, _ := Parse(r.Marshal(0)); got.Message != "short" {
		t.Fatalf("got %q", got.Message)
	}
}

// A passing run's long cleanup failure (a connector's stderr tail) is cut too, so
// the termination message stays whole JSON the operator can read.
func TestMarshalCutsALongCleanup(t *testing.T) {
	var r = Result{Test: "basic", Outcome: Passed, Seed: 7, Cleanup: "failed: ApplyDelete of t: " + strings.Repeat("é stderr line\n", 600)}
	var b = r.Marshal(4096)
	var back, err = Parse(b)
	if len(b) > 4096 || err != nil {
		t.Fatalf("marshalled %d bytes (want ≤ 4096), parse: %v", len(b), err)
	}
	if !strings.HasPrefix(back.Cleanup, "failed: ApplyDelete of t") || !strings.HasSuffix(back.Cleanup, "…(truncated)") ||
		!utf8.ValidString(back.Cleanup) || back.Outcome != Passed {
		t.Fatalf("round trip: outcome %s, cleanup %q", back.Outcome, back.Cleanup)
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []struct{ in, says string }{
		{`not json`, "parsing matsim result"},
		{`{"v":2,"outcome":"passed"}`, "version 2"},
		{`{"v":1,"outcome":"maybe"}`, `unknown outcome "maybe"`},
	} {
		if _, err := Parse([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%s) = %v, want %q", c.in, err, c.says)
		}
	}
}

func TestExitCodes(t *testing.T) {
	if Passed.ExitCode() != 0 || Failed.ExitCode() != 1 || Error.ExitCode() != 2 {
		t.Fatal("exit codes")
	}
}

func TestProgress(t *testing.T) {
	var log = "some line\n" + Progress{Test: "basic", Loop: 1, Loops: 5, Docs: 500}.Line() +
		"2026-01-01 INFO other\n" + Progress{Test: "basic", Loop: 2, Loops: 5, Docs: 1500}.Line() + "FLOWSIM-PROGRESS {broken\n"
	var p, ok = ParseProgress(log)
	if !ok || p.Loop != 2 || p.Docs != 1500 {
		t.Fatalf("got %+v %v", p, ok)
	}
	if _, ok := ParseProgress("nothing here"); ok {
		t.Fatal("found progress in a log without any")
	}
}
