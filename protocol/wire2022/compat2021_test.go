package wire2022

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// chanStream is the connector's side of a transactions stream: requests arrive
// as bytes and are decoded by the real 2021-12 module, as from its stdin.
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

// tiny2021 is a 2021-12 transactor keeping documents in a map; Prepare returns a
// state update counting rounds and remembers the flow checkpoint it was given.
type tiny2021 struct {
	store, pending map[string]string
	rounds         int
	checkpoints    []string
}

func (c *tiny2021) Load(it *materialize.LoadIterator, _, _ <-chan struct{}, loaded func(int, json.RawMessage) error) error {
	for it.Next() {
		if d, ok := c.store[string(it.Key.Pack())]; ok {
			if err := loaded(it.Binding, json.RawMessage(d)); err != nil {
				return err
			}
		}
	}
	return it.Err()
}
func (c *tiny2021) Prepare(_ context.Context, p materialize.TransactionRequest_Prepare) (pf.DriverCheckpoint, error) {
	c.rounds++
	c.checkpoints = append(c.checkpoints, string(p.FlowCheckpoint))
	return pf.DriverCheckpoint{DriverCheckpointJson: []byte(fmt.Sprintf(`{"rounds":%d}`, c.rounds)), Rfc7396MergePatch: true}, nil
}
func (c *tiny2021) Store(it *materialize.StoreIterator) error {
	for it.Next() {
		c.pending[string(it.Key.Pack())] = string(it.RawJSON)
	}
	return it.Err()
}
func (c *tiny2021) Commit(context.Context) error {
	for k, v := range c.pending {
		c.store[k] = v
	}
	c.pending = map[string]string{}
	return nil
}
func (c *tiny2021) Acknowledge(context.Context) error { return nil }
func (c *tiny2021) Destroy()                          {}

// compatibleRound is one transaction of CompatibleRound: keys loaded then stored.
func compatibleRound(keys []tuple.Tuple, checkpoint []byte) []*TransactionRequest {
	var load = &TransactionRequest_Load{}
	var store = &TransactionRequest_Store{}
	for i, k := range keys {
		var p = k.Pack()
		load.PackedKeys = append(load.PackedKeys, &Slice{Begin: uint32(len(load.Arena)), End: uint32(len(load.Arena) + len(p))})
		load.Arena = append(load.Arena, p...)
		var doc = []byte(fmt.Sprintf(`{"i":%d}`, i))
		var vals = tuple.Tuple{int64(i)}.Pack()
		store.PackedKeys = append(store.PackedKeys, &Slice{Begin: uint32(len(store.Arena)), End: uint32(len(store.Arena) + len(p))})
		store.Arena = append(store.Arena, p...)
		store.PackedValues = append(store.PackedValues, &Slice{Begin: uint32(len(store.Arena)), End: uint32(len(store.Arena) + len(vals))})
		store.Arena = append(store.Arena, vals...)
		store.DocsJson = append(store.DocsJson, &Slice{Begin: uint32(len(store.Arena)), End: uint32(len(store.Arena) + len(doc))})
		store.Arena = append(store.Arena, doc...)
		store.Exists = append(store.Exists, false)
	}
	return []*TransactionRequest{
		{Acknowledge: &TransactionRequest_Acknowledge{}},
		{Load: load},
		{Flush: &TransactionRequest_Flush{RuntimeCheckpoint: checkpoint}},
		{Store: store},
		{StartCommit: &TransactionRequest_StartCommit{RuntimeCheckpoint: checkpoint}},
	}
}

// TestCompatibleRoundDrives2021: the real 2021-12 transactions loop accepts the
// sequence that the late-2022 shape requires (Acknowledge first, a checkpoint in
// Commit's place), and its responses decode into wire2022 as the union says.
func TestCompatibleRoundDrives2021(t *testing.T) {
	var ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var s = &chanStream{ctx: ctx, reqs: make(chan []byte, 64), resps: make(chan []byte, 64)}
	var c = &tiny2021{store: map[string]string{}, pending: map[string]string{}}
	var done = make(chan error, 1)
	go func() { done <- materialize.RunTransactions(s, c, logrus.NewEntry(logrus.StandardLogger())) }()

	var send = func(r *TransactionRequest) {
		var b, err = proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		s.reqs <- b
	}
	var recv = func() *TransactionResponse {
		var r = new(TransactionResponse)
		var b = <-s.resps
		if err := proto.Unmarshal(b, r); err != nil {
			t.Fatal(err)
		}
		if ShapeOfCommitted(b) != Undecided {
			t.Errorf("a 2021-12 response classified as the late-2022 shape: %v", r)
		}
		return r
	}
	var keys = []tuple.Tuple{{"a"}, {"b"}}
	for round := 1; round <= 2; round++ {
		var reqs = compatibleRound(keys, []byte(fmt.Sprintf("cp%d", round)))
		send(reqs[0])
		send(reqs[1])
		if r := recv(); r.Acknowledged == nil {
			t.Fatalf("round %d: got %v, want Acknowledged", round, r)
		}
		for _, r := range reqs[2:] {
			send(r)
		}
		var loaded, acked = 0, 1
		var flushed *DriverCheckpoint
		for {
			var r = recv()
			switch {
			case r.Acknowledged != nil:
				acked++
			case r.Loaded != nil:
				loaded += len(r.Loaded.DocsJson)
			case r.Flushed != nil:
				flushed = r.Flushed
			case r.StartedCommit != nil:
				if r.StartedCommit.DriverCheckpoint != nil {
					t.Errorf("round %d: 2021-12's DriverCommitted carried a checkpoint", round)
				}
			default:
				t.Fatalf("round %d: unexpected %v", round, r)
			}
			if r.StartedCommit != nil {
				break
			}
		}
		if acked != 1 || flushed == nil || string(flushed.DriverCheckpointJson) != fmt.Sprintf(`{"rounds":%d}`, round) {
			t.Errorf("round %d: %d Acknowledged, Prepared state %v", round, acked, flushed)
		}
		if want := map[int]int{1: 0, 2: 2}[round]; loaded != want {
			t.Errorf("round %d: %d documents loaded, want %d", round, loaded, want)
		}
	}
	send(&TransactionRequest{Acknowledge: &TransactionRequest_Acknowledge{}})
	if r := recv(); r.Acknowledged == nil {
		t.Errorf("got %v, want Acknowledged", r)
	}
	close(s.reqs) // the clean end: after Acknowledged, before the next Load
	if err := <-done; err != nil {
		t.Errorf("RunTransactions: %v", err)
	}
	if fmt.Sprint(c.checkpoints) != "[cp1 cp2]" {
		t.Errorf("Prepare saw flow checkpoints %q", c.checkpoints)
	}
}
