package connector_test

import (
	"errors"
	"io"
	"testing"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
)

// octSession is a 2021-10 connector's session: it fails on Acknowledge, which
// 2021-10 does not have.
type octSession struct {
	sent   []*materialize.TransactionRequest
	rx     chan *materialize.TransactionResponse
	end    chan error
	killed bool
}

func (s *octSession) Send(m *materialize.TransactionRequest) error {
	if m.Acknowledge != nil {
		return errors.New("protocol error: Acknowledge is not part of 2021-10")
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *octSession) Recv() (*materialize.TransactionResponse, error) {
	select {
	case m := <-s.rx:
		return m, nil
	case err := <-s.end:
		s.end <- err
		return nil, err
	}
}

func (s *octSession) CloseSend() error { return nil }
func (s *octSession) Kill() error {
	if !s.killed {
		s.killed = true
		s.end <- errors.New("killed")
	}
	return nil
}

func TestAdaptOct2021(t *testing.T) {
	var inner = &octSession{rx: make(chan *materialize.TransactionResponse, 4), end: make(chan error, 1)}
	var s = connector.AdaptOct2021(inner)
	var ack = &materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}
	var recv = func(what string, ok func(*materialize.TransactionResponse) bool) {
		t.Helper()
		var done = make(chan struct{})
		var m *materialize.TransactionResponse
		var err error
		go func() { m, err = s.Recv(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Recv of %s did not return", what)
		}
		if err != nil || !ok(m) {
			t.Fatalf("want %s, got %v, %v", what, m, err)
		}
	}
	if err := s.Send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{}}); err != nil {
		t.Fatal(err)
	}
	inner.rx <- &materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}
	recv("Opened", func(m *materialize.TransactionResponse) bool { return m.Opened != nil })

	// A Recv waiting on the connector is woken by the Acknowledge it must answer.
	var woken = make(chan *materialize.TransactionResponse, 1)
	go func() { m, _ := s.Recv(); woken <- m }()
	if err := s.Send(ack); err != nil {
		t.Fatalf("Acknowledge reached the 2021-10 connector: %v", err)
	}
	select {
	case m := <-woken:
		if m.Acknowledged == nil {
			t.Fatalf("want a synthesized Acknowledged, got %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Recv was not given the synthesized Acknowledged")
	}
	// Two in a row: two Acknowledged, before what the connector sends next.
	_ = s.Send(ack)
	_ = s.Send(ack)
	inner.rx <- &materialize.TransactionResponse{Prepared: &pf.DriverCheckpoint{}}
	recv("Acknowledged", func(m *materialize.TransactionResponse) bool { return m.Acknowledged != nil })
	recv("Acknowledged", func(m *materialize.TransactionResponse) bool { return m.Acknowledged != nil })
	recv("Prepared", func(m *materialize.TransactionResponse) bool { return m.Prepared != nil })
	if len(inner.sent) != 1 || inner.sent[0].Open == nil {
		t.Fatalf("the connector got %v", inner.sent)
	}
	// The end of the stream, every time it is asked.
	inner.end <- io.EOF
	for i := 0; i < 2; i++ {
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("want io.EOF, got %v", err)
		}
	}
}

// Kill ends a Recv waiting on the connector.
func TestAdaptOct2021Kill(t *testing.T) {
	var inner = &octSession{rx: make(chan *materialize.TransactionResponse), end: make(chan error, 1)}
	var s = connector.AdaptOct2021(inner)
	var got = make(chan error, 1)
	go func() { _, err := s.Recv(); got <- err }()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("Recv after Kill returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return after Kill")
	}
}
