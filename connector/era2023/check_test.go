package era2023_test

import (
	"encoding/json"
	"testing"

	pf "github.com/estuary/flow/go/protocols/flow"
	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/protobuf/proto"
)

// TestCheckResponseAgreesWithTheRealModule: for good and bad responses alike,
// CheckResponse passes exactly those the real module's Validate passes (and, for
// state updates, its ConnectorState.Validate).
func TestCheckResponseAgreesWithTheRealModule(t *testing.T) {
	var spec = func(f func(*pm.Response_Spec)) *pm.Response {
		var s = &pm.Response_Spec{Protocol: 3032023, ConfigSchemaJson: json.RawMessage(`{}`), ResourceConfigSchemaJson: json.RawMessage(`{}`), DocumentationUrl: "u"}
		f(s)
		return &pm.Response{Spec: s}
	}
	var validated = func(b *pm.Response_Validated_Binding) *pm.Response {
		return &pm.Response{Validated: &pm.Response_Validated{Bindings: []*pm.Response_Validated_Binding{b}}}
	}
	var c = func(t pm.Response_Validated_Constraint_Type, folded string) *pm.Response_Validated_Constraint {
		return &pm.Response_Validated_Constraint{Type: t, FoldedField: folded}
	}
	var state = func(doc string, patch bool) *pf.ConnectorState {
		return &pf.ConnectorState{UpdatedJson: json.RawMessage(doc), MergePatch: patch}
	}
	var rows = []struct {
		name string
		real *pm.Response
	}{
		{"good Spec", spec(func(*pm.Response_Spec) {})},
		{"Spec of another protocol", spec(func(s *pm.Response_Spec) { s.Protocol = 3032024 })},
		{"Spec without config schema", spec(func(s *pm.Response_Spec) { s.ConfigSchemaJson = nil })},
		{"Spec without resource schema", spec(func(s *pm.Response_Spec) { s.ResourceConfigSchemaJson = nil })},
		{"Spec without docs", spec(func(s *pm.Response_Spec) { s.DocumentationUrl = "" })},
		{"good Validated (map)", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a", "b"},
			Constraints: map[string]*pm.Response_Validated_Constraint{"f": c(pm.Response_Validated_Constraint_FIELD_OPTIONAL, "")}})},
		{"good Validated (list, one fold per field)", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			ProjectionConstraints: []*pm.Response_Validated_ProjectionConstraint{
				{Field: "f", Constraint: c(pm.Response_Validated_Constraint_LOCATION_REQUIRED, "F")},
				{Field: "f", Constraint: c(pm.Response_Validated_Constraint_INCOMPATIBLE, "F")},
			}})},
		{"Validated without resource path", validated(&pm.Response_Validated_Binding{})},
		{"Validated with an empty path part", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a", ""}})},
		{"Validated with an empty constraint (a nil one on the wire)", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			Constraints: map[string]*pm.Response_Validated_Constraint{"f": nil}})},
		{"Validated with an unknown type", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			Constraints: map[string]*pm.Response_Validated_Constraint{"f": c(42, "")}})},
		{"Validated with an unnamed projection", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			ProjectionConstraints: []*pm.Response_Validated_ProjectionConstraint{{Constraint: c(1, "")}}})},
		{"Validated with two folds of one field", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			ProjectionConstraints: []*pm.Response_Validated_ProjectionConstraint{
				{Field: "f", Constraint: c(1, "F")}, {Field: "f", Constraint: c(6, "ff")}}})},
		{"Validated with a list entry without constraint", validated(&pm.Response_Validated_Binding{ResourcePath: []string{"a"},
			ProjectionConstraints: []*pm.Response_Validated_ProjectionConstraint{{Field: "f"}}})},
		{"good Loaded", &pm.Response{Loaded: &pm.Response_Loaded{DocJson: json.RawMessage(`{}`)}}},
		{"Loaded without document", &pm.Response{Loaded: &pm.Response_Loaded{Binding: 1}}},
		{"good Opened", &pm.Response{Opened: &pm.Response_Opened{}}},
		{"good Flushed with state", &pm.Response{Flushed: &pm.Response_Flushed{State: state(`{"a":1}`, true)}}},
		{"Flushed with an empty merge patch", &pm.Response{Flushed: &pm.Response_Flushed{State: state(``, true)}}},
		{"StartedCommit clearing the state", &pm.Response{StartedCommit: &pm.Response_StartedCommit{State: state(``, false)}}},
		{"Acknowledged with an empty merge patch", &pm.Response{Acknowledged: &pm.Response_Acknowledged{State: state(``, true)}}},
		{"Applied with an empty merge patch", &pm.Response{Applied: &pm.Response_Applied{State: state(``, true)}}},
		{"empty response", &pm.Response{}},
		{"two messages", &pm.Response{Opened: &pm.Response_Opened{}, Flushed: &pm.Response_Flushed{}}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			// Both sides judge what crosses the wire (a nil map value, say, cannot).
			var b, err = r.real.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var real pm.Response
			if err := real.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			var realErr = real.Validate()
			for _, s := range []*pf.ConnectorState{appliedState(&real), flushedState(&real), startedState(&real), ackedState(&real)} {
				if s != nil && realErr == nil {
					realErr = s.Validate()
				}
			}
			var mine w.Response
			if err := proto.Unmarshal(b, &mine); err != nil {
				t.Fatal(err)
			}
			var got = era2023.CheckResponse(&mine)
			if (got == nil) != (realErr == nil) {
				t.Errorf("CheckResponse: %v; the real module: %v", got, realErr)
			}
		})
	}
}

func flushedState(r *pm.Response) *pf.ConnectorState {
	if r.Flushed != nil {
		return r.Flushed.State
	}
	return nil
}

func startedState(r *pm.Response) *pf.ConnectorState {
	if r.StartedCommit != nil {
		return r.StartedCommit.State
	}
	return nil
}

func ackedState(r *pm.Response) *pf.ConnectorState {
	if r.Acknowledged != nil {
		return r.Acknowledged.State
	}
	return nil
}

func appliedState(r *pm.Response) *pf.ConnectorState {
	if r.Applied != nil {
		return r.Applied.State
	}
	return nil
}
