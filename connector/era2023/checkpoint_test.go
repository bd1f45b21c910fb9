package era2023_test

import (
	"bytes"
	"testing"

	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
	"google.golang.org/protobuf/proto"
)

// TestCheckpointRoundTrip: a checkpoint the engine marshals with gazette's own
// type, sent in StartCommit and handed back by a connector in Opened (through the
// wire, as a connector keeping it in its store does), means the same
// (SameCheckpoint), and a single-source one, as the engine builds, keeps its bytes.
// Bytes alone would fail a correct connector: gogo writes map entries in random
// order and leaves empty values out.
func TestCheckpointRoundTrip(t *testing.T) {
	var other, _ = (&pc.Checkpoint{Sources: map[pb.Journal]pc.Checkpoint_Source{"flowsim/source/s": {ReadThrough: 8}}}).Marshal()
	for i, cp := range []pc.Checkpoint{
		{Sources: map[pb.Journal]pc.Checkpoint_Source{"flowsim/source/s": {ReadThrough: 7}}},
		{Sources: map[pb.Journal]pc.Checkpoint_Source{
			"b/2": {ReadThrough: 1 << 40, Producers: []pc.Checkpoint_Source_ProducerEntry{{Id: []byte{1, 2, 3, 4, 5, 6}}}},
			"a/1": {ReadThrough: 0},
			"c/3": {ReadThrough: 3, Producers: []pc.Checkpoint_Source_ProducerEntry{{Id: []byte{9}, State: pc.Checkpoint_ProducerState{LastAck: 5, Begin: -1}}}},
		}, AckIntents: map[pb.Journal][]byte{"z": []byte("ack"), "y": {}}},
		{},
	} {
		var sent, err = cp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ws, err := era2023.AppendRequests(nil, &protocol.Request{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: sent}})
		if err != nil {
			t.Fatal(err)
		}
		// The connector stores what it read and returns it in Opened, on the wire.
		var opened = &w.Response{Opened: &w.Response_Opened{RuntimeCheckpoint: ws[0].StartCommit.RuntimeCheckpoint}}
		b, err := proto.Marshal(opened)
		if err != nil {
			t.Fatal(err)
		}
		var back w.Response
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, err := era2023.NeutralResponse(&back)
		if err != nil {
			t.Fatal(err)
		}
		if same, err := era2023.SameCheckpoint(sent, got.Opened.RuntimeCheckpoint); err != nil || !same {
			t.Errorf("checkpoint %d changed meaning (%v):\nsent %x\ngot  %x", i, err, sent, got.Opened.RuntimeCheckpoint)
		}
		if i == 0 && !bytes.Equal(sent, got.Opened.RuntimeCheckpoint) {
			t.Errorf("a single-source checkpoint changed bytes:\nsent %x\ngot  %x", sent, got.Opened.RuntimeCheckpoint)
		}
		if same, _ := era2023.SameCheckpoint(other, got.Opened.RuntimeCheckpoint); same {
			t.Errorf("checkpoint %d is the same as another", i)
		}
	}
}
