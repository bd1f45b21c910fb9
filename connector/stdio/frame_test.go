package stdio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

func TestFrameRoundTrip(t *testing.T) {
	var msgs = []*materialize.TransactionRequest{
		{Open: &materialize.TransactionRequest_Open{Version: "v1", KeyEnd: 0xffffffff}},
		{Acknowledge: &materialize.TransactionRequest_Acknowledge{}},
		{Load: &materialize.TransactionRequest_Load{Binding: 2, Arena: flow.Arena("abc"), PackedKeys: []flow.Slice{{Begin: 0, End: 3}}}},
		{Commit: &materialize.TransactionRequest_Commit{}}, // encodes to a frame of length 2
	}
	var buf bytes.Buffer
	var w = NewWriter(&buf)
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("Write must buffer until Flush, but %d bytes were written", buf.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// The first frame's prefix is its little-endian length.
	if got, want := binary.LittleEndian.Uint32(buf.Bytes()), uint32(msgs[0].ProtoSize()); got != want {
		t.Fatalf("length prefix = %d, want %d", got, want)
	}
	var r = NewReader(&buf, 0, "test")
	for i, want := range msgs {
		var got materialize.TransactionRequest
		if err := r.Read(&got); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if got.String() != want.String() {
			t.Fatalf("frame %d: got %v, want %v", i+1, &got, want)
		}
	}
	if err := r.Read(new(materialize.TransactionRequest)); err != io.EOF {
		t.Fatalf("after the last frame: got %v, want io.EOF", err)
	}
	if r.Frames() != len(msgs) {
		t.Fatalf("Frames() = %d, want %d", r.Frames(), len(msgs))
	}
}

func frame(payload []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func TestReaderErrors(t *testing.T) {
	var good = frame([]byte{0x2a, 0x00}) // TransactionRequest{Commit: {}}
	for _, tc := range []struct {
		name  string
		in    []byte
		max   int
		kind  error
		parts []string
	}{
		{"truncated header", append(good, 7, 0), 0, ErrTruncated,
			[]string{"truncated frame #2", "after 2 of the 4 length-prefix bytes"}},
		{"truncated payload", append(good, frame(make([]byte, 100))[:50]...), 0, ErrTruncated,
			[]string{"truncated frame #2", "after 46 of its 100 bytes"}},
		{"oversize", frame(make([]byte, 2048)), 1024, ErrOversize,
			[]string{"frame #1 declares 2048 bytes", "cap of 1024 bytes", "--max-frame"}},
		{"log line", []byte("INFO starting connector v1.2\n{\"level\":\"info\"}"), 0, ErrNotProtocol,
			[]string{"non-protocol bytes where frame #1 should begin", `"INFO starting connector v1.2\n{\"level`, "logging to stdout"}},
		{"log line after a frame", append(good, "panic: oops"...), 0, ErrNotProtocol,
			[]string{"frame #2", `"panic: oops"`}},
		{"not protobuf", frame([]byte{0xff, 0xff, 0xff}), 0, ErrNotProtocol,
			[]string{"frame #1 (3 bytes) is not a valid *materialize.TransactionRequest", `"\xff\xff\xff"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r = NewReader(bytes.NewReader(tc.in), tc.max, "connector stdout")
			var err error
			for err == nil {
				err = r.Read(new(materialize.TransactionRequest))
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want a %v", err, tc.kind)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

// FuzzReader feeds arbitrary bytes to the frame decoder: it must never panic nor
// allocate past its cap, must end in io.EOF or a *FrameError, and every frame it
// accepts must re-encode to a frame that decodes to the same message.
func FuzzReader(f *testing.F) {
	var seed bytes.Buffer
	var w = NewWriter(&seed)
	_ = w.Write(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{Version: "v"}})
	_ = w.Write(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}})
	_ = w.Flush()
	f.Add(seed.Bytes())
	f.Add([]byte("INFO hello\n"))
	f.Add([]byte{5, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0x00})

	f.Fuzz(func(t *testing.T, in []byte) {
		var r = NewReader(bytes.NewReader(in), 1<<16, "fuzz")
		for {
			var m materialize.TransactionRequest
			var err = r.Read(&m)
			if err == io.EOF {
				return
			}
			var fe *FrameError
			if err != nil {
				if !errors.As(err, &fe) {
					t.Fatalf("error is not a *FrameError: %v", err)
				}
				return
			}
			var buf bytes.Buffer
			var w = NewWriter(&buf)
			if err = w.WriteFlush(&m); err != nil {
				t.Fatalf("re-encoding %v: %v", &m, err)
			}
			var again materialize.TransactionRequest
			if err = NewReader(&buf, 1<<16, "again").Read(&again); err != nil {
				t.Fatalf("decoding re-encoded %v: %v", &m, err)
			}
			if again.String() != m.String() {
				t.Fatalf("round trip changed %v into %v", &m, &again)
			}
		}
	})
}
