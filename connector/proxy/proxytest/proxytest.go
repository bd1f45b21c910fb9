// Package proxytest runs `connector-proxy` as a child process of a test binary: the
// test binary re-executes itself as the proxy (Main, called first in TestMain), and
// Serve starts it in front of a connector command and returns its address.
package proxytest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector/proxy"
)

// Arg is the argv[1] that makes a test binary run connector-proxy.
const Arg = "connector-proxy"

// CPUProfileEnv, when set, is where the re-executed proxy writes a CPU profile (for
// profiling benchmarks through the proxy).
const CPUProfileEnv = "FLOWSIM_TEST_PROXY_CPUPROFILE"

// Main runs this process as `connector-proxy ARGS...` when os.Args[1] is Arg, and
// exits with 0, or 2 when the proxy failed. Otherwise it returns at once.
func Main() {
	if len(os.Args) < 2 || os.Args[1] != Arg {
		return
	}
	if path := os.Getenv(CPUProfileEnv); path != "" {
		if f, err := os.Create(path); err == nil {
			_ = pprof.StartCPUProfile(f)
		}
	}
	var ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGTERM)
	var cmd = proxy.NewCommand()
	cmd.SetArgs(os.Args[2:])
	var err = cmd.ExecuteContext(ctx)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connector-proxy:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// Serve runs this test binary as `connector-proxy --listen 127.0.0.1:0 FLAGS... --
// ARGV...` and returns the address it serves on. The test's cleanup stops it with
// SIGTERM and fails the test unless it exits cleanly within 30s.
func Serve(tb testing.TB, flags []string, argv ...string) string {
	tb.Helper()
	var self, err = os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	var args = append(append([]string{Arg, "--listen", "127.0.0.1:0"}, flags...), "--")
	var cmd = exec.Command(self, append(args, argv...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var lines = bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "serving materialize.Driver on "); ok {
			addr, _, _ = strings.Cut(rest, " ")
		}
	}
	if addr == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		tb.Fatal("connector-proxy never said it was serving")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }() // the connectors' stderr, passed through
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var done = make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("connector-proxy exited with %v after SIGTERM", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			tb.Errorf("connector-proxy did not stop within 30s of SIGTERM")
		}
	})
	return addr
}
