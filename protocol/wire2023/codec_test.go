package wire2023

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
)

func sample() []*Request {
	return []*Request{
		{Acknowledge: &Request_Acknowledge{}},
		{Load: &Request_Load{Binding: 1, KeyPacked: []byte{0x15, 7}}},
		{Store: &Request_Store{KeyPacked: []byte{1}, ValuesPacked: []byte{2}, DocJson: []byte("{\n  \"a\": 1\n}"), Exists: true}},
		{Flush: &Request_Flush{}},
	}
}

func TestRoundTripBothCodecs(t *testing.T) {
	for _, c := range []Codec{Proto, JSON} {
		var buf bytes.Buffer
		var wr = NewWriter(&buf, c)
		for _, m := range sample() {
			if err := wr.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		if c == JSON && bytes.Count(buf.Bytes(), []byte("\n")) != len(sample()) {
			t.Errorf("JSON: want one line per message (a document's newlines compacted away):\n%s", buf.Bytes())
		}
		var rd = NewReader(&buf, c, 0)
		for i, want := range sample() {
			var got Request
			if err := rd.Read(&got); err != nil {
				t.Fatalf("%s: message %d: %v", c, i, err)
			}
			if c == JSON && want.Store != nil {
				want = proto.Clone(want).(*Request)
				want.Store.DocJson = []byte(`{"a":1}`)
			}
			if !proto.Equal(want, &got) {
				t.Errorf("%s: message %d: got %v, want %v", c, i, &got, want)
			}
		}
		var end Request
		if err := rd.Read(&end); err != io.EOF {
			t.Errorf("%s: at the end: %v, want io.EOF", c, err)
		}
	}
}

func TestEndInsideAMessageIsNotClean(t *testing.T) {
	var buf bytes.Buffer
	_ = NewWriter(&buf, Proto).Write(sample()[1])
	for _, cut := range []int{2, 4, buf.Len() - 1} {
		var err = NewReader(bytes.NewReader(buf.Bytes()[:cut]), Proto, 0).Read(new(Request))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d of %d: %v, want io.ErrUnexpectedEOF", cut, buf.Len(), err)
		}
	}
	var err = NewReader(strings.NewReader(`{"load":{"binding":`), JSON, 0).Read(new(Request))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("JSON cut inside an object: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestFrameLimit(t *testing.T) {
	var hdr = binary.LittleEndian.AppendUint32(nil, 1<<20)
	if err := NewReader(bytes.NewReader(hdr), Proto, 1024).Read(new(Request)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("proto: %v, want ErrFrameTooLarge", err)
	}
	var big = `{"load":{"keyPacked":"` + strings.Repeat("A", 2048) + `"}}`
	if err := NewReader(strings.NewReader(big), JSON, 1024).Read(new(Request)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("JSON: %v, want ErrFrameTooLarge", err)
	}
}

func TestJSONMapping(t *testing.T) {
	var m = &Response{Validated: &Response_Validated{Bindings: []*Response_Validated_Binding{{
		Constraints:  map[string]*Response_Validated_Constraint{"b": {Type: Response_Validated_Constraint_INCOMPATIBLE}, "a": {Type: 99}},
		ResourcePath: []string{"t"},
	}}}}
	var b, err = MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"validated":{"bindings":[{"constraints":{"a":{"type":99},"b":{"type":"INCOMPATIBLE"}},"resourcePath":["t"]}]}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	// Enums by number, orig names, unknown fields and nulls are accepted.
	var got Response
	if err := UnmarshalJSON([]byte(`{"validated":{"bindings":[{"constraints":{"b":{"type":6}},"resource_path":["t"],"newField":{"x":1},"deltaUpdates":null}]}}`), &got); err != nil {
		t.Fatal(err)
	}
	if c := got.GetValidated().GetBindings()[0]; c.Constraints["b"].Type != Response_Validated_Constraint_INCOMPATIBLE || c.ResourcePath[0] != "t" {
		t.Errorf("got %v", &got)
	}
	if err := UnmarshalJSON([]byte(`{"loaded":{"doc":{"a":1`), &got); err == nil {
		t.Error("broken JSON accepted")
	}
	if _, err := MarshalJSON(&Response{Loaded: &Response_Loaded{DocJson: []byte(`{not json`)}}); err == nil {
		t.Error("a raw JSON field holding invalid JSON was written")
	}
}

type echo struct{}

// Materialize answers each Load with a Loaded of the same binding until EOF.
func (echo) Materialize(s ServerStream) error {
	for {
		var req, err = s.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err = s.Send(&Response{Loaded: &Response_Loaded{Binding: req.GetLoad().GetBinding(), DocJson: []byte(`{}`)}}); err != nil {
			return err
		}
	}
}

func TestGRPC(t *testing.T) {
	var lis = bufconn.Listen(1 << 20)
	var srv = grpc.NewServer()
	RegisterConnectorServer(srv, echo{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	var cc, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	s, err := OpenMaterialize(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	for b := uint32(0); b < 3; b++ {
		if err := s.Send(&Request{Load: &Request_Load{Binding: b, KeyPacked: []byte{1}}}); err != nil {
			t.Fatal(err)
		}
		var resp, err = s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetLoaded().GetBinding() != b {
			t.Errorf("got %v, want Loaded of binding %d", resp, b)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want io.EOF (the server returned nil)", err)
	}
}

func TestDurationJSON(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 250 * time.Millisecond: "0.25s", -time.Second - 1: "-1.000000001s", 90 * time.Minute: "5400s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		var back, err = time.ParseDuration(want)
		if err != nil || back != d {
			t.Errorf("%q reads back as %v, %v", want, back, err)
		}
	}
}

// BenchmarkStore measures a stream of Stores of a 200-byte document through each
// codec: all written, then all read back.
func BenchmarkStore(b *testing.B) {
	var m = &Request{Store: &Request_Store{Binding: 1, KeyPacked: []byte{0x15, 0x2a, 0x02, 'k', 0},
		ValuesPacked: bytes.Repeat([]byte{0x02, 'v', 0}, 10), DocJson: []byte(`{"key":42,"values":["` + strings.Repeat("v", 160) + `"]}`), Exists: true}}
	for _, c := range []Codec{Proto, JSON} {
		b.Run(string(c), func(b *testing.B) {
			var buf bytes.Buffer
			var wr = NewWriter(&buf, c)
			var got Request
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := wr.Write(m); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len() / b.N))
			var rd = NewReader(&buf, c, 0)
			for i := 0; i < b.N; i++ {
				if err := rd.Read(&got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
