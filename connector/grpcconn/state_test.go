package grpcconn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/protocol"
	"github.com/flowsim/flowsim/protocol/wire2022"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// A state update attached by connector-proxy survives the 2021 message's encoding
// and is taken back by the driver; a message without one carries nothing.
func TestStateTravelsBesideThe2021Messages(t *testing.T) {
	for _, u := range []*protocol.StateUpdate{
		{JSON: json.RawMessage(`{"commits":3}`), MergePatch: true},
		{JSON: json.RawMessage(`{"replace":"me"}`)},
		nil,
	} {
		for _, m := range []*materialize.TransactionResponse{
			{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{}},
			{Acknowledged: &materialize.TransactionResponse_Acknowledged{}},
		} {
			AttachState(m, u)
			var b, err = m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var got = new(materialize.TransactionResponse)
			if err := got.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("%s with state: Validate: %v", kindOf(got), err)
			}
			var back, terr = TakeState(got)
			if terr != nil {
				t.Fatal(terr)
			}
			if d := cmp.Diff(u, back); d != "" {
				t.Errorf("%s: state (-sent +taken):\n%s", kindOf(got), d)
			}
			if got.DriverCommitted != nil && got.DriverCommitted.XXX_unrecognized != nil || got.Acknowledged != nil && got.Acknowledged.XXX_unrecognized != nil {
				t.Errorf("%s: TakeState left the extra bytes", kindOf(got))
			}
		}
	}
}

// A 2022 connector's StartedCommit, relayed as bytes by connector-proxy (or sent by
// a 2022 gRPC server), is read by the same rule: its driver checkpoint is the state.
func TestStateOfA2022StartedCommit(t *testing.T) {
	var b, err = proto.Marshal(&wire2022.TransactionResponse{StartedCommit: &wire2022.TransactionResponse_StartedCommit{
		DriverCheckpoint: &wire2022.DriverCheckpoint{DriverCheckpointJson: []byte(`{"cursor":7}`), Rfc7396MergePatch: true}}})
	if err != nil {
		t.Fatal(err)
	}
	var m = new(materialize.TransactionResponse)
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if m.DriverCommitted == nil {
		t.Fatalf("a 2022 StartedCommit does not decode as DriverCommitted: %v", m)
	}
	var u, terr = TakeState(m)
	if terr != nil || u == nil || string(u.JSON) != `{"cursor":7}` || !u.MergePatch {
		t.Fatalf("TakeState = %+v, %v", u, terr)
	}
	// An empty driver checkpoint is no update (as over stdio).
	b, _ = proto.Marshal(&wire2022.TransactionResponse{StartedCommit: &wire2022.TransactionResponse_StartedCommit{DriverCheckpoint: &wire2022.DriverCheckpoint{}}})
	m = new(materialize.TransactionResponse)
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if u, terr = TakeState(m); u != nil || terr != nil {
		t.Fatalf("empty checkpoint: TakeState = %+v, %v", u, terr)
	}
}

// Extra bytes that do not decode are an error naming the message, not a silent loss.
func TestUndecodableStateIsAnError(t *testing.T) {
	var m = &materialize.TransactionResponse{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{
		XXX_unrecognized: []byte{1<<3 | 2, 5, 'x'}}} // field 1, length 5, one byte
	if _, err := TakeState(m); err == nil || !strings.Contains(err.Error(), "DriverCommitted") {
		t.Fatalf("TakeState of truncated bytes: %v", err)
	}
	// Other unknown fields are skipped.
	m = &materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{
		XXX_unrecognized: []byte{7<<3 | 0, 1}}}
	if u, err := TakeState(m); u != nil || err != nil {
		t.Fatalf("TakeState of an unknown varint field: %+v, %v", u, err)
	}
}
