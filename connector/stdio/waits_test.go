package stdio_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
)

// Every wait for a connector process is bounded, and its message says which wait
// ran out and carries the stderr tail; an answer that came is never blamed as
// missing.
func TestWaitsAreBoundedAndNamed(t *testing.T) {
	var check = func(t *testing.T, err error, took, bound time.Duration, says ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if took > bound {
			t.Errorf("took %s, more than %s", took, bound)
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error does not say %q: %v", s, err)
			}
		}
	}
	t.Run("unary answer, then no exit", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeAnswerLinger, stdio.Options{CallTimeout: time.Second})
		var start = time.Now()
		var _, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		check(t, err, time.Since(start), 5*time.Second,
			"the connector answered spec, but the connector process did not exit within", "(it kept stdout open); it was killed",
			"answered, lingering") // the stderr tail
		if strings.Contains(err.Error(), "no response") {
			t.Errorf("the answer came, but the error blames no response: %v", err)
		}
		if n := c.Running(); n != 0 {
			t.Errorf("%d processes still run", n)
		}
	})
	t.Run("unary stdout closed, no answer, no exit", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeCloseHang, stdio.Options{CallTimeout: 2 * time.Second})
		var start = time.Now()
		var _, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		check(t, err, time.Since(start), 6*time.Second, "closing stdout") // the stderr tail
		// Within the call's deadline it is the deadline that ran out; it says so.
		check(t, err, 0, time.Second, "no response within 2s (--call-timeout)")
	})
	t.Run("unary stdout closed, no answer, no exit, no deadline", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeCloseHang, stdio.Options{})
		var start = time.Now()
		var _, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		check(t, err, time.Since(start), 10*time.Second,
			"closed stdout without writing a response, then the connector process did not exit within 5s; it was killed", "closing stdout")
	})
	t.Run("stream stdout closed, no exit", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeCloseHang, stdio.Options{Protocol: connector.Dec2021})
		var s, err = c.Transactions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var start = time.Now()
		_, err = s.Recv()
		check(t, err, time.Since(start), 10*time.Second,
			"the connector closed stdout, but the connector process did not exit within 5s; it was killed", "closing stdout")
	})
}

// fakeDocker writes a docker CLI that runs this test binary in mode for `run`,
// and answers `rm` with rmExit and rmStderr.
func fakeDocker(t *testing.T, mode string, rmExit int, rmStderr string) string {
	var self, err = os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var script = fmt.Sprintf(`#!/bin/sh
case "$1" in
image) exit 0 ;;
rm) echo '%s' >&2; exit %d ;;
run) for a; do last="$a"; done; exec '%s' %s %s "$last" ;;
esac
exit 3
`, rmStderr, rmExit, self, stdiotest.Arg, mode)
	var path = filepath.Join(t.TempDir(), "docker")
	if err = os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A container whose removal fails after a kill says so; the docker run process
// that does not exit after the answer (docker run --rm removes the container
// first) is named as such.
func TestImageWaitsAreNamed(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for a fake docker CLI")
	}
	t.Run("removal fails", func(t *testing.T) {
		var c, err = stdio.NewImage(context.Background(), stdio.Docker{Image: "x:1", CLI: fakeDocker(t, stdiotest.ModeHang, 1, "Error response from daemon: disk on fire")},
			stdio.Options{CallTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		var ce *stdio.CallError
		if !errors.As(err, &ce) || !strings.Contains(ce.Cleanup, "removing its container flowsim-") ||
			!strings.Contains(err.Error(), "exit status 1: Error response from daemon: disk on fire") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("docker run does not exit", func(t *testing.T) {
		var c, err = stdio.NewImage(context.Background(), stdio.Docker{Image: "x:1", CLI: fakeDocker(t, stdiotest.ModeAnswerLinger, 0, "")},
			stdio.Options{CallTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		if err == nil || !strings.Contains(err.Error(), "the connector answered spec, but the docker run process (it removes the container before it exits) did not exit within") {
			t.Fatalf("got %v", err)
		}
	})
}
