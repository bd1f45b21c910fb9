package grpcconn

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// gogoMessage is what the gogo-protobuf messages of the materialize protocol
// implement: sizing and marshalling without reflection.
type gogoMessage interface {
	ProtoSize() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

// Codec is a gRPC codec (content-subtype "proto", so any peer understands it) that
// encodes the protocol's gogo-protobuf messages with their generated methods,
// straight into pooled buffers. gRPC's default codec reaches them through the
// legacy reflection wrapper, which sizes a message by marshalling it and then
// marshals it again. Other messages (grpc.health.v1) go to the default codec. Use
// it with grpc.ForceCodecV2 (clients) and grpc.ForceServerCodecV2 (servers).
func Codec() encoding.CodecV2 { return codec{fallback: encoding.GetCodecV2("proto")} }

type codec struct{ fallback encoding.CodecV2 }

// RawMessage is an encoded message that Codec passes through as is: a relay sends and
// receives *RawMessage in place of a decoded message.
type RawMessage []byte

func (codec) Name() string { return "proto" }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*RawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(*r)}, nil
	}
	var m, ok = v.(gogoMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	var size = m.ProtoSize()
	if mem.IsBelowBufferPoolingThreshold(size) {
		var b = make([]byte, size)
		if _, err := m.MarshalToSizedBuffer(b); err != nil {
			return nil, fmt.Errorf("marshalling %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	var pool = mem.DefaultBufferPool()
	var buf = pool.Get(size)
	if _, err := m.MarshalToSizedBuffer((*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, fmt.Errorf("marshalling %T: %w", v, err)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*RawMessage); ok {
		*r = data.Materialize()
		return nil
	}
	var m, ok = v.(gogoMessage)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	// The generated Unmarshal copies bytes and strings out of its input, so the
	// buffer can go back to the pool at once.
	var buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := m.Unmarshal(buf.ReadOnlyData()); err != nil {
		return fmt.Errorf("unmarshalling %T: %w", v, err)
	}
	return nil
}
