package grpcconn

import (
	"bytes"
	"testing"

	"github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
)

func TestCodecRoundTrip(t *testing.T) {
	var c = Codec()
	var std = encoding.GetCodecV2("proto")
	for _, size := range []int{0, 10, 1 << 20} { // below and above the pooling threshold
		var in = &materialize.TransactionRequest{Load: &materialize.TransactionRequest_Load{
			Binding: 3, Arena: flow.Arena(bytes.Repeat([]byte("k"), size)), PackedKeys: []flow.Slice{{Begin: 0, End: uint32(size)}},
		}}
		var data, err = c.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		// The bytes are exactly what the generated Marshal produces.
		var want, _ = in.Marshal()
		if got := data.Materialize(); !bytes.Equal(got, want) {
			t.Fatalf("size %d: encoding differs from the generated Marshal", size)
		}
		// The standard codec reads them back, and so does ours after the buffer is freed.
		var viaStd, out materialize.TransactionRequest
		if err = std.Unmarshal(data, &viaStd); err != nil {
			t.Fatal(err)
		}
		if err = c.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		data.Free()
		if out.String() != in.String() || viaStd.String() != in.String() {
			t.Fatalf("size %d: round trip changed the message", size)
		}
	}
	// A RawMessage passes through untouched both ways.
	var raw = RawMessage{0x2a, 0x00}
	rd, err := c.Marshal(&raw)
	if err != nil || !bytes.Equal(rd.Materialize(), raw) {
		t.Fatalf("RawMessage marshals to %q, %v", rd.Materialize(), err)
	}
	var back RawMessage
	if err = c.Unmarshal(rd, &back); err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("RawMessage unmarshals to %q, %v", back, err)
	}
	// Messages that are not gogo go to the default codec.
	data, err := c.Marshal(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
	if err != nil {
		t.Fatal(err)
	}
	var hc healthpb.HealthCheckResponse
	if err = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data.Materialize())}, &hc); err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health message: %v, %v", hc.Status, err)
	}
}
