package era2023_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	pf "github.com/estuary/flow/go/protocols/flow"
	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	gogoio "github.com/gogo/protobuf/io"
	"github.com/gogo/protobuf/jsonpb"
	gogo "github.com/gogo/protobuf/proto"
	pc "go.gazette.dev/core/consumer/protocol"
)

// memServer is a neutral connector keeping documents in memory (a fake for this
// test of the serving loop).
type memServer struct {
	store map[string]json.RawMessage
}

func (m *memServer) Spec(context.Context, *protocol.SpecRequest) (*protocol.SpecResponse, error) {
	return &protocol.SpecResponse{EndpointSchema: json.RawMessage(`{"type":"object"}`), ResourceSchema: json.RawMessage(`{"type":"object"}`), DocumentationURL: "https://example.com"}, nil
}

func (m *memServer) Validate(_ context.Context, r *protocol.ValidateRequest) (*protocol.ValidateResponse, error) {
	var out = &protocol.ValidateResponse{}
	for _, b := range r.Bindings {
		var vb = &protocol.ValidatedBinding{ResourcePath: []string{"mem"}, Constraints: map[string]protocol.Constraint{}}
		for _, p := range b.Collection.Projections {
			vb.Constraints[p.Field] = protocol.Constraint{Type: protocol.FieldOptional, Reason: "any"}
		}
		out.Bindings = append(out.Bindings, vb)
	}
	return out, nil
}

func (m *memServer) Apply(_ context.Context, r *protocol.ApplyRequest) (*protocol.ApplyResponse, error) {
	return &protocol.ApplyResponse{ActionDescription: "apply " + r.Version, State: &protocol.StateUpdate{JSON: json.RawMessage(`{"applied":true}`), MergePatch: true}}, nil
}

func (m *memServer) Transactions(s protocol.TransactionsStream) error {
	var pending = map[string]json.RawMessage{}
	var loads []string
	var commits int
	for {
		var req, err = s.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		var resp *protocol.Response
		switch {
		case req.Open != nil:
			resp = &protocol.Response{Opened: &protocol.Opened{}}
		case req.Acknowledge != nil:
			resp = &protocol.Response{Acknowledged: &protocol.Acknowledged{}}
		case req.Load != nil:
			for _, k := range req.Load.Keys {
				loads = append(loads, string(k))
			}
		case req.Flush != nil:
			var docs []json.RawMessage
			for _, k := range loads {
				if d, ok := m.store[k]; ok {
					docs = append(docs, d)
				}
			}
			loads = nil
			if len(docs) != 0 {
				if err := s.Send(&protocol.Response{Loaded: &protocol.Loaded{Docs: docs}}); err != nil {
					return err
				}
			}
			resp = &protocol.Response{Flushed: &protocol.Flushed{}}
		case req.Store != nil:
			for _, d := range req.Store.Docs {
				pending[string(d.KeyPacked)] = d.Doc
			}
		case req.StartCommit != nil:
			for k, v := range pending {
				m.store[k] = v
			}
			commits++
			resp = &protocol.Response{StartedCommit: &protocol.StartedCommit{State: &protocol.StateUpdate{JSON: json.RawMessage(fmt.Sprintf(`{"commits":%d}`, commits)), MergePatch: true}}}
		}
		if resp != nil {
			if err := s.Send(resp); err != nil {
				return err
			}
		}
	}
}

// realRuntime plays the runtime with the real module (v0.6.10): it writes real
// Requests to the connector's stdin and reads real Responses from its stdout, in
// one codec, and validates every response as the runtime would.
type realRuntime struct {
	t      *testing.T
	codec  w.Codec
	stdin  io.WriteCloser
	out    *bufio.Reader
	jsonIn *json.Decoder
	done   chan error
}

func (r *realRuntime) send(req *pm.Request) {
	r.t.Helper()
	if err := req.Validate_(); err != nil {
		r.t.Fatalf("test request invalid: %v", err)
	}
	var err error
	if r.codec == w.JSON {
		var s string
		if s, err = (&jsonpb.Marshaler{}).MarshalToString(req); err == nil {
			_, err = io.WriteString(r.stdin, s+"\n")
		}
	} else {
		err = gogoio.NewUint32DelimitedWriter(r.stdin, binary.LittleEndian).WriteMsg(req)
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *realRuntime) recv() *pm.Response {
	r.t.Helper()
	var resp = new(pm.Response)
	var err error
	if r.codec == w.JSON {
		err = (&jsonpb.Unmarshaler{AllowUnknownFields: true}).UnmarshalNext(r.jsonIn, resp)
	} else {
		err = gogoio.NewUint32DelimitedReader(r.out, binary.LittleEndian, 1<<30).ReadMsg(gogo.Message(resp))
	}
	if err != nil {
		r.t.Fatalf("reading a response: %v", err)
	}
	if err := resp.Validate(); err != nil {
		r.t.Errorf("the runtime rejects the response %v: %v", resp, err)
	}
	return resp
}

func TestServeStdioToTheRealRuntime(t *testing.T) {
	for _, codec := range []w.Codec{w.Proto, w.JSON} {
		t.Run(string(codec), func(t *testing.T) {
			var inR, inW = io.Pipe()
			var outR, outW = io.Pipe()
			var rt = &realRuntime{t: t, codec: codec, stdin: inW, out: bufio.NewReader(outR), done: make(chan error, 1)}
			rt.jsonIn = json.NewDecoder(rt.out)
			go func() {
				rt.done <- era2023.ServeStdio(context.Background(), &memServer{store: map[string]json.RawMessage{}}, inR, outW, codec)
				outW.Close()
			}()

			var real = realSpec(t)
			rt.send(&pm.Request{Spec: &pm.Request_Spec{ConnectorType: pf.MaterializationSpec_IMAGE, ConfigJson: json.RawMessage(`{}`)}})
			if s := rt.recv().Spec; s == nil || s.Protocol != 3032023 {
				t.Fatalf("Spec answer %v", s)
			}
			rt.send(&pm.Request{Validate: &pm.Request_Validate{Name: "flowsim/sink", ConnectorType: pf.MaterializationSpec_IMAGE, ConfigJson: json.RawMessage(`{}`),
				Bindings: []*pm.Request_Validate_Binding{{ResourceConfigJson: json.RawMessage(`{"t":1}`), Collection: real.Bindings[0].Collection}}}})
			if v := rt.recv().Validated; v == nil || v.Bindings[0].Constraints["key"] == nil || v.Bindings[0].Constraints["key"].Type != pm.Response_Validated_Constraint_FIELD_OPTIONAL {
				t.Fatalf("Validated answer %v", v)
			}
			rt.send(&pm.Request{Apply: &pm.Request_Apply{Materialization: real, Version: "v1"}})
			if a := rt.recv().Applied; a == nil || a.ActionDescription != "apply v1" || string(a.State.UpdatedJson) != `{"applied":true}` {
				t.Fatalf("Applied answer %v", a)
			}
			rt.send(&pm.Request{Open: &pm.Request_Open{Materialization: real, Version: "v1", Range: &pf.RangeSpec{KeyEnd: 0xffffffff, RClockEnd: 0xffffffff}}})
			if rt.recv().Opened == nil {
				t.Fatal("no Opened")
			}
			for round := 1; round <= 2; round++ {
				// io.Pipe has no buffer: read each answer before the next request.
				rt.send(&pm.Request{Acknowledge: &pm.Request_Acknowledge{}})
				if rt.recv().Acknowledged == nil {
					t.Fatalf("round %d: no Acknowledged", round)
				}
				rt.send(&pm.Request{Load: &pm.Request_Load{KeyPacked: []byte{0x15, 1}}})
				rt.send(&pm.Request{Flush: &pm.Request_Flush{}})
				var resp = rt.recv()
				if round == 2 {
					if resp.Loaded == nil || string(resp.Loaded.DocJson) != `{"key":1}` {
						t.Fatalf("round 2: got %v, want the stored document", resp)
					}
					resp = rt.recv()
				}
				if resp.Flushed == nil {
					t.Fatalf("round %d: got %v, want Flushed", round, resp)
				}
				rt.send(&pm.Request{Store: &pm.Request_Store{KeyPacked: []byte{0x15, 1}, ValuesPacked: []byte{0x02, 'v', 0}, DocJson: json.RawMessage(`{"key":1}`)}})
				rt.send(&pm.Request{StartCommit: &pm.Request_StartCommit{RuntimeCheckpoint: &pc.Checkpoint{}}})
				if sc := rt.recv().StartedCommit; sc == nil || string(sc.State.UpdatedJson) != fmt.Sprintf(`{"commits":%d}`, round) {
					t.Fatalf("round %d: StartedCommit %v", round, sc)
				}
			}
			rt.send(&pm.Request{Acknowledge: &pm.Request_Acknowledge{}})
			rt.recv()
			inW.Close() // the clean end
			if err := <-rt.done; err != nil {
				t.Errorf("ServeStdio: %v", err)
			}
		})
	}
}

// realSpec is a valid MaterializationSpec of the real module, from
// era2023.Materialization through bytes.
func realSpec(t *testing.T) *pf.MaterializationSpec {
	var m = materialization()
	m.Bindings[0].Fields = protocol.FieldSelection{Keys: []string{"key"}, Values: []string{"value"}}
	var b, err = w.MarshalJSON(era2023.Materialization(m))
	if err != nil {
		t.Fatal(err)
	}
	var spec = new(pf.MaterializationSpec)
	if err := (&jsonpb.Unmarshaler{}).Unmarshal(bytesReader(b), spec); err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	return spec
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
