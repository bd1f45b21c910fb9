// Package era2021 translates between the messages of the 2021 protocol module
// (github.com/estuary/protocols, which the engine speaks) and flowsim's era-neutral
// model (package protocol), so that a connector of a later era is driven by the
// same engine, with the same checks, as a 2021 one.
package era2021

import (
	"encoding/json"
	"fmt"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/protocol"
)

// Materialization is the neutral model of a 2021 MaterializationSpec (nil for nil).
func Materialization(s *pf.MaterializationSpec) *protocol.Materialization {
	if s == nil {
		return nil
	}
	var m = &protocol.Materialization{Name: string(s.Materialization), Config: json.RawMessage(s.EndpointSpecJson)}
	for _, b := range s.Bindings {
		m.Bindings = append(m.Bindings, &protocol.Binding{
			Resource:     json.RawMessage(b.ResourceSpecJson),
			ResourcePath: b.ResourcePath,
			DeltaUpdates: b.DeltaUpdates,
			Collection:   Collection(&b.Collection),
			Fields: protocol.FieldSelection{
				Keys:        b.FieldSelection.Keys,
				Values:      b.FieldSelection.Values,
				Document:    b.FieldSelection.Document,
				FieldConfig: rawMap(b.FieldSelection.FieldConfigJson),
			},
		})
	}
	return m
}

// Collection is the neutral model of a 2021 CollectionSpec.
func Collection(c *pf.CollectionSpec) protocol.Collection {
	var n = protocol.Collection{Name: string(c.Collection), Schema: json.RawMessage(c.SchemaJson), Key: c.KeyPtrs}
	for _, p := range c.Projections {
		var inf = protocol.Inference{
			Types:       p.Inference.Types,
			MustExist:   p.Inference.MustExist,
			Title:       p.Inference.Title,
			Description: p.Inference.Description,
		}
		if s := p.Inference.String_; s != nil {
			inf.String = &protocol.StringInference{Format: s.Format, MaxLength: s.MaxLength}
		}
		n.Projections = append(n.Projections, protocol.Projection{
			Ptr: p.Ptr, Field: p.Field, IsPrimaryKey: p.IsPrimaryKey, Explicit: p.UserProvided, Inference: inf,
		})
	}
	return n
}

func rawMap(m map[string]json.RawMessage) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	return m
}

// SpecRequest is the neutral model of a 2021 SpecRequest.
func SpecRequest(r *pm.SpecRequest) *protocol.SpecRequest {
	return &protocol.SpecRequest{Config: json.RawMessage(r.EndpointSpecJson)}
}

// SpecResponse is the 2021 form of a neutral SpecResponse.
func SpecResponse(r *protocol.SpecResponse) *pm.SpecResponse {
	return &pm.SpecResponse{
		EndpointSpecSchemaJson: r.EndpointSchema,
		ResourceSpecSchemaJson: r.ResourceSchema,
		DocumentationUrl:       r.DocumentationURL,
	}
}

// ValidateRequest is the neutral model of a 2021 ValidateRequest; last is the
// materialization as last applied (nil before the first Apply).
func ValidateRequest(r *pm.ValidateRequest, last *pf.MaterializationSpec) *protocol.ValidateRequest {
	var n = &protocol.ValidateRequest{
		Name:                string(r.Materialization),
		Config:              json.RawMessage(r.EndpointSpecJson),
		LastMaterialization: Materialization(last),
	}
	for _, b := range r.Bindings {
		n.Bindings = append(n.Bindings, &protocol.ValidateBinding{
			Resource:    json.RawMessage(b.ResourceSpecJson),
			Collection:  Collection(&b.Collection),
			FieldConfig: rawMap(b.FieldConfigJson),
		})
	}
	return n
}

// ValidateResponse is the 2021 form of a neutral ValidateResponse. The 2021 module
// has no INCOMPATIBLE: it becomes UNSATISFIABLE (a field that cannot be
// materialized either way), with the reason saying what the connector answered.
func ValidateResponse(r *protocol.ValidateResponse) (*pm.ValidateResponse, error) {
	var out = new(pm.ValidateResponse)
	for i, b := range r.Bindings {
		var ob = &pm.ValidateResponse_Binding{
			Constraints:  make(map[string]*pm.Constraint, len(b.Constraints)),
			DeltaUpdates: b.DeltaUpdates,
			ResourcePath: b.ResourcePath,
		}
		for field, c := range b.Constraints {
			var t, ok = constraintTo2021[c.Type]
			var reason = c.Reason
			switch {
			case c.Type == protocol.Incompatible:
				t, reason = pm.Constraint_UNSATISFIABLE, "INCOMPATIBLE: "+reason
			case !ok:
				return nil, fmt.Errorf("binding %d, field %q: constraint %s", i, field, c.Type)
			}
			ob.Constraints[field] = &pm.Constraint{Type: t, Reason: reason}
		}
		out.Bindings = append(out.Bindings, ob)
	}
	return out, nil
}

// constraintTo2021 maps the neutral constraints the 2021 module has; its
// numbering is the inverse (constraintOf2021).
var constraintTo2021 = map[protocol.ConstraintType]pm.Constraint_Type{
	protocol.FieldRequired:       pm.Constraint_FIELD_REQUIRED,
	protocol.LocationRequired:    pm.Constraint_LOCATION_REQUIRED,
	protocol.LocationRecommended: pm.Constraint_LOCATION_RECOMMENDED,
	protocol.FieldOptional:       pm.Constraint_FIELD_OPTIONAL,
	protocol.FieldForbidden:      pm.Constraint_FIELD_FORBIDDEN,
	protocol.Unsatisfiable:       pm.Constraint_UNSATISFIABLE,
}

// constraintOf2021 is the inverse of constraintTo2021.
var constraintOf2021 = func() map[pm.Constraint_Type]protocol.ConstraintType {
	var m = make(map[pm.Constraint_Type]protocol.ConstraintType, len(constraintTo2021))
	for n, t := range constraintTo2021 {
		m[t] = n
	}
	return m
}()

// ApplyRequest is the neutral model of a 2021 ApplyRequest; last and lastVersion
// are what was last applied (nil and "" before the first Apply).
func ApplyRequest(r *pm.ApplyRequest, last *pf.MaterializationSpec, lastVersion string) *protocol.ApplyRequest {
	return &protocol.ApplyRequest{
		Materialization:     Materialization(r.Materialization),
		Version:             r.Version,
		DryRun:              r.DryRun,
		LastMaterialization: Materialization(last),
		LastVersion:         lastVersion,
	}
}

// ApplyResponse is the 2021 form of a neutral ApplyResponse.
func ApplyResponse(r *protocol.ApplyResponse) *pm.ApplyResponse {
	return &pm.ApplyResponse{ActionDescription: r.ActionDescription}
}

// Open is the neutral model of a 2021 Open.
func Open(o *pm.TransactionRequest_Open) *protocol.Open {
	return &protocol.Open{
		Materialization: Materialization(o.Materialization),
		Version:         o.Version,
		KeyBegin:        o.KeyBegin,
		KeyEnd:          o.KeyEnd,
		State:           json.RawMessage(o.DriverCheckpointJson),
	}
}

// Load is the neutral model of a 2021 Load (the keys alias its arena).
func Load(l *pm.TransactionRequest_Load) *protocol.Load {
	var n = &protocol.Load{Binding: l.Binding, Keys: make([][]byte, len(l.PackedKeys))}
	for i, k := range l.PackedKeys {
		n.Keys[i] = l.Arena.Bytes(k)
	}
	return n
}

// Store is the neutral model of a 2021 Store (the documents alias its arena).
func Store(s *pm.TransactionRequest_Store) *protocol.Store {
	var n = &protocol.Store{Binding: s.Binding, Docs: make([]protocol.StoredDoc, len(s.PackedKeys))}
	for i := range s.PackedKeys {
		var d = protocol.StoredDoc{KeyPacked: s.Arena.Bytes(s.PackedKeys[i])}
		if i < len(s.PackedValues) {
			d.ValuesPacked = s.Arena.Bytes(s.PackedValues[i])
		}
		if i < len(s.DocsJson) {
			d.Doc = json.RawMessage(s.Arena.Bytes(s.DocsJson[i]))
		}
		if i < len(s.Exists) {
			d.Exists = s.Exists[i]
		}
		n.Docs[i] = d
	}
	return n
}

// Loaded is the 2021 form of a neutral Loaded.
func Loaded(l *protocol.Loaded) *pm.TransactionResponse_Loaded {
	var out = &pm.TransactionResponse_Loaded{Binding: l.Binding, DocsJson: make([]pf.Slice, 0, len(l.Docs))}
	for _, d := range l.Docs {
		out.DocsJson = append(out.DocsJson, out.Arena.Add(d))
	}
	return out
}

// DriverCheckpoint is the 2021 form of a state update: nil (no update) is an
// empty merge patch, which changes nothing.
func DriverCheckpoint(u *protocol.StateUpdate) *pf.DriverCheckpoint {
	if u == nil {
		return &pf.DriverCheckpoint{DriverCheckpointJson: json.RawMessage("{}"), Rfc7396MergePatch: true}
	}
	return &pf.DriverCheckpoint{DriverCheckpointJson: u.JSON, Rfc7396MergePatch: u.MergePatch}
}
