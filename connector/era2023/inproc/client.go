package inproc

import (
	"context"
	"fmt"
	"time"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// KillTimeout bounds Session.Kill's wait for the connector to return.
const KillTimeout = 30 * time.Second

// Client drives an in-process current-era connector in the neutral model: each
// request is translated (era2023), crosses as bytes, and each response is checked
// as today's runtime checks it (era2023.CheckResponse) before it is translated
// back. Its methods have the shape of the engine's connector.Connector.
type Client struct{ srv pm.ConnectorServer }

// NewClient drives srv.
func NewClient(srv pm.ConnectorServer) *Client { return &Client{srv: srv} }

// InvalidResponseError is a connector response that fails the runtime's checks.
type InvalidResponseError struct {
	Message string // the response's name
	Err     error
}

func (e *InvalidResponseError) Error() string {
	return fmt.Sprintf("the connector sent an invalid %s: %v", e.Message, e.Err)
}

func (e *InvalidResponseError) Unwrap() error { return e.Err }

func (c *Client) call(ctx context.Context, req *w.Request, want string) (*w.Response, error) {
	var resp, err = Call(ctx, c.srv, req)
	if err != nil {
		return nil, err
	}
	if err := era2023.CheckResponse(resp); err != nil {
		return nil, &InvalidResponseError{Message: want, Err: err}
	}
	var got = era2023.ResponseName(resp)
	if got != want {
		return nil, fmt.Errorf("expected %s, got %s", want, got)
	}
	return resp, nil
}

// Spec asks for the connector's specification.
func (c *Client) Spec(ctx context.Context, req *protocol.SpecRequest) (*protocol.SpecResponse, error) {
	var resp, err = c.call(ctx, era2023.SpecRequest(req), "Spec")
	if err != nil {
		return nil, err
	}
	return era2023.NeutralSpec(resp.Spec), nil
}

// Validate validates a proposed materialization. The last materialization is sent:
// the connector is built with today's module, which reads it.
func (c *Client) Validate(ctx context.Context, req *protocol.ValidateRequest) (*protocol.ValidateResponse, error) {
	var resp, err = c.call(ctx, era2023.ValidateRequest(req, true), "Validated")
	if err != nil {
		return nil, err
	}
	v, err := era2023.NeutralValidated(resp.Validated)
	if err != nil {
		return nil, &InvalidResponseError{Message: "Validated", Err: err}
	}
	return v, nil
}

// Apply applies a materialization.
func (c *Client) Apply(ctx context.Context, req *protocol.ApplyRequest) (*protocol.ApplyResponse, error) {
	var wr, err = era2023.ApplyRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, wr, "Applied")
	if err != nil {
		return nil, err
	}
	return era2023.NeutralApplied(resp.Applied), nil
}

// Transactions opens a transactions session; ending ctx kills it.
func (c *Client) Transactions(ctx context.Context) (*Session, error) {
	return &Session{s: Open(ctx, c.srv)}, nil
}

// Session is one transactions stream in the neutral model. Send, CloseSend and
// Kill may be called from one goroutine while Recv is called from another.
type Session struct {
	s   *Stream
	buf []*w.Request
}

// Send translates and sends one neutral request (a Load of n keys is n messages).
func (s *Session) Send(r *protocol.Request) error {
	var err error
	if s.buf, err = era2023.AppendRequests(s.buf[:0], r); err != nil {
		return fmt.Errorf("matsim built a request the current era cannot carry: %w", err)
	}
	for _, m := range s.buf {
		if err := s.s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// Recv returns the next response, checked and translated; io.EOF once the
// connector returned nil.
func (s *Session) Recv() (*protocol.Response, error) {
	var m, err = s.s.Recv()
	if err != nil {
		return nil, err
	}
	var name = era2023.ResponseName(m)
	if err := era2023.CheckResponse(m); err != nil {
		return nil, &InvalidResponseError{Message: name, Err: err}
	}
	r, err := era2023.NeutralResponse(m)
	if err != nil {
		return nil, &InvalidResponseError{Message: name, Err: err}
	}
	return r, nil
}

// CloseSend ends the requests cleanly.
func (s *Session) CloseSend() error { return s.s.CloseSend() }

// Kill ends the session abruptly and returns once the connector's Materialize
// returned (within KillTimeout).
func (s *Session) Kill() error {
	var ctx, cancel = context.WithTimeout(context.Background(), KillTimeout)
	defer cancel()
	return s.s.Kill(ctx)
}
