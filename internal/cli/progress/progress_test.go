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
		d.Update("loop 1 of 2", done, 1000)
	}
	d.Update("loop 2 of 2", 500, 2000) // completes loop 1's bar, starts another
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
	d.Update("loop 1 of 1", 5, 10)
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
	d.Plain = time.Nanosecond
	d.Update("loop 1 of 1", 0, 1000)
	time.Sleep(time.Millisecond) // the interval must pass; this is not synchronisation
	d.Update("loop 1 of 1", 500, 1000)
	d.Update("loop 1 of 1", 1000, 1000)
	if s := out.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "progress: loop 1 of 1: 500 / 1000 docs") || !strings.Contains(s, "ETA") {
		t.Fatalf("want one plain progress line, got %q", s)
	}
}
