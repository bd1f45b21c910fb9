package era2023

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// Stream is one current-era Materialize stream as a transport carries it: a
// process's stdin and stdout in one codec, a gRPC stream, an in-process server.
type Stream interface {
	Send(*w.Request) error
	// Recv returns the next response; io.EOF once the connector ended the stream
	// cleanly.
	Recv() (*w.Response, error)
	// CloseSend ends the requests cleanly.
	CloseSend() error
	// Kill ends the stream abruptly and returns once the connector side stopped (or
	// with an error saying what could not be confirmed).
	Kill() error
}

// ExitGrace is how long a connector may take to end a unary exchange's stream
// once it answered and the requests ended.
const ExitGrace = 5 * time.Second

// Opener opens a Materialize stream; ending ctx kills it.
type Opener func(ctx context.Context) (Stream, error)

var _ protocol.Client = (*Client)(nil)

// Client drives a current-era connector in the neutral model over any transport:
// each request is translated, each response checked as today's runtime checks it
// (CheckResponse) and translated back.
type Client struct{ open Opener }

// NewClient drives the streams open opens.
func NewClient(open Opener) *Client { return &Client{open: open} }

// InvalidResponseError is a connector response that fails the runtime's checks.
type InvalidResponseError struct {
	Message string // the response's name
	Err     error
}

func (e *InvalidResponseError) Error() string {
	return fmt.Sprintf("the connector sent an invalid %s: %v", e.Message, e.Err)
}

func (e *InvalidResponseError) Unwrap() error { return e.Err }

// call makes one unary exchange on a stream of its own: the request, one
// response, then the end of the requests; the stream is then released.
func (c *Client) call(ctx context.Context, req *w.Request, want string) (*w.Response, error) {
	var s, err = c.open(ctx)
	if err != nil {
		return nil, err
	}
	// The request, then the end of the requests at once (as the subcommand eras
	// close stdin after a unary request): a connector that reads on never waits.
	var start = time.Now()
	var sendErr = s.Send(req)
	if sendErr == nil {
		sendErr = s.CloseSend()
	}
	resp, err := s.Recv()
	if err != nil {
		_ = s.Kill()
		if ctx.Err() != nil {
			// The call's deadline (--call-timeout, or the driver's through
			// connector-proxy) ended the wait: say so, not only how it was stopped.
			return nil, fmt.Errorf("no response within %s to %s; the connector was killed: %w",
				time.Since(start).Round(time.Millisecond), RequestName(req), err)
		}
		if err == io.EOF {
			err = fmt.Errorf("the connector ended the stream without answering %s", RequestName(req))
			if sendErr != nil && sendErr != io.EOF {
				err = fmt.Errorf("%w (sending it failed: %v)", err, sendErr)
			}
		}
		return nil, err
	}
	// A correct connector now ends the stream: wait for that (the transport bounds
	// the wait), so that a unary call leaves nothing running.
	type end struct {
		extra *w.Response
		err   error
	}
	var ended = make(chan end, 1)
	go func() {
		var m, err = s.Recv()
		ended <- end{m, err}
	}()
	var t = time.NewTimer(ExitGrace)
	defer t.Stop()
	select {
	case e := <-ended:
		if e.err == nil {
			_ = s.Kill()
			return nil, fmt.Errorf("the connector sent %s after answering %s with %s (one request, one response)", ResponseName(e.extra), RequestName(req), want)
		} else if e.err != io.EOF {
			_ = s.Kill()
			return nil, e.err
		}
	case <-t.C:
		_ = s.Kill()
		<-ended
		return nil, fmt.Errorf("the connector answered %s, but did not end the stream within %s once the requests ended; it was killed", RequestName(req), ExitGrace)
	}
	if err := CheckResponse(resp); err != nil {
		return nil, &InvalidResponseError{Message: want, Err: err}
	}
	if got := ResponseName(resp); got != want {
		return nil, fmt.Errorf("the connector answered %s with %s; expected %s", RequestName(req), got, want)
	}
	return resp, nil
}

// RequestName names a request for errors.
func RequestName(r *w.Request) string { return requestKind(r) }

// Spec asks for the connector's specification.
func (c *Client) Spec(ctx context.Context, req *protocol.SpecRequest) (*protocol.SpecResponse, error) {
	var resp, err = c.call(ctx, SpecRequest(req), "Spec")
	if err != nil {
		return nil, err
	}
	return NeutralSpec(resp.Spec), nil
}

// Validate validates a proposed materialization (the last materialization is
// sent: today's connectors read it).
func (c *Client) Validate(ctx context.Context, req *protocol.ValidateRequest) (*protocol.ValidateResponse, error) {
	var resp, err = c.call(ctx, ValidateRequest(req, true), "Validated")
	if err != nil {
		return nil, err
	}
	v, err := NeutralValidated(resp.Validated)
	if err != nil {
		return nil, &InvalidResponseError{Message: "Validated", Err: err}
	}
	return v, nil
}

// Apply applies a materialization.
func (c *Client) Apply(ctx context.Context, req *protocol.ApplyRequest) (*protocol.ApplyResponse, error) {
	var wr, err = ApplyRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, wr, "Applied")
	if err != nil {
		return nil, err
	}
	return NeutralApplied(resp.Applied), nil
}

// Transactions opens a transactions session; ending ctx kills it.
func (c *Client) Transactions(ctx context.Context) (protocol.Session, error) {
	var s, err = c.open(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{s: s}, nil
}

// Session is one transactions stream in the neutral model. Send, CloseSend and
// Kill may be called from one goroutine while Recv is called from another.
type Session struct {
	s   Stream
	buf []*w.Request
}

// Send translates and sends one neutral request (a Load of n keys is n messages).
func (s *Session) Send(r *protocol.Request) error {
	var err error
	if s.buf, err = AppendRequests(s.buf[:0], r); err != nil {
		return fmt.Errorf("flowsim built a request the current era cannot carry: %w", err)
	}
	for _, m := range s.buf {
		if err := s.s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// Recv returns the next response, checked and translated; io.EOF once the
// connector ended the stream cleanly.
func (s *Session) Recv() (*protocol.Response, error) {
	var m, err = s.s.Recv()
	if err != nil {
		return nil, err
	}
	var name = ResponseName(m)
	if err := CheckResponse(m); err != nil {
		return nil, &InvalidResponseError{Message: name, Err: err}
	}
	r, err := NeutralResponse(m)
	if err != nil {
		return nil, &InvalidResponseError{Message: name, Err: err}
	}
	return r, nil
}

// CloseSend ends the requests cleanly.
func (s *Session) CloseSend() error { return s.s.CloseSend() }

// Kill ends the session abruptly and returns once the connector side stopped.
func (s *Session) Kill() error { return s.s.Kill() }
