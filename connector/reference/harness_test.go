package reference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
	"google.golang.org/grpc"
)

// The harness drives the reference connector in process through its Transactions
// stream, as the runtime does, for the tests and benchmarks of this package.

// pipe is the server side of an in-process Transactions stream.
type pipe struct {
	grpc.ServerStream
	ctx   context.Context
	reqs  chan *pm.TransactionRequest
	resps chan *pm.TransactionResponse
}

func (p *pipe) Context() context.Context { return p.ctx }

func (p *pipe) Send(r *pm.TransactionResponse) error {
	select {
	case p.resps <- r:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

func (p *pipe) Recv() (*pm.TransactionRequest, error) {
	select {
	case r, ok := <-p.reqs:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-p.ctx.Done():
		return nil, p.ctx.Err()
	}
}

// stream is the runtime's side of one Transactions stream.
type stream struct {
	tb         testing.TB
	p          *pipe
	cancel     func()
	ended      chan struct{} // closed when Transactions returned err
	err        error
	checkpoint []byte // of Opened
	round      int
}

// testSpec is a materialization of one binding per table; a table named "d…" is
// a delta-updates binding.
func testSpec(name, config string, tables ...string) *pf.MaterializationSpec {
	var spec = &pf.MaterializationSpec{
		Materialization:  pf.Materialization(name),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: json.RawMessage(config),
		ShardTemplate: &pc.ShardSpec{
			Id:                pc.ShardID("materialize/" + name),
			MaxTxnDuration:    time.Second,
			RecoveryLogPrefix: "recovery",
			HintPrefix:        "/estuary/flow/hints",
		},
		RecoveryLogTemplate: journalSpec("recovery/materialize/" + name),
	}
	for _, table := range tables {
		var delta = table[0] == 'd'
		var coll = "acme/" + table
		spec.Bindings = append(spec.Bindings, &pf.MaterializationSpec_Binding{
			ResourceSpecJson: json.RawMessage(fmt.Sprintf(`{"name":%q,"delta_updates":%v}`, table, delta)),
			ResourcePath:     []string{table},
			Collection: pf.CollectionSpec{
				Collection: pf.Collection(coll),
				SchemaUri:  "file:///" + coll + ".schema.json",
				SchemaJson: json.RawMessage(`{"type":"object"}`),
				KeyPtrs:    []string{"/id", "/name"},
				UuidPtr:    "/_meta/uuid",
				Projections: []pf.Projection{
					{Field: "id", Ptr: "/id", IsPrimaryKey: true},
					{Field: "name", Ptr: "/name", IsPrimaryKey: true},
					{Field: "flow_document", Ptr: ""},
				},
				PartitionTemplate: journalSpec(coll),
			},
			FieldSelection: pf.FieldSelection{Keys: []string{"id", "name"}, Document: "flow_document"},
			DeltaUpdates:   delta,
			Shuffle: pf.Shuffle{
				GroupName:        "materialize/" + name + "/" + coll,
				SourceCollection: pf.Collection(coll),
				SourceUuidPtr:    "/_meta/uuid",
				SourceSchemaUri:  "file:///" + coll + ".schema.json",
				ShuffleKeyPtr:    []string{"/id", "/name"},
			},
		})
	}
	if err := spec.Validate(); err != nil {
		panic(fmt.Sprintf("test spec is invalid: %v", err))
	}
	return spec
}

func journalSpec(name string) *pb.JournalSpec {
	return &pb.JournalSpec{
		Name:        pb.Journal(name),
		Replication: 1,
		Fragment: pb.JournalSpec_Fragment{
			Length:           1 << 20,
			CompressionCodec: pb.CompressionCodec_NONE,
			RefreshInterval:  time.Minute,
		},
		Flags: pb.JournalSpec_O_RDWR,
	}
}

func apply(tb testing.TB, d *Driver, spec *pf.MaterializationSpec) {
	tb.Helper()
	if _, err := d.ApplyUpsert(context.Background(), &pm.ApplyRequest{Materialization: spec, Version: "v1"}); err != nil {
		tb.Fatalf("ApplyUpsert: %v", err)
	}
}

// open starts a Transactions stream over [begin, end] and waits for Opened.
func open(tb testing.TB, d *Driver, spec *pf.MaterializationSpec, begin, end uint32) *stream {
	tb.Helper()
	var ctx, cancel = context.WithCancel(context.Background())
	var s = &stream{tb: tb, cancel: cancel, ended: make(chan struct{}), p: &pipe{
		ctx: ctx, reqs: make(chan *pm.TransactionRequest, 64), resps: make(chan *pm.TransactionResponse, 1<<14),
	}}
	go func() {
		s.err = d.Transactions(s.p)
		close(s.ended)
	}()
	s.send(&pm.TransactionRequest{Open: &pm.TransactionRequest_Open{
		Materialization: spec, Version: "v1", KeyBegin: begin, KeyEnd: end,
	}})
	var r = s.recv()
	if r.Opened == nil {
		tb.Fatalf("expected Opened, got %v", r)
	}
	s.checkpoint = r.Opened.FlowCheckpoint
	tb.Cleanup(s.close)
	return s
}

func (s *stream) send(r *pm.TransactionRequest) {
	s.tb.Helper()
	select {
	case <-s.ended:
		s.tb.Fatalf("the stream ended (%v) before %v could be sent", s.err, r)
	default:
	}
	select {
	case s.p.reqs <- r:
	case <-s.ended:
		s.tb.Fatalf("the stream ended (%v) before %v could be sent", s.err, r)
	}
}

func (s *stream) recv() *pm.TransactionResponse {
	s.tb.Helper()
	select {
	case r := <-s.p.resps:
		return r
	case <-s.ended:
		select {
		case r := <-s.p.resps:
			return r
		default:
		}
		s.tb.Fatalf("the stream ended (%v) while a response was expected", s.err)
		return nil
	}
}

// close ends the stream between transactions, as the runtime does.
func (s *stream) close() {
	select {
	case <-s.p.ctx.Done():
		return
	default:
	}
	close(s.p.reqs)
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		s.tb.Errorf("Transactions did not return after its stream closed")
	}
	s.cancel()
}

// doc is a store: a key and its document.
type doc struct {
	key, json []byte
}

// txn runs one transaction: Acknowledge, a Load of loads (of binding 0), Prepare,
// a Store of stores into binding storeTo, and Commit. It returns the documents
// loaded, and the error Transactions returned if it did not commit.
func (s *stream) txn(loads [][]byte, storeTo int, stores []doc) ([]json.RawMessage, error) {
	s.tb.Helper()
	s.round++
	s.send(&pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}})
	for from := 0; from < len(loads); from += 1000 {
		var l = &pm.TransactionRequest_Load{}
		for _, k := range loads[from:min(from+1000, len(loads))] {
			l.PackedKeys = append(l.PackedKeys, l.Arena.Add(k))
		}
		s.send(&pm.TransactionRequest{Load: l})
	}
	s.send(&pm.TransactionRequest{Prepare: &pm.TransactionRequest_Prepare{
		FlowCheckpoint: []byte(fmt.Sprintf("checkpoint %d", s.round)),
	}})
	var loaded []json.RawMessage
	for prepared := false; !prepared; {
		var r = s.recv()
		switch {
		case r.Acknowledged != nil:
		case r.Loaded != nil:
			for _, sl := range r.Loaded.DocsJson {
				loaded = append(loaded, append(json.RawMessage(nil), r.Loaded.Arena.Bytes(sl)...))
			}
		case r.Prepared != nil:
			prepared = true
		default:
			s.tb.Fatalf("unexpected response %v", r)
		}
	}
	for from := 0; from < len(stores); from += 1000 {
		var st = &pm.TransactionRequest_Store{Binding: uint32(storeTo)}
		for _, d := range stores[from:min(from+1000, len(stores))] {
			st.PackedKeys = append(st.PackedKeys, st.Arena.Add(d.key))
			st.PackedValues = append(st.PackedValues, st.Arena.Add(tuple.Tuple{}.Pack()))
			st.DocsJson = append(st.DocsJson, st.Arena.Add(d.json))
			st.Exists = append(st.Exists, false)
		}
		s.send(&pm.TransactionRequest{Store: st})
	}
	s.send(&pm.TransactionRequest{Commit: &pm.TransactionRequest_Commit{}})
	select {
	case r := <-s.p.resps:
		if r.DriverCommitted == nil {
			s.tb.Fatalf("expected DriverCommitted, got %v", r)
		}
		return loaded, nil
	case <-s.ended:
		s.cancel()
		if s.err == nil {
			return loaded, errors.New("Transactions returned without DriverCommitted")
		}
		return loaded, s.err
	}
}

// testKey is the packed key of key index i.
func testKey(i int) []byte { return tuple.Tuple{int64(i), "k" + strconv.Itoa(i%7)}.Pack() }

// testDoc is the document of key index i at revision rev: about 400 bytes on
// average (like matsim's default documents), one in 16 about 1,300.
func testDoc(i, rev int) []byte {
	var r = uint64(i)*0x9e3779b97f4a7c15 ^ uint64(rev)*0xbf58476d1ce4e5b9
	var next = func() uint64 {
		r += 0x9e3779b97f4a7c15
		var z = r
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	var n = 150 + int(next()%400)
	if next()%16 == 0 {
		n = 1000 + int(next()%600)
	}
	var b = fmt.Appendf(nil, `{"id":%d,"name":"k%d","rev":%d,"count":%d,"text":"`, i, i%7, rev, int64(next()>>12)-1<<51)
	for len(b) < n {
		b = append(b, "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789"[next()%47])
	}
	return append(b, `"}`...)
}

// testDocs are the stores of key indices [from, to) at revision rev.
func testDocs(from, to, rev int) []doc {
	var out = make([]doc, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, doc{key: testKey(i), json: testDoc(i, rev)})
	}
	return out
}

func testKeys(from, to int) [][]byte {
	var out = make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, testKey(i))
	}
	return out
}
