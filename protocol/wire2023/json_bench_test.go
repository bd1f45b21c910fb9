package wire2023

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// benchDoc is a document of about 1 KB as a materialization stores it: nested
// objects and arrays, numbers, booleans, null and strings with escapes.
func benchDoc(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"_meta":{"uuid":"9f2c1e8a-%04d-11ee-8c90-0242ac120002","op":"u","source":{"schema":"public","table":"orders","loc":[%d,%d,%d],"ts_ms":1700000000%03d}},`, i%10000, i, i+1, i+2, i%1000)
	fmt.Fprintf(&b, `"id":%d,"customer":"Customer \"%d\" — Müller\n","active":%t,"score":%d.%d,"deleted_at":null,`, i, i, i%2 == 0, i, i%100)
	b.WriteString(`"tags":["alpha","beta","gamma","delta"],"address":{"street":"1234 Long Street Name Avenue","city":"Springfield","zip":"12345-6789","geo":{"lat":37.774929,"lng":-122.419416}},`)
	b.WriteString(`"items":[`)
	for j := 0; j < 5; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%06d","qty":%d,"price":%d.99,"desc":"Item number %d of the order, with a description \u00e9 of moderate length"}`, i*7+j, j+1, j*3+1, j)
	}
	b.WriteString(`],"notes":"` + strings.Repeat("lorem ipsum ", 8) + `"}`)
	return []byte(b.String())
}

func benchStore(i int) *Request {
	return &Request{Store: &Request_Store{
		Binding:      uint32(i % 3),
		KeyJson:      []byte(fmt.Sprintf(`[%d]`, i)),
		KeyPacked:    []byte{0x15, byte(i), 0x02, 'k', 0},
		ValuesJson:   []byte(fmt.Sprintf(`["Customer %d",true,%d.5,"1234 Long Street Name Avenue"]`, i, i)),
		ValuesPacked: bytes.Repeat([]byte{0x02, 'v', 0}, 12),
		DocJson:      benchDoc(i),
		Exists:       i%2 == 1,
	}}
}

func benchLoaded(i int) *Response {
	return &Response{Loaded: &Response_Loaded{Binding: uint32(i % 3), DocJson: benchDoc(i)}}
}

// benchCases: Store and Loaded as the codec writes them (compact), and a Store
// whose document is indented (as a connector might write it).
func benchCases(b *testing.B) []struct {
	name string
	data []byte
	new  func() proto.Message
} {
	var store, _ = MarshalJSON(benchStore(7))
	var loaded, _ = MarshalJSON(benchLoaded(7))
	var indented bytes.Buffer
	var m = benchStore(7)
	_ = jsonIndent(&indented, m.Store.DocJson)
	m.Store.DocJson = indented.Bytes()
	var spaced = []byte(`{"store": {"binding": 1, "key": [7], "keyPacked": "FQcCawA=", "doc": ` + indented.String() + `, "exists": true}}`)
	return []struct {
		name string
		data []byte
		new  func() proto.Message
	}{
		{"Store", store, func() proto.Message { return new(Request) }},
		{"Loaded", loaded, func() proto.Message { return new(Response) }},
		{"StoreIndented", spaced, func() proto.Message { return new(Request) }},
	}
}

// BenchmarkUnmarshalJSON decodes Store and Loaded messages with ~1 KB documents,
// with the codec (new) and with the reference decoder it replaced (ref), in one run.
func BenchmarkUnmarshalJSON(b *testing.B) {
	for _, c := range benchCases(b) {
		for _, d := range []struct {
			name string
			fn   func([]byte, proto.Message) error
		}{{"ref", refUnmarshalJSON}, {"new", UnmarshalJSON}} {
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				var m = c.new()
				b.SetBytes(int64(len(c.data)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := d.fn(c.data, m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMarshalJSON encodes the same messages (new and ref, in one run).
func BenchmarkMarshalJSON(b *testing.B) {
	for _, c := range benchCases(b) {
		var m = c.new()
		if err := refUnmarshalJSON(c.data, m); err != nil {
			b.Fatal(err)
		}
		for _, d := range []struct {
			name string
			fn   func([]byte, proto.Message) ([]byte, error)
		}{{"ref", func(_ []byte, m proto.Message) ([]byte, error) { return refMarshalJSON(m) }},
			{"new", func(buf []byte, m proto.Message) ([]byte, error) { return appendJSON(buf[:0], m.ProtoReflect()) }}} {
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				var buf []byte
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					var out, err = d.fn(buf, m)
					if err != nil {
						b.Fatal(err)
					}
					buf = out
					b.SetBytes(int64(len(out)))
				}
			})
		}
	}
}

func jsonIndent(dst *bytes.Buffer, src []byte) error { return json.Indent(dst, src, "", "  ") }

// repeatReader reads data again and again, without end.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	var n = 0
	for n < len(p) {
		var c = copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// BenchmarkReadJSON reads a stream of Store (or Loaded) messages, one a line, with
// the Reader and with the reader it replaced (a json.Decoder, then the reference
// decoder), in one run.
func BenchmarkReadJSON(b *testing.B) {
	var store, _ = MarshalJSON(benchStore(7))
	var loaded, _ = MarshalJSON(benchLoaded(7))
	for _, c := range []struct {
		name string
		line []byte
		m    proto.Message
	}{{"Store", store, new(Request)}, {"Loaded", loaded, new(Response)}} {
		var line = append(c.line, '\n')
		for _, r := range []struct {
			name string
			open func(io.Reader) interface{ Read(proto.Message) error }
		}{
			{"ref", func(rd io.Reader) interface{ Read(proto.Message) error } {
				return newRefReader(rd, 0, refUnmarshalJSON)
			}},
			{"new", func(rd io.Reader) interface{ Read(proto.Message) error } { return NewReader(rd, JSON, 0) }},
		} {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				var rd = r.open(&repeatReader{data: line})
				b.SetBytes(int64(len(line)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := rd.Read(c.m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
