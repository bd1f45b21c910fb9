package grpcconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/grpc"
)

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	var lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var gs = grpc.NewServer()
	register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func TestDialBothRevisions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*grpc.Server)
		protocol connector.Revision
		want     connector.Revision
	}{
		{"dec2021/auto", func(gs *grpc.Server) { materialize.RegisterDriverServer(gs, stdiotest.NewServer()) }, connector.Auto, connector.Compat},
		{"oct2021/auto", func(gs *grpc.Server) { stdiotest.RegisterOct2021(gs, stdiotest.NewServer()) }, connector.Auto, connector.Oct2021},
		{"oct2021/forced", func(gs *grpc.Server) { stdiotest.RegisterOct2021(gs, stdiotest.NewServer()) }, connector.Oct2021, connector.Oct2021},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ctx = context.Background()
			var c, err = grpcconn.Dial(ctx, serve(t, tc.register), grpcconn.Options{Protocol: tc.protocol, CallTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			spec, err := c.Spec(ctx, &materialize.SpecRequest{})
			if err != nil || spec.DocumentationUrl != "https://example.com/stdiotest" {
				t.Fatalf("Spec: %v, %v", spec, err)
			}
			applied, err := c.ApplyUpsert(ctx, &materialize.ApplyRequest{Version: "v3"})
			if err != nil || applied.ActionDescription != "upsert v3" {
				t.Fatalf("ApplyUpsert: %v, %v", applied, err)
			}
			if got := c.Info().Protocol; got != tc.want {
				t.Fatalf("Info().Protocol = %s, want %s", got, tc.want)
			}
			if err = stdiotest.Exercise(ctx, c, 2500); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A stream opened before any ApplyUpsert does not probe: it speaks 2021-12.
func TestNoProbeBeforeTransactions(t *testing.T) {
	var addr = serve(t, func(gs *grpc.Server) { materialize.RegisterDriverServer(gs, noApply{stdiotest.NewServer()}) })
	var c, err = grpcconn.Dial(context.Background(), addr, grpcconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err = stdiotest.Exercise(context.Background(), c, 10); err != nil {
		t.Fatal(err)
	}
	if got := c.Info(); got.Protocol != connector.Auto || got.Transport != "endpoint" || got.Target != addr {
		t.Fatalf("Info() = %v", got)
	}
}

// noApply fails every ApplyUpsert: a probe would be seen.
type noApply struct{ *stdiotest.Server }

func (noApply) ApplyUpsert(context.Context, *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return nil, fmt.Errorf("ApplyUpsert was called")
}

func TestUnreachable(t *testing.T) {
	var lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var addr = lis.Addr().String()
	lis.Close() // nothing listens there now

	var start = time.Now()
	_, err = grpcconn.Dial(context.Background(), addr, grpcconn.Options{DialTimeout: time.Second})
	if err == nil {
		t.Fatal("Dial succeeded")
	}
	for _, want := range []string{`cannot reach connector endpoint "` + addr + `"`, "connection refused", "connector-proxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %s", d)
	}
}

// An address that is not HOST:PORT fails at once, naming it.
func TestUnparsableAddress(t *testing.T) {
	for _, addr := range []string{"localhost", "127.0.0.1:", "http://x:1/"} {
		var start = time.Now()
		var _, err = grpcconn.Dial(context.Background(), addr, grpcconn.Options{CallTimeout: time.Minute})
		if err == nil || !strings.Contains(err.Error(), "is not HOST:PORT") || !strings.Contains(err.Error(), addr) {
			t.Errorf("Dial(%q): %v", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Dial(%q) took %s", addr, d)
		}
	}
}

// Dialing an address nobody answers is bounded by the call timeout.
func TestDialBoundedByCallTimeout(t *testing.T) {
	var lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var addr = lis.Addr().String()
	lis.Close()
	_, err = grpcconn.Dial(context.Background(), addr, grpcconn.Options{CallTimeout: 700 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "within 700ms") {
		t.Fatalf("Dial: %v", err)
	}
}

// A permanent dial error (nothing listens, no such host) fails within seconds with
// the dial error, whatever --call-timeout says: gRPC alone would retry until it ran
// out.
func TestPermanentDialErrorFailsFast(t *testing.T) {
	var lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused = lis.Addr().String()
	lis.Close()
	for _, c := range []struct{ addr, says string }{
		{refused, "connection refused"},
		{"127.0.0.1:1", "connection refused"},
		{"flowsim-no-such-host.invalid:9000", "flowsim-no-such-host.invalid"},
	} {
		var ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second) // the test's own bound
		var start = time.Now()
		_, err := grpcconn.Dial(ctx, c.addr, grpcconn.Options{CallTimeout: 5 * time.Minute})
		cancel()
		var took = time.Since(start)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), `cannot reach connector endpoint "`+c.addr+`"`) {
			t.Errorf("Dial(%s): %v, want the dial error (%q)", c.addr, err, c.says)
		}
		if took > 10*time.Second {
			t.Errorf("Dial(%s) took %s with --call-timeout 5m, want seconds", c.addr, took.Round(time.Millisecond))
		}
		t.Logf("%s: %v (%s)", c.addr, err, took.Round(time.Millisecond))
	}
}

// failingCurrent serves today's service and fails every stream.
type failingCurrent struct{}

func (failingCurrent) Materialize(w.ServerStream) error {
	return errors.New("spec: the config is missing a host")
}

// A server of today's era whose Spec fails is a connector of today's era with a
// failing Spec (its error is the message), not one "in no era flowsim speaks"; a
// server with neither service is.
func TestAutoDetectionBlamesTheEraOnlyWhenNoServiceAnswers(t *testing.T) {
	var ctx = context.Background()
	var addr = serve(t, func(gs *grpc.Server) { w.RegisterConnectorServer(gs, failingCurrent{}) })
	var c, err = grpcconn.Dial(ctx, addr, grpcconn.Options{CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Spec(ctx, &materialize.SpecRequest{EndpointType: pf.EndpointType_FLOW_SINK, EndpointSpecJson: []byte(`{}`)})
	var era *connector.EraError
	if err == nil || errors.As(err, &era) || !strings.Contains(err.Error(), "the config is missing a host") || c.Info().Protocol != connector.Current {
		t.Fatalf("Spec of a failing connector of today's era: %v (protocol %s); want its own error, protocol %s", err, c.Info().Protocol, connector.Current)
	}

	var none = serve(t, func(*grpc.Server) {})
	c2, err := grpcconn.Dial(ctx, none, grpcconn.Options{CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err = c2.Spec(ctx, &materialize.SpecRequest{EndpointType: pf.EndpointType_FLOW_SINK, EndpointSpecJson: []byte(`{}`)}); !errors.As(err, &era) {
		t.Fatalf("Spec of a server with neither service: %v; want an EraError", err)
	}
}
