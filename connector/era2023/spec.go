// Package era2023 translates between flowsim's era-neutral protocol model
// (package protocol) and the messages of today's era (protocol/wire2023), in both
// directions: the runtime's side (flowsim driving a current-era connector: neutral
// requests out, wire responses in) and the connector's side (a neutral
// protocol.Server answering as a current-era connector: wire requests in, neutral
// responses out). It is pure translation: no I/O, no state.
//
// What the current era requires of the runtime (the Validate_ methods of
// github.com/estuary/flow/go/protocols/materialize v0.6.10, which current
// connectors run on every request) and how it is met here:
//   - a MaterializationSpec with a valid name and connector type, config, and valid
//     shard and recovery-log templates (Materialization builds them);
//   - collections with a key, projections in field order with keyed projections for
//     every key pointer, and a valid partition template;
//   - field selections whose values are sorted and whose fields all have projections;
//   - Open with a non-empty version and a valid range;
//   - Load with key_packed, Store with key_packed, values_packed and doc (so a
//     binding must select at least one value field: an empty values tuple is
//     rejected by today's connectors).
package era2023

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ProtocolNumber is what a current-era connector answers Spec with.
const ProtocolNumber = 3032023

// UUIDPointer is where the runtime keeps each document's UUID.
const UUIDPointer = "/_meta/uuid"

// Materialization builds the current era's MaterializationSpec of m, with the
// templates a current connector validates. Projections are put in field order and
// values sorted (the order the spec requires); m is not modified.
func Materialization(m *protocol.Materialization) *w.MaterializationSpec {
	if m == nil {
		return nil
	}
	var spec = &w.MaterializationSpec{
		Name:          m.Name,
		ConnectorType: w.MaterializationSpec_IMAGE,
		ConfigJson:    m.Config,
		ShardTemplate: &w.ShardSpec{
			Id:                "materialize/" + m.Name + "/00000000-00000000",
			RecoveryLogPrefix: "recovery",
			HintPrefix:        "/estuary/flow/hints",
			HintBackups:       2,
			MaxTxnDuration:    durationpb.New(time.Second),
			MinTxnDuration:    durationpb.New(0),
			Labels:            &w.LabelSet{Labels: []*w.Label{{Name: "estuary.dev/task-name", Value: m.Name}}},
		},
		RecoveryLogTemplate: journalTemplate("recovery/materialize/"+m.Name+"/00000000-00000000",
			"application/x-gazette-recoverylog"),
	}
	for _, b := range m.Bindings {
		var values = append([]string(nil), b.Fields.Values...)
		sort.Strings(values)
		spec.Bindings = append(spec.Bindings, &w.MaterializationSpec_Binding{
			ResourceConfigJson: b.Resource,
			ResourcePath:       b.ResourcePath,
			Collection:         Collection(&b.Collection),
			FieldSelection: &w.FieldSelection{
				Keys:               b.Fields.Keys,
				Values:             values,
				Document:           b.Fields.Document,
				FieldConfigJsonMap: rawMap(b.Fields.FieldConfig),
			},
			DeltaUpdates: b.DeltaUpdates,
			PartitionSelector: &w.LabelSelector{Include: &w.LabelSet{Labels: []*w.Label{
				{Name: "estuary.dev/collection", Value: b.Collection.Name}}}},
			JournalReadSuffix: "materialize/" + m.Name + "/" + strings.Join(b.ResourcePath, "%2F"),
			Backfill:          b.Backfill,
			StateKey:          stateKey(b),
		})
	}
	return spec
}

// stateKey is the binding's key within connector state, as the runtime suggests
// it: the resource path, and the backfill counter when there was one.
func stateKey(b *protocol.Binding) string {
	var k = strings.Join(b.ResourcePath, "%2F")
	if b.Backfill != 0 {
		k += fmt.Sprintf(".v%d", b.Backfill)
	}
	return k
}

func journalTemplate(name, contentType string) *w.JournalSpec {
	return &w.JournalSpec{
		Name:        name,
		Replication: 1,
		Labels: &w.LabelSet{Labels: []*w.Label{
			{Name: "app.gazette.dev/message-type", Value: "flowsim"},
			{Name: "content-type", Value: contentType},
		}},
		Fragment: &w.JournalSpec_Fragment{
			Length:           1 << 29,
			CompressionCodec: w.CompressionCodec_GZIP,
			RefreshInterval:  durationpb.New(5 * time.Minute),
			FlushInterval:    durationpb.New(24 * time.Hour),
		},
		Flags: 4, // O_RDWR
	}
}

// Collection builds the current era's CollectionSpec of c, projections in field order.
func Collection(c *protocol.Collection) *w.CollectionSpec {
	var spec = &w.CollectionSpec{
		Name:              c.Name,
		WriteSchemaJson:   c.Schema,
		Key:               c.Key,
		UuidPtr:           UUIDPointer,
		PartitionTemplate: journalTemplate(c.Name, "application/x-ndjson"),
	}
	for _, p := range c.Projections {
		var inf = &w.Inference{
			Types:       p.Inference.Types,
			Title:       p.Inference.Title,
			Description: p.Inference.Description,
			Exists:      w.Inference_MAY,
		}
		if p.Inference.MustExist {
			inf.Exists = w.Inference_MUST
		}
		if s := p.Inference.String; s != nil {
			inf.String_ = &w.Inference_String{Format: s.Format, MaxLength: s.MaxLength}
		}
		spec.Projections = append(spec.Projections, &w.Projection{
			Ptr: p.Ptr, Field: p.Field, IsPrimaryKey: p.IsPrimaryKey, Explicit: p.Explicit, Inference: inf,
		})
	}
	sort.SliceStable(spec.Projections, func(i, j int) bool { return spec.Projections[i].Field < spec.Projections[j].Field })
	return spec
}

func rawMap(m map[string]json.RawMessage) map[string][]byte {
	if len(m) == 0 {
		return nil
	}
	var out = make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func neutralRawMap(m map[string][]byte) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	var out = make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// NeutralMaterialization is the reverse of Materialization (the connector's side).
func NeutralMaterialization(s *w.MaterializationSpec) *protocol.Materialization {
	if s == nil {
		return nil
	}
	var m = &protocol.Materialization{Name: s.GetName(), Config: s.GetConfigJson()}
	for _, b := range s.GetBindings() {
		var fs = b.GetFieldSelection()
		m.Bindings = append(m.Bindings, &protocol.Binding{
			Resource:     b.GetResourceConfigJson(),
			ResourcePath: b.GetResourcePath(),
			DeltaUpdates: b.GetDeltaUpdates(),
			Collection:   NeutralCollection(b.GetCollection()),
			Fields: protocol.FieldSelection{
				Keys: fs.GetKeys(), Values: fs.GetValues(), Document: fs.GetDocument(),
				FieldConfig: neutralRawMap(fs.GetFieldConfigJsonMap()),
			},
			Backfill: b.GetBackfill(),
		})
	}
	return m
}

// NeutralCollection is the reverse of Collection. The read schema, where the
// runtime sent one, is the schema a connector sees documents by.
func NeutralCollection(c *w.CollectionSpec) protocol.Collection {
	var out = protocol.Collection{Name: c.GetName(), Schema: c.GetWriteSchemaJson(), Key: c.GetKey()}
	if len(c.GetReadSchemaJson()) != 0 {
		out.Schema = c.GetReadSchemaJson()
	}
	for _, p := range c.GetProjections() {
		var inf = p.GetInference()
		var np = protocol.Projection{
			Ptr: p.GetPtr(), Field: p.GetField(), IsPrimaryKey: p.GetIsPrimaryKey(), Explicit: p.GetExplicit(),
			Inference: protocol.Inference{
				Types: inf.GetTypes(), MustExist: inf.GetExists() == w.Inference_MUST,
				Title: inf.GetTitle(), Description: inf.GetDescription(),
			},
		}
		if s := inf.GetString_(); s != nil {
			np.Inference.String = &protocol.StringInference{Format: s.GetFormat(), MaxLength: s.GetMaxLength()}
		}
		out.Projections = append(out.Projections, np)
	}
	return out
}
