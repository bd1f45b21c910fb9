package era2023

import (
	"fmt"
	"sort"
	"strings"

	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/protobuf/proto"
)

// CheckResponse applies to a connector's response the rules today's runtime
// applies (the Validate methods of the real module, v0.6.10): exactly one message;
// Spec with protocol 3032023, both schemas and a documentation URL; Validated
// bindings with a resource path of non-empty parts and every constraint present,
// of a known type, with a named field and one folded field per field; Loaded with
// a document; a state update that is a merge patch has a document. The error names
// the message and the place; the adapter reports it as an invalid message of the
// connector (protocol.invalid), not as a failed check.
func CheckResponse(r *w.Response) error {
	var kind = ResponseName(r)
	var err error
	switch kind {
	case "Spec":
		err = checkSpec(r.Spec)
	case "Validated":
		err = checkValidated(r.Validated)
	case "Applied":
		err = checkState(r.Applied.GetState())
	case "Opened":
	case "Loaded":
		if len(r.Loaded.GetDocJson()) == 0 {
			err = fmt.Errorf("no document")
		}
	case "Flushed":
		err = checkState(r.Flushed.GetState())
	case "StartedCommit":
		err = checkState(r.StartedCommit.GetState())
	case "Acknowledged":
		err = checkState(r.Acknowledged.GetState())
	default:
		return fmt.Errorf("expected one of Spec, Validated, Applied, Opened, Loaded, Flushed, StartedCommit, Acknowledged, got %s", kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return nil
}

func checkSpec(s *w.Response_Spec) error {
	switch {
	case s.GetProtocol() != ProtocolNumber:
		return fmt.Errorf("protocol %d, want %d", s.GetProtocol(), ProtocolNumber)
	case len(s.GetConfigSchemaJson()) == 0:
		return fmt.Errorf("no config schema")
	case len(s.GetResourceConfigSchemaJson()) == 0:
		return fmt.Errorf("no resource config schema")
	case s.GetDocumentationUrl() == "":
		return fmt.Errorf("no documentation URL")
	}
	return nil
}

func checkValidated(v *w.Response_Validated) error {
	for i, b := range v.GetBindings() {
		var fields = make([]string, 0, len(b.GetConstraints()))
		for f := range b.GetConstraints() {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			// A map entry without its value decodes here as an empty message and in
			// the real module as nil ("missing"); an empty constraint says nothing
			// either way (type INVALID), so both are missing.
			if c := b.GetConstraints()[f]; c != nil && proto.Size(c) == 0 {
				return fmt.Errorf("binding %d: constraint of field %q: missing", i, f)
			}
			if err := checkConstraint(b.GetConstraints()[f]); err != nil {
				return fmt.Errorf("binding %d: constraint of field %q: %w", i, f, err)
			}
		}
		var folded = map[string]string{}
		for j, pc := range b.GetProjectionConstraints() {
			if pc.GetField() == "" {
				return fmt.Errorf("binding %d: projection constraint %d names no field", i, j)
			} else if err := checkConstraint(pc.GetConstraint()); err != nil {
				return fmt.Errorf("binding %d: projection constraint %d (field %q): %w", i, j, pc.GetField(), err)
			}
			var ff = pc.GetConstraint().GetFoldedField()
			if prev, seen := folded[pc.GetField()]; !seen {
				folded[pc.GetField()] = ff
			} else if prev != ff {
				return fmt.Errorf("binding %d: projection constraint %d: field %q folds to %q here and to %q before", i, j, pc.GetField(), ff, prev)
			}
		}
		if len(b.GetResourcePath()) == 0 {
			return fmt.Errorf("binding %d: no resource path", i)
		}
		for j, p := range b.GetResourcePath() {
			if p == "" {
				return fmt.Errorf("binding %d: resource path %q: part %d is empty", i, strings.Join(b.GetResourcePath(), "/"), j)
			}
		}
	}
	return nil
}

func checkConstraint(c *w.Response_Validated_Constraint) error {
	if c == nil {
		return fmt.Errorf("missing")
	}
	if _, ok := w.Response_Validated_Constraint_Type_name[int32(c.GetType())]; !ok {
		return fmt.Errorf("unknown type %d", int32(c.GetType()))
	}
	return nil
}

func checkState(s *w.ConnectorState) error {
	if s != nil && s.GetMergePatch() && len(s.GetUpdatedJson()) == 0 {
		return fmt.Errorf("state update is a merge patch with no document")
	}
	return nil
}
