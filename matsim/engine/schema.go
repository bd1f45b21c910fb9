package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2021"
	"github.com/flowsim/flowsim/protocol/wire2022"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
)

// DocumentField is the name of the projection of the whole document.
const DocumentField = "flow_document"

// field is one projected field of a TestData type.
type field struct {
	Name     string
	Types    []string // JSON schema types
	Key      bool
	Required bool
}

// docSchema is what matsim derives from a TestData type.
type docSchema struct {
	TypeName string
	Keys     []string // key fields, in key order
	Values   []string // every non-key field, sorted (the order of TestData.Values)
	Fields   map[string]*field
	JSON     json.RawMessage
}

// Schema derives the collection schema of a TestData type from its struct tags:
// each exported field with a `json:"name"` tag is a projection; its JSON type comes
// from the Go type (integers, floats, bool, string, slices → array, maps and
// structs → object, pointers add null) or from `flowsim:"name,type=string|null"`;
// `flowsim:"name,key"` and `flowsim:"name,required"` mark keys and required
// fields, as do KeyFields and RequiredFields.
func Schema(td TestData) (json.RawMessage, error) {
	var s, err = schemaOf(td)
	if err != nil {
		return nil, err
	}
	return s.JSON, nil
}

func schemaOf(td TestData) (*docSchema, error) {
	var t = reflect.TypeOf(td)
	for t != nil && t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("test data type %T is not a struct or pointer to struct", td)
	}
	var s = &docSchema{TypeName: t.Name(), Fields: map[string]*field{}}
	var order []string

	for i := 0; i < t.NumField(); i++ {
		var sf = t.Field(i)
		if !sf.IsExported() {
			continue
		}
		var name = strings.Split(sf.Tag.Get("json"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		var f = &field{Name: name}
		for j, part := range strings.Split(sf.Tag.Get("flowsim"), ",") {
			switch {
			case j == 0:
				// The original tool repeated the field name here; ignore it.
			case part == "key":
				f.Key, f.Required = true, true
			case part == "required":
				f.Required = true
			case strings.HasPrefix(part, "type="):
				f.Types = strings.Split(strings.TrimPrefix(part, "type="), "|")
			case part == "":
			default:
				return nil, fmt.Errorf("%s.%s: unknown flowsim tag option %q", t.Name(), sf.Name, part)
			}
		}
		if f.Types == nil {
			var types, err = jsonTypes(sf.Type)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w (add a flowsim:\"%s,type=...\" tag)", t.Name(), sf.Name, err, name)
			}
			f.Types = types
		}
		sort.Strings(f.Types)
		if _, dup := s.Fields[name]; dup {
			return nil, fmt.Errorf("%s: two fields are named %q", t.Name(), name)
		}
		s.Fields[name] = f
		order = append(order, name)
	}

	for _, k := range td.KeyFields() {
		var f, ok = s.Fields[k]
		if !ok {
			return nil, fmt.Errorf("%s: key field %q (from KeyFields) is not a tagged field of the type", t.Name(), k)
		}
		f.Key, f.Required = true, true
		for _, ty := range f.Types {
			if ty != "integer" && ty != "string" && ty != "boolean" {
				return nil, fmt.Errorf("%s: key field %q has JSON type %v; keys must be integer, string or boolean", t.Name(), k, f.Types)
			}
		}
		s.Keys = append(s.Keys, k)
	}
	if len(s.Keys) == 0 {
		return nil, fmt.Errorf("%s: KeyFields is empty; a collection needs a key", t.Name())
	}
	for _, r := range td.RequiredFields() {
		var f, ok = s.Fields[r]
		if !ok {
			return nil, fmt.Errorf("%s: required field %q (from RequiredFields) is not a tagged field of the type", t.Name(), r)
		}
		f.Required = true
	}
	for _, name := range order {
		if !s.Fields[name].Key {
			s.Values = append(s.Values, name)
		}
	}
	sort.Strings(s.Values)

	// The JSON schema document.
	var props = map[string]interface{}{}
	var required []string
	for _, name := range order {
		var f = s.Fields[name]
		if len(f.Types) == 1 {
			props[name] = map[string]interface{}{"type": f.Types[0]}
		} else {
			props[name] = map[string]interface{}{"type": f.Types}
		}
		if f.Required {
			required = append(required, name)
		}
	}
	var doc = map[string]interface{}{
		"$schema":    "https://json-schema.org/draft/2019-09/schema",
		"$id":        schemaURI(s.TypeName),
		"type":       "object",
		"properties": props,
		"required":   required,
	}
	var err error
	if s.JSON, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	return s, nil
}

func jsonTypes(t reflect.Type) ([]string, error) {
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return []string{"object"}, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return []string{"integer"}, nil
	case reflect.Float32, reflect.Float64:
		return []string{"number"}, nil
	case reflect.Bool:
		return []string{"boolean"}, nil
	case reflect.String:
		return []string{"string"}, nil
	case reflect.Slice, reflect.Array:
		return []string{"array"}, nil
	case reflect.Map, reflect.Struct:
		return []string{"object"}, nil
	case reflect.Ptr:
		var inner, err = jsonTypes(t.Elem())
		if err != nil {
			return nil, err
		}
		return append(inner, "null"), nil
	}
	return nil, fmt.Errorf("cannot derive a JSON type from Go type %s", t)
}

func schemaURI(typeName string) string {
	return "file:///flowsim/" + strings.ToLower(typeName) + ".schema.json"
}

// specNames are the catalog names of one run.
type specNames struct {
	Materialization string // e.g. flowsim/basic/5f3a…-1c9e04b2
	Collection      string // e.g. flowsim/rich
}

// newSpecNames names the run's materialization after the test, the seed and a hash
// of the resource and document type: what makes a run distinct. A connector keeps
// its checkpoints per materialization (and key range), so a rerun with the same seed
// against a fresh table must be another materialization, or it would be handed the
// first run's checkpoints.
func newSpecNames(test string, typeName string, seed uint64, resource json.RawMessage) specNames {
	return specNames{
		Materialization: fmt.Sprintf("flowsim/%s/%016x-%s", test, seed, resourceHash(resource, typeName)),
		Collection:      "flowsim/" + strings.ToLower(typeName),
	}
}

// collectionSpec builds the CollectionSpec of a TestData type.
func (s *docSchema) collectionSpec(names specNames) pf.CollectionSpec {
	var spec = pf.CollectionSpec{
		Collection: pf.Collection(names.Collection),
		SchemaUri:  schemaURI(s.TypeName),
		SchemaJson: s.JSON,
		UuidPtr:    "/_meta/uuid",
		PartitionTemplate: era2021.JournalTemplate(
			pb.Journal(names.Collection+"/pivot=00"), "application/x-ndjson"),
		AckJsonTemplate: json.RawMessage(`{"_meta":{"ack":true}}`),
	}
	for _, k := range s.Keys {
		spec.KeyPtrs = append(spec.KeyPtrs, "/"+escapePtr(k))
	}
	var names_ = append(append([]string{}, s.Keys...), s.Values...)
	for _, name := range names_ {
		var f = s.Fields[name]
		var p = pf.Projection{
			Ptr:          "/" + escapePtr(name),
			Field:        name,
			IsPrimaryKey: f.Key,
			Inference: pf.Inference{
				Types:     f.Types,
				MustExist: f.Required,
				// 2022's connectors read existence from Inference.exists (field 8),
				// not must_exist: carry both, as 2021's connectors skip field 8.
				XXX_unrecognized: wire2022.InferenceExists(f.Required),
			},
		}
		for _, ty := range f.Types {
			if ty == "string" {
				p.Inference.String_ = &pf.Inference_String{}
			}
		}
		spec.Projections = append(spec.Projections, p)
	}
	spec.Projections = append(spec.Projections, pf.Projection{
		Ptr:       "",
		Field:     DocumentField,
		Inference: pf.Inference{Types: []string{"object"}, MustExist: true, XXX_unrecognized: wire2022.InferenceExists(true)},
	})
	return spec
}

// validateRequest builds the Validate request for one binding.
func (s *docSchema) validateRequest(names specNames, endpoint, resource json.RawMessage) *materialize.ValidateRequest {
	return &materialize.ValidateRequest{
		Materialization:  pf.Materialization(names.Materialization),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: endpoint,
		Bindings: []*materialize.ValidateRequest_Binding{{
			ResourceSpecJson: resource,
			Collection:       s.collectionSpec(names),
		}},
	}
}

// selection is the outcome of Validate: the fields matsim materializes.
type selection struct {
	FieldSelection pf.FieldSelection
	ResourcePath   []string
	DeltaUpdates   bool
	// valueIdx maps FieldSelection.Values to indices of TestData.Values().
	valueIdx []int
	// Dropped lists optional fields the connector forbade, with its reasons.
	Dropped []string
	// Keyless is set for a delta-updates binding whose connector forbids the key
	// fields: it receives the documents only (a webhook-style sink).
	Keyless    bool
	KeyReasons []string
}

// selectFields applies the connector's constraints the way the runtime's default
// field selection does: keys, and (for standard updates) the document, must be
// materializable; value fields the connector requires or recommends are selected;
// optional ones are not (the document still carries them); a forbidden value field
// is left out. A field without a constraint is implicitly forbidden.
func (s *docSchema) selectFields(b *materialize.ValidateResponse_Binding) (*selection, error) {
	var sel = &selection{ResourcePath: b.ResourcePath, DeltaUpdates: b.DeltaUpdates}
	var forbidden = func(name string) (bool, string) {
		var c, ok = b.Constraints[name]
		if !ok {
			return true, "the connector returned no constraint for it (implicitly forbidden)"
		}
		if c.Type.IsForbidden() {
			return true, fmt.Sprintf("%s: %s", c.Type, c.Reason)
		}
		return false, ""
	}
	var problems, keyProblems, forbiddenKeys []string
	for _, k := range s.Keys {
		if no, why := forbidden(k); no {
			keyProblems = append(keyProblems, fmt.Sprintf("key field %q: %s", k, why))
			forbiddenKeys = append(forbiddenKeys, k)
		}
	}
	switch {
	case len(keyProblems) == 0:
		sel.FieldSelection.Keys = append([]string(nil), s.Keys...)
	case b.DeltaUpdates && len(forbiddenKeys) == len(s.Keys):
		// Valid for the runtime: a delta-updates sink that needs only the document
		// may forbid every key field (FieldSelection.Validate accepts no keys).
		sel.Keyless = true
		sel.KeyReasons = keyProblems
	default:
		problems = append(problems, keyProblems...)
	}

	for i, v := range s.Values {
		var no, why = forbidden(v)
		switch {
		case no:
			sel.Dropped = append(sel.Dropped, fmt.Sprintf("%s (%s)", v, why))
		case b.Constraints[v].Type == materialize.Constraint_FIELD_OPTIONAL:
			sel.Dropped = append(sel.Dropped, fmt.Sprintf("%s (FIELD_OPTIONAL: %s; not selected by default)", v, b.Constraints[v].Reason))
		default:
			sel.FieldSelection.Values = append(sel.FieldSelection.Values, v)
			sel.valueIdx = append(sel.valueIdx, i)
		}
	}
	if no, why := forbidden(DocumentField); !no {
		sel.FieldSelection.Document = DocumentField
	} else if sel.Keyless {
		problems = append(problems, fmt.Sprintf("document field %q: %s (a binding that forbids the keys must take the document)", DocumentField, why))
	} else if !b.DeltaUpdates {
		problems = append(problems, fmt.Sprintf("document field %q: %s (standard updates must store the document to load it)", DocumentField, why))
	}
	if len(problems) != 0 {
		return nil, fmt.Errorf("the connector cannot materialize fields matsim needs: %s", strings.Join(problems, "; "))
	}
	return sel, nil
}

// materializationSpec builds the full spec applied and opened.
func (s *docSchema) materializationSpec(names specNames, endpoint, resource json.RawMessage, sel *selection) *pf.MaterializationSpec {
	var coll = s.collectionSpec(names)
	return &pf.MaterializationSpec{
		Materialization:  pf.Materialization(names.Materialization),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: endpoint,
		Bindings: []*pf.MaterializationSpec_Binding{{
			ResourceSpecJson: resource,
			ResourcePath:     sel.ResourcePath,
			Collection:       coll,
			FieldSelection:   sel.FieldSelection,
			DeltaUpdates:     sel.DeltaUpdates,
			Shuffle: pf.Shuffle{
				GroupName:        "materialize/" + names.Materialization + "/" + strings.Join(sel.ResourcePath, "."),
				SourceCollection: coll.Collection,
				SourcePartitions: pb.LabelSelector{Include: pb.MustLabelSet("estuary.dev/collection", names.Collection)},
				SourceUuidPtr:    coll.UuidPtr,
				ShuffleKeyPtr:    coll.KeyPtrs,
				UsesSourceKey:    true,
				SourceSchemaUri:  coll.SchemaUri,
				UsesSourceSchema: true,
			},
		}},
		ShardTemplate: &pc.ShardSpec{
			Id:                pc.ShardID("materialize/" + names.Materialization + "/00000000-00000000"),
			RecoveryLogPrefix: "recovery",
			HintPrefix:        "/estuary/flow/hints",
			HintBackups:       2,
			MaxTxnDuration:    time.Second,
			MinTxnDuration:    0,
		},
		RecoveryLogTemplate: era2021.JournalTemplate(
			pb.Journal("recovery/materialize/"+names.Materialization+"/00000000-00000000"),
			"application/x-gazette-recoverylog"),
	}
}
