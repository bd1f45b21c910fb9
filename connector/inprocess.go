package connector

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/estuary/protocols/materialize"
	"google.golang.org/grpc/metadata"
)

// InProcess wraps a DriverServer running in this process. Its sessions run the
// server's Transactions on a goroutine whose stream context is cancelled by Kill
// (and by the end of the context Transactions was opened with); Kill waits for
// Transactions to return.
func InProcess(server materialize.DriverServer, name string) Connector {
	return &inProcess{server: server, name: name}
}

type inProcess struct {
	server materialize.DriverServer
	name   string
}

func (c *inProcess) Info() Info {
	return Info{Transport: "in-process", Target: c.name, Protocol: Dec2021}
}

func (*inProcess) Close() error { return nil }

func (c *inProcess) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	return unary(ctx, c.name, "Spec", func(ctx context.Context) (*materialize.SpecResponse, error) { return c.server.Spec(ctx, req) })
}

func (c *inProcess) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	return unary(ctx, c.name, "Validate", func(ctx context.Context) (*materialize.ValidateResponse, error) { return c.server.Validate(ctx, req) })
}

func (c *inProcess) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return unary(ctx, c.name, "ApplyUpsert", func(ctx context.Context) (*materialize.ApplyResponse, error) { return c.server.ApplyUpsert(ctx, req) })
}

func (c *inProcess) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return unary(ctx, c.name, "ApplyDelete", func(ctx context.Context) (*materialize.ApplyResponse, error) { return c.server.ApplyDelete(ctx, req) })
}

// unary runs a unary call of the server. The call is bounded by ctx even when the
// server ignores it: it runs on its own goroutine, which is left behind (and
// named in the error) when ctx ends first. A server returning neither a response
// nor an error is an error, as a process exiting without an answer is.
func unary[Resp any](ctx context.Context, name, call string, fn func(context.Context) (*Resp, error)) (*Resp, error) {
	type result struct {
		resp *Resp
		err  error
	}
	var done = make(chan result, 1)
	go func() {
		var resp, err = fn(ctx)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		if r.err == nil && r.resp == nil {
			return nil, fmt.Errorf("in-process connector %s: %s returned neither a response nor an error", name, call)
		}
		return r.resp, r.err
	case <-ctx.Done():
		// A server that honours ctx has returned by now, or is about to.
		select {
		case r := <-done:
			if r.err != nil || r.resp != nil {
				return r.resp, r.err
			}
		case <-time.After(100 * time.Millisecond):
		}
		return nil, fmt.Errorf("in-process connector %s: %s did not return (its goroutine is left running): %w", name, call, ctx.Err())
	}
}

// Transactions starts the server's Transactions on its own goroutine.
func (c *inProcess) Transactions(ctx context.Context) (Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	var s = &inProcSession{
		name:   c.name,
		ctx:    ctx,
		cancel: cancel,
		tx:     make(chan *materialize.TransactionRequest, 4),
		rx:     make(chan *materialize.TransactionResponse, 64),
		done:   make(chan struct{}),
	}
	go func() {
		var err = c.server.Transactions(&inProcServerStream{s: s})
		if err == nil {
			err = io.EOF
		}
		s.final = err
		close(s.done)
	}()
	return s, nil
}

// inProcSession is the client side of an in-process Transactions.
type inProcSession struct {
	name   string
	ctx    context.Context // of the server's stream
	cancel context.CancelFunc
	tx     chan *materialize.TransactionRequest // closed by CloseSend
	rx     chan *materialize.TransactionResponse
	done   chan struct{} // closed once Transactions returned
	final  error         // io.EOF or Transactions' error; read after done

	mu         sync.Mutex // guards tx against a close during a send
	sendClosed bool
}

func (s *inProcSession) Send(m *materialize.TransactionRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendClosed {
		return fmt.Errorf("in-process connector %s: Send after CloseSend", s.name)
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	select {
	case s.tx <- m:
		return nil
	case <-s.done:
		return io.EOF // as gRPC: the real error comes from Recv
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *inProcSession) Recv() (*materialize.TransactionResponse, error) {
	select {
	case m := <-s.rx:
		return m, nil
	default:
	}
	select {
	case m := <-s.rx:
		return m, nil
	case <-s.done:
		// Responses sent before Transactions returned come first.
		select {
		case m := <-s.rx:
			return m, nil
		default:
		}
		return nil, s.final
	}
}

func (s *inProcSession) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sendClosed {
		s.sendClosed = true
		close(s.tx)
	}
	return nil
}

func (s *inProcSession) Kill() error {
	s.cancel()
	var t = time.NewTimer(KillTimeout)
	defer t.Stop()
	select {
	case <-s.done:
		return nil
	case <-t.C:
		return fmt.Errorf("in-process connector %s: Transactions did not return within %s after its stream context was cancelled", s.name, KillTimeout)
	}
}

// inProcServerStream is the server side: Recv and Send end with the stream's context.
type inProcServerStream struct{ s *inProcSession }

var _ materialize.Driver_TransactionsServer = (*inProcServerStream)(nil)

func (ss *inProcServerStream) Recv() (*materialize.TransactionRequest, error) {
	// Requests sent before a Kill are delivered, as bytes already written to a
	// connector's stdin or socket are.
	select {
	case m, ok := <-ss.s.tx:
		if !ok {
			return nil, io.EOF
		}
		return m, nil
	default:
	}
	select {
	case m, ok := <-ss.s.tx:
		if !ok {
			return nil, io.EOF
		}
		return m, nil
	case <-ss.s.ctx.Done():
		return nil, ss.s.ctx.Err()
	}
}

func (ss *inProcServerStream) Send(m *materialize.TransactionResponse) error {
	select {
	case ss.s.rx <- m:
		return nil
	case <-ss.s.ctx.Done():
		return ss.s.ctx.Err()
	}
}

func (ss *inProcServerStream) Context() context.Context     { return ss.s.ctx }
func (ss *inProcServerStream) SetHeader(metadata.MD) error  { return nil }
func (ss *inProcServerStream) SendHeader(metadata.MD) error { return nil }
func (ss *inProcServerStream) SetTrailer(metadata.MD)       {}
func (ss *inProcServerStream) SendMsg(m interface{}) error {
	return ss.Send(m.(*materialize.TransactionResponse))
}
func (ss *inProcServerStream) RecvMsg(m interface{}) error {
	var req, err = ss.Recv()
	if err != nil {
		return err
	}
	*m.(*materialize.TransactionRequest) = *req
	return nil
}
