package proxy_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/proxy"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
)

// Over the proxy, Kill returns once the proxy has reaped the connector process.
func TestKillThroughProxyReapsTheChild(t *testing.T) {
	for _, mode := range []string{stdiotest.ModeOK, stdiotest.ModeHangPrepare, stdiotest.ModeOct} {
		t.Run(mode, func(t *testing.T) {
			var gc, sc, _ = startProxy(t, mode, proxy.Options{})
			var s, err = gc.Transactions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err = s.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); err != nil {
				t.Fatal(err)
			}
			if m, err := s.Recv(); err != nil || m.Opened == nil {
				t.Fatalf("Recv: %v, %v", m, err)
			}
			if mode == stdiotest.ModeHangPrepare {
				for _, m := range []*materialize.TransactionRequest{
					{Acknowledge: &materialize.TransactionRequest_Acknowledge{}},
					{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("x")}},
				} {
					if err = s.Send(m); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n := sc.Running(); n != 1 {
				t.Fatalf("%d connector processes running, want 1", n)
			}
			if err = s.Kill(); err != nil {
				t.Fatal(err)
			}
			if n := sc.Running(); n != 0 {
				t.Fatalf("Kill returned while %d connector process(es) still ran", n)
			}
			if _, err = s.Recv(); err == nil {
				t.Fatal("Recv after Kill succeeded")
			}
		})
	}
}

// slowStop is a connector whose sessions take a while to stop once killed or
// cancelled, as a connector (or a container runtime) that is slow to die.
type slowStop struct {
	connector.Connector
	delay   time.Duration
	stopped atomic.Bool
}

type slowSession struct {
	connector.Session
	c *slowStop
}

func (c *slowStop) Transactions(ctx context.Context) (connector.Session, error) {
	var s, err = c.Connector.Transactions(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	var ss = &slowSession{Session: s, c: c}
	go func() {
		<-ctx.Done()
		_ = ss.Kill()
	}()
	return ss, nil
}

func (s *slowSession) Kill() error {
	time.Sleep(s.c.delay) // the connector takes its time to die
	var err = s.Session.Kill()
	s.c.stopped.Store(true)
	return err
}

// Kill waits for the proxy's confirmation, however long the connector takes to stop.
func TestKillWaitsForASlowConnector(t *testing.T) {
	var slow = &slowStop{delay: 300 * time.Millisecond}
	var gc, sc = startProxyOf(t, stdiotest.ModeOK, func(c connector.Connector) connector.Connector {
		slow.Connector = c
		return slow
	})
	var s, err = gc.Transactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Recv(); err != nil || m.Opened == nil {
		t.Fatalf("Recv: %v, %v", m, err)
	}
	if err = s.Kill(); err != nil {
		t.Fatal(err)
	}
	if !slow.stopped.Load() || sc.Running() != 0 {
		t.Fatalf("Kill returned before the connector stopped (stopped %v, %d running)", slow.stopped.Load(), sc.Running())
	}
}

var _ = grpcconn.KillReaped
