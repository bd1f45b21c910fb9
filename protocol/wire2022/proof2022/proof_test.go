package proof2022

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/estuary/flow/go/protocols/fdb/tuple"
	pf "github.com/estuary/flow/go/protocols/flow"
	"github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2022"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2022"
	"go.gazette.dev/core/broker/client"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// chanStream is the connector's side: requests arrive as bytes and are decoded by
// the real 2022 module, as from a connector's stdin.
type chanStream struct {
	grpc.ServerStream
	ctx   context.Context
	reqs  chan []byte
	resps chan []byte
}

func (s *chanStream) Context() context.Context { return s.ctx }
func (s *chanStream) Send(r *materialize.TransactionResponse) error {
	var b, err = r.Marshal()
	if err != nil {
		return err
	}
	s.resps <- b
	return nil
}
func (s *chanStream) Recv() (*materialize.TransactionRequest, error) {
	var r = new(materialize.TransactionRequest)
	return r, s.RecvMsg(r)
}
func (s *chanStream) RecvMsg(m interface{}) error {
	var b, ok = <-s.reqs
	if !ok {
		return io.EOF
	}
	var r = m.(*materialize.TransactionRequest)
	r.Reset()
	return r.Unmarshal(b)
}

// tiny2022 is a late-2022 transactor keeping documents in a map; StartCommit
// returns a state update counting commits and remembers the runtime checkpoint.
type tiny2022 struct {
	store       map[string]string
	commits     int
	checkpoints []string
}

func (c *tiny2022) Load(it *materialize.LoadIterator, loaded func(int, json.RawMessage) error) error {
	for it.Next() {
		if d, ok := c.store[string(it.PackedKey)]; ok {
			if err := loaded(it.Binding, json.RawMessage(d)); err != nil {
				return err
			}
		}
	}
	return it.Err()
}

func (c *tiny2022) Store(it *materialize.StoreIterator) (materialize.StartCommitFunc, error) {
	var pending = map[string]string{}
	for it.Next() {
		pending[string(it.PackedKey)] = string(it.RawJSON)
	}
	return func(_ context.Context, cp []byte, _ <-chan struct{}) (*pf.DriverCheckpoint, pf.OpFuture) {
		for k, v := range pending {
			c.store[k] = v
		}
		c.commits++
		c.checkpoints = append(c.checkpoints, string(cp))
		return &pf.DriverCheckpoint{DriverCheckpointJson: []byte(fmt.Sprintf(`{"commits":%d}`, c.commits)), Rfc7396MergePatch: true},
			client.FinishedOperation(nil)
	}, it.Err()
}

func (c *tiny2022) Destroy() {}

// spec is a MaterializationSpec of the 2022 era that its Open validation accepts.
func spec(t *testing.T) []byte {
	var b, err = (&pf.MaterializationSpec{
		Materialization:  "flowsim/sink",
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: json.RawMessage(`{}`),
		ShardTemplate:    &pc.ShardSpec{Id: "materialize/flowsim/sink/00000000-00000000", MaxTxnDuration: time.Second},
		RecoveryLogTemplate: &pb.JournalSpec{
			Name: "recovery/materialize/flowsim/sink/00000000-00000000", Replication: 1,
			LabelSet: pb.MustLabelSet("content-type", "application/x-gazette-recoverylog"),
			Fragment: pb.JournalSpec_Fragment{Length: 1 << 29, CompressionCodec: pb.CompressionCodec_GZIP, RefreshInterval: time.Minute},
			Flags:    pb.JournalSpec_O_RDWR,
		},
	}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// round is one transaction in the neutral model: the keys loaded, then stored.
func round(keys []tuple.Tuple, checkpoint []byte) []*protocol.Request {
	var load = &protocol.Load{}
	var store = &protocol.Store{}
	for i, k := range keys {
		load.Keys = append(load.Keys, k.Pack())
		store.Docs = append(store.Docs, protocol.StoredDoc{
			KeyPacked: k.Pack(), ValuesPacked: tuple.Tuple{int64(i)}.Pack(), Doc: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		})
	}
	return []*protocol.Request{
		{Acknowledge: &protocol.Acknowledge{}},
		{Load: load},
		{Flush: &protocol.Flush{RuntimeCheckpoint: checkpoint}},
		{Store: store},
		{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: checkpoint}},
	}
}

type session struct {
	t    *testing.T
	s    *chanStream
	done chan error
	c    *tiny2022
}

func open(t *testing.T) *session {
	var ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var x = &session{t: t, s: &chanStream{ctx: ctx, reqs: make(chan []byte, 64), resps: make(chan []byte, 64)},
		done: make(chan error, 1), c: &tiny2022{store: map[string]string{}}}
	go func() {
		x.done <- materialize.RunTransactions(x.s, func(context.Context, materialize.TransactionRequest_Open) (materialize.Transactor, *materialize.TransactionResponse_Opened, error) {
			return x.c, &materialize.TransactionResponse_Opened{RuntimeCheckpoint: []byte("from-store")}, nil
		})
	}()
	x.sendN(&protocol.Request{Open: &protocol.Open{Version: "v1", KeyEnd: 0xffffffff}}, spec(t))
	if r, _ := x.recv(); r.Opened == nil || string(r.Opened.RuntimeCheckpoint) != "from-store" {
		t.Fatalf("got %+v, want Opened with the connector's checkpoint", r)
	}
	return x
}

// sendN sends a neutral request as era2022 translates it.
func (x *session) sendN(r *protocol.Request, spec []byte) {
	var ws, err = era2022.AppendRequests(nil, r, spec)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, m := range ws {
		x.send(m)
	}
}

func (x *session) send(r *w.TransactionRequest) {
	var b, err = proto.Marshal(r)
	if err != nil {
		x.t.Fatal(err)
	}
	x.s.reqs <- b
}

func (x *session) recv() (*protocol.Response, []byte) {
	select {
	case b := <-x.s.resps:
		var m = new(w.TransactionResponse)
		if err := proto.Unmarshal(b, m); err != nil {
			x.t.Fatal(err)
		}
		var r, err = era2022.NeutralResponse(m)
		if err != nil {
			x.t.Fatal(err)
		}
		return r, b
	case err := <-x.done:
		x.t.Fatalf("the connector's loop ended: %v", err)
	}
	return nil, nil
}

// TestCompatibleRoundDrives2022: the real late-2022 loop accepts the compatible
// sequence, its responses decode into wire2022, and its StartedCommit is the
// evidence ShapeOfCommitted recognises.
func TestCompatibleRoundDrives2022(t *testing.T) {
	var x = open(t)
	var keys = []tuple.Tuple{{"a"}, {"b"}}
	for n := 1; n <= 2; n++ {
		var reqs = round(keys, []byte(fmt.Sprintf("cp%d", n)))
		x.sendN(reqs[0], nil)
		x.sendN(reqs[1], nil)
		if r, _ := x.recv(); r.Acknowledged == nil {
			t.Fatalf("round %d: got %s, want Acknowledged", n, r.Name())
		}
		for _, r := range reqs[2:] {
			x.sendN(r, nil)
		}
		var loaded, acked = 0, 1
		for {
			var r, raw = x.recv()
			switch {
			case r.Acknowledged != nil:
				acked++
			case r.Loaded != nil:
				loaded += len(r.Loaded.Docs)
			case r.Flushed != nil:
				if s := r.Flushed.State; s == nil || string(s.JSON) != "{}" || !s.MergePatch {
					t.Errorf("round %d: Flushed %+v, want the no-op merge patch", n, s)
				}
			case r.StartedCommit != nil:
				if s := r.StartedCommit.State; s == nil || string(s.JSON) != fmt.Sprintf(`{"commits":%d}`, n) || !s.MergePatch {
					t.Errorf("round %d: StartedCommit state %+v", n, s)
				}
				if era2022.Shape(w.Undecided, raw) != w.FlushShape {
					t.Errorf("round %d: StartedCommit with a checkpoint not recognised as the late-2022 shape", n)
				}
			default:
				t.Fatalf("round %d: unexpected %s", n, r.Name())
			}
			if r.StartedCommit != nil {
				break
			}
		}
		if acked != 1 || loaded != map[int]int{1: 0, 2: 2}[n] {
			t.Errorf("round %d: %d Acknowledged, %d loaded", n, acked, loaded)
		}
	}
	x.sendN(&protocol.Request{Acknowledge: &protocol.Acknowledge{}}, nil)
	if r, _ := x.recv(); r.Acknowledged == nil {
		t.Errorf("got %s, want Acknowledged", r.Name())
	}
	close(x.s.reqs) // the clean end: after Acknowledged, before the next Load
	if err := <-x.done; err != nil {
		t.Errorf("RunTransactions: %v", err)
	}
	if fmt.Sprint(x.c.checkpoints) != "[cp1 cp2]" {
		t.Errorf("StartCommit saw runtime checkpoints %q", x.c.checkpoints)
	}
}

// TestThe2021SequenceFails shows what the compatible round avoids: the 2021-12
// order (Load before Acknowledge) and a Commit without checkpoint are protocol
// errors for this shape.
func TestThe2021SequenceFails(t *testing.T) {
	var keys = []tuple.Tuple{{"a"}}
	var r []*w.TransactionRequest
	for _, n := range round(keys, []byte("cp")) {
		var err error
		if r, err = era2022.AppendRequests(r, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		reqs []*w.TransactionRequest
		want string
	}{
		{"Load first", []*w.TransactionRequest{r[1], r[0]}, "expected Acknowledge"},
		{"Commit without checkpoint", []*w.TransactionRequest{r[0], r[1], nil, r[2], r[3], {StartCommit: &w.TransactionRequest_StartCommit{}}}, "expected RuntimeCheckpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x = open(t)
			for _, q := range tc.reqs {
				if q == nil { // wait for Acknowledged before Flush
					x.recv()
					continue
				}
				x.send(q)
			}
			for {
				select {
				case <-x.s.resps:
					continue
				case err := <-x.done:
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("RunTransactions: %v, want an error saying %q", err, tc.want)
					}
				}
				break
			}
		})
	}
}

// TestInferenceExists: the exists field flowsim appends to a 2021 Inference is
// what the 2022 module reads.
func TestInferenceExists(t *testing.T) {
	for _, must := range []bool{true, false} {
		// A 2021 Inference: types "string" (1), must_exist (2), then the appended field.
		var b = protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "string")
		if must {
			b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), 1)
		}
		b = append(b, w.InferenceExists(must)...)
		var inf pf.Inference
		if err := inf.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		var want = pf.Inference_MAY
		if must {
			want = pf.Inference_MUST
		}
		if inf.Exists != want || len(inf.Types) != 1 {
			t.Errorf("must %v: the 2022 module reads %v", must, &inf)
		}
	}
}
