package transports_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/proxy/proxytest"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) {
	stdiotest.Main()
	proxytest.Main()
	os.Exit(m.Run())
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"/bin/connector", []string{"/bin/connector"}, ""},
		{"  a   b\tc ", []string{"a", "b", "c"}, ""},
		{`'/opt/my connector' --name "x y" z`, []string{"/opt/my connector", "--name", "x y", "z"}, ""},
		{`a\ b "q\"uote" 'it''s' ""`, []string{"a b", `q"uote`, "its", ""}, ""},
		{`"$HOME \n"`, []string{`$HOME \n`}, ""},
		{`'unterminated`, nil, "unterminated single quote"},
		{`"unterminated`, nil, "unterminated double quote"},
		{"   ", nil, "empty command"},
	} {
		var got, err = transports.SplitCommand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SplitCommand(%q): got %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", tc.in, err)
		} else if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("SplitCommand(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestAddFlags(t *testing.T) {
	var parse = func(args ...string) (transports.Options, error) {
		var o transports.Options
		var fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.AddFlags(fs)
		return o, fs.Parse(args)
	}
	var o, err = parse()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(transports.Options{Network: "host", Protocol: connector.Auto, MaxFrame: 64 << 20}, o); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	o, err = parse("--image", "conn:1", "--network", "flow", "--docker-arg=-v", "--docker-arg", "/d:/d",
		"--protocol", "2021-10", "--max-frame", "1024", "--call-timeout", "3s")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(transports.Options{Image: "conn:1", Network: "flow", DockerArgs: []string{"-v", "/d:/d"},
		Protocol: connector.Oct2021, MaxFrame: 1024, CallTimeout: 3 * time.Second}, o); d != "" {
		t.Errorf("parsed (-want +got):\n%s", d)
	}
	if _, err = parse("--protocol", "2020-01"); err == nil || !strings.Contains(err.Error(), "unknown protocol revision") {
		t.Errorf("bad --protocol: %v", err)
	}
}

func TestOpenSelection(t *testing.T) {
	var ctx = context.Background()
	if c, ok, err := transports.Open(ctx, transports.Options{}); c != nil || ok || err != nil {
		t.Fatalf("no transport flag: got %v, %v, %v; want nil, false, nil", c, ok, err)
	}
	for _, tc := range []struct {
		o    transports.Options
		want string
	}{
		{transports.Options{Command: "x", Endpoint: "y:1"}, "--command and --endpoint are mutually exclusive"},
		{transports.Options{Command: "x", Image: "i", Endpoint: "y:1"}, "--command and --image and --endpoint are mutually exclusive"},
		{transports.Options{Command: `"/bin/x`}, "--command: unterminated double quote"},
	} {
		var _, ok, err = transports.Open(ctx, tc.o)
		var ue *transports.UsageError
		if ok || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v): got %v, %v; want a UsageError %q", tc.o, ok, err, tc.want)
		}
	}
	// Not a usage error: the flags are fine, the binary is missing.
	var _, _, err = transports.Open(ctx, transports.Options{Command: "/nonexistent/connector --flag"})
	var ue *transports.UsageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), `"/nonexistent/connector": no such file`) {
		t.Errorf("missing binary: %v", err)
	}
}

func TestOpenCommandAndEndpoint(t *testing.T) {
	var ctx = context.Background()
	var argv = stdiotest.Command(stdiotest.ModeOct)
	var c, ok, err = transports.Open(ctx, transports.Options{Command: fmt.Sprintf("'%s' %s %s", argv[0], argv[1], argv[2])})
	if err != nil || !ok {
		t.Fatalf("Open --command: %v, %v", ok, err)
	}
	if _, err = c.ApplyUpsert(ctx, &materialize.ApplyRequest{Version: "v1"}); err != nil { // detects the revision
		t.Fatal(err)
	}
	if err = stdiotest.Exercise(ctx, c, 100); err != nil {
		t.Fatal(err)
	}
	if got := c.Info(); got.Transport != "command" || got.Protocol != connector.Oct2021 {
		t.Errorf("Info() = %v", got)
	}
	c.Close()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var gs = grpc.NewServer()
	materialize.RegisterDriverServer(gs, stdiotest.NewServer())
	go gs.Serve(lis)
	defer gs.Stop()
	c, ok, err = transports.Open(ctx, transports.Options{Endpoint: lis.Addr().String(), Protocol: connector.Dec2021})
	if err != nil || !ok {
		t.Fatalf("Open --endpoint: %v, %v", ok, err)
	}
	defer c.Close()
	if err = stdiotest.Exercise(ctx, c, 100); err != nil {
		t.Fatal(err)
	}
	if got := c.Info(); got.Transport != "endpoint" || got.Protocol != connector.Dec2021 {
		t.Errorf("Info() = %v", got)
	}
}

func TestOpenImageDockerArgsEnv(t *testing.T) {
	stdiotest.RequireDocker(t)
	var bin = stdiotest.BuildStatic(t, "github.com/flowsim/flowsim/connector/stdio/stdiotest/fakeconnector", t.TempDir())
	var tag = fmt.Sprintf("flowsim-transports-test:%d", os.Getpid())
	stdiotest.BuildImage(t, bin, tag)

	// The mode reaches the container only through $FLOWSIM_DOCKER_ARGS.
	t.Setenv(transports.DockerArgsEnv, "-e '"+stdiotest.ModeEnv+"="+stdiotest.ModeOct+"'")
	var c, ok, err = transports.Open(context.Background(), transports.Options{Image: tag, Network: "none"})
	if err != nil || !ok {
		t.Fatalf("Open --image: %v, %v", ok, err)
	}
	defer c.Close()
	if _, err = c.ApplyUpsert(context.Background(), &materialize.ApplyRequest{Version: "v1"}); err != nil { // detects the revision
		t.Fatal(err)
	}
	if err = stdiotest.Exercise(context.Background(), c, 100); err != nil {
		t.Fatal(err)
	}
	if got := c.Info(); got.Transport != "image" || got.Target != tag || got.Protocol != connector.Oct2021 {
		t.Errorf("Info() = %v", got)
	}
}
