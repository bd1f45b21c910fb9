package wire2023

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// The gRPC face of the current era: service materialize.Connector, one
// bidirectional stream per session.
const (
	ServiceName    = "materialize.Connector"
	MaterializeRPC = "/materialize.Connector/Materialize"
)

// GRPCCodec is a gRPC codec (content-subtype "proto", which every peer speaks)
// for this package's messages; other messages go to gRPC's default codec. The
// client helpers force it per call, so a process whose default "proto" codec was
// replaced (by a gogo codec, say) still encodes these messages.
func GRPCCodec() encoding.CodecV2 { return grpcCodec{fallback: encoding.GetCodecV2("proto")} }

type grpcCodec struct{ fallback encoding.CodecV2 }

func (grpcCodec) Name() string { return "proto" }

func (c grpcCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Request, *Response:
		var b, err = proto.Marshal(m.(proto.Message))
		if err != nil {
			return nil, fmt.Errorf("marshalling %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.fallback.Marshal(v)
}

func (c grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *Request, *Response:
		if err := proto.Unmarshal(data.Materialize(), m.(proto.Message)); err != nil {
			return fmt.Errorf("unmarshalling %T: %w", v, err)
		}
		return nil
	}
	return c.fallback.Unmarshal(data, v)
}

// ClientStream is the runtime's side of a Materialize stream.
type ClientStream interface {
	Send(*Request) error
	Recv() (*Response, error)
	// CloseSend tells the connector no more requests come.
	CloseSend() error
	Context() context.Context
}

type clientStream struct{ grpc.ClientStream }

func (s clientStream) Send(r *Request) error { return s.ClientStream.SendMsg(r) }
func (s clientStream) Recv() (*Response, error) {
	var r = new(Response)
	if err := s.ClientStream.RecvMsg(r); err != nil {
		return nil, err
	}
	return r, nil
}

var materializeDesc = grpc.StreamDesc{StreamName: "Materialize", ClientStreams: true, ServerStreams: true}

// OpenMaterialize opens the bidirectional /materialize.Connector/Materialize stream
// on cc, with GRPCCodec forced for it. Cancelling ctx ends the stream.
func OpenMaterialize(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (ClientStream, error) {
	opts = append([]grpc.CallOption{grpc.ForceCodecV2(GRPCCodec())}, opts...)
	var s, err = cc.NewStream(ctx, &materializeDesc, MaterializeRPC, opts...)
	if err != nil {
		return nil, err
	}
	return clientStream{s}, nil
}

// ServerStream is the connector's side of a Materialize stream.
type ServerStream interface {
	Recv() (*Request, error)
	Send(*Response) error
	Context() context.Context
}

// ConnectorServer serves Materialize streams: it returns nil once the runtime
// closed its side (Recv returned io.EOF), or the error that ended the stream.
type ConnectorServer interface {
	Materialize(ServerStream) error
}

type serverStream struct{ grpc.ServerStream }

func (s serverStream) Send(r *Response) error { return s.ServerStream.SendMsg(r) }
func (s serverStream) Recv() (*Request, error) {
	var r = new(Request)
	if err := s.ServerStream.RecvMsg(r); err != nil {
		return nil, err
	}
	return r, nil
}

// RegisterConnectorServer serves srv as materialize.Connector on s. The server's
// codec must encode *Request and *Response: gRPC's default codec does, and so does
// a server built with grpc.ForceServerCodecV2(GRPCCodec()).
func RegisterConnectorServer(s grpc.ServiceRegistrar, srv ConnectorServer) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*ConnectorServer)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Materialize",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(impl any, stream grpc.ServerStream) error {
				return impl.(ConnectorServer).Materialize(serverStream{stream})
			},
		}},
		Metadata: "wire2023.proto",
	}, srv)
}
