package era2023

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// ---- constraints ----

// Today's numbering (2026): INCOMPATIBLE 6, UNSATISFIABLE 7 (its deprecated
// alias). Until 2025 UNSATISFIABLE was 6 and INCOMPATIBLE did not exist, so a
// binary 6 from a 2025 connector reads as INCOMPATIBLE: the same meaning (not
// selectable until the binding is backfilled). In JSON, enums travel by name and
// "UNSATISFIABLE" reads as 7.
var constraintToNeutral = map[w.Response_Validated_Constraint_Type]protocol.ConstraintType{
	w.Response_Validated_Constraint_FIELD_REQUIRED:       protocol.FieldRequired,
	w.Response_Validated_Constraint_LOCATION_REQUIRED:    protocol.LocationRequired,
	w.Response_Validated_Constraint_LOCATION_RECOMMENDED: protocol.LocationRecommended,
	w.Response_Validated_Constraint_FIELD_OPTIONAL:       protocol.FieldOptional,
	w.Response_Validated_Constraint_FIELD_FORBIDDEN:      protocol.FieldForbidden,
	w.Response_Validated_Constraint_INCOMPATIBLE:         protocol.Incompatible,
	w.Response_Validated_Constraint_UNSATISFIABLE:        protocol.Unsatisfiable,
}

// NeutralConstraintType maps a wire constraint type; INVALID and unknown numbers
// are errors (a connector must say what it means of every field).
func NeutralConstraintType(t w.Response_Validated_Constraint_Type) (protocol.ConstraintType, error) {
	if c, ok := constraintToNeutral[t]; ok {
		return c, nil
	}
	return protocol.ConstraintInvalid, fmt.Errorf("constraint type %d (%s) is not one of today's constraint types", int32(t), t)
}

// ConstraintType maps a neutral constraint type onto the wire.
func ConstraintType(c protocol.ConstraintType) (w.Response_Validated_Constraint_Type, error) {
	for k, v := range constraintToNeutral {
		if v == c {
			return k, nil
		}
	}
	return 0, fmt.Errorf("constraint %s has no current-era encoding", c)
}

// strength orders the constraints one field may carry in the 2026 list shape: a
// constraint that forbids the field wins over any that requires it (a required
// field that is INCOMPATIBLE needs a backfill before it can be selected).
func strength(c protocol.ConstraintType) int {
	switch c {
	case protocol.FieldForbidden:
		return 7
	case protocol.Incompatible, protocol.Unsatisfiable:
		return 6
	case protocol.FieldRequired:
		return 4
	case protocol.LocationRequired:
		return 3
	case protocol.LocationRecommended:
		return 2
	case protocol.FieldOptional:
		return 1
	}
	return 0
}

// NeutralValidated translates a Validated response of either shape: 2026's
// projection_constraints list when it is non-empty (then authoritative, as for the
// control plane), else 2025's constraints map. Several constraints of one field
// combine into the strongest (see strength), their reasons joined.
func NeutralValidated(v *w.Response_Validated) (*protocol.ValidateResponse, error) {
	var out = &protocol.ValidateResponse{}
	for i, b := range v.GetBindings() {
		var nb = &protocol.ValidatedBinding{
			Constraints:  map[string]protocol.Constraint{},
			DeltaUpdates: b.GetDeltaUpdates(),
			ResourcePath: b.GetResourcePath(),
		}
		var add = func(field string, c *w.Response_Validated_Constraint) error {
			if c == nil {
				return fmt.Errorf("binding %d: field %q has no constraint", i, field)
			}
			var t, err = NeutralConstraintType(c.GetType())
			if err != nil {
				return fmt.Errorf("binding %d: field %q: %w", i, field, err)
			}
			var prev, seen = nb.Constraints[field]
			switch {
			case !seen:
				nb.Constraints[field] = protocol.Constraint{Type: t, Reason: c.GetReason()}
			case strength(t) > strength(prev.Type):
				nb.Constraints[field] = protocol.Constraint{Type: t, Reason: joinReasons(c.GetReason(), prev.Reason)}
			default:
				prev.Reason = joinReasons(prev.Reason, c.GetReason())
				nb.Constraints[field] = prev
			}
			return nil
		}
		if len(b.GetProjectionConstraints()) != 0 {
			for _, pc := range b.GetProjectionConstraints() {
				if err := add(pc.GetField(), pc.GetConstraint()); err != nil {
					return nil, err
				}
			}
		} else {
			var fields = make([]string, 0, len(b.GetConstraints()))
			for f := range b.GetConstraints() {
				fields = append(fields, f)
			}
			sort.Strings(fields)
			for _, f := range fields {
				if err := add(f, b.GetConstraints()[f]); err != nil {
					return nil, err
				}
			}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	return out, nil
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	}
	return a + "; " + b
}

// Validated is the connector side of NeutralValidated. It answers in 2025's
// constraints map, which every current-era runtime reads (2026 runtimes read the
// map when the list is empty).
func Validated(r *protocol.ValidateResponse) (*w.Response_Validated, error) {
	var out = &w.Response_Validated{}
	for i, b := range r.Bindings {
		var wb = &w.Response_Validated_Binding{
			Constraints:  map[string]*w.Response_Validated_Constraint{},
			ResourcePath: b.ResourcePath,
			DeltaUpdates: b.DeltaUpdates,
		}
		for f, c := range b.Constraints {
			var t, err = ConstraintType(c.Type)
			if err != nil {
				return nil, fmt.Errorf("binding %d: field %q: %w", i, f, err)
			}
			wb.Constraints[f] = &w.Response_Validated_Constraint{Type: t, Reason: c.Reason}
		}
		out.Bindings = append(out.Bindings, wb)
	}
	return out, nil
}

// ---- Spec, Validate, Apply: the runtime's side ----

// SpecRequest is the runtime's Spec request.
func SpecRequest(r *protocol.SpecRequest) *w.Request {
	return &w.Request{Spec: &w.Request_Spec{ConnectorType: w.MaterializationSpec_IMAGE, ConfigJson: r.Config}}
}

// NeutralSpec translates a Spec response.
func NeutralSpec(s *w.Response_Spec) *protocol.SpecResponse {
	return &protocol.SpecResponse{
		Protocol:         s.GetProtocol(),
		EndpointSchema:   s.GetConfigSchemaJson(),
		ResourceSchema:   s.GetResourceConfigSchemaJson(),
		DocumentationURL: s.GetDocumentationUrl(),
	}
}

// ValidateRequest is the runtime's Validate request. Its last_materialization
// (field 5) is sent only when withLast is set: connectors built from April to
// October 2023 have network_ports (a repeated flow.NetworkPort) at field 5 and
// fail to decode a Validate that carries a MaterializationSpec there, so sending
// it to a connector of unknown age could blame a correct connector.
func ValidateRequest(r *protocol.ValidateRequest, withLast bool) *w.Request {
	var v = &w.Request_Validate{
		Name:          r.Name,
		ConnectorType: w.MaterializationSpec_IMAGE,
		ConfigJson:    r.Config,
	}
	if withLast {
		v.LastMaterialization = Materialization(r.LastMaterialization)
	}
	for _, b := range r.Bindings {
		v.Bindings = append(v.Bindings, &w.Request_Validate_Binding{
			ResourceConfigJson: b.Resource,
			Collection:         Collection(&b.Collection),
			FieldConfigJsonMap: rawMap(b.FieldConfig),
			Backfill:           b.Backfill,
		})
	}
	return &w.Request{Validate: v}
}

// ApplyRequest is the runtime's Apply request. The current era has no dry run: a
// DryRun request is an error (the caller must not send it, rather than have it
// applied for real).
func ApplyRequest(r *protocol.ApplyRequest) (*w.Request, error) {
	if r.DryRun {
		return nil, fmt.Errorf("the current protocol era has no dry-run Apply")
	}
	return &w.Request{Apply: &w.Request_Apply{
		Materialization:     Materialization(r.Materialization),
		Version:             r.Version,
		LastMaterialization: Materialization(r.LastMaterialization),
		LastVersion:         r.LastVersion,
		StateJson:           r.State,
	}}, nil
}

// NeutralApplied translates an Applied response.
func NeutralApplied(a *w.Response_Applied) *protocol.ApplyResponse {
	return &protocol.ApplyResponse{ActionDescription: a.GetActionDescription(), State: NeutralState(a.GetState())}
}

// ---- Spec, Validate, Apply: the connector's side ----

// NeutralSpecRequest is the connector side of SpecRequest.
func NeutralSpecRequest(s *w.Request_Spec) *protocol.SpecRequest {
	return &protocol.SpecRequest{Config: s.GetConfigJson()}
}

// Spec is the connector side of NeutralSpec; it always answers ProtocolNumber.
func Spec(r *protocol.SpecResponse) *w.Response_Spec {
	return &w.Response_Spec{
		Protocol:                 ProtocolNumber,
		ConfigSchemaJson:         r.EndpointSchema,
		ResourceConfigSchemaJson: r.ResourceSchema,
		DocumentationUrl:         r.DocumentationURL,
	}
}

// NeutralValidateRequest is the connector side of ValidateRequest.
func NeutralValidateRequest(v *w.Request_Validate) *protocol.ValidateRequest {
	var r = &protocol.ValidateRequest{
		Name:                v.GetName(),
		Config:              v.GetConfigJson(),
		LastMaterialization: NeutralMaterialization(v.GetLastMaterialization()),
	}
	for _, b := range v.GetBindings() {
		r.Bindings = append(r.Bindings, &protocol.ValidateBinding{
			Resource:    b.GetResourceConfigJson(),
			Collection:  NeutralCollection(b.GetCollection()),
			FieldConfig: neutralRawMap(b.GetFieldConfigJsonMap()),
			Backfill:    b.GetBackfill(),
		})
	}
	return r
}

// NeutralApplyRequest is the connector side of ApplyRequest.
func NeutralApplyRequest(a *w.Request_Apply) *protocol.ApplyRequest {
	return &protocol.ApplyRequest{
		Materialization:     NeutralMaterialization(a.GetMaterialization()),
		Version:             a.GetVersion(),
		LastMaterialization: NeutralMaterialization(a.GetLastMaterialization()),
		LastVersion:         a.GetLastVersion(),
		State:               a.GetStateJson(),
	}
}

// Applied is the connector side of NeutralApplied.
func Applied(r *protocol.ApplyResponse) *w.Response_Applied {
	return &w.Response_Applied{ActionDescription: r.ActionDescription, State: State(r.State)}
}

// ---- connector state ----

// NeutralState translates a ConnectorState update (nil stays nil).
func NeutralState(s *w.ConnectorState) *protocol.StateUpdate {
	if s == nil {
		return nil
	}
	return &protocol.StateUpdate{JSON: s.GetUpdatedJson(), MergePatch: s.GetMergePatch()}
}

// State is the reverse of NeutralState.
func State(s *protocol.StateUpdate) *w.ConnectorState {
	if s == nil {
		return nil
	}
	return &w.ConnectorState{UpdatedJson: s.JSON, MergePatch: s.MergePatch}
}

// ResponseName names a response for errors ("Loaded", "an empty response", ...).
func ResponseName(r *w.Response) string {
	var names []string
	if r.Spec != nil {
		names = append(names, "Spec")
	}
	if r.Validated != nil {
		names = append(names, "Validated")
	}
	if r.Applied != nil {
		names = append(names, "Applied")
	}
	if r.Opened != nil {
		names = append(names, "Opened")
	}
	if r.Acknowledged != nil {
		names = append(names, "Acknowledged")
	}
	if r.Loaded != nil {
		names = append(names, "Loaded")
	}
	if r.Flushed != nil {
		names = append(names, "Flushed")
	}
	if r.StartedCommit != nil {
		names = append(names, "StartedCommit")
	}
	switch len(names) {
	case 0:
		return "an empty response"
	case 1:
		return names[0]
	}
	return "a response with several messages (" + strings.Join(names, ", ") + ")"
}
