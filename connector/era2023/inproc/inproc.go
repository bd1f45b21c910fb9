// Package inproc runs a real current-era connector (a
// github.com/estuary/flow/go/protocols/materialize ConnectorServer, as today's
// connectors are built) inside flowsim's process, and gives the runtime's side of
// its Materialize stream in flowsim's own messages (protocol/wire2023). Every
// message crosses as bytes (wire2023 ↔ protobuf ↔ the real module), exactly as
// on a connector's stdin and stdout, so what the connector reads is what it would
// read from the runtime.
//
// This lets matsim.Run work from a current connector's own main. The package
// links the real current-era module and so must never link
// github.com/estuary/protocols (both register the same gogo names; a binary with
// both panics at start-up): its tests check its dependencies.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"

	pm "github.com/estuary/flow/go/protocols/materialize"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Stream is the runtime's side of one Materialize stream of an in-process
// connector. Send and CloseSend may be called from one goroutine while Recv is
// called from another.
type Stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	reqs   chan []byte // encoded requests; closed by CloseSend
	resps  chan []byte // encoded responses
	done   chan struct{}
	err    error // Materialize's result, readable once done is closed
	once   sync.Once
	closed atomic.Bool // CloseSend was called
}

var _ w.ClientStream = (*Stream)(nil)

// Open starts srv.Materialize on a new stream. Cancelling ctx, or Kill, ends it.
func Open(ctx context.Context, srv pm.ConnectorServer) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	var s = &Stream{
		ctx: ctx, cancel: cancel,
		reqs: make(chan []byte), resps: make(chan []byte), done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		defer func() {
			if p := recover(); p != nil {
				s.err = fmt.Errorf("connector panicked: %v\n%s", p, debug.Stack())
			}
		}()
		s.err = srv.Materialize(&server{s: s})
	}()
	return s
}

// Context is the stream's context; it ends with Kill.
func (s *Stream) Context() context.Context { return s.ctx }

// Send passes a request to the connector; it blocks until the connector reads it.
// It must not be called concurrently with CloseSend.
// Once the connector returned from Materialize it returns io.EOF (Recv returns
// the connector's error).
func (s *Stream) Send(r *w.Request) error {
	if s.closed.Load() {
		return errors.New("send after CloseSend")
	}
	var b, err = proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding request: %w", err)
	}
	select {
	case s.reqs <- b:
		return nil
	case <-s.done:
		return io.EOF
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// CloseSend ends the requests: the connector's next Recv returns io.EOF.
func (s *Stream) CloseSend() error {
	s.once.Do(func() { s.closed.Store(true); close(s.reqs) })
	return nil
}

// Recv returns the next response; io.EOF once the connector returned nil from
// Materialize, or the error it returned.
func (s *Stream) Recv() (*w.Response, error) {
	select {
	case b := <-s.resps:
		var r = new(w.Response)
		if err := proto.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("decoding the connector's response: %w", err)
		}
		return r, nil
	case <-s.done:
		// A Send of the connector completes only when Recv took its message, so
		// nothing is pending once Materialize returned.
		if s.err == nil {
			return nil, io.EOF
		}
		return nil, s.err
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

// Kill ends the stream as a crash of the runtime does: the connector's context is
// cancelled and its Recv and Send fail. It returns once Materialize returned, or
// with ctx's error if that comes first.
func (s *Stream) Kill(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("in-process connector did not return from Materialize after the stream was killed: %w", ctx.Err())
	}
}

// Wait returns Materialize's result once it returned.
func (s *Stream) Wait() error {
	<-s.done
	return s.err
}

// server is the connector's side: the real module's Connector_MaterializeServer.
type server struct{ s *Stream }

var _ pm.Connector_MaterializeServer = (*server)(nil)

func (c *server) Send(r *pm.Response) error {
	var b, err = r.Marshal()
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	select {
	case c.s.resps <- b:
		return nil
	case <-c.s.ctx.Done():
		return c.s.ctx.Err()
	}
}

func (c *server) Recv() (*pm.Request, error) {
	var r = new(pm.Request)
	if err := c.RecvMsg(r); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *server) RecvMsg(m any) error {
	var r, ok = m.(*pm.Request)
	if !ok {
		return fmt.Errorf("in-process stream carries *materialize.Request, not %T", m)
	}
	select {
	case b, open := <-c.s.reqs:
		if !open {
			return io.EOF
		}
		r.Reset()
		if err := r.Unmarshal(b); err != nil {
			return fmt.Errorf("decoding request: %w", err)
		}
		return nil
	case <-c.s.ctx.Done():
		return c.s.ctx.Err()
	}
}

func (c *server) SendMsg(m any) error {
	var r, ok = m.(*pm.Response)
	if !ok {
		return fmt.Errorf("in-process stream carries *materialize.Response, not %T", m)
	}
	return c.Send(r)
}

func (c *server) Context() context.Context     { return c.s.ctx }
func (c *server) SetHeader(metadata.MD) error  { return nil }
func (c *server) SendHeader(metadata.MD) error { return nil }
func (c *server) SetTrailer(metadata.MD)       {}

// Call makes one unary exchange (Spec, Validate or Apply) on a stream of its own:
// the request, one response, then the end of the requests. The connector must
// then return from Materialize (a current connector returns nil at io.EOF).
func Call(ctx context.Context, srv pm.ConnectorServer, req *w.Request) (*w.Response, error) {
	var s = Open(ctx, srv)
	defer s.cancel() // the exchange is over whatever the connector does next
	if err := s.Send(req); err != nil {
		if errors.Is(err, io.EOF) {
			_, err = s.Recv()
			if err == io.EOF {
				err = errors.New("connector ended the stream before reading the request")
			}
		}
		return nil, err
	}
	var resp, err = s.Recv()
	if err == io.EOF {
		return nil, errors.New("connector ended the stream without a response")
	} else if err != nil {
		return nil, err
	}
	_ = s.CloseSend()
	return resp, nil
}
