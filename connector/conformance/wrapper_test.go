package conformance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/conformance"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/matsim/engine"
)

// wrapper writes a bash script that runs the fault connector as its child, as
// connector images' entrypoint scripts do, and does not exec it: killing the script
// alone leaves the child running with the script's stdout. The script records its
// child's pid in pids, one per line, so that the test can find out whether every
// child was stopped (and stop leftovers itself, so that a failing run ends).
func wrapper(t *testing.T, s sc) (script, pids string) {
	t.Helper()
	var dir = t.TempDir()
	script, pids = filepath.Join(dir, "connector.sh"), filepath.Join(dir, "pids")
	var body = fmt.Sprintf(`#!/bin/bash
# The child keeps the script's stdin explicitly: a background job's default is /dev/null.
'%s' %s %s "$@" <&0 &
echo $! >> '%s'
wait $!
exit $?
`, self(t), conformance.Arg, s, pids)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, pids
}

// alive lists the recorded children still running (a zombie is not running).
func alive(pids string) []int {
	var b, _ = os.ReadFile(pids)
	var out []int
	for _, f := range strings.Fields(string(b)) {
		var pid, err = strconv.Atoi(f)
		if err != nil {
			continue
		}
		var stat, serr = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if serr != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// gone waits up to bound for every recorded child to have stopped (a SIGKILL is
// delivered at once, but the process needs to be scheduled to die), and returns
// those still running.
func gone(pids string, bound time.Duration) []int {
	var deadline = time.Now().Add(bound)
	for {
		var left = alive(pids)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
}

// wrapped is a transport whose connector is a bash script with a child.
func wrapped(name string, timeout time.Duration, pids map[string]string, viaProxy bool) transport {
	return transport{name: name, timeout: timeout, open: func(t *testing.T, s sc, _ string) connector.Connector {
		var script, p = wrapper(t, s)
		pids[s.String()] = p
		if viaProxy {
			return openTransport(t, transports.Options{Endpoint: serveProxy(t, script)}, timeout)
		}
		return openTransport(t, transports.Options{Command: script}, timeout)
	}}
}

// A connector whose wrapper script's child hangs, or keeps stdout open after its
// answer, gets the verdict of the fault table within the same bounds as a connector
// without a wrapper, and no child outlives the run: --call-timeout kills the whole
// process group, and every wait after a kill is bounded.
func TestWrappedConnectorsChildIsStopped(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no /bin/bash for the wrapper script")
	}
	var pids = map[string]string{}
	for _, tr := range []transport{
		wrapped("command", timeoutScale*time.Second, pids, false),
		wrapped("endpoint", timeoutScale*time.Second, pids, true),
	} {
		t.Run(tr.name, func(t *testing.T) {
			for _, s := range scenarios {
				if s.Fault != engine.FaultHang && s.Fault != engine.FaultLinger {
					continue
				}
				t.Run(strings.ReplaceAll(s.String(), ":", "/"), func(t *testing.T) {
					// Past the bound runScenario asserts, stop the children ourselves: the
					// run then ends (and fails the bound) instead of waiting an hour.
					var guard = time.AfterFunc(6*tr.timeout+20*time.Second, func() {
						for _, pid := range alive(pids[s.String()]) {
							_ = syscall.Kill(pid, syscall.SIGKILL)
						}
					})
					defer guard.Stop()
					runScenario(t, tr, s)
					// Over the endpoint, the proxy stops its connector after the driver's
					// stream ended: allow it a kill's bound.
					if left := gone(pids[s.String()], 5*time.Second); len(left) != 0 {
						t.Errorf("%s over %s: the wrapper's child (pid %v) outlived the run", s, tr.name, left)
						for _, pid := range left {
							_ = syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				})
			}
		})
	}
}

// A run interrupted (SIGTERM) while the wrapper's child hangs ends promptly as
// interrupted, and the child is stopped.
func TestInterruptStopsTheWrappersChild(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no /bin/bash for the wrapper script")
	}
	var s = sc{Call: conformance.CallLoad, Fault: engine.FaultHang}
	var script, pids = wrapper(t, s)
	var conn = openTransport(t, transports.Options{Command: script}, time.Hour)
	var ctx, cancel = context.WithCancelCause(context.Background())
	var stopped = time.AfterFunc(time.Minute, func() { // a failing run must end
		for _, pid := range alive(pids) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	defer stopped.Stop()
	// Interrupt once the transactions stream's child runs (the setup calls' children
	// have exited by then: each call is a process).
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			var b, _ = os.ReadFile(pids)
			if strings.Count(string(b), "\n") >= 4 && len(alive(pids)) != 0 { // spec, validate, apply-upsert, transactions
				interrupt.Cancel(cancel, syscall.SIGTERM)
				return
			}
		}
	}()
	var dir = t.TempDir()
	var start = time.Now()
	var rep = engine.Execute(ctx, engine.Options{
		Test: "basic", Connector: conn,
		Config: []byte(fmt.Sprintf(`{"state_dir":%q}`, dir)), Resource: []byte(`{"name":"t"}`),
		Loops: 2, Start: 3, Batch: 10, Seed: 1, CallTimeout: time.Hour,
	})
	var took = time.Since(start)
	if rep.ExitCode() != 143 || rep.Result.Outcome != "interrupted" {
		t.Errorf("interrupted run: outcome %s exit %d (%s), want interrupted exit 143", rep.Result.Outcome, rep.ExitCode(), rep.Result.Message)
	}
	if took > 30*time.Second {
		t.Errorf("the interrupted run took %s to end", took.Round(time.Millisecond))
	}
	conn.Close() // as Session.Run does: the connector is stopped before flowsim exits
	if left := gone(pids, 5*time.Second); len(left) != 0 {
		t.Errorf("the wrapper's child (pid %v) outlived the interrupted run", left)
	}
}

var wrappedImageTag = fmt.Sprintf("flowsim-conformance-wrapped:%d", os.Getpid())

// The same through --image: the image's entrypoint is a wrapper (faultconnector with
// FLOWSIM_FAULT_WRAP=1 runs itself as a child, as an entrypoint script does), and
// --call-timeout removes the container, with everything in it: the verdict is the
// fault table's within the same bounds, and no container of the image outlives the run.
func TestWrappedImageConnectorIsStopped(t *testing.T) {
	stdiotest.RequireDocker(t)
	var bin = stdiotest.BuildStatic(t, "github.com/flowsim/flowsim/connector/conformance/faultconnector", t.TempDir())
	stdiotest.BuildImage(t, bin, wrappedImageTag)
	var tr = transport{name: "image", timeout: 10 * time.Second,
		open: func(t *testing.T, s sc, dir string) connector.Connector {
			return openTransport(t, transports.Options{Image: wrappedImageTag, Network: "none", DockerArgs: []string{
				"--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), "-v", dir + ":" + dir,
				"-e", conformance.Env + "=" + s.String(), "-e", "FLOWSIM_FAULT_WRAP=1",
			}}, 10*time.Second)
		}}
	for _, s := range []sc{
		{Call: conformance.CallValidate, Fault: engine.FaultHang},
		{Call: conformance.CallLoad, Fault: engine.FaultHang},
		{Call: conformance.CallSpec, Fault: engine.FaultLinger},
		{Call: conformance.CallEnd, Fault: engine.FaultLinger},
	} {
		t.Run(strings.ReplaceAll(s.String(), ":", "/"), func(t *testing.T) {
			runScenario(t, tr, s)
			var deadline = time.Now().Add(10 * time.Second)
			for {
				var out, err = exec.Command("docker", "ps", "--all", "--quiet", "--filter", "ancestor="+wrappedImageTag).Output()
				if err != nil {
					t.Fatalf("docker ps: %v", err)
				}
				var left = strings.Fields(string(out))
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s over image: containers %v of the wrapped connector outlived the run", s, left)
					_ = exec.Command("docker", append([]string{"rm", "--force"}, left...)...).Run()
					break
				}
				time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
			}
		})
	}
}
