package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary be flowsim itself (FLOWSIM_MAIN_TEST=1), its
// signal handling included.
func TestMain(m *testing.M) {
	if os.Getenv("FLOWSIM_MAIN_TEST") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// running reports whether pid runs (a zombie does not).
func running(pid int) bool {
	var stat, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	var i = bytes.LastIndexByte(stat, ')')
	return i < 0 || len(stat) <= i+2 || stat[i+2] != 'Z'
}

// SIGINT and SIGTERM end a run as interrupted, with exit code 130 and 143, and stop
// the connector: here a wrapper script whose child hangs in the transactions stream.
func TestSignalEndsTheRunAsInterrupted(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no /bin/bash for the wrapper script")
	}
	var self, _ = os.Executable()
	for _, c := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(c.name, func(t *testing.T) {
			var dir = t.TempDir()
			var script, pids = filepath.Join(dir, "connector.sh"), filepath.Join(dir, "pids")
			os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/bash
if [ "$1" = transactions ]; then
	sleep 1000 <&0 &
	echo $! > '%s'
	wait $!
	exit $?
fi
exec '%s' reference-connector "$@"
`, pids, self)), 0o755)

			var stdout, stderr bytes.Buffer
			var cmd = exec.Command(self, "matsim", "basic", "--command", script, "--loops", "1", "--start", "10")
			cmd.Env = append(os.Environ(), "FLOWSIM_MAIN_TEST=1")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var exited = make(chan error, 1)
			go func() { exited <- cmd.Wait() }()

			// Once the stream's child runs, signal flowsim.
			var child int
			for deadline := time.Now().Add(time.Minute); child == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the transactions stream did not start:\n%s%s", stdout.String(), stderr.String())
				}
				var b, _ = os.ReadFile(pids)
				child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			defer syscall.Kill(child, syscall.SIGKILL) // should it have survived
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("flowsim did not exit within 30s of %s", c.name)
			}
			if got := cmd.ProcessState.ExitCode(); got != c.code {
				t.Errorf("exit code %d after %s, want %d", got, c.name, c.code)
			}
			if !strings.HasPrefix(stdout.String(), "matsim basic: INTERRUPTED (interrupted by "+c.name) || strings.Contains(stdout.String(), "connector.error") {
				t.Errorf("report after %s:\n%s", c.name, stdout.String())
			}
			var stopped = time.Now().Add(5 * time.Second)
			for running(child) && time.Now().Before(stopped) {
				time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
			}
			if running(child) {
				t.Errorf("the connector's child (pid %d) outlived flowsim after %s", child, c.name)
			}
		})
	}
}
