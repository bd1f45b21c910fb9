package stdiotest

import (
	"context"

	"github.com/estuary/protocols/materialize"
	"google.golang.org/grpc"
)

// RegisterOct2021 registers srv on gs as an Oct 2021 materialize.Driver: a single
// Apply method instead of ApplyUpsert/ApplyDelete, and a Transactions stream that
// never expects Acknowledge (it is given to srv after Opened and after each
// DriverCommitted, and srv's Acknowledged is swallowed). srv must Recv and Send from
// one goroutine, as Server does.
func RegisterOct2021(gs *grpc.Server, srv materialize.DriverServer) {
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "materialize.Driver",
		HandlerType: (*interface{})(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Spec", Handler: unary(srv.Spec)},
			{MethodName: "Validate", Handler: unary(srv.Validate)},
			{MethodName: "Apply", Handler: unary(srv.ApplyUpsert)},
		},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Transactions",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(_ interface{}, stream grpc.ServerStream) error {
				return srv.Transactions(&octServerStream{ServerStream: stream})
			},
		}},
	}, srv)
}

func unary[Req any, Resp any](call func(context.Context, *Req) (*Resp, error)) func(interface{}, context.Context, func(interface{}) error, grpc.UnaryServerInterceptor) (interface{}, error) {
	return func(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
		var req = new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		return call(ctx, req)
	}
}

type octServerStream struct {
	grpc.ServerStream
	pending int
}

func (s *octServerStream) Send(m *materialize.TransactionResponse) error {
	if m.Acknowledged != nil {
		return nil
	}
	if m.Opened != nil || m.DriverCommitted != nil {
		s.pending++
	}
	return s.ServerStream.SendMsg(m)
}

func (s *octServerStream) Recv() (*materialize.TransactionRequest, error) {
	if s.pending > 0 {
		s.pending--
		return &materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, nil
	}
	var m = new(materialize.TransactionRequest)
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}
