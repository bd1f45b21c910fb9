// Package proxy serves a connector over the materialize.Driver gRPC service. It is
// the body of `flowsim connector-proxy`, which runs inside a connector's pod and
// runs the connector's stdio entrypoint once per call.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/lib/redact"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// NewServer returns a materialize.DriverServer that forwards every call to client,
// for example a *stdio.Client. Errors become gRPC statuses whose message is the
// client's error, with a stdio connector's exit status and stderr tail.
//
// Served with Serve, transactions streams also understand the kill handshake of
// connector/grpcconn (grpcconn.KillHeader): the proxy kills its session, which for
// a *stdio.Client kills and reaps the connector process, and confirms it in the
// trailer. When client is a *stdio.Client, Serve relays the messages of
// transactions streams without decoding them.
func NewServer(client connector.Connector) materialize.DriverServer {
	var s = &server{c: client}
	if r, ok := client.(rawTransactor); ok {
		s.raw = r
	}
	return s
}

// rawTransactor is implemented by *stdio.Client.
type rawTransactor interface {
	TransactionsRaw(ctx context.Context) (stdio.RawStream, error)
}

type server struct {
	c   connector.Connector
	raw rawTransactor
	red *redact.Redactor // learns the endpoint config (WithRedactor); nil: none
}

func (s *server) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	s.red.Learn(req.EndpointSpecJson)
	ctx, cancel := answerBefore(ctx)
	defer cancel()
	var resp, err = s.c.Spec(ctx, req)
	s.tellProtocol(ctx)
	return resp, toStatus(err)
}

func (s *server) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	s.red.Learn(req.EndpointSpecJson)
	ctx, cancel := answerBefore(ctx)
	defer cancel()
	var resp, err = s.c.Validate(ctx, req)
	return resp, toStatus(err)
}

func (s *server) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	s.learnApply(req)
	ctx, cancel := answerBefore(ctx)
	defer cancel()
	var resp, err = s.c.ApplyUpsert(ctx, req)
	s.tellProtocol(ctx)
	return resp, toStatus(err)
}

func (s *server) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	s.learnApply(req)
	ctx, cancel := answerBefore(ctx)
	defer cancel()
	var resp, err = s.c.ApplyDelete(ctx, req)
	return resp, toStatus(err)
}

// tellProtocol names, in the response header, the revision the child speaks as
// detected so far (the driver reports it as the connector's).
func (s *server) tellProtocol(ctx context.Context) {
	if rev := s.c.Info().Protocol; rev != connector.Auto {
		_ = grpc.SetHeader(ctx, metadata.Pairs(connector.ProtocolHeader, string(rev)))
	}
}

// answerBefore ends a unary call's context a margin before the caller's deadline
// (a tenth of the time left, between 250ms and 2s, at most half of it), so that the connector is killed
// and the caller gets the reason, with the connector's stderr tail, before its own
// deadline cuts the RPC off with nothing but "deadline exceeded".
func answerBefore(ctx context.Context) (context.Context, context.CancelFunc) {
	var dl, ok = ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	var left = time.Until(dl)
	var margin = min(max(left/10, 250*time.Millisecond), 2*time.Second, left/2)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// Transactions serves a stream of decoded messages (without the kill handshake,
// which needs Serve's registration).
func (s *server) Transactions(stream materialize.Driver_TransactionsServer) error {
	return s.transactions(stream)
}

// upstream is a session of the proxied connector, typed or raw.
type upstream interface {
	send(grpcconn.RawMessage) error
	recv() (any, error)
	CloseSend() error
	Kill() error
}

type typedUp struct{ connector.Session }

func (u typedUp) send(b grpcconn.RawMessage) error {
	var m = new(materialize.TransactionRequest)
	if err := m.Unmarshal(b); err != nil {
		return fmt.Errorf("decoding a request from the driver: %w", err)
	}
	return u.Send(m)
}

// recv relays a response of the child; a state update of its era (StartedCommit,
// Acknowledged) goes along in the field the driver reads it from (grpcconn.AttachState).
func (u typedUp) recv() (any, error) {
	var m, err = u.Recv()
	if err != nil {
		return nil, err
	}
	if st, ok := u.Session.(connector.StateSession); ok {
		switch {
		case m.DriverCommitted != nil:
			grpcconn.AttachState(m, st.CommittedState())
		case m.Acknowledged != nil:
			grpcconn.AttachState(m, st.AcknowledgedState())
		}
	}
	return m, nil
}

type rawUp struct{ stdio.RawStream }

func (u rawUp) send(b grpcconn.RawMessage) error { return u.SendRaw(b) }
func (u rawUp) recv() (any, error) {
	var b, err = u.RecvRaw()
	if err != nil {
		return nil, err
	}
	var m = grpcconn.RawMessage(b)
	return &m, nil
}

// transactions relays one stream. Requests flow up in their own goroutine,
// responses flow down here. A kill request from the driver kills the session; the
// stream then ends with grpcconn.KillTrailer saying whether the connector stopped.
func (s *server) transactions(stream grpc.ServerStream) error {
	var ctx, cancel = context.WithCancel(stream.Context())
	defer cancel()
	var up upstream
	// A child of today's era has no transactions subcommand: its stream is
	// translated (typed), not relayed as bytes.
	if s.raw != nil && s.c.Info().Protocol != connector.Current {
		var r, err = s.raw.TransactionsRaw(ctx)
		if err != nil {
			return toStatus(err)
		}
		up = rawUp{r}
	} else {
		var t, err = s.c.Transactions(ctx)
		if err != nil {
			return toStatus(err)
		}
		up = typedUp{t}
	}
	// The driver may now use the kill handshake.
	if err := stream.SendHeader(metadata.Pairs(grpcconn.KillHeader, "1")); err != nil {
		_ = up.Kill()
		return err
	}
	var killed = make(chan error, 1)
	var killing atomic.Bool
	go func() {
		for first := true; ; first = false {
			var m grpcconn.RawMessage
			if err := stream.RecvMsg(&m); err == io.EOF {
				_ = up.CloseSend()
				return
			} else if err != nil {
				cancel() // the caller went away: kill the connector
				return
			}
			if grpcconn.IsKillRequest(m) {
				killing.Store(true)
				killed <- up.Kill()
				return
			}
			if first {
				s.learnRaw(m)
			}
			if err := up.send(m); err != nil {
				return // recv below reports why
			}
		}
	}()
	for {
		var m, err = up.recv()
		if killing.Load() {
			var kerr = <-killed
			var confirm = grpcconn.KillReaped
			if kerr != nil {
				confirm = kerr.Error()
			}
			stream.SetTrailer(metadata.Pairs(grpcconn.KillTrailer, confirm))
			return status.Error(codes.Aborted, "the driver killed the stream")
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return toStatus(err)
		}
		if err = stream.SendMsg(m); err != nil {
			return err
		}
	}
}

// register registers ds on gs as materialize.Driver.
func register(gs *grpc.Server, ds materialize.DriverServer) {
	var s, ok = ds.(*server)
	if !ok {
		materialize.RegisterDriverServer(gs, ds)
		return
	}
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "materialize.Driver",
		HandlerType: (*materialize.DriverServer)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Spec", Handler: unary(s.Spec)},
			{MethodName: "Validate", Handler: unary(s.Validate)},
			{MethodName: "ApplyUpsert", Handler: unary(s.ApplyUpsert)},
			{MethodName: "ApplyDelete", Handler: unary(s.ApplyDelete)},
		},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Transactions",
			Handler:       func(_ any, stream grpc.ServerStream) error { return s.transactions(stream) },
			ServerStreams: true,
			ClientStreams: true,
		}},
		Metadata: "materialize/materialize.proto",
	}, s)
}

func unary[Req, Resp any](call func(context.Context, *Req) (*Resp, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var req = new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		return call(ctx, req)
	}
}

// toStatus maps a client error to a gRPC status, keeping its whole message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var code = codes.Unknown
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, connector.ErrNoApplyDelete):
		code = codes.Unimplemented // the driver's client turns it back into ErrNoApplyDelete
	}
	return status.Error(code, err.Error())
}

// Options configure Serve.
type Options struct {
	// MaxMessage caps one gRPC message (stdio.DefaultMaxFrame when <= 0).
	MaxMessage int
	// Grace is how long a shutdown waits for in-flight calls before cancelling them
	// (default 10s).
	Grace time.Duration
	// Ready, if set, is called once the server is listening and SERVING.
	Ready func(addr net.Addr)
}

// Serve serves server (and the standard grpc.health.v1 service, SERVING while it
// listens) on lis until ctx ends, then shuts down gracefully: health turns
// NOT_SERVING, new calls are refused, in-flight calls get Grace to finish and are
// then cancelled (which kills and reaps their connector processes).
func Serve(ctx context.Context, lis net.Listener, server materialize.DriverServer, opts Options) error {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = stdio.DefaultMaxFrame
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	var gs = grpc.NewServer(grpc.MaxRecvMsgSize(opts.MaxMessage), grpc.MaxSendMsgSize(opts.MaxMessage),
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(grpcconn.Codec()),
		grpc.InitialWindowSize(grpcconn.WindowSize), grpc.InitialConnWindowSize(grpcconn.WindowSize),
		grpc.ReadBufferSize(grpcconn.BufferSize), grpc.WriteBufferSize(grpcconn.BufferSize)) // Stop returns once handlers, and so their processes, are done
	register(gs, server)
	var hs = health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("materialize.Driver", healthpb.HealthCheckResponse_SERVING)

	var served = make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	if opts.Ready != nil {
		opts.Ready(lis.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	hs.Shutdown() // NOT_SERVING
	var stopped = make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	var t = time.NewTimer(opts.Grace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop() // cancels in-flight streams
		<-stopped
	}
	return nil
}
