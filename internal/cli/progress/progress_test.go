package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLiveDisplayShowsDocumentsRateAndETA(t *testing.T) {
	var out bytes.Buffer
	var d = New(&out, true)
	if !d.Live() {
		t.Fatal("New(w, true) is not live")
	}
	for done := int64(0); done <= 1000; done += 100 {
		d.Update("loop 1 of 2", done, 1000, false)
	}
	d.Update("loop 1 of 2", 1000, 1000, true)
	d.Update("loop 2 of 2", 500, 2000, false) // starts another bar
	d.Write([]byte("a log line above the bars\n"))
	d.Stop()
	d.Write([]byte("after stop\n"))
	var s = out.String()
	for _, want := range []string{"loop 1 of 2", "1000 / 1000 docs", "loop 2 of 2", "500 / 2000 docs", "docs/s", "a log line above the bars", "after stop"} {
		if !strings.Contains(s, want) {
			t.Errorf("display lacks %q:\n%s", want, s)
		}
	}
}

func TestInertDisplayDrawsNothing(t *testing.T) {
	var out bytes.Buffer
	var d = New(&out, false)
	d.Update("loop 1 of 1", 5, 10, false)
	d.Write([]byte("x"))
	d.Stop()
	if d.Live() || out.Len() != 0 {
		t.Fatalf("an inert display wrote %q", out.String())
	}
	var nilDisplay *Display
	if nilDisplay.Live() {
		t.Fatal("a nil display is live")
	}
}

func TestColoursFollowTerminalAndNO_COLOR(t *testing.T) {
	if ColorFor(new(bytes.Buffer)) || IsTerminal(new(bytes.Buffer)) {
		t.Fatal("a buffer is not a terminal: no colours")
	}
	var f, _ = os.CreateTemp(t.TempDir(), "out")
	defer f.Close()
	if ColorFor(f) {
		t.Fatal("a regular file is not a terminal: no colours")
	}
	t.Setenv("NO_COLOR", "1")
	if ColorFor(os.Stdout) {
		t.Fatal("NO_COLOR set: no colours")
	}
	if got := NewPainter(true).Pass("PASSED"); !strings.Contains(got, "\x1b[") || !strings.Contains(got, "PASSED") {
		t.Errorf("painter on: %q", got)
	}
	if got := NewPainter(false).Fail("FAILED"); got != "FAILED" {
		t.Errorf("painter off: %q", got)
	}
}

func TestPlainLinesOffATerminal(t *testing.T) {
	var out bytes.Buffer
	var d = New(&out, false)
	var now = time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	d.Plain = 10 * time.Second
	d.Update("loop 1 of 1", 0, 1000, false)
	now = now.Add(10 * time.Second)
	d.Update("loop 1 of 1", 500, 1000, false)
	now = now.Add(time.Second)
	d.Update("loop 1 of 1", 1000, 1000, true)
	if s := out.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "progress: loop 1 of 1: 500 / 1000 docs, 50 docs/s, ETA 10s + commit") {
		t.Fatalf("want one plain progress line, got %q", s)
	}
}

// TestRateAndETACountTheCommit: the first documents of a transaction are sent at
// memory speed (into pipe buffers), then the commit takes its time. The rate is
// not that burst's (it was in the hundreds of millions), and the ETA is not over
// when everything is sent: it counts the commit, from the last transaction's rate.
func TestRateAndETACountTheCommit(t *testing.T) {
	var d = New(new(bytes.Buffer), false)
	var now = time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	var at = func(name string) (string, string) {
		d.st.Lock()
		defer d.st.Unlock()
		return d.estimate(d.bars[name], now)
	}
	// Loop 1: 1000 documents sent within 2ms, committed after 2s: 500 docs/s.
	d.Update("loop 1", 0, 1000, false)
	now = now.Add(time.Millisecond)
	d.Update("loop 1", 500, 1000, false)
	if rate, eta := at("loop 1"); rate != "- docs/s" || eta != "ETA ?" {
		t.Errorf("loop 1 after 1ms: %s, %s (want no rate yet: it would be 500000 docs/s)", rate, eta)
	}
	now = now.Add(time.Millisecond)
	d.Update("loop 1", 1000, 1000, false)
	if _, eta := at("loop 1"); eta != "committing" {
		t.Errorf("loop 1, everything sent: ETA %q, want committing", eta)
	}
	now = now.Add(2*time.Second - 2*time.Millisecond)
	d.Update("loop 1", 1000, 1000, true)
	if rate, eta := at("loop 1"); rate != "500 docs/s" || eta != "done" {
		t.Errorf("loop 1 committed: %s, %s", rate, eta)
	}
	// Loop 2: 2000 documents at loop 1's rate take 4s, commit included.
	d.Update("loop 2", 0, 2000, false)
	now = now.Add(time.Millisecond)
	d.Update("loop 2", 2000, 2000, false) // all sent at once
	if rate, eta := at("loop 2"); rate != "500 docs/s" || eta != "ETA 4s" {
		t.Errorf("loop 2, all sent after 1ms: %s, %s (want loop 1's rate and an ETA with the commit)", rate, eta)
	}
	now = now.Add(3 * time.Second)
	if rate, eta := at("loop 2"); rate != "666 docs/s" || eta != "ETA 1s" {
		t.Errorf("loop 2 after 3s: %s, %s", rate, eta)
	}
}
