package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPty returns both ends of a new pseudo-terminal, whose size is 0 rows and 0
// columns until set (as a `docker run -t` or a CI runner's terminal may report).
func openPty(t *testing.T) (master, tty *os.File) {
	t.Helper()
	var err error
	if master, err = os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err = unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	var n int
	if n, err = unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN); err != nil {
		t.Fatal(err)
	}
	if tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// TestTerminalOfNoRowsShowsProgress: a terminal that reports 0 rows and 0 columns
// cannot draw a live display; the run then shows the plain progress lines. A
// terminal with a size shows the live display instead.
func TestTerminalOfNoRowsShowsProgress(t *testing.T) {
	for _, size := range []unix.Winsize{{}, {Row: 24, Col: 100}} {
		var master, tty = openPty(t)
		if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &size); err != nil {
			t.Fatal(err)
		}
		var got = make(chan string)
		go func() {
			var b, _ = io.ReadAll(master) // until the tty is closed (EIO)
			got <- string(b)
		}()
		var stdout bytes.Buffer
		var cmd = NewMatsimCommand(CommandOptions{Stdout: &stdout, Stderr: tty})
		cmd.SetArgs([]string{"basic", "--loops", "2", "--start", "10"})
		var err = cmd.ExecuteContext(context.Background())
		tty.Close()
		var out = <-got
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		switch lines := strings.Count(out, "FLOWSIM-PROGRESS"); {
		case size.Row == 0 && lines != 2:
			t.Errorf("a terminal of 0 rows must show the plain progress lines, got:\n%q", out)
		case size.Row != 0 && (lines != 0 || !strings.Contains(out, "docs/s")):
			t.Errorf("a terminal of %d rows must show the live display, got:\n%q", size.Row, out)
		}
	}
}
