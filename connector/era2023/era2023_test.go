package era2023_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	gogoio "github.com/gogo/protobuf/io"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
)

func materialization() *protocol.Materialization {
	return &protocol.Materialization{
		Name:   "flowsim/sink",
		Config: json.RawMessage(`{"address":"db"}`),
		Bindings: []*protocol.Binding{{
			Resource:     json.RawMessage(`{"table":"docs"}`),
			ResourcePath: []string{"public", "docs"},
			DeltaUpdates: true,
			Backfill:     1,
			Collection: protocol.Collection{
				Name:   "flowsim/docs",
				Schema: json.RawMessage(`{"type":"object"}`),
				Key:    []string{"/key"},
				Projections: []protocol.Projection{ // not in field order: Materialization sorts
					{Ptr: "/value", Field: "value", Inference: protocol.Inference{Types: []string{"string"}, MustExist: true,
						String: &protocol.StringInference{Format: "date-time", MaxLength: 32}}},
					{Ptr: "/key", Field: "key", IsPrimaryKey: true, Explicit: true, Inference: protocol.Inference{Types: []string{"integer"}, MustExist: true, Title: "k", Description: "the key"}},
					{Ptr: "", Field: "flow_document", Inference: protocol.Inference{Types: []string{"object"}, MustExist: true}},
					{Ptr: "/a", Field: "a", Inference: protocol.Inference{Types: []string{"null", "integer"}}},
				},
			},
			Fields: protocol.FieldSelection{Keys: []string{"key"}, Values: []string{"value", "a"}, Document: "flow_document",
				FieldConfig: map[string]json.RawMessage{"a": json.RawMessage(`{"x":1}`)}},
		}},
	}
}

// realValid passes a wire request through the real module (v0.6.10) as a
// connector's stdin would, and runs its Validate_.
func realValid(t *testing.T, req *w.Request) {
	t.Helper()
	var buf bytes.Buffer
	if err := w.NewWriter(&buf, w.Proto).Write(req); err != nil {
		t.Fatal(err)
	}
	var real pm.Request
	if err := gogoio.NewUint32DelimitedReader(&buf, binary.LittleEndian, 1<<30).ReadMsg(&real); err != nil {
		t.Fatal(err)
	}
	if err := real.Validate_(); err != nil {
		t.Errorf("a current-era connector rejects the request: %v", err)
	}
}

func TestRequestsPassTheRealValidation(t *testing.T) {
	var m = materialization()
	var apply, err = era2023.ApplyRequest(&protocol.ApplyRequest{Materialization: m, Version: "v1", LastMaterialization: m, LastVersion: "v0", State: json.RawMessage(`{"s":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var reqs = []*w.Request{
		era2023.SpecRequest(&protocol.SpecRequest{Config: json.RawMessage(`{}`)}),
		era2023.ValidateRequest(&protocol.ValidateRequest{Name: m.Name, Config: m.Config, LastMaterialization: m,
			Bindings: []*protocol.ValidateBinding{{Resource: m.Bindings[0].Resource, Collection: m.Bindings[0].Collection, Backfill: 1}}}, true),
		apply,
	}
	var cp = realCheckpoint(t)
	for _, r := range []*protocol.Request{
		{Open: &protocol.Open{Materialization: m, Version: "v1", KeyBegin: 0, KeyEnd: 0xffffffff, State: json.RawMessage(`{"a":1}`)}},
		{Acknowledge: &protocol.Acknowledge{}},
		{Load: &protocol.Load{Binding: 0, Keys: [][]byte{{0x15, 1}, {0x15, 2}}}},
		{Flush: &protocol.Flush{RuntimeCheckpoint: cp}},
		{Store: &protocol.Store{Docs: []protocol.StoredDoc{{KeyPacked: []byte{0x15, 1}, ValuesPacked: []byte{0x02, 'v', 0}, Doc: json.RawMessage(`{"key":1}`), Exists: true}}}},
		{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: cp}},
	} {
		if reqs, err = era2023.AppendRequests(reqs, r); err != nil {
			t.Fatal(err)
		}
	}
	if len(reqs) != 10 {
		t.Fatalf("got %d wire requests, want 10 (a Load of two keys is two Loads)", len(reqs))
	}
	for _, r := range reqs {
		realValid(t, r)
	}
	var spec = reqs[3].GetOpen().GetMaterialization()
	if got := spec.GetBindings()[0].GetCollection().GetProjections(); got[0].GetField() != "a" || got[3].GetField() != "value" {
		t.Errorf("projections not in field order: %v", got)
	}
	if got := spec.GetBindings()[0].GetFieldSelection().GetValues(); !slicesEqual(got, []string{"a", "value"}) {
		t.Errorf("values not sorted: %v", got)
	}
	if len(m.Bindings[0].Fields.Values) != 2 || m.Bindings[0].Fields.Values[0] != "value" {
		t.Errorf("the neutral materialization was modified: %v", m.Bindings[0].Fields.Values)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// realCheckpoint is a checkpoint as the neutral model carries it (marshalled
// consumer.Checkpoint bytes).
func realCheckpoint(t *testing.T) []byte {
	var b, err = proto.Marshal(&w.Checkpoint{Sources: map[string]*w.Checkpoint_Source{"j/1": {ReadThrough: 42}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var neutralOpts = cmp.Options{cmpopts.EquateEmpty()}

func TestTransactionsRoundTrip(t *testing.T) {
	var m = materialization()
	var cp = realCheckpoint(t)
	var tests = []*protocol.Request{
		{Open: &protocol.Open{Materialization: m, Version: "v1", KeyBegin: 7, KeyEnd: 9, State: json.RawMessage(`{"a":1}`)}},
		{Acknowledge: &protocol.Acknowledge{}},
		{Load: &protocol.Load{Binding: 2, Keys: [][]byte{{0x15, 1}}}},
		{Flush: &protocol.Flush{}},
		{Store: &protocol.Store{Binding: 1, Docs: []protocol.StoredDoc{{KeyPacked: []byte{1}, ValuesPacked: []byte{2}, Doc: json.RawMessage(`{}`), Exists: true}}}},
		{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: cp}},
	}
	for _, want := range tests {
		t.Run(want.Name(), func(t *testing.T) {
			var ws, err = era2023.AppendRequests(nil, want)
			if err != nil || len(ws) != 1 {
				t.Fatalf("%v, %d messages", err, len(ws))
			}
			got, err := era2023.NeutralRequest(ws[0])
			if err != nil {
				t.Fatal(err)
			}
			if want.Open != nil { // the connector sees projections in field order, values sorted
				want.Open.Materialization = era2023.NeutralMaterialization(era2023.Materialization(m))
			}
			if d := cmp.Diff(want, got, neutralOpts); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	var responses = []*protocol.Response{
		{Opened: &protocol.Opened{RuntimeCheckpoint: cp}},
		{Opened: &protocol.Opened{}},
		{Acknowledged: &protocol.Acknowledged{State: &protocol.StateUpdate{JSON: json.RawMessage(`{"ack":1}`), MergePatch: true}}},
		{Loaded: &protocol.Loaded{Binding: 3, Docs: []json.RawMessage{json.RawMessage(`{"k":1}`)}}},
		{Flushed: &protocol.Flushed{State: &protocol.StateUpdate{JSON: json.RawMessage(`{"f":1}`)}}},
		{StartedCommit: &protocol.StartedCommit{State: &protocol.StateUpdate{JSON: json.RawMessage(`{"c":{"d":null}}`), MergePatch: true}}},
		{StartedCommit: &protocol.StartedCommit{}},
	}
	for _, want := range responses {
		t.Run(want.Name(), func(t *testing.T) {
			var ws, err = era2023.AppendResponses(nil, want)
			if err != nil || len(ws) != 1 {
				t.Fatalf("%v, %d messages", err, len(ws))
			}
			got, err := era2023.NeutralResponse(ws[0])
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, neutralOpts); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestUnexpectedMessages(t *testing.T) {
	for _, r := range []struct {
		resp *w.Response
		want string
	}{
		{&w.Response{}, "an empty response"},
		{&w.Response{Spec: &w.Response_Spec{}}, "got Spec"},
		{&w.Response{Opened: &w.Response_Opened{}, Flushed: &w.Response_Flushed{}}, "several messages (Opened, Flushed)"},
		{&w.Response{Loaded: &w.Response_Loaded{Binding: 4}}, "Loaded of binding 4 has no document"},
	} {
		if _, err := era2023.NeutralResponse(r.resp); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%v: error %v, want it to say %q", r.resp, err, r.want)
		}
	}
	if _, err := era2023.NeutralRequest(&w.Request{Store: &w.Request_Store{Delete: true}}); err == nil {
		t.Error("a deleting Store was accepted as an upsert")
	}
	if _, err := era2023.AppendRequests(nil, &protocol.Request{Open: &protocol.Open{Materialization: materialization()}}); err == nil {
		t.Error("an Open without version was sent")
	}
	if _, err := era2023.ApplyRequest(&protocol.ApplyRequest{DryRun: true}); err == nil {
		t.Error("a dry-run Apply was sent as a real one")
	}
}

func constraint(t w.Response_Validated_Constraint_Type, reason string) *w.Response_Validated_Constraint {
	return &w.Response_Validated_Constraint{Type: t, Reason: reason}
}

func TestValidatedBothShapes(t *testing.T) {
	const (
		req  = w.Response_Validated_Constraint_FIELD_REQUIRED
		loc  = w.Response_Validated_Constraint_LOCATION_REQUIRED
		opt  = w.Response_Validated_Constraint_FIELD_OPTIONAL
		inc  = w.Response_Validated_Constraint_INCOMPATIBLE
		uns  = w.Response_Validated_Constraint_UNSATISFIABLE
		forb = w.Response_Validated_Constraint_FIELD_FORBIDDEN
	)
	var tests = []struct {
		name    string
		binding *w.Response_Validated_Binding
		want    map[string]protocol.Constraint
	}{
		{"2025 map; a binary 6 (2025's UNSATISFIABLE) reads as INCOMPATIBLE",
			&w.Response_Validated_Binding{Constraints: map[string]*w.Response_Validated_Constraint{
				"key": constraint(loc, "key"), "a": constraint(6, "changed type"), "b": constraint(uns, "by name"),
			}},
			map[string]protocol.Constraint{
				"key": {Type: protocol.LocationRequired, Reason: "key"},
				"a":   {Type: protocol.Incompatible, Reason: "changed type"},
				"b":   {Type: protocol.Unsatisfiable, Reason: "by name"},
			}},
		{"2026 list is authoritative over the map; the strongest constraint of a field wins",
			&w.Response_Validated_Binding{
				Constraints: map[string]*w.Response_Validated_Constraint{"key": constraint(forb, "ignored")},
				ProjectionConstraints: []*w.Response_Validated_ProjectionConstraint{
					{Field: "key", Constraint: constraint(req, "needed")},
					{Field: "key", Constraint: constraint(inc, "needs a backfill")},
					{Field: "v", Constraint: constraint(opt, "")},
				}},
			map[string]protocol.Constraint{
				"key": {Type: protocol.Incompatible, Reason: "needs a backfill; needed"},
				"v":   {Type: protocol.FieldOptional},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.binding.ResourcePath = []string{"t"}
			var got, err = era2023.NeutralValidated(&w.Response_Validated{Bindings: []*w.Response_Validated_Binding{tc.binding}})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got.Bindings[0].Constraints); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	// JSON from a 2025 connector names the constraint UNSATISFIABLE.
	var v w.Response
	if err := w.UnmarshalJSON([]byte(`{"validated":{"bindings":[{"constraints":{"a":{"type":"UNSATISFIABLE"}},"resourcePath":["t"]}]}}`), &v); err != nil {
		t.Fatal(err)
	}
	var got, err = era2023.NeutralValidated(v.GetValidated())
	if err != nil || got.Bindings[0].Constraints["a"].Type != protocol.Unsatisfiable || got.Bindings[0].Constraints["a"].Type.Selectable() {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []w.Response_Validated_Constraint_Type{0, 99} {
		var _, err = era2023.NeutralValidated(&w.Response_Validated{Bindings: []*w.Response_Validated_Binding{{
			Constraints: map[string]*w.Response_Validated_Constraint{"f": constraint(bad, "")}}}})
		if err == nil || !strings.Contains(err.Error(), `"f"`) {
			t.Errorf("constraint type %d: error %v, want one naming the field", bad, err)
		}
	}
}

func TestValidatedConnectorSideRoundTrip(t *testing.T) {
	var want = &protocol.ValidateResponse{Bindings: []*protocol.ValidatedBinding{{
		ResourcePath: []string{"public", "t"}, DeltaUpdates: true,
		Constraints: map[string]protocol.Constraint{
			"a": {Type: protocol.FieldRequired, Reason: "r"}, "b": {Type: protocol.LocationRequired},
			"c": {Type: protocol.LocationRecommended}, "d": {Type: protocol.FieldOptional},
			"e": {Type: protocol.FieldForbidden}, "f": {Type: protocol.Incompatible}, "g": {Type: protocol.Unsatisfiable},
		},
	}}}
	var wv, err = era2023.Validated(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := era2023.NeutralValidated(wv)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := era2023.Validated(&protocol.ValidateResponse{Bindings: []*protocol.ValidatedBinding{{
		Constraints: map[string]protocol.Constraint{"x": {Type: protocol.ConstraintInvalid}}}}}); err == nil {
		t.Error("an INVALID constraint was sent")
	}
}

func TestUnaryRoundTrips(t *testing.T) {
	var spec = &protocol.SpecResponse{Protocol: era2023.ProtocolNumber, EndpointSchema: json.RawMessage(`{"e":1}`),
		ResourceSchema: json.RawMessage(`{"r":1}`), DocumentationURL: "https://d"}
	if d := cmp.Diff(spec, era2023.NeutralSpec(era2023.Spec(&protocol.SpecResponse{EndpointSchema: spec.EndpointSchema,
		ResourceSchema: spec.ResourceSchema, DocumentationURL: spec.DocumentationURL}))); d != "" {
		t.Errorf("Spec (-want +got):\n%s", d)
	}
	var applied = &protocol.ApplyResponse{ActionDescription: "created", State: &protocol.StateUpdate{JSON: json.RawMessage(`{"v":2}`), MergePatch: true}}
	if d := cmp.Diff(applied, era2023.NeutralApplied(era2023.Applied(applied))); d != "" {
		t.Errorf("Applied (-want +got):\n%s", d)
	}
	var m = materialization()
	var apply = &protocol.ApplyRequest{Materialization: m, Version: "v2", LastMaterialization: m, LastVersion: "v1", State: json.RawMessage(`{"s":1}`)}
	var wa, err = era2023.ApplyRequest(apply)
	if err != nil {
		t.Fatal(err)
	}
	var sorted = era2023.NeutralMaterialization(era2023.Materialization(m))
	apply.Materialization, apply.LastMaterialization = sorted, sorted
	if d := cmp.Diff(apply, era2023.NeutralApplyRequest(wa.Apply), neutralOpts); d != "" {
		t.Errorf("Apply (-want +got):\n%s", d)
	}
	if sorted.Bindings[0].Collection.Projections[0].Field != "a" || sorted.Bindings[0].Fields.Values[0] != "a" {
		t.Errorf("Materialization did not order projections and values: %+v", sorted.Bindings[0])
	}
	var validate = &protocol.ValidateRequest{Name: "n", Config: json.RawMessage(`{}`), Bindings: []*protocol.ValidateBinding{{
		Resource: json.RawMessage(`{"t":1}`), Collection: sorted.Bindings[0].Collection, FieldConfig: map[string]json.RawMessage{"a": json.RawMessage(`1`)}, Backfill: 3,
	}}}
	if d := cmp.Diff(validate, era2023.NeutralValidateRequest(era2023.ValidateRequest(validate, true).Validate), neutralOpts); d != "" {
		t.Errorf("Validate (-want +got):\n%s", d)
	}
	validate.LastMaterialization = sorted
	if got := era2023.ValidateRequest(validate, false).Validate; got.LastMaterialization != nil {
		t.Error("last_materialization sent without withLast (connectors of 2023 read field 5 as network_ports)")
	}
	if d := cmp.Diff(validate, era2023.NeutralValidateRequest(era2023.ValidateRequest(validate, true).Validate), neutralOpts); d != "" {
		t.Errorf("Validate with last materialization (-want +got):\n%s", d)
	}
}
