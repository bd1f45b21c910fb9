package transports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/proxy"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/matsim/engine"
)

// slowToDie serves the reference connector's processes, each of which takes a while
// to stop once its stream is killed or cancelled (a connector still committing, a
// container runtime slow to remove it). A transactions stream opened while an
// earlier process is still running fails: that is the race recovery must not run.
type slowToDie struct {
	connector.Connector // not *stdio.Client: the proxy must not relay raw
	sc                  *stdio.Client
	delay               time.Duration
	early               atomic.Int32
}

type slowSession struct {
	connector.Session
	delay time.Duration
}

func (c *slowToDie) Transactions(ctx context.Context) (connector.Session, error) {
	if n := c.sc.Running(); n != 0 {
		c.early.Add(1)
		return nil, fmt.Errorf("a new transactions stream opened while %d earlier connector process(es) still ran", n)
	}
	var s, err = c.Connector.Transactions(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	var ss = &slowSession{Session: s, delay: c.delay}
	go func() {
		<-ctx.Done()
		_ = ss.Kill()
	}()
	return ss, nil
}

// CloseSend reaches the connector late: it is still busy with what came before.
func (s *slowSession) CloseSend() error {
	go func() {
		time.Sleep(s.delay)
		_ = s.Session.CloseSend()
	}()
	return nil
}

func (s *slowSession) Kill() error {
	time.Sleep(s.delay) // still committing
	return s.Session.Kill()
}

// recovery over the proxy opens the stream after the crash only once the proxy has
// confirmed that the crashed stream's connector process is gone.
func TestRecoveryThroughProxyWaitsForTheCrashedProcess(t *testing.T) {
	var dir = t.TempDir()
	var sc, err = stdio.NewCommand([]string{refBin(t)}, stdio.Options{CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var slow = &slowToDie{Connector: sc, sc: sc, delay: time.Second}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ctx, cancel = context.WithCancel(context.Background())
	var served = make(chan error, 1)
	go func() { served <- proxy.Serve(ctx, lis, proxy.NewServer(slow), proxy.Options{}) }()
	defer func() { cancel(); <-served }()

	gc, err := grpcconn.Dial(context.Background(), lis.Addr().String(), grpcconn.Options{CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	var rep = engine.Execute(context.Background(), engine.Options{
		Test: "recovery", Connector: gc,
		Config:   json.RawMessage(stateConfig(dir, "")),
		Resource: json.RawMessage(`{"name":"t"}`),
		Loops:    1, Start: 20, Batch: 10, Seed: 3, CallTimeout: time.Minute,
	})
	if !rep.Passed() {
		t.Fatalf("%s: %s", rep.Result.Check, rep.Result.Message)
	}
	if n := slow.early.Load(); n != 0 {
		t.Fatalf("%d stream(s) opened before the crashed connector process was gone", n)
	}
}
