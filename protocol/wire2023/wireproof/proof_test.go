package wireproof

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"testing"

	pf "github.com/estuary/flow/go/protocols/flow"
	pm "github.com/estuary/flow/go/protocols/materialize"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	gogoio "github.com/gogo/protobuf/io"
	"github.com/gogo/protobuf/jsonpb"
	gogo "github.com/gogo/protobuf/proto"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
)

// The JSON mapping connectors use (estuary/connectors materialize-boilerplate).
var (
	connectorMarshaler   = jsonpb.Marshaler{EnumsAsInts: false, EmitDefaults: false, OrigName: false}
	connectorUnmarshaler = jsonpb.Unmarshaler{AllowUnknownFields: true}
)

// realOpts compares the real module's gogo messages: their XXX_ bookkeeping is
// ignored and nil equals empty (a decoder may leave either).
var realOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.FilterPath(func(p cmp.Path) bool {
		var sf, ok = p.Last().(cmp.StructField)
		return ok && strings.HasPrefix(sf.Name(), "XXX_")
	}, cmp.Ignore()),
}

func newReal(r row) gogo.Message {
	if r.request {
		return new(pm.Request)
	}
	return new(pm.Response)
}

func newMine(r row) proto.Message { return r.mine.ProtoReflect().New().Interface() }

func validateReal(t *testing.T, m gogo.Message) {
	t.Helper()
	var err error
	switch m := m.(type) {
	case *pm.Request:
		err = m.Validate_()
	case *pm.Response:
		err = m.Validate()
	}
	if err != nil {
		t.Errorf("the real module rejects the message: %v", err)
	}
}

// frame is how a real connector frames a message on stdout (gogo's
// Uint32DelimitedWriter, little-endian), the codec flowsim reads.
func frame(t *testing.T, m gogo.Message) []byte {
	var buf bytes.Buffer
	if err := gogoio.NewUint32DelimitedWriter(&buf, binary.LittleEndian).WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestProtoRealToMine(t *testing.T) {
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			var got = newMine(r)
			var rd = w.NewReader(bytes.NewReader(frame(t, r.real.(gogo.Message))), w.Proto, 0)
			if err := rd.Read(got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(r.mine, got, protocmp.Transform(), protocmp.IgnoreUnknown()); d != "" {
				t.Errorf("real → proto bytes → wire2023 (-want +got):\n%s", d)
			}
			if err := rd.Read(got); err != io.EOF {
				t.Errorf("after the only message: %v, want io.EOF", err)
			}
		})
	}
}

func TestProtoMineToReal(t *testing.T) {
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.NewWriter(&buf, w.Proto).Write(r.mine); err != nil {
				t.Fatal(err)
			}
			var got = newReal(r)
			if err := gogoio.NewUint32DelimitedReader(&buf, binary.LittleEndian, 1<<30).ReadMsg(got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(r.real, got, realOpts); d != "" {
				t.Errorf("wire2023 → proto bytes → real (-want +got):\n%s", d)
			}
			validateReal(t, got)
		})
	}
}

func TestJSONRealToMine(t *testing.T) {
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := connectorMarshaler.Marshal(&buf, r.real.(gogo.Message)); err != nil {
				t.Fatal(err)
			}
			buf.WriteByte('\n')
			var got = newMine(r)
			var rd = w.NewReader(&buf, w.JSON, 0)
			if err := rd.Read(got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(r.mine, got, protocmp.Transform(), protocmp.IgnoreUnknown(), rawJSONEqual()); d != "" {
				t.Errorf("real → JSON → wire2023 (-want +got):\n%s", d)
			}
			if err := rd.Read(got); err != io.EOF {
				t.Errorf("after the only message: %v, want io.EOF", err)
			}
		})
	}
}

func TestJSONMineToReal(t *testing.T) {
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.NewWriter(&buf, w.JSON).Write(r.mine); err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
				t.Errorf("one message is %d lines, want 1:\n%s", n, buf.Bytes())
			}
			var got = newReal(r)
			// As the connector boilerplate reads its stdin.
			if err := connectorUnmarshaler.UnmarshalNext(json.NewDecoder(&buf), got); err != nil {
				t.Fatalf("%v\n%s", err, buf.Bytes())
			}
			if d := cmp.Diff(r.real, got, realOpts, rawJSONEqual()); d != "" {
				t.Errorf("wire2023 → JSON → real (-want +got):\n%s", d)
			}
			validateReal(t, got)
		})
	}
}

// rawJSONEqual compares raw JSON by meaning: gogo's jsonpb may re-space it.
func rawJSONEqual() cmp.Option {
	return cmp.FilterValues(func(a, b json.RawMessage) bool { return json.Valid(a) && json.Valid(b) },
		cmp.Comparer(func(a, b json.RawMessage) bool {
			var ca, cb bytes.Buffer
			return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
		}))
}

// TestEveryFieldHasARow fails when wire2023.proto gains a field that no row of the
// table sets: every declared field must be proven against the real module.
func TestEveryFieldHasARow(t *testing.T) {
	var declared = map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if md.IsMapEntry() || md.FullName() == "google.protobuf.Duration" {
			if md.IsMapEntry() {
				if v := md.Fields().ByNumber(2); v.Message() != nil {
					walk(v.Message())
				}
			}
			return
		}
		for i := 0; i < md.Fields().Len(); i++ {
			var fd = md.Fields().Get(i)
			if declared[fd.FullName()] {
				continue
			}
			declared[fd.FullName()] = true
			if fd.Message() != nil {
				walk(fd.Message())
			}
		}
	}
	walk((&w.Request{}).ProtoReflect().Descriptor())
	walk((&w.Response{}).ProtoReflect().Descriptor())

	var set = map[protoreflect.FullName]bool{}
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			set[fd.FullName()] = true
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { visit(mv.Message()); return true })
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				visit(v.Message())
			}
			return true
		})
	}
	for _, r := range rows() {
		visit(r.mine.ProtoReflect())
	}
	var missing []string
	for name := range declared {
		if !set[name] {
			missing = append(missing, string(name))
		}
	}
	sort.Strings(missing)
	if len(missing) != 0 {
		t.Errorf("fields of wire2023.proto that no row of rows() sets (add them to a row, with the real module's value):\n  %s",
			strings.Join(missing, "\n  "))
	}
}

// TestUnknownFieldsOfNewerConnectors: fields wire2023 does not declare pass
// through the binary codec untouched and are skipped by the JSON codec.
func TestUnknownFieldsOfNewerConnectors(t *testing.T) {
	var real = &pm.Response{Spec: &pm.Response_Spec{
		Protocol: 3032023, ConfigSchemaJson: []byte(`{}`), ResourceConfigSchemaJson: []byte(`{}`), DocumentationUrl: "u",
		Oauth2: &pf.OAuth2{Provider: "acme", AuthUrlTemplate: "https://auth"},
	}, Internal: []byte("internal")}

	var got w.Response
	if err := w.NewReader(bytes.NewReader(frame(t, real)), w.Proto, 0).Read(&got); err != nil {
		t.Fatal(err)
	}
	if got.GetSpec().GetDocumentationUrl() != "u" {
		t.Errorf("known fields lost: %v", &got)
	}
	var buf bytes.Buffer
	if err := w.NewWriter(&buf, w.Proto).Write(&got); err != nil {
		t.Fatal(err)
	}
	var back pm.Response
	if err := gogoio.NewUint32DelimitedReader(&buf, binary.LittleEndian, 1<<20).ReadMsg(&back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(real, &back, realOpts); d != "" {
		t.Errorf("unknown fields not kept by the binary codec (-want +got):\n%s", d)
	}

	buf.Reset()
	if err := connectorMarshaler.Marshal(&buf, real); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"oauth2"`)) {
		t.Fatalf("fixture does not exercise unknown JSON fields: %s", buf.Bytes())
	}
	var fromJSON w.Response
	if err := w.UnmarshalJSON(buf.Bytes(), &fromJSON); err != nil {
		t.Fatalf("an unknown JSON field is an error: %v", err)
	}
	if fromJSON.GetSpec().GetProtocol() != 3032023 {
		t.Errorf("known fields lost: %v", &fromJSON)
	}
}
