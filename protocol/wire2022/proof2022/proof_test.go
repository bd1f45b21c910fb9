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
	w "github.com/flowsim/flowsim/protocol/wire2022"
	"go.gazette.dev/core/broker/client"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
	"google.golang.org/grpc"
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

// round is one transaction in the compatible sequence (w.CompatibleRound).
func round(keys []tuple.Tuple, checkpoint []byte) []*w.TransactionRequest {
	var load = &w.TransactionRequest_Load{}
	var store = &w.TransactionRequest_Store{}
	var slice = func(arena *[]byte, b []byte) *w.Slice {
		var s = &w.Slice{Begin: uint32(len(*arena)), End: uint32(len(*arena) + len(b))}
		*arena = append(*arena, b...)
		return s
	}
	for i, k := range keys {
		load.PackedKeys = append(load.PackedKeys, slice(&load.Arena, k.Pack()))
		store.PackedKeys = append(store.PackedKeys, slice(&store.Arena, k.Pack()))
		store.PackedValues = append(store.PackedValues, slice(&store.Arena, tuple.Tuple{int64(i)}.Pack()))
		store.DocsJson = append(store.DocsJson, slice(&store.Arena, []byte(fmt.Sprintf(`{"i":%d}`, i))))
		store.Exists = append(store.Exists, false)
	}
	return []*w.TransactionRequest{
		{Acknowledge: &w.TransactionRequest_Acknowledge{}},
		{Load: load},
		{Flush: &w.TransactionRequest_Flush{RuntimeCheckpoint: checkpoint}},
		{Store: store},
		{StartCommit: &w.TransactionRequest_StartCommit{RuntimeCheckpoint: checkpoint}},
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
	x.send(&w.TransactionRequest{Open: &w.TransactionRequest_Open{Materialization: spec(t), Version: "v1", KeyEnd: 0xffffffff}})
	if r, _ := x.recv(); string(r.GetOpened().GetRuntimeCheckpoint()) != "from-store" {
		t.Fatalf("got %v, want Opened with the connector's checkpoint", r)
	}
	return x
}

func (x *session) send(r *w.TransactionRequest) {
	var b, err = proto.Marshal(r)
	if err != nil {
		x.t.Fatal(err)
	}
	x.s.reqs <- b
}

func (x *session) recv() (*w.TransactionResponse, []byte) {
	select {
	case b := <-x.s.resps:
		var r = new(w.TransactionResponse)
		if err := proto.Unmarshal(b, r); err != nil {
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
		x.send(reqs[0])
		x.send(reqs[1])
		if r, _ := x.recv(); r.Acknowledged == nil {
			t.Fatalf("round %d: got %v, want Acknowledged", n, r)
		}
		for _, r := range reqs[2:] {
			x.send(r)
		}
		var loaded, acked = 0, 1
		for {
			var r, raw = x.recv()
			switch {
			case r.Acknowledged != nil:
				acked++
			case r.Loaded != nil:
				loaded += len(r.Loaded.DocsJson)
			case r.Flushed != nil:
				if string(r.Flushed.DriverCheckpointJson) != "{}" || !r.Flushed.Rfc7396MergePatch {
					t.Errorf("round %d: Flushed %v, want the no-op merge patch", n, r.Flushed)
				}
			case r.StartedCommit != nil:
				if got := string(r.StartedCommit.GetDriverCheckpoint().GetDriverCheckpointJson()); got != fmt.Sprintf(`{"commits":%d}`, n) {
					t.Errorf("round %d: StartedCommit state %q", n, got)
				}
				if w.ShapeOfCommitted(raw) != w.FlushShape {
					t.Errorf("round %d: StartedCommit with a checkpoint not recognised as the late-2022 shape", n)
				}
			default:
				t.Fatalf("round %d: unexpected %v", n, r)
			}
			if r.StartedCommit != nil {
				break
			}
		}
		if acked != 1 || loaded != map[int]int{1: 0, 2: 2}[n] {
			t.Errorf("round %d: %d Acknowledged, %d loaded", n, acked, loaded)
		}
	}
	x.send(&w.TransactionRequest{Acknowledge: &w.TransactionRequest_Acknowledge{}})
	if r, _ := x.recv(); r.Acknowledged == nil {
		t.Errorf("got %v, want Acknowledged", r)
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
	var r = round(keys, []byte("cp"))
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
