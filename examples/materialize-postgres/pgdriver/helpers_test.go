package pgdriver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/internal/pgtest"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testDB returns the config of a fresh database on the shared cluster.
func testDB(t *testing.T) (Config, *pgtest.Server) {
	t.Helper()
	var srv = pgtest.Shared(t)
	var db = srv.NewDatabase(t)
	return Config{Address: srv.Address(), User: srv.User, Password: srv.Password, Database: db, Schema: "flow"}, srv
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	var b, err = json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testProjections is the collection every test materializes: a composite key
// (integer, string), scalar, object and optional values, and the root document.
func testProjections() []pf.Projection {
	var p = func(field, ptr string, key, must bool, types ...string) pf.Projection {
		return pf.Projection{Field: field, Ptr: ptr, IsPrimaryKey: key,
			Inference: pf.Inference{Types: types, MustExist: must}}
	}
	return []pf.Projection{
		p("id", "/id", true, true, "integer"),
		p("name", "/name", true, true, "string"),
		p("big", "/big", false, true, "integer"),
		p("flag", "/flag", false, false, "boolean", "null"),
		p("num", "/num", false, true, "number"),
		p("obj", "/obj", false, false, "object"),
		p("opt", "/opt", false, false, "string", "null"),
		p("mixed", "/mixed", false, false, "integer", "string", "null"),
		p("flow_document", "", false, true, "object"),
	}
}

// testValues are the value fields selected, sorted, with their pointers.
var testValues = []string{"big", "flag", "mixed", "num", "obj", "opt"}

func testCollection(name string) pf.CollectionSpec {
	return pf.CollectionSpec{
		Collection:  pf.Collection(name),
		SchemaUri:   "file:///" + name + ".schema.json",
		SchemaJson:  json.RawMessage(`{"type":"object"}`),
		KeyPtrs:     []string{"/id", "/name"},
		UuidPtr:     "/_meta/uuid",
		Projections: testProjections(),
		PartitionTemplate: &pb.JournalSpec{
			Name:        pb.Journal(name),
			Replication: 1,
			Fragment: pb.JournalSpec_Fragment{
				Length:           1 << 20,
				CompressionCodec: pb.CompressionCodec_NONE,
				RefreshInterval:  time.Minute,
			},
			Flags: pb.JournalSpec_O_RDWR,
		},
	}
}

type bindingOpt struct {
	table string
	delta bool
}

// testSpec builds a valid MaterializationSpec over cfg with one binding per opt.
func testSpec(t testing.TB, name string, cfg Config, opts ...bindingOpt) *pf.MaterializationSpec {
	t.Helper()
	var spec = &pf.MaterializationSpec{
		Materialization:  pf.Materialization(name),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: mustJSON(t, cfg),
		ShardTemplate: &pc.ShardSpec{
			Id:                pc.ShardID("materialize/" + name),
			MaxTxnDuration:    time.Second,
			RecoveryLogPrefix: "recovery",
			HintPrefix:        "/estuary/flow/hints",
		},
		RecoveryLogTemplate: &pb.JournalSpec{
			Name:        pb.Journal("recovery/materialize/" + name),
			Replication: 1,
			Fragment: pb.JournalSpec_Fragment{
				Length:           1 << 20,
				CompressionCodec: pb.CompressionCodec_NONE,
				RefreshInterval:  time.Minute,
			},
			Flags: pb.JournalSpec_O_RDWR,
		},
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	for i, o := range opts {
		var coll = fmt.Sprintf("acme/coll%d", i)
		var fs = pf.FieldSelection{Keys: []string{"id", "name"}, Values: testValues, Document: "flow_document"}
		spec.Bindings = append(spec.Bindings, &pf.MaterializationSpec_Binding{
			ResourceSpecJson: mustJSON(t, Resource{Table: o.table, DeltaUpdates: o.delta}),
			ResourcePath:     []string{cfg.Schema, o.table},
			Collection:       testCollection(coll),
			FieldSelection:   fs,
			DeltaUpdates:     o.delta,
			Shuffle: pf.Shuffle{
				GroupName:        "materialize/" + name + "/" + coll,
				SourceCollection: pf.Collection(coll),
				SourcePartitions: pb.LabelSelector{},
				SourceUuidPtr:    "/_meta/uuid",
				SourceSchemaUri:  "file:///" + coll + ".schema.json",
				ShuffleKeyPtr:    []string{"/id", "/name"},
			},
		})
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("test spec is invalid: %v", err)
	}
	return spec
}

func applyUpsert(t testing.TB, d *Driver, spec *pf.MaterializationSpec) string {
	t.Helper()
	var resp, err = d.ApplyUpsert(context.Background(), &pm.ApplyRequest{Materialization: spec, Version: "v1"})
	if err != nil {
		t.Fatalf("ApplyUpsert: %v", err)
	}
	return resp.ActionDescription
}

// ---- Documents ----

// doc is a test document: its JSON, packed key and packed values.
type doc struct {
	json   string
	key    []byte
	values []byte
}

// makeDoc decodes js and packs its key and values like the Flow runtime does.
func makeDoc(t testing.TB, js string) doc {
	t.Helper()
	var dec = json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("test document %s: %v", js, err)
	}
	var elem = func(field string) tuple.TupleElement {
		var v, ok = m[field]
		if !ok || v == nil {
			return nil
		}
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i
			}
			if b, ok := new(big.Int).SetString(x.String(), 10); ok {
				if b.IsUint64() {
					return b.Uint64()
				}
				return b
			}
			var f, err = x.Float64()
			if err != nil {
				t.Fatalf("number %s: %v", x, err)
			}
			return f
		case string, bool:
			return x
		default:
			return []byte(mustJSON(t, x))
		}
	}
	var key = tuple.Tuple{elem("id"), elem("name")}
	var values tuple.Tuple
	for _, f := range testValues {
		values = append(values, elem(f))
	}
	return doc{json: js, key: key.Pack(), values: values.Pack()}
}

// ---- A sequential driver of the transactions protocol ----

type stream struct {
	t      *testing.T
	c      pm.Driver_TransactionsClient
	closed bool
	cancel context.CancelFunc
}

func openStream(t *testing.T, d *Driver, spec *pf.MaterializationSpec, begin, end uint32) (*stream, []byte) {
	t.Helper()
	var ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var c, err = pm.AdaptServerToClient(d).Transactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s = &stream{t: t, c: c, cancel: cancel}
	t.Cleanup(func() {
		if !s.closed {
			s.closed = true
			c.CloseSend()
		}
		drain(c)
	})
	s.send(&pm.TransactionRequest{Open: &pm.TransactionRequest_Open{
		Materialization: spec, Version: "v1", KeyBegin: begin, KeyEnd: end}})
	var resp, rerr = s.c.Recv()
	if rerr != nil {
		t.Fatalf("Open: %v", rerr)
	}
	if resp.Opened == nil {
		t.Fatalf("Open: got %v, want Opened", resp)
	}
	return s, resp.Opened.FlowCheckpoint
}

func drain(c pm.Driver_TransactionsClient) {
	for {
		if _, err := c.Recv(); err != nil {
			return
		}
	}
}

func (s *stream) send(req *pm.TransactionRequest) {
	s.t.Helper()
	if err := req.Validate(); err != nil {
		s.t.Fatalf("test sent an invalid request: %v", err)
	}
	if err := s.c.Send(req); err != nil && !errors.Is(err, io.EOF) {
		s.t.Fatalf("Send: %v", err)
	}
}

// round runs one transaction: Acknowledge, Loads of keys, Prepare, Stores of
// docs, Commit. It returns the documents loaded, sorted, and the first error the
// connector returned (the stream is then over).
func (s *stream) round(binding uint32, loads []doc, stores []doc, checkpoint string) ([]string, error) {
	s.t.Helper()
	var ack = &pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}}
	s.send(ack)
	if resp, err := s.c.Recv(); err != nil {
		return nil, err
	} else if resp.Acknowledged == nil {
		s.t.Fatalf("after Acknowledge: got %v, want Acknowledged", resp)
	}
	if len(loads) != 0 {
		var l = &pm.TransactionRequest_Load{Binding: binding}
		for _, d := range loads {
			l.PackedKeys = append(l.PackedKeys, l.Arena.Add(d.key))
		}
		s.send(&pm.TransactionRequest{Load: l})
	}
	s.send(&pm.TransactionRequest{Prepare: &pm.TransactionRequest_Prepare{FlowCheckpoint: []byte(checkpoint)}})
	var loaded []string
	for {
		var resp, err = s.c.Recv()
		if err != nil {
			return loaded, err
		}
		if err := resp.Validate(); err != nil {
			s.t.Fatalf("connector sent an invalid response: %v", err)
		}
		if resp.Loaded != nil {
			if resp.Loaded.Binding != binding {
				s.t.Fatalf("Loaded for binding %d, want %d", resp.Loaded.Binding, binding)
			}
			for _, sl := range resp.Loaded.DocsJson {
				loaded = append(loaded, string(resp.Loaded.Arena.Bytes(sl)))
			}
			continue
		}
		if resp.Prepared == nil {
			s.t.Fatalf("after Prepare: got %v, want Loaded or Prepared", resp)
		}
		break
	}
	sort.Strings(loaded)
	if len(stores) != 0 {
		var st = &pm.TransactionRequest_Store{Binding: binding}
		for _, d := range stores {
			st.PackedKeys = append(st.PackedKeys, st.Arena.Add(d.key))
			st.PackedValues = append(st.PackedValues, st.Arena.Add(d.values))
			st.DocsJson = append(st.DocsJson, st.Arena.Add([]byte(d.json)))
			st.Exists = append(st.Exists, false)
		}
		s.send(&pm.TransactionRequest{Store: st})
	}
	s.send(&pm.TransactionRequest{Commit: &pm.TransactionRequest_Commit{}})
	var resp, err = s.c.Recv()
	if err != nil {
		return loaded, err
	} else if resp.DriverCommitted == nil {
		s.t.Fatalf("after Commit: got %v, want DriverCommitted", resp)
	}
	return loaded, nil
}

// close ends the stream cleanly and returns the connector's final error.
func (s *stream) close() error {
	if !s.closed {
		s.closed = true
		s.c.CloseSend()
	}
	for {
		var resp, err = s.c.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		s.t.Errorf("unexpected response after close: %v", resp)
	}
}

// semanticallyEqual compares two JSON documents, numbers exactly.
func semanticallyEqual(t testing.TB, a, b string) bool {
	t.Helper()
	var norm = func(s string) any {
		var dec = json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("not JSON: %s: %v", s, err)
		}
		return v
	}
	return fmt.Sprint(norm(a)) == fmt.Sprint(norm(b))
}
