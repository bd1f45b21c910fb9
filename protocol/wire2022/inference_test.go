package wire2022

import (
	"testing"

	pf "github.com/estuary/protocols/flow"
	"google.golang.org/protobuf/encoding/protowire"
)

// A 2021 Inference carrying InferenceExists encodes field 8 (read by 2022
// connectors, checked against the 2022 module by make wire-proof) and still
// decodes in the 2021 module.
func TestInferenceExistsRidesA2021Inference(t *testing.T) {
	for _, must := range []bool{true, false} {
		var inf = pf.Inference{Types: []string{"string"}, MustExist: must, XXX_unrecognized: InferenceExists(must)}
		var b, err = inf.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		for rest := b; len(rest) > 0; {
			var n, typ, l = protowire.ConsumeTag(rest)
			rest = rest[l:]
			var m = protowire.ConsumeFieldValue(n, typ, rest)
			if n == 8 && typ == protowire.VarintType {
				got, _ = protowire.ConsumeVarint(rest)
			}
			rest = rest[m:]
		}
		var want uint64 = ExistsMay
		if must {
			want = ExistsMust
		}
		if got != want {
			t.Errorf("must %v: exists %d, want %d", must, got, want)
		}
		var back pf.Inference
		if err := back.Unmarshal(b); err != nil || back.MustExist != must {
			t.Errorf("must %v: the 2021 module reads %v, %v", must, back.MustExist, err)
		}
	}
}
