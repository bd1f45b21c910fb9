package wire2022

import (
	"testing"

	"github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

// The 2021-12 module's own messages never classify as the late-2022 shape; the
// late-2022 StartedCommit is built from its field numbers (the module of that era
// cannot be linked here; `make wire-proof` checks against it).
func TestShapeOfCommitted(t *testing.T) {
	var must = func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var dec2021 = [][]byte{
		must((&materialize.TransactionResponse{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{}}).Marshal()),
		must((&materialize.TransactionResponse{Prepared: &flow.DriverCheckpoint{DriverCheckpointJson: []byte(`{"a":1}`), Rfc7396MergePatch: true}}).Marshal()),
		must((&materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{}}).Marshal()),
		must((&materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{FlowCheckpoint: []byte{1, 2}}}).Marshal()),
		nil,
		{0xff, 0xff}, // not a message
	}
	for i, b := range dec2021 {
		if got := ShapeOfCommitted(b); got != Undecided {
			t.Errorf("2021-12 response %d: %v, want Undecided", i, got)
		}
	}
	// StartedCommit{driver_checkpoint: DriverCheckpoint{json: "{}"}}: field 4 { field 1 { field 1 "{}" } }.
	var inner = []byte{0x0a, 2, '{', '}'}
	var started = append([]byte{0x22, byte(len(inner) + 2), 0x0a, byte(len(inner))}, inner...)
	if got := ShapeOfCommitted(started); got != FlushShape {
		t.Errorf("StartedCommit with a driver checkpoint: %v, want FlushShape", got)
	}
	if got := ShapeOfCommitted([]byte{0x22, 0}); got != Undecided {
		t.Errorf("an empty StartedCommit: %v, want Undecided (it may be DriverCommitted)", got)
	}
}

func TestFromFlowModule(t *testing.T) {
	var b, err = (&materialize.SpecResponse{EndpointSpecSchemaJson: []byte(`{}`), ResourceSpecSchemaJson: []byte(`{}`), DocumentationUrl: "u"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if FromFlowModule(b) {
		t.Error("a 2021-12 SpecResponse classified as the estuary/flow module")
	}
	if !FromFlowModule(append(b, 0x22, 3, 0x0a, 1, 'x')) { // + oauth2_spec{provider: "x"}
		t.Error("a SpecResponse with oauth2_spec not recognised")
	}
}
