package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/proxy"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest/echo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const cliArg = "proxy-cli"

func TestMain(m *testing.M) {
	stdiotest.Main()
	echo.Main()
	if len(os.Args) > 1 && os.Args[1] == cliArg {
		// This binary doubles as `flowsim connector-proxy`.
		var ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGTERM)
		var cmd = proxy.NewCommand()
		cmd.SetArgs(os.Args[2:])
		var err = cmd.ExecuteContext(ctx)
		stop()
		if err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProxy serves a stdio client of the fake connector in mode on a real TCP
// listener and returns a connected grpcconn client.
func startProxy(t *testing.T, mode string, opts proxy.Options) (*grpcconn.Client, *stdio.Client, func() error) {
	t.Helper()
	return startProxyWith(t, mode, opts, nil)
}

// startProxyOf is startProxy serving wrap(the stdio client).
func startProxyOf(t *testing.T, mode string, wrap func(connector.Connector) connector.Connector) (*grpcconn.Client, *stdio.Client) {
	t.Helper()
	var gc, sc, _ = startProxyWith(t, mode, proxy.Options{}, wrap)
	return gc, sc
}

func startProxyWith(t *testing.T, mode string, opts proxy.Options, wrap func(connector.Connector) connector.Connector) (*grpcconn.Client, *stdio.Client, func() error) {
	t.Helper()
	var sc, err = stdio.NewCommand(stdiotest.Command(mode), stdio.Options{CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ctx, cancel = context.WithCancel(context.Background())
	var done = make(chan error, 1)
	var served connector.Connector = sc
	if wrap != nil {
		served = wrap(sc)
	}
	go func() { done <- proxy.Serve(ctx, lis, proxy.NewServer(served), opts) }()
	var stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { stop() })

	gc, err := grpcconn.Dial(context.Background(), lis.Addr().String(), grpcconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gc.Close() })
	return gc, sc, stop
}

func TestProxyEndToEnd(t *testing.T) {
	for _, mode := range []string{stdiotest.ModeOK, stdiotest.ModeOct} {
		t.Run(mode, func(t *testing.T) {
			var gc, sc, _ = startProxy(t, mode, proxy.Options{})
			var ctx = context.Background()
			if spec, err := gc.Spec(ctx, &materialize.SpecRequest{}); err != nil || spec.DocumentationUrl != "https://example.com/stdiotest" {
				t.Fatalf("Spec: %v, %v", spec, err)
			}
			if resp, err := gc.ApplyUpsert(ctx, &materialize.ApplyRequest{Version: "v9"}); err != nil || resp.ActionDescription != "upsert v9" {
				t.Fatalf("ApplyUpsert: %v, %v", resp, err)
			}
			if err := stdiotest.Exercise(ctx, gc, 5000); err != nil {
				t.Fatal(err)
			}
			// The proxy adapts an Oct 2021 child: its clients always see the 2021
			// service, whose transactions they drive as 2021-12 and 2022 both accept.
			if got := gc.Info().Protocol; got != connector.Compat {
				t.Errorf("endpoint protocol = %s, want %s", got, connector.Compat)
			}
			var want = connector.Compat
			if mode == stdiotest.ModeOct {
				want = connector.Oct2021
			}
			if got := sc.Info().Protocol; got != want {
				t.Errorf("child protocol = %s, want %s", got, want)
			}
			if n := sc.Running(); n != 0 {
				t.Errorf("%d connector processes still running", n)
			}
		})
	}
}

func TestProxyConnectorFailures(t *testing.T) {
	t.Run("exit non-zero", func(t *testing.T) {
		var gc, _, _ = startProxy(t, stdiotest.ModeExit3, proxy.Options{})
		var _, err = gc.Validate(context.Background(), &materialize.ValidateRequest{})
		if status.Code(errors.Unwrap(err)) != codes.Unknown {
			t.Errorf("code = %v, want Unknown: %v", status.Code(errors.Unwrap(err)), err)
		}
		for _, want := range []string{"validate: exit code 3", "error: invalid endpoint config: missing host"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not contain %q", err, want)
			}
		}
	})
	t.Run("killed mid-stream", func(t *testing.T) {
		var gc, sc, _ = startProxy(t, stdiotest.ModeDieOnLoad, proxy.Options{})
		var err = stdiotest.Exercise(context.Background(), gc, 10)
		for _, want := range []string{"transactions: exit code 7", "panic: disk on fire"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not contain %q", err, want)
			}
		}
		if n := sc.Running(); n != 0 {
			t.Errorf("%d connector processes still running", n)
		}
	})
}

// A connector killed by a signal in the middle of a stream: the caller learns how it
// died and sees the end of its stderr.
func TestProxyChildKilledBySignal(t *testing.T) {
	var gc, sc, _ = startProxy(t, stdiotest.ModeKilledOnLoad, proxy.Options{})
	var err = stdiotest.Exercise(context.Background(), gc, 10)
	for _, want := range []string{"transactions: killed by signal: killed", "loading…"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "sent by flowsim") {
		t.Errorf("the proxy claims it killed the connector: %v", err)
	}
	if n := sc.Running(); n != 0 {
		t.Errorf("%d connector processes still running", n)
	}
}

// On shutdown, an in-flight stream that does not finish within the grace period is
// cancelled and its connector reaped before Serve returns.
func TestProxyShutdownCancelsStream(t *testing.T) {
	var gc, sc, stop = startProxy(t, stdiotest.ModeHangPrepare, proxy.Options{Grace: 200 * time.Millisecond})
	var stream, err = gc.Transactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*materialize.TransactionRequest{
		{Open: &materialize.TransactionRequest_Open{}},
		{Acknowledge: &materialize.TransactionRequest_Acknowledge{}},
		{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("x")}},
	} {
		if err = stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"Opened", "Acknowledged"} {
		if m, err := stream.Recv(); err != nil {
			t.Fatalf("awaiting %s: %v", want, err)
		} else if !strings.Contains(m.String(), strings.ToLower(want[:1])+want[1:]) {
			t.Fatalf("awaiting %s: got %v", want, m)
		}
	}
	if n := sc.Running(); n != 1 {
		t.Fatalf("%d connector processes running, want 1", n)
	}
	if err = stop(); err != nil {
		t.Fatal(err)
	}
	if n := sc.Running(); n != 0 {
		t.Errorf("after shutdown %d connector processes still running", n)
	}
	if _, err = stream.Recv(); err == nil {
		t.Error("the stream survived the shutdown")
	}
}

// The real command passes the connector's stderr through to its own.
func TestProxyCommandPassesStderr(t *testing.T) {
	var _, lines, addr = startProxyCommand(t, stdiotest.ModeExit3)
	gc, err := grpcconn.Dial(context.Background(), addr, grpcconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if _, err = gc.Spec(context.Background(), &materialize.SpecRequest{}); err == nil {
		t.Fatal("Spec succeeded")
	}
	// The line the connector wrote is on the proxy's stderr (and the call has returned,
	// so it was written before the error was sent).
	for lines.Scan() {
		if lines.Text() == "error: invalid endpoint config: missing host" {
			return
		}
	}
	t.Fatal("the connector's stderr never reached the proxy's stderr")
}

// The real command: readiness on stderr, health SERVING, and on SIGTERM an
// in-flight stream is allowed to finish before the process exits 0.
func TestProxyCommandSigterm(t *testing.T) {
	var cmd, lines, addr = startProxyCommand(t, stdiotest.ModeOK)
	var rest = make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var ctx = context.Background()
	watch, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", st, err)
	}

	var stream, _ = materialize.NewDriverClient(cc).Transactions(ctx)
	var send = func(m *materialize.TransactionRequest) {
		t.Helper()
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	var recv = func(ok func(*materialize.TransactionResponse) bool) {
		t.Helper()
		if m, err := stream.Recv(); err != nil || !ok(m) {
			t.Fatalf("got %v, %v", m, err)
		}
	}
	send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}})
	recv(func(m *materialize.TransactionResponse) bool { return m.Opened != nil })

	if err = cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after SIGTERM: %v, %v", st, err)
	}
	watch.CloseSend()

	// The in-flight stream still completes a transaction.
	send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}})
	recv(func(m *materialize.TransactionResponse) bool { return m.Acknowledged != nil })
	send(&materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("x")}})
	recv(func(m *materialize.TransactionResponse) bool { return m.Prepared != nil })
	send(&materialize.TransactionRequest{Commit: &materialize.TransactionRequest_Commit{}})
	recv(func(m *materialize.TransactionResponse) bool { return m.DriverCommitted != nil })
	if err = stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, %v", m, err)
	}
	cc.Close() // ends the Watch stream too, so that GracefulStop completes

	if err = cmd.Wait(); err != nil {
		t.Fatalf("the proxy exited with %v", err)
	}
	if out := <-rest; !strings.Contains(out, "flowsim connector-proxy: stopped") {
		t.Errorf("stderr after SIGTERM: %q", out)
	}
}

// startProxyCommand runs `flowsim connector-proxy` (this test binary) in front of a
// fake connector in mode, and returns the process, its stderr lines after the
// readiness line, and the address it serves on.
func startProxyCommand(t *testing.T, mode string) (*exec.Cmd, *bufio.Scanner, string) {
	t.Helper()
	var self, _ = os.Executable()
	var cmd = exec.Command(self, append([]string{cliArg, "--listen", "127.0.0.1:0", "--"}, stdiotest.Command(mode)...)...)
	var stderr, err = cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var lines = bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "serving materialize.Driver on "); ok {
			addr, _, _ = strings.Cut(rest, " ")
		}
	}
	if addr == "" {
		t.Fatal("the proxy never said where it serves")
	}
	return cmd, lines, addr
}
