package stdio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
)

func TestMain(m *testing.M) {
	stdiotest.Main() // this binary doubles as the connector under test
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of stderr copying.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newClient(t *testing.T, mode string, opts stdio.Options) *stdio.Client {
	t.Helper()
	var c, err = stdio.NewCommand(stdiotest.Command(mode), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCommandBothRevisions(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		protocol  connector.Revision
		want      connector.Revision
		deleteErr string
	}{
		{stdiotest.ModeOK, connector.Auto, connector.Compat, ""},
		{stdiotest.ModeOK, connector.Dec2021, connector.Dec2021, ""},
		{stdiotest.ModeOct, connector.Auto, connector.Oct2021, "speaks protocol 2021-10: the connector's protocol has no apply-delete"},
		{stdiotest.ModeOct, connector.Oct2021, connector.Oct2021, "speaks protocol 2021-10: the connector's protocol has no apply-delete"},
	} {
		t.Run(tc.mode+"/"+string(tc.protocol), func(t *testing.T) {
			var ctx = context.Background()
			var c = newClient(t, tc.mode, stdio.Options{Protocol: tc.protocol, CallTimeout: time.Minute})

			var spec, err = c.Spec(ctx, &materialize.SpecRequest{})
			if err != nil {
				t.Fatal(err)
			} else if spec.DocumentationUrl != "https://example.com/stdiotest" {
				t.Fatalf("spec: %v", spec)
			}
			if _, err = c.Validate(ctx, &materialize.ValidateRequest{}); err != nil {
				t.Fatal(err)
			}
			applied, err := c.ApplyUpsert(ctx, &materialize.ApplyRequest{Version: "v7"})
			if err != nil {
				t.Fatal(err)
			} else if applied.ActionDescription != "upsert v7" {
				t.Fatalf("apply: %v", applied)
			}
			if got := c.Info().Protocol; got != tc.want {
				t.Fatalf("Info().Protocol = %s, want %s", got, tc.want)
			}
			deleted, err := c.ApplyDelete(ctx, &materialize.ApplyRequest{Version: "v7"})
			if tc.deleteErr == "" && (err != nil || deleted.ActionDescription != "delete v7") {
				t.Fatalf("apply-delete: %v, %v", deleted, err)
			} else if tc.deleteErr != "" && (err == nil || !strings.Contains(err.Error(), tc.deleteErr)) {
				t.Fatalf("apply-delete: got %v, want an error containing %q", err, tc.deleteErr)
			}
			// The server is strict: Prepare without Acknowledge fails the stream, so an
			// Oct 2021 connector passes only if both adapters do their part.
			if err = stdiotest.Exercise(ctx, c, 2500); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Auto detects the revision once, on the real ApplyUpsert (the same request then goes
// to apply), and never probes before a transactions stream: a stream opened while the
// revision is still Auto speaks 2021-12.
func TestAutoDetectsOnTheRealApply(t *testing.T) {
	var c = newClient(t, stdiotest.ModeOct, stdio.Options{})
	if got := c.Info().Protocol; got != connector.Auto {
		t.Fatalf("before any call Info().Protocol = %s", got)
	}
	if resp, err := c.ApplyUpsert(context.Background(), &materialize.ApplyRequest{Version: "v7"}); err != nil || resp.ActionDescription != "upsert v7" {
		t.Fatalf("ApplyUpsert: %v, %v", resp, err)
	}
	if got := c.Info().Protocol; got != connector.Oct2021 {
		t.Fatalf("Info().Protocol = %s, want %s", got, connector.Oct2021)
	}
	if err := stdiotest.Exercise(context.Background(), c, 10); err != nil {
		t.Fatal(err)
	}

	var dec = newClient(t, stdiotest.ModeOK, stdio.Options{})
	if err := stdiotest.Exercise(context.Background(), dec, 10); err != nil {
		t.Fatal(err)
	}
	if got := dec.Info().Protocol; got != connector.Auto {
		t.Fatalf("a stream detected the revision (%s): only ApplyUpsert may", got)
	}
}

func TestCommandNotRunnable(t *testing.T) {
	var dir = t.TempDir()
	var plain = filepath.Join(dir, "connector")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{filepath.Join(dir, "missing")}, "missing\": no such file"},
		{[]string{"flowsim-no-such-connector"}, `"flowsim-no-such-connector": not found in $PATH`},
		{[]string{plain}, "not executable (mode -rw-r--r--; try chmod +x)"},
		{[]string{dir}, "is a directory"},
		{nil, "connector command is empty"},
	} {
		var _, err = stdio.NewCommand(tc.argv, stdio.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCommand(%q): got %v, want an error containing %q", tc.argv, err, tc.want)
		}
	}
}

func TestUnaryFaults(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		opts     stdio.Options
		kind     error
		exitCode int
		parts    []string
	}{
		{stdiotest.ModeExit3, stdio.Options{}, nil, 3,
			[]string{"spec: exit code 3", "stderr (last 45 bytes):\nerror: invalid endpoint config: missing host"}},
		{stdiotest.ModeOversize, stdio.Options{MaxFrame: 1 << 20}, stdio.ErrOversize, -1,
			[]string{"frame #1 declares 2097152 bytes, more than the cap of 1048576 bytes"}},
		{stdiotest.ModeTruncated, stdio.Options{}, stdio.ErrTruncated, 0,
			[]string{"truncated frame #1: the stream ended after 10 of its 100 bytes"}},
		{stdiotest.ModeLogStdout, stdio.Options{}, stdio.ErrNotProtocol, -1,
			[]string{`non-protocol bytes where frame #1 should begin: "INFO connector starting up, reading config\n`, "a connector logging to stdout is a common bug"}},
		{stdiotest.ModeTrailing, stdio.Options{}, stdio.ErrNotProtocol, 0,
			[]string{`unexpected bytes on stdout after the response: "INFO done\n"`}},
		{stdiotest.ModeNoResponse, stdio.Options{}, nil, 0,
			[]string{"exited without writing a response to stdout"}},
		{stdiotest.ModeHang, stdio.Options{CallTimeout: 300 * time.Millisecond}, context.DeadlineExceeded, -1,
			[]string{"no response within 300ms (--call-timeout); the connector was killed", "killed by signal: killed (sent by flowsim)"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var c = newClient(t, tc.mode, tc.opts)
			var start = time.Now()
			var _, err = c.Spec(context.Background(), &materialize.SpecRequest{})
			var ce *stdio.CallError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *stdio.CallError", err)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not a %v", err, tc.kind)
			}
			if ce.ExitCode != tc.exitCode && !(tc.exitCode == -1 && ce.ExitCode <= 0) {
				t.Errorf("ExitCode = %d, want %d", ce.ExitCode, tc.exitCode)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the call took %s", d)
			}
		})
	}
}

func TestStderrTailAndPassThrough(t *testing.T) {
	var passed syncBuffer
	var c = newClient(t, stdiotest.ModeBigStderr, stdio.Options{Stderr: &passed})
	var _, err = c.Validate(context.Background(), &materialize.ValidateRequest{})
	var ce *stdio.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	if len(ce.Stderr) > stdio.StderrTail || len(ce.Stderr) < stdio.StderrTail-14 || !strings.HasPrefix(ce.Stderr, "log line ") {
		t.Errorf("stderr tail has %d bytes beginning %q, want whole lines of the last %d bytes", len(ce.Stderr), ce.Stderr[:min(len(ce.Stderr), 20)], stdio.StderrTail)
	}
	if !strings.HasSuffix(ce.Stderr, "log line 0999\n") || strings.Contains(ce.Stderr, "log line 0000") {
		t.Errorf("the tail must keep the end of stderr: %q…%q", ce.Stderr[:30], ce.Stderr[len(ce.Stderr)-30:])
	}
	if got := passed.String(); len(got) != 14000 || !strings.HasPrefix(got, "log line 0000\n") {
		t.Errorf("pass-through got %d bytes beginning %q, want all 14000", len(got), got[:min(len(got), 20)])
	}
}

func TestTransactionsFaults(t *testing.T) {
	t.Run("killed mid-stream", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeDieOnLoad, stdio.Options{Protocol: connector.Dec2021})
		var err = stdiotest.Exercise(context.Background(), c, 10)
		var ce *stdio.CallError
		if !errors.As(err, &ce) || ce.ExitCode != 7 {
			t.Fatalf("got %v, want a *stdio.CallError with exit code 7", err)
		}
		for _, p := range []string{"transactions: exit code 7", "panic: disk on fire"} {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not contain %q", err, p)
			}
		}
	})
	t.Run("hangs on Prepare", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeHangPrepare, stdio.Options{Protocol: connector.Dec2021, CallTimeout: 10 * time.Second})
		var err = stdiotest.Exercise(context.Background(), c, 10)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no response to Prepare within 11s (--call-timeout 10s and a margin)") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		var c = newClient(t, stdiotest.ModeOK, stdio.Options{Protocol: connector.Dec2021})
		var ctx, cancel = context.WithCancel(context.Background())
		var stream, err = c.Transactions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err = stream.Recv(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel: got %v, want context.Canceled", err)
		}
		if err = stream.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send after cancel: got %v, want context.Canceled", err)
		}
	})
}

func TestServeSubcommands(t *testing.T) {
	var srv = stdiotest.NewServer()
	for _, tc := range []struct {
		args     []string
		protocol connector.Revision
		want     string
	}{
		{nil, "", "missing subcommand"},
		{[]string{"apply"}, connector.Dec2021, `unknown subcommand "apply"`},
		{[]string{"apply-upsert"}, connector.Oct2021, `unknown subcommand "apply-upsert" (protocol 2021-10`},
		{[]string{"spec"}, "", "spec: no request on stdin"},
	} {
		var err = stdio.Serve(context.Background(), srv, tc.args, strings.NewReader(""), new(bytes.Buffer), stdio.ServeOptions{Protocol: tc.protocol})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Serve(%q, %s): got %v, want %q", tc.args, tc.protocol, err, tc.want)
		}
	}
}

// Revision detection does not show the user the connector's complaint about the
// subcommand it does not know; other stderr still passes through.
func TestDetectionKeepsStderrQuiet(t *testing.T) {
	var passed syncBuffer
	var c = newClient(t, stdiotest.ModeOct, stdio.Options{Stderr: &passed})
	if _, err := c.ApplyUpsert(context.Background(), &materialize.ApplyRequest{}); err != nil {
		t.Fatal(err)
	}
	if c.Info().Protocol != connector.Oct2021 {
		t.Fatalf("Info().Protocol = %s", c.Info().Protocol)
	}
	if strings.Contains(passed.String(), "unknown subcommand") {
		t.Errorf("the probe's stderr was passed through: %q", passed.String())
	}
	var c3 = newClient(t, stdiotest.ModeExit3, stdio.Options{Stderr: &passed})
	if _, err := c3.ApplyUpsert(context.Background(), &materialize.ApplyRequest{}); err == nil {
		t.Fatal("exit3 succeeded")
	}
	if !strings.Contains(passed.String(), "missing host") {
		t.Errorf("a real failure's stderr was not passed through: %q", passed.String())
	}
}

// A connector that dies while flowsim only sends (its unread responses fill every
// buffer): Send still returns promptly, with the exit status.
func TestSendAfterDeathWithUnreadResponses(t *testing.T) {
	var c = newClient(t, stdiotest.ModeFloodThenDie, stdio.Options{Protocol: connector.Dec2021})
	var stream, err = c.Transactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err = stream.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); err != nil {
		t.Fatal(err)
	}
	var load = &materialize.TransactionRequest{Load: &materialize.TransactionRequest_Load{
		Arena: []byte("k"), PackedKeys: []flow.Slice{{Begin: 0, End: 1}}}}
	var prepare = &materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("x")}}
	for i := 0; err == nil; i++ {
		if i == 1_000_000 {
			t.Fatal("Send kept succeeding after the connector exited")
		}
		err = stream.Send(load)
		if err == nil && i%1000 == 0 {
			err = stream.Send(prepare) // flushes
		}
	}
	var ce *stdio.CallError
	if !errors.As(err, &ce) || ce.ExitCode != 9 || !strings.Contains(ce.Stderr, "flooded") {
		t.Fatalf("got %v, want exit code 9 with its stderr", err)
	}
}

// The raw stream relays encoded messages, with the same Oct 2021 adaptation.
func TestTransactionsRaw(t *testing.T) {
	for _, mode := range []string{stdiotest.ModeOK, stdiotest.ModeOct} {
		t.Run(mode, func(t *testing.T) {
			var rev = connector.Dec2021
			if mode == stdiotest.ModeOct {
				rev = connector.Oct2021
			}
			var c = newClient(t, mode, stdio.Options{Protocol: rev, CallTimeout: time.Minute})
			var stream, err = c.TransactionsRaw(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range []struct {
				req  *materialize.TransactionRequest
				want func(*materialize.TransactionResponse) bool
			}{
				{&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}},
					func(m *materialize.TransactionResponse) bool { return m.Opened != nil }},
				{&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}},
					func(m *materialize.TransactionResponse) bool { return m.Acknowledged != nil }},
				{&materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("x")}},
					func(m *materialize.TransactionResponse) bool { return m.Prepared != nil }},
				{&materialize.TransactionRequest{Commit: &materialize.TransactionRequest_Commit{}},
					func(m *materialize.TransactionResponse) bool { return m.DriverCommitted != nil }},
			} {
				var b, _ = step.req.Marshal()
				if err = stream.SendRaw(b); err != nil {
					t.Fatal(err)
				}
				b, err = stream.RecvRaw()
				var m materialize.TransactionResponse
				if err != nil || m.Unmarshal(b) != nil || !step.want(&m) {
					t.Fatalf("after %v: got %v (%q), %v", step.req, &m, b, err)
				}
			}
			if err = stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if b, err := stream.RecvRaw(); err != io.EOF {
				t.Fatalf("after CloseSend: %q, %v", b, err)
			}
		})
	}
}
