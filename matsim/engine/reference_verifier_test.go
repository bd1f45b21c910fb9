package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/flowsim/flowsim/connector/reference"
)

// referenceVerifier reads the delta rows of the reference connector d, in process,
// from the store its endpoint config selects.
func referenceVerifier(d *reference.Driver, config json.RawMessage) Verifier {
	return VerifierFunc{Name: "the reference connector's delta rows", Fn: func(_ context.Context, path []string, fn func([]byte) error) error {
		if len(path) != 1 {
			return fmt.Errorf("resource path %q is not a reference connector table", path)
		}
		return d.DeltaRows(config, path[0], fn)
	}}
}
