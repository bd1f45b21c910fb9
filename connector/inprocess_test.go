package connector_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
)

// blockingServer's Transactions answers Open, then blocks on what a real driver
// blocks on (a database call bound to the stream's context), ignoring Recv.
type blockingServer struct {
	materialize.DriverServer
	running  atomic.Int32
	returned atomic.Bool
	ctxErr   atomic.Value
}

func (s *blockingServer) Transactions(stream materialize.Driver_TransactionsServer) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	defer s.returned.Store(true)
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	s.ctxErr.Store(stream.Context().Err())
	return stream.Context().Err()
}

// Kill returns only once the server's Transactions returned, its stream context
// having been cancelled.
func TestInProcessKillWaitsForTheServer(t *testing.T) {
	var srv = new(blockingServer)
	var c = connector.InProcess(srv, "blocking")
	var s, err = c.Transactions(context.Background())
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
	if !srv.returned.Load() || srv.running.Load() != 0 {
		t.Fatal("Kill returned while the server's Transactions was still running")
	}
	if e, _ := srv.ctxErr.Load().(error); !errors.Is(e, context.Canceled) {
		t.Errorf("the server's stream context ended with %v, want context.Canceled", e)
	}
	if _, err = s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after Kill: %v", err)
	}
	if err = s.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
}

// A clean close: CloseSend gives the server io.EOF, and Recv returns io.EOF once
// Transactions returned nil; responses sent before come first.
func TestInProcessCleanClose(t *testing.T) {
	var c = connector.InProcess(echoServer{}, "echo")
	var s, err = c.Transactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); err != nil {
		t.Fatal(err)
	}
	if err = s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Recv(); err != nil || m.Opened == nil {
		t.Fatalf("Recv: %v, %v", m, err)
	}
	if _, err = s.Recv(); err != io.EOF {
		t.Fatalf("Recv after the server returned: %v, want io.EOF", err)
	}
	if err = s.Send(&materialize.TransactionRequest{}); err == nil {
		t.Error("Send after CloseSend succeeded")
	}
}

type echoServer struct{ materialize.DriverServer }

func (echoServer) Transactions(stream materialize.Driver_TransactionsServer) error {
	for {
		var m, err = stream.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Open != nil {
			if err = stream.Send(&materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}); err != nil {
				return err
			}
		}
	}
}

// ignoresContext never returns from Spec, whatever its context says, and returns
// nothing at all from Validate.
type ignoresContext struct {
	materialize.DriverServer
	release chan struct{}
}

func (s ignoresContext) Spec(context.Context, *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	<-s.release
	return nil, errors.New("released")
}

func (s ignoresContext) Validate(context.Context, *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	return nil, nil
}

// A unary call is bounded by its context even when the server ignores it, and a
// server that answers nothing is an error, as a process exiting without an answer is.
func TestInProcessUnaryIsBounded(t *testing.T) {
	var srv = ignoresContext{release: make(chan struct{})}
	defer close(srv.release)
	var c = connector.InProcess(srv, "stuck")
	var ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var start = time.Now()
	var _, err = c.Spec(ctx, &materialize.SpecRequest{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "in-process connector stuck: Spec did not return (its goroutine is left running)") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Spec returned after %s", d)
	}
	if _, err = c.Validate(context.Background(), &materialize.ValidateRequest{}); err == nil || !strings.Contains(err.Error(), "Validate returned neither a response nor an error") {
		t.Fatalf("got %v", err)
	}
}
