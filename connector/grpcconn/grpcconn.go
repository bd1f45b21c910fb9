// Package grpcconn reaches a connector that serves the materialize.Driver gRPC
// service: a connector built as a gRPC server, or `flowsim connector-proxy` in front
// of a stdio connector.
package grpcconn

import (
	"context"
	"errors"
	"fmt"
	"github.com/flowsim/flowsim/connector/era2023"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"io"
	"net"
	"sync"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/protocol"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultMaxMessage is the default cap on one gRPC message in either direction.
const DefaultMaxMessage = 64 << 20

// Flow-control window and socket buffer sizes, on both ends (see connector/proxy).
const (
	WindowSize = 16 << 20
	BufferSize = 256 << 10
)

// Options configure Dial.
type Options struct {
	// Protocol the server speaks; Auto detects it once, at the first ApplyUpsert
	// (Unimplemented means Oct2021, whose single verb is /materialize.Driver/Apply,
	// and the same request is then sent to Apply). A stream opened while the
	// revision is still Auto speaks Dec2021.
	Protocol connector.Revision
	// MaxMessage caps one message (DefaultMaxMessage when <= 0).
	MaxMessage int
	// CallTimeout bounds each unary call (zero: none).
	CallTimeout time.Duration
	// DialTimeout bounds the first contact with the server (default CallTimeout,
	// else 10s).
	DialTimeout time.Duration
}

// Client is a connector.Connector over a gRPC connection.
type Client struct {
	addr string
	cc   *grpc.ClientConn
	dc   materialize.DriverClient
	opts Options

	mu     sync.Mutex
	era    connector.Era       // the revision given or detected
	behind connector.Revision  // the child's, as connector-proxy names it
	cur    connector.Connector // the server in today's era, once built
}

// current is the server driven in today's era: the materialize.Connector service.
func (c *Client) current() connector.Connector {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		c.cur = connector.Bridge(era2023.NewClient(c.openCurrent), c.Info, nil)
	}
	return c.cur
}

// openCurrent opens a /materialize.Connector/Materialize stream.
func (c *Client) openCurrent(ctx context.Context) (era2023.Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	var s, err = w.OpenMaterialize(ctx, c.cc)
	if err != nil {
		cancel()
		return nil, c.wrap("Materialize", err)
	}
	return &curStream{s: s, c: c, cancel: cancel}, nil
}

// curStream is a current-era stream; its errors name the endpoint.
type curStream struct {
	s      w.ClientStream
	c      *Client
	cancel context.CancelFunc
}

func (s *curStream) Send(r *w.Request) error {
	if err := s.s.Send(r); err != nil {
		if err == io.EOF {
			return err
		}
		return s.c.wrap("Materialize", err)
	}
	return nil
}

func (s *curStream) Recv() (*w.Response, error) {
	var r, err = s.s.Recv()
	if err != nil {
		s.cancel()
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, s.c.wrap("Materialize", err)
	}
	return r, nil
}

func (s *curStream) CloseSend() error { return s.s.CloseSend() }

// Kill cancels the stream: the server sees it end as a crashed runtime's.
func (s *curStream) Kill() error { s.cancel(); return nil }

var _ connector.Connector = (*Client)(nil)

// Dial connects to a materialize.Driver server at addr (HOST:PORT, plaintext) and
// checks that it answers. An unreachable address is an error naming it.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if addr == "" {
		return nil, errors.New("connector endpoint address is empty")
	}
	if opts.Protocol == "" {
		opts.Protocol = connector.Auto
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return nil, fmt.Errorf("connector endpoint %q is not HOST:PORT", addr)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = opts.CallTimeout // --call-timeout bounds every wait
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if err := probe(ctx, addr, opts.DialTimeout); err != nil {
		return nil, err
	}
	var cc, err = grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(opts.MaxMessage), grpc.MaxCallSendMsgSize(opts.MaxMessage),
			grpc.ForceCodecV2(Codec())),
		// Store and Loaded messages run to hundreds of KiB: large flow-control windows
		// and buffers keep a stream from stalling on window updates and small writes.
		grpc.WithInitialWindowSize(WindowSize),
		grpc.WithInitialConnWindowSize(WindowSize),
		grpc.WithReadBufferSize(BufferSize),
		grpc.WithWriteBufferSize(BufferSize),
	)
	if err != nil {
		return nil, fmt.Errorf("connector endpoint %q: %w", addr, err)
	}
	var c = &Client{addr: addr, cc: cc, dc: materialize.NewDriverClient(cc), opts: opts}
	c.era.Set(opts.Protocol)
	if err = c.ping(ctx); err != nil {
		cc.Close()
		return nil, err
	}
	return c, nil
}

// ping makes one health check: any answer, even Unimplemented (a connector need not
// serve grpc.health.v1), proves the address is reachable.
func (c *Client) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var _, err = healthpb.NewHealthClient(c.cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	switch status.Code(err) {
	case codes.OK, codes.Unimplemented, codes.NotFound:
		return nil
	case codes.DeadlineExceeded:
		return fmt.Errorf("cannot reach connector endpoint %q within %s: %s (is a connector or `flowsim connector-proxy` listening there?)",
			c.addr, c.opts.DialTimeout, lastError(c.cc, err))
	}
	return fmt.Errorf("cannot reach connector endpoint %q: %w", c.addr, err)
}

// lastError is the reason behind a WaitForReady deadline: the last connection error.
func lastError(cc *grpc.ClientConn, err error) string {
	var ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// A fail-fast call reports the connection's last error rather than the deadline.
	if _, ferr := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); ferr != nil && status.Code(ferr) == codes.Unavailable {
		return status.Convert(ferr).Message()
	}
	return status.Convert(err).Message()
}

// Info describes the endpoint.
func (c *Client) Info() connector.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connector.Info{Transport: "endpoint", Target: c.addr, Protocol: c.era.Get(), Behind: c.behind}
}

// Close closes the connection.
func (c *Client) Close() error {
	if err := c.cc.Close(); err != nil && status.Code(err) != codes.Canceled {
		return err
	}
	return nil
}

// learnBehind records the child's revision that connector-proxy names.
func (c *Client) learnBehind(md metadata.MD) {
	var v = md.Get(connector.ProtocolHeader)
	if len(v) != 1 {
		return
	}
	for _, rev := range []connector.Revision{connector.Oct2021, connector.Dec2021, connector.Era2022, connector.Compat, connector.Current} {
		if v[0] == string(rev) {
			c.mu.Lock()
			c.behind = rev
			c.mu.Unlock()
		}
	}
}

func (c *Client) revision() connector.Revision { return c.era.Get() }

func (c *Client) setRevision(r connector.Revision) { c.era.Set(r) }

func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.CallTimeout > 0 {
		return context.WithTimeout(ctx, c.opts.CallTimeout)
	}
	return context.WithCancel(ctx)
}

func (c *Client) wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.DeadlineExceeded {
		// The server's (e.g. connector-proxy's --call-timeout) or this call's deadline
		// ran out: errors.Is(err, context.DeadlineExceeded) holds, so the engine judges
		// it a timeout whichever side's deadline fired first.
		err = deadlineError{err}
	}
	return fmt.Errorf("connector endpoint %s %s: %w", c.addr, method, err)
}

// deadlineError is a gRPC DeadlineExceeded status that is also context.DeadlineExceeded.
type deadlineError struct{ error }

func (e deadlineError) Unwrap() error { return e.error }

func (e deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

// Spec calls Spec.
// While the protocol is Auto, a server without the materialize.Driver service
// (Unimplemented) is asked through today's materialize.Connector service.
func (c *Client) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	if c.revision() == connector.Current {
		return c.current().Spec(ctx, req)
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	var md metadata.MD
	var resp, err = c.dc.Spec(cctx, req, grpc.Header(&md))
	c.learnBehind(md)
	if c.revision() == connector.Auto && status.Code(err) == codes.Unimplemented {
		var cur, cerr = c.current().Spec(ctx, req)
		if cerr == nil {
			c.setRevision(connector.Current)
			return cur, nil
		}
		if status.Code(cerr) != codes.Unimplemented {
			// Today's service took the stream and then failed, hung or answered
			// wrongly: a connector of today's era whose Spec failed, not an era
			// flowsim cannot speak.
			c.setRevision(connector.Current)
			return nil, cerr
		}
		return nil, &connector.EraError{Target: c.addr, Attempts: []connector.EraAttempt{
			{Era: "2021-10, 2021-12 or 2022 (service materialize.Driver)", Err: c.wrap("Spec", err)},
			{Era: "2023 (service materialize.Connector)", Err: cerr},
		}}
	}
	return resp, c.wrap("Spec", err)
}

// Validate calls Validate.
func (c *Client) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	if c.revision() == connector.Current {
		return c.current().Validate(ctx, req)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var resp, err = c.dc.Validate(ctx, req)
	return resp, c.wrap("Validate", err)
}

// applyMethod is the single apply verb of the Oct 2021 revision.
const applyMethod = "/materialize.Driver/Apply"

// ApplyUpsert calls ApplyUpsert, or Apply on an Oct 2021 server.
func (c *Client) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	if c.revision() == connector.Current {
		return c.current().ApplyUpsert(ctx, req)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if c.revision() == connector.Oct2021 {
		var resp = new(materialize.ApplyResponse)
		return resp, c.wrap("Apply", c.cc.Invoke(ctx, applyMethod, req, resp))
	}
	var md metadata.MD
	var resp, err = c.dc.ApplyUpsert(ctx, req, grpc.Header(&md))
	c.learnBehind(md)
	if c.revision() == connector.Auto {
		if status.Code(err) == codes.Unimplemented {
			resp = new(materialize.ApplyResponse)
			if err2 := c.cc.Invoke(ctx, applyMethod, req, resp); status.Code(err2) != codes.Unimplemented {
				if err2 == nil {
					c.setRevision(connector.Oct2021)
				}
				return resp, c.wrap("Apply", err2)
			}
		} else if err == nil {
			// 2021-12 and 2022 answer alike until the transactions (and behind
			// connector-proxy, its child may be either): drive both alike.
			c.setRevision(connector.Compat)
		}
	}
	return resp, c.wrap("ApplyUpsert", err)
}

// ApplyDelete calls ApplyDelete; an Oct 2021 server has none.
func (c *Client) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	if c.revision() == connector.Current {
		return c.current().ApplyDelete(ctx, req)
	}
	if c.revision() == connector.Oct2021 {
		return nil, fmt.Errorf("connector endpoint %s speaks protocol 2021-10: %w", c.addr, connector.ErrNoApplyDelete)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var resp, err = c.dc.ApplyDelete(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		// connector-proxy in front of a child whose era has no apply-delete.
		return nil, fmt.Errorf("connector endpoint %s ApplyDelete: %s: %w", c.addr, status.Convert(err).Message(), connector.ErrNoApplyDelete)
	}
	return resp, c.wrap("ApplyDelete", err)
}

// Transactions opens the stream; for an Oct 2021 server it is adapted by
// connector.AdaptOct2021.
func (c *Client) Transactions(ctx context.Context) (connector.Session, error) {
	if c.revision() == connector.Current {
		return c.current().Transactions(ctx)
	}
	var oct = c.revision() == connector.Oct2021
	ctx, cancel := context.WithCancel(ctx)
	var cs, err = c.cc.NewStream(ctx, &transactionsDesc, transactionsMethod)
	if err != nil {
		cancel()
		return nil, c.wrap("Transactions", err)
	}
	var st = &session{cs: cs, c: c, cancel: cancel, recvDone: make(chan struct{})}
	if oct {
		return connector.AdaptOct2021(st), nil
	}
	return st, nil
}

const transactionsMethod = "/materialize.Driver/Transactions"

var transactionsDesc = grpc.StreamDesc{StreamName: "Transactions", ServerStreams: true, ClientStreams: true}

// Metadata of the kill handshake with connector-proxy. The proxy announces in its
// response header that it understands KillRequest; the client then sends
// KillRequest in place of a TransactionRequest, the proxy kills and reaps its
// connector process and ends the stream with KillTrailer in its trailer, whose value
// says what happened ("reaped", or the error).
const (
	KillHeader  = "flowsim-kill"
	KillTrailer = "flowsim-connector-stopped"
	// KillReaped is the value of KillTrailer once the child process was reaped.
	KillReaped = "reaped"
)

// KillRequest is the encoded kill request: a TransactionRequest carrying only field
// 15 (unknown to the protocol, so that no connector mistakes it for a request),
// empty. It is only sent to a server that announced KillHeader.
var KillRequest = RawMessage{15<<3 | 2, 0}

// IsKillRequest reports whether an encoded TransactionRequest is KillRequest.
func IsKillRequest(b []byte) bool { return len(b) == 2 && b[0] == KillRequest[0] && b[1] == 0 }

// session is a Transactions stream that names the endpoint in its errors.
type session struct {
	cs     grpc.ClientStream
	c      *Client
	cancel context.CancelFunc

	sendMu sync.Mutex
	recvMu sync.Mutex
	// recvDone is closed once Recv saw the end of the RPC.
	recvDone chan struct{}
	recvErr  error
	killOnce sync.Once
	killErr  error

	// State updates of DriverCommitted and Acknowledged (state.go), one entry
	// each, nil when it carried none: connector.StateSession.
	stateMu   sync.Mutex
	committed []*protocol.StateUpdate
	acked     []*protocol.StateUpdate
}

var _ connector.StateSession = (*session)(nil)

// CommittedState is the state update of the next DriverCommitted not yet taken.
func (s *session) CommittedState() *protocol.StateUpdate { return s.pop(&s.committed) }

// AcknowledgedState is the state update of the next Acknowledged not yet taken.
func (s *session) AcknowledgedState() *protocol.StateUpdate { return s.pop(&s.acked) }

func (s *session) pop(q *[]*protocol.StateUpdate) *protocol.StateUpdate {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if len(*q) == 0 {
		return nil
	}
	var u = (*q)[0]
	*q = (*q)[1:]
	return u
}

func (s *session) Send(m *materialize.TransactionRequest) error {
	s.sendMu.Lock()
	var err = s.cs.SendMsg(m)
	s.sendMu.Unlock()
	if err == io.EOF {
		return err // gRPC: the real error comes from Recv
	}
	return s.c.wrap("Transactions", err)
}

func (s *session) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.c.wrap("Transactions", s.cs.CloseSend())
}

func (s *session) Recv() (*materialize.TransactionResponse, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	select {
	case <-s.recvDone:
		return nil, s.recvErr
	default:
	}
	var m = new(materialize.TransactionResponse)
	var err = s.cs.RecvMsg(m)
	if err == nil && (m.DriverCommitted != nil || m.Acknowledged != nil) {
		var u, serr = TakeState(m)
		if serr != nil {
			return nil, fmt.Errorf("endpoint %s: %w", s.c.addr, serr)
		}
		s.stateMu.Lock()
		if m.DriverCommitted != nil {
			s.committed = append(s.committed, u)
		} else {
			s.acked = append(s.acked, u)
		}
		s.stateMu.Unlock()
	}
	if err == nil {
		return m, nil
	}
	if err != io.EOF {
		err = s.c.wrap("Transactions", err)
	}
	s.recvErr = err
	close(s.recvDone)
	return nil, err
}

// Kill asks connector-proxy to kill and reap its connector process and waits for
// its confirmation. A server that is not connector-proxy gets the RPC cancelled;
// Kill then returns once the RPC has ended on this side, which is all that can be
// known of such a server.
func (s *session) Kill() error {
	s.killOnce.Do(func() { s.killErr = s.kill() })
	return s.killErr
}

func (s *session) kill() error {
	defer s.cancel()
	select {
	case <-s.recvDone:
		return nil // the stream already ended: the proxy's child was reaped before its status was sent
	default:
	}
	var bound = connector.KillTimeout
	if s.c.opts.CallTimeout > 0 && s.c.opts.CallTimeout < bound {
		bound = s.c.opts.CallTimeout
	}
	var timer = time.AfterFunc(bound, s.cancel)
	defer timer.Stop()
	var hdr, err = s.cs.Header() // waits for the server's header, or the end of the RPC
	if err != nil || len(hdr.Get(KillHeader)) == 0 {
		return nil // not connector-proxy, or already over
	}
	s.sendMu.Lock()
	var k = KillRequest
	err = s.cs.SendMsg(&k)
	s.sendMu.Unlock()
	// Receive until the end of the RPC (a concurrent Recv may be doing so too).
	for {
		var _, rerr = s.Recv()
		if rerr != nil {
			break
		}
	}
	var trailer = s.cs.Trailer().Get(KillTrailer)
	switch {
	case len(trailer) > 0 && trailer[0] == KillReaped:
		return nil
	case len(trailer) > 0:
		return fmt.Errorf("connector endpoint %s: the proxy could not stop its connector process: %s", s.c.addr, trailer[0])
	case err != nil && err != io.EOF:
		return fmt.Errorf("connector endpoint %s: sending the kill request: %w", s.c.addr, err)
	case status.Code(s.recvErr) == codes.Canceled || status.Code(errors.Unwrap(s.recvErr)) == codes.Canceled:
		return fmt.Errorf("connector endpoint %s: the proxy did not confirm within %s that its connector process stopped", s.c.addr, bound)
	}
	return nil // the stream ended on its own meanwhile: the proxy reaps before it ends a stream
}
