package stdio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/lib/redact"
)

// StderrTail is how many trailing bytes of a connector's stderr an error carries.
const StderrTail = 4 << 10

// CallError is the failure of one connector process: what went wrong on flowsim's
// side (a framing error, a deadline), how the process exited, and the end of its
// stderr. errors.Is sees through it to Err (for example ErrTruncated).
type CallError struct {
	// Call is the subcommand: spec, validate, apply-upsert, apply-delete, apply or transactions.
	Call string
	// Target names the connector: its command line or image.
	Target string
	// Err is the failure seen by flowsim, or nil when the exit status says it all.
	Err error
	// ExitCode is the process's exit code, -1 when it was killed by a signal, and 0
	// when it exited cleanly or its status is unknown.
	ExitCode int
	// Exit describes the exit status ("exit code 3", "killed by signal: killed"),
	// empty when the process exited cleanly.
	Exit string
	// Stderr is the last StderrTail bytes the process wrote to stderr.
	Stderr string
	// Cleanup is why removing the process's container after a kill failed, if it did.
	Cleanup string
}

func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector %s %s", e.Target, e.Call)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Exit != "" {
		fmt.Fprintf(&b, ": %s", e.Exit)
	}
	if e.Cleanup != "" {
		fmt.Fprintf(&b, "; %s", e.Cleanup)
	}
	if s := strings.TrimRight(e.Stderr, "\n"); s != "" {
		fmt.Fprintf(&b, "; stderr (last %d bytes):\n%s", len(e.Stderr), s)
	} else if e.Exit != "" {
		b.WriteString("; stderr was empty")
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// tailWriter keeps the last StderrTail bytes written (redacted first when red is
// set, see newTailWriter) and passes everything through.
type tailWriter struct {
	mu   sync.Mutex
	buf  []byte
	pass io.Writer
	cut  bool           // bytes before buf were dropped
	red  *redact.Writer // into keep, when set
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pass != nil {
		_, _ = t.pass.Write(p) // a failing pass-through must not break the connector
	}
	if t.red != nil {
		_, _ = t.red.Write(p) // into keep
	} else {
		t.keep(p)
	}
	return len(p), nil
}

// keep appends p to the tail; t.mu is held.
func (t *tailWriter) keep(p []byte) {
	if len(p) >= StderrTail {
		t.cut = t.cut || len(p) > StderrTail || len(t.buf) > 0
		t.buf = append(t.buf[:0], p[len(p)-StderrTail:]...)
	} else {
		if over := len(t.buf) + len(p) - StderrTail; over > 0 {
			t.buf = append(t.buf[:0], t.buf[over:]...)
			t.cut = true
		}
		t.buf = append(t.buf, p...)
	}
}

// String is the tail. When its start was dropped, it begins at a line: a cut in the
// middle of a line could leave part of a secret that redaction no longer recognises.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.red != nil {
		_ = t.red.Close() // what it holds back (an unfinished secret as Marker)
	}
	var b = t.buf
	if i := bytes.IndexByte(b, '\n'); t.cut && i >= 0 && i < len(b)-1 {
		b = b[i+1:]
	} else if t.cut && t.red != nil {
		b = wholeMarker(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// proc is one connector process and its pipes.
type proc struct {
	call   string
	target string
	// what names the process in messages about waiting for it to exit.
	what   string
	cmd    *exec.Cmd
	stdin  *os.File // our end of its stdin
	stdout *os.File // our end of its stdout
	stderr *tailWriter
	done   chan struct{} // closed once reaped
	err    error         // of cmd.Wait, readable after done
	kill   func()        // ends the process (and its container)

	killOnce   sync.Once
	killed     chan struct{}
	cmu        sync.Mutex
	cleanupErr error // of removing the container after a kill; guarded by cmu
}

// processWhat names a plain connector process in messages about waits.
const processWhat = "the connector process"

// startProc runs argv with pipes on stdin and stdout. cleanup, if set, runs after a
// kill (to remove a container) and says why it failed. what names the process in
// messages about waiting for it to exit ("" is processWhat).
// track, if set, is called with true once the process started and with false once
// it is reaped (before wait returns).
func startProc(call, target, what string, argv []string, env []string, stderr io.Writer, cleanup func() error, track func(*proc, bool)) (*proc, error) {
	if what == "" {
		what = processWhat
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("creating stdout pipe: %w", err)
	}
	growPipe(inW)
	growPipe(outR)
	var p = &proc{
		call:   call,
		target: target,
		what:   what,
		cmd:    exec.Command(argv[0], argv[1:]...),
		stdin:  inW,
		stdout: outR,
		stderr: newTailWriter(stderr),
		done:   make(chan struct{}),
		killed: make(chan struct{}),
	}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdin = inR
	p.cmd.Stdout = outW
	p.cmd.Stderr = p.stderr
	// A grandchild holding stderr open must not keep Wait from returning.
	p.cmd.WaitDelay = 2 * time.Second
	newGroup(p.cmd) // a kill reaches the connector's children too

	err = p.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, &CallError{Call: call, Target: target, Err: fmt.Errorf("starting %s: %w", argv[0], err)}
	}
	p.kill = func() {
		p.killOnce.Do(func() {
			close(p.killed)
			killGroup(p.cmd.Process)
			// A process that escaped the group (setsid) may still hold its stdout:
			// whoever reads it must not wait for that process.
			time.AfterFunc(killedPipeGrace, func() { p.stdout.Close() })
			if cleanup != nil {
				var err = cleanup()
				p.cmu.Lock()
				p.cleanupErr = err
				p.cmu.Unlock()
			}
		})
	}
	if track != nil {
		track(p, true)
	}
	go func() {
		p.err = p.cmd.Wait()
		if track != nil {
			track(p, false)
		}
		close(p.done)
	}()
	return p, nil
}

// killedPipeGrace is how long the stdout of a killed process may stay open (its
// last frames read) before flowsim closes its own end.
const killedPipeGrace = 2 * time.Second

// wait reaps the process, killing it if it is still running after grace; it
// reports whether it had to kill it. After a kill it waits at most
// connector.KillTimeout for the process to be reaped.
func (p *proc) wait(grace time.Duration) (killed bool) {
	if grace > 0 {
		var t = time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return false
		case <-t.C:
		}
	}
	p.kill()
	p.reaped(connector.KillTimeout)
	return true
}

// reaped waits at most d for the process to be reaped, and reports whether it was.
func (p *proc) reaped(d time.Duration) bool {
	var t = time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// exitStatus describes how the reaped process exited.
func (p *proc) exitStatus() (code int, desc string) {
	select {
	case <-p.done:
	default: // not reaped within the bound of a wait after a kill
		return -1, fmt.Sprintf("still running %s after being killed", connector.KillTimeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, ""
	case errors.As(p.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			var how = "killed by signal: " + ws.Signal().String()
			select {
			case <-p.killed:
				how += " (sent by flowsim)"
			default:
			}
			return -1, how
		}
		return ee.ExitCode(), fmt.Sprintf("exit code %d", ee.ExitCode())
	default:
		return 0, p.err.Error()
	}
}

// callError builds the error of a call that failed with err (possibly nil when the
// exit status explains it). The process must have been reaped.
func (p *proc) callError(err error) *CallError {
	var code, desc = p.exitStatus()
	var ce = &CallError{Call: p.call, Target: p.target, Err: err, ExitCode: code, Exit: desc, Stderr: p.stderr.String()}
	p.cmu.Lock()
	if p.cleanupErr != nil {
		ce.Cleanup = p.cleanupErr.Error()
	}
	p.cmu.Unlock()
	return ce
}

// watch kills the process when ctx ends before it is reaped.
func (p *proc) watch(ctx context.Context) {
	go func() {
		select {
		case <-ctx.Done():
			p.kill()
		case <-p.done:
		}
	}()
}
