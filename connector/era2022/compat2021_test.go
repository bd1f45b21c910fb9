package era2022_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2022"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2022"
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

// TestCompatibleRoundDrives2021: the real 2021-12 transactions loop accepts the
// compatible round (Acknowledge first, a checkpoint in Commit's place) as
// era2022 translates the neutral model, and its answers translate back.
func TestCompatibleRoundDrives2021(t *testing.T) {
	var ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var s = &chanStream{ctx: ctx, reqs: make(chan []byte, 64), resps: make(chan []byte, 64)}
	var c = &tiny2021{store: map[string]string{}, pending: map[string]string{}}
	var done = make(chan error, 1)
	go func() { done <- materialize.RunTransactions(s, c, logrus.NewEntry(logrus.StandardLogger())) }()

	var send = func(r *protocol.Request) {
		var ws, err = era2022.AppendRequests(nil, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ws {
			var b, err = proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			s.reqs <- b
		}
	}
	var shape = w.Undecided
	var recv = func() *protocol.Response {
		var m = new(w.TransactionResponse)
		var b = <-s.resps
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
		if shape = era2022.Shape(shape, b); shape != w.Undecided {
			t.Errorf("a 2021-12 response labelled %v: %v", shape, m)
		}
		var r, err = era2022.NeutralResponse(m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var keys = []tuple.Tuple{{"a"}, {"b"}}
	for n := 1; n <= 2; n++ {
		var reqs = round(keys, []byte(fmt.Sprintf("cp%d", n)))
		send(reqs[0])
		send(reqs[1])
		if r := recv(); r.Acknowledged == nil {
			t.Fatalf("round %d: got %s, want Acknowledged", n, r.Name())
		}
		for _, r := range reqs[2:] {
			send(r)
		}
		var loaded []string
		var flushed *protocol.StateUpdate
		for {
			var r = recv()
			switch {
			case r.Loaded != nil:
				for _, d := range r.Loaded.Docs {
					loaded = append(loaded, string(d))
				}
			case r.Flushed != nil:
				flushed = r.Flushed.State
			case r.StartedCommit != nil:
				if r.StartedCommit.State != nil {
					t.Errorf("round %d: 2021-12's DriverCommitted carried a state", n)
				}
			default:
				t.Fatalf("round %d: unexpected %s", n, r.Name())
			}
			if r.StartedCommit != nil {
				break
			}
		}
		if flushed == nil || string(flushed.JSON) != fmt.Sprintf(`{"rounds":%d}`, n) || !flushed.MergePatch {
			t.Errorf("round %d: Prepared state %+v", n, flushed)
		}
		if want := map[int]string{1: "[]", 2: `[{"i":0} {"i":1}]`}[n]; fmt.Sprint(loaded) != want {
			t.Errorf("round %d: loaded %v, want %s", n, loaded, want)
		}
	}
	send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	if r := recv(); r.Acknowledged == nil {
		t.Errorf("got %s, want Acknowledged", r.Name())
	}
	close(s.reqs) // the clean end: after Acknowledged, before the next Load
	if err := <-done; err != nil {
		t.Errorf("RunTransactions: %v", err)
	}
	if fmt.Sprint(c.checkpoints) != "[cp1 cp2]" {
		t.Errorf("Prepare saw flow checkpoints %q", c.checkpoints)
	}
}
