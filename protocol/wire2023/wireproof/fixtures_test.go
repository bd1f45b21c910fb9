package wireproof

import (
	"encoding/json"
	"time"

	pf "github.com/estuary/flow/go/protocols/flow"
	pm "github.com/estuary/flow/go/protocols/materialize"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Each fixture builds the same value twice, once in the real module's types and
// once in wire2023's, by hand: a wrong field number, JSON name or type on either
// side makes the cross-decoding tests fail.

func journalPair(name, contentType string) (*pb.JournalSpec, *w.JournalSpec) {
	return &pb.JournalSpec{
			Name:        pb.Journal(name),
			Replication: 3,
			LabelSet:    pb.MustLabelSet("app.gazette.dev/message-type", "flowsim", "content-type", contentType),
			Fragment: pb.JournalSpec_Fragment{
				Length:           1 << 29,
				CompressionCodec: pb.CompressionCodec_GZIP,
				Stores:           []pb.FragmentStore{"s3://bucket/prefix/"},
				RefreshInterval:  5 * time.Minute,
				FlushInterval:    90 * time.Minute,
			},
			Flags: pb.JournalSpec_O_RDWR,
		}, &w.JournalSpec{
			Name:        name,
			Replication: 3,
			Labels: &w.LabelSet{Labels: []*w.Label{
				{Name: "app.gazette.dev/message-type", Value: "flowsim"},
				{Name: "content-type", Value: contentType},
			}},
			Fragment: &w.JournalSpec_Fragment{
				Length:           1 << 29,
				CompressionCodec: w.CompressionCodec_GZIP,
				Stores:           []string{"s3://bucket/prefix/"},
				RefreshInterval:  durationpb.New(5 * time.Minute),
				FlushInterval:    durationpb.New(90 * time.Minute),
			},
			Flags: 4,
		}
}

func collectionPair() (pf.CollectionSpec, *w.CollectionSpec) {
	var rj, wj = journalPair("acme/widgets", "application/x-ndjson")
	return pf.CollectionSpec{
			Name:              "acme/widgets",
			WriteSchemaJson:   []byte(`{"type":"object","properties":{"id":{"type":"integer"}}}`),
			ReadSchemaJson:    []byte(`{"type":"object"}`),
			Key:               []string{"/id"},
			UuidPtr:           "/_meta/uuid",
			PartitionFields:   []string{"region"},
			AckTemplateJson:   []byte(`{"_meta":{"ack":true}}`),
			PartitionTemplate: rj,
			Projections: []pf.Projection{
				{Ptr: "", Field: "flow_document", Inference: pf.Inference{Types: []string{"object"}, Exists: pf.Inference_MUST}},
				{Ptr: "/id", Field: "id", IsPrimaryKey: true, Explicit: true, Inference: pf.Inference{
					Types: []string{"integer"}, Title: "Identifier", Description: "The widget's id",
					DefaultJson: []byte(`0`), Exists: pf.Inference_MUST,
				}},
				{Ptr: "/name", Field: "name", Inference: pf.Inference{
					Types: []string{"null", "string"}, Secret: true, Exists: pf.Inference_MAY,
					String_: &pf.Inference_String{ContentType: "text/plain", Format: "email", MaxLength: 64, ContentEncoding: "base64"},
				}},
				{Ptr: "/region", Field: "region", IsPartitionKey: true, Inference: pf.Inference{Types: []string{"string"}, Exists: pf.Inference_IMPLICIT}},
			},
		}, &w.CollectionSpec{
			Name:              "acme/widgets",
			WriteSchemaJson:   []byte(`{"type":"object","properties":{"id":{"type":"integer"}}}`),
			ReadSchemaJson:    []byte(`{"type":"object"}`),
			Key:               []string{"/id"},
			UuidPtr:           "/_meta/uuid",
			PartitionFields:   []string{"region"},
			AckTemplateJson:   []byte(`{"_meta":{"ack":true}}`),
			PartitionTemplate: wj,
			Projections: []*w.Projection{
				{Ptr: "", Field: "flow_document", Inference: &w.Inference{Types: []string{"object"}, Exists: w.Inference_MUST}},
				{Ptr: "/id", Field: "id", IsPrimaryKey: true, Explicit: true, Inference: &w.Inference{
					Types: []string{"integer"}, Title: "Identifier", Description: "The widget's id",
					DefaultJson: []byte(`0`), Exists: w.Inference_MUST,
				}},
				{Ptr: "/name", Field: "name", Inference: &w.Inference{
					Types: []string{"null", "string"}, Secret: true, Exists: w.Inference_MAY,
					String_: &w.Inference_String{ContentType: "text/plain", Format: "email", MaxLength: 64, ContentEncoding: "base64"},
				}},
				{Ptr: "/region", Field: "region", IsPartitionKey: true, Inference: &w.Inference{Types: []string{"string"}, Exists: w.Inference_IMPLICIT}},
			},
		}
}

func materializationPair() (*pf.MaterializationSpec, *w.MaterializationSpec) {
	var rc, wc = collectionPair()
	var rj, wj = journalPair("recovery/materialize/acme/sink/00000000-00000000", "application/x-gazette-recoverylog")
	return &pf.MaterializationSpec{
			Name:          "acme/sink",
			ConnectorType: pf.MaterializationSpec_IMAGE,
			ConfigJson:    []byte(`{"address":"db:5432","password":"p"}`),
			Bindings: []*pf.MaterializationSpec_Binding{{
				ResourceConfigJson: []byte(`{"table":"widgets"}`),
				ResourcePath:       []string{"public", "widgets"},
				Collection:         rc,
				PartitionSelector: pb.LabelSelector{
					Include: pb.MustLabelSet("estuary.dev/collection", "acme/widgets"),
					Exclude: pb.LabelSet{Labels: []pb.Label{{Name: "estuary.dev/field/region", Value: "eu-", Prefix: true}}},
				},
				FieldSelection: pf.FieldSelection{
					Keys: []string{"id"}, Values: []string{"name", "region"}, Document: "flow_document",
					FieldConfigJsonMap: map[string]json.RawMessage{"name": []byte(`{"castToString":true}`)},
				},
				DeltaUpdates:      true,
				JournalReadSuffix: "materialize/acme/sink/widgets",
				Backfill:          2,
				StateKey:          "widgets.v2",
				SerPolicy:         &pf.SerPolicy{StrTruncateAfter: 1 << 16, NestedObjTruncateAfter: 1000, ArrayTruncateAfter: 500},
			}},
			ShardTemplate: &pc.ShardSpec{
				Id:                "materialize/acme/sink/00000000-00000000",
				RecoveryLogPrefix: "recovery",
				HintPrefix:        "/estuary/flow/hints",
				HintBackups:       2,
				MaxTxnDuration:    time.Second,
				MinTxnDuration:    250 * time.Millisecond,
				LabelSet:          pb.MustLabelSet("estuary.dev/task-name", "acme/sink"),
			},
			RecoveryLogTemplate: rj,
		}, &w.MaterializationSpec{
			Name:          "acme/sink",
			ConnectorType: w.MaterializationSpec_IMAGE,
			ConfigJson:    []byte(`{"address":"db:5432","password":"p"}`),
			Bindings: []*w.MaterializationSpec_Binding{{
				ResourceConfigJson: []byte(`{"table":"widgets"}`),
				ResourcePath:       []string{"public", "widgets"},
				Collection:         wc,
				PartitionSelector: &w.LabelSelector{
					Include: &w.LabelSet{Labels: []*w.Label{{Name: "estuary.dev/collection", Value: "acme/widgets"}}},
					Exclude: &w.LabelSet{Labels: []*w.Label{{Name: "estuary.dev/field/region", Value: "eu-", Prefix: true}}},
				},
				FieldSelection: &w.FieldSelection{
					Keys: []string{"id"}, Values: []string{"name", "region"}, Document: "flow_document",
					FieldConfigJsonMap: map[string][]byte{"name": []byte(`{"castToString":true}`)},
				},
				DeltaUpdates:      true,
				JournalReadSuffix: "materialize/acme/sink/widgets",
				Backfill:          2,
				StateKey:          "widgets.v2",
				SerPolicy:         &w.SerPolicy{StrTruncateAfter: 1 << 16, NestedObjTruncateAfter: 1000, ArrayTruncateAfter: 500},
			}},
			ShardTemplate: &w.ShardSpec{
				Id:                "materialize/acme/sink/00000000-00000000",
				RecoveryLogPrefix: "recovery",
				HintPrefix:        "/estuary/flow/hints",
				HintBackups:       2,
				MaxTxnDuration:    durationpb.New(time.Second),
				MinTxnDuration:    durationpb.New(250 * time.Millisecond),
				Labels:            &w.LabelSet{Labels: []*w.Label{{Name: "estuary.dev/task-name", Value: "acme/sink"}}},
			},
			RecoveryLogTemplate: wj,
		}
}

func checkpointPair() (*pc.Checkpoint, *w.Checkpoint) {
	return &pc.Checkpoint{
			Sources: map[pb.Journal]pc.Checkpoint_Source{
				"acme/widgets/pivot=00": {ReadThrough: 1 << 40, Producers: []pc.Checkpoint_Source_ProducerEntry{{
					Id: []byte{1, 2, 3, 4, 5, 6}, State: pc.Checkpoint_ProducerState{LastAck: 0xfedcba9876543210, Begin: -1},
				}}},
				"acme/widgets/pivot=01": {ReadThrough: 7},
			},
			AckIntents: map[pb.Journal][]byte{"acme/acks": []byte(`{"ack":1}` + "\n")},
		}, &w.Checkpoint{
			Sources: map[string]*w.Checkpoint_Source{
				"acme/widgets/pivot=00": {ReadThrough: 1 << 40, Producers: []*w.Checkpoint_Source_ProducerEntry{{
					Id: []byte{1, 2, 3, 4, 5, 6}, State: &w.Checkpoint_ProducerState{LastAck: 0xfedcba9876543210, Begin: -1},
				}}},
				"acme/widgets/pivot=01": {ReadThrough: 7},
			},
			AckIntents: map[string][]byte{"acme/acks": []byte(`{"ack":1}` + "\n")},
		}
}

func statePair(doc string, patch bool) (*pf.ConnectorState, *w.ConnectorState) {
	return &pf.ConnectorState{UpdatedJson: []byte(doc), MergePatch: patch},
		&w.ConnectorState{UpdatedJson: []byte(doc), MergePatch: patch}
}

// row is one message in both type systems.
type row struct {
	name string
	real interface {
		Marshal() ([]byte, error)
	}
	mine proto.Message
	// request: real is a *pm.Request (else a *pm.Response).
	request bool
}

func rows() []row {
	var rm, wm = materializationPair()
	var rm2, wm2 = materializationPair()
	var rc, wc = collectionPair()
	var rcp, wcp = checkpointPair()
	var rcp2, wcp2 = checkpointPair()
	var rs1, ws1 = statePair(`{"cursor":"abc","bindings":{"widgets":{"n":3}}}`, true)
	var rs2, ws2 = statePair(`{"replaced":true}`, false)
	var rs3, ws3 = statePair(`{"acked":{"txn":9}}`, true)
	var rs4, ws4 = statePair(`{"applied":"v2"}`, true)
	var validated = func(f func(b *pm.Response_Validated_Binding)) *pm.Response_Validated_Binding {
		var b = &pm.Response_Validated_Binding{ResourcePath: []string{"public", "widgets"}}
		f(b)
		return b
	}
	return []row{
		{name: "Spec", request: true,
			real: &pm.Request{Spec: &pm.Request_Spec{ConnectorType: pf.MaterializationSpec_LOCAL, ConfigJson: []byte(`{"image":"ghcr.io/acme/sink:v1"}`)}},
			mine: &w.Request{Spec: &w.Request_Spec{ConnectorType: w.MaterializationSpec_LOCAL, ConfigJson: []byte(`{"image":"ghcr.io/acme/sink:v1"}`)}}},
		{name: "Validate", request: true,
			real: &pm.Request{Validate: &pm.Request_Validate{
				Name: "acme/sink", ConnectorType: pf.MaterializationSpec_IMAGE, ConfigJson: []byte(`{"address":"db"}`),
				Bindings: []*pm.Request_Validate_Binding{{
					ResourceConfigJson: []byte(`{"table":"widgets"}`), Collection: rc,
					FieldConfigJsonMap: map[string]json.RawMessage{"id": []byte(`{"ddl":"BIGINT"}`)},
					Backfill:           1, GroupBy: []string{"id", "region"},
				}},
				LastMaterialization: rm, LastVersion: "v1",
			}},
			mine: &w.Request{Validate: &w.Request_Validate{
				Name: "acme/sink", ConnectorType: w.MaterializationSpec_IMAGE, ConfigJson: []byte(`{"address":"db"}`),
				Bindings: []*w.Request_Validate_Binding{{
					ResourceConfigJson: []byte(`{"table":"widgets"}`), Collection: wc,
					FieldConfigJsonMap: map[string][]byte{"id": []byte(`{"ddl":"BIGINT"}`)},
					Backfill:           1, GroupBy: []string{"id", "region"},
				}},
				LastMaterialization: wm, LastVersion: "v1",
			}}},
		{name: "Apply", request: true,
			real: &pm.Request{Apply: &pm.Request_Apply{Materialization: rm, Version: "v2", LastMaterialization: rm2, LastVersion: "v1", StateJson: []byte(`{"staged":["f1"]}`)}},
			mine: &w.Request{Apply: &w.Request_Apply{Materialization: wm, Version: "v2", LastMaterialization: wm2, LastVersion: "v1", StateJson: []byte(`{"staged":["f1"]}`)}}},
		{name: "Open", request: true,
			real: &pm.Request{Open: &pm.Request_Open{Materialization: rm, Version: "v2",
				Range: &pf.RangeSpec{KeyBegin: 0x10000000, KeyEnd: 0x7fffffff, RClockBegin: 3, RClockEnd: 0xffffffff}, StateJson: []byte(`{"cursor":"abc"}`)}},
			mine: &w.Request{Open: &w.Request_Open{Materialization: wm, Version: "v2",
				Range: &w.RangeSpec{KeyBegin: 0x10000000, KeyEnd: 0x7fffffff, RClockBegin: 3, RClockEnd: 0xffffffff}, StateJson: []byte(`{"cursor":"abc"}`)}}},
		{name: "Acknowledge", request: true,
			real: &pm.Request{Acknowledge: &pm.Request_Acknowledge{StatePatchesJson: []byte(`[{"a":1}]`)}},
			mine: &w.Request{Acknowledge: &w.Request_Acknowledge{StatePatchesJson: []byte(`[{"a":1}]`)}}},
		{name: "Acknowledge empty", request: true,
			real: &pm.Request{Acknowledge: &pm.Request_Acknowledge{}},
			mine: &w.Request{Acknowledge: &w.Request_Acknowledge{}}},
		{name: "Load packed", request: true,
			real: &pm.Request{Load: &pm.Request_Load{Binding: 3, KeyPacked: []byte{0x15, 0x2a, 0x02, 'k', 0x00}}},
			mine: &w.Request{Load: &w.Request_Load{Binding: 3, KeyPacked: []byte{0x15, 0x2a, 0x02, 'k', 0x00}}}},
		{name: "Load with JSON key", request: true,
			real: &pm.Request{Load: &pm.Request_Load{KeyJson: []byte(`[42,"k"]`), KeyPacked: []byte{0x15, 0x2a}}},
			mine: &w.Request{Load: &w.Request_Load{KeyJson: []byte(`[42,"k"]`), KeyPacked: []byte{0x15, 0x2a}}}},
		{name: "Flush", request: true,
			real: &pm.Request{Flush: &pm.Request_Flush{StatePatchesJson: []byte(`[{"b":2}]`)}},
			mine: &w.Request{Flush: &w.Request_Flush{StatePatchesJson: []byte(`[{"b":2}]`)}}},
		{name: "Store", request: true,
			real: &pm.Request{Store: &pm.Request_Store{Binding: 1, KeyJson: []byte(`[42]`), KeyPacked: []byte{0x15, 0x2a},
				ValuesJson: []byte(`["n",null]`), ValuesPacked: []byte{0x02, 'n', 0x00, 0x00}, DocJson: []byte(`{"id":42,"name":"n"}`), Exists: true, Delete: true}},
			mine: &w.Request{Store: &w.Request_Store{Binding: 1, KeyJson: []byte(`[42]`), KeyPacked: []byte{0x15, 0x2a},
				ValuesJson: []byte(`["n",null]`), ValuesPacked: []byte{0x02, 'n', 0x00, 0x00}, DocJson: []byte(`{"id":42,"name":"n"}`), Exists: true, Delete: true}}},
		{name: "StartCommit", request: true,
			real: &pm.Request{StartCommit: &pm.Request_StartCommit{RuntimeCheckpoint: rcp, StatePatchesJson: []byte(`[{"c":3}]`)}},
			mine: &w.Request{StartCommit: &w.Request_StartCommit{RuntimeCheckpoint: wcp, StatePatchesJson: []byte(`[{"c":3}]`)}}},

		{name: "Spec response",
			real: &pm.Response{Spec: &pm.Response_Spec{Protocol: 3032023, ConfigSchemaJson: []byte(`{"type":"object"}`),
				ResourceConfigSchemaJson: []byte(`{"type":"object","properties":{"table":{"x-collection-name":true}}}`), DocumentationUrl: "https://example.com/docs"}},
			mine: &w.Response{Spec: &w.Response_Spec{Protocol: 3032023, ConfigSchemaJson: []byte(`{"type":"object"}`),
				ResourceConfigSchemaJson: []byte(`{"type":"object","properties":{"table":{"x-collection-name":true}}}`), DocumentationUrl: "https://example.com/docs"}}},
		{name: "Validated 2025 constraints map",
			real: &pm.Response{Validated: &pm.Response_Validated{Bindings: []*pm.Response_Validated_Binding{validated(func(b *pm.Response_Validated_Binding) {
				b.Constraints = map[string]*pm.Response_Validated_Constraint{
					"id":   {Type: pm.Response_Validated_Constraint_LOCATION_REQUIRED, Reason: "the key"},
					"name": {Type: pm.Response_Validated_Constraint_UNSATISFIABLE, Reason: "type changed"},
					"x":    {Type: pm.Response_Validated_Constraint_FIELD_FORBIDDEN, Reason: "null only"},
				}
				b.DeltaUpdates = true
			})}}},
			mine: &w.Response{Validated: &w.Response_Validated{Bindings: []*w.Response_Validated_Binding{{
				ResourcePath: []string{"public", "widgets"},
				Constraints: map[string]*w.Response_Validated_Constraint{
					"id":   {Type: w.Response_Validated_Constraint_LOCATION_REQUIRED, Reason: "the key"},
					"name": {Type: w.Response_Validated_Constraint_UNSATISFIABLE, Reason: "type changed"},
					"x":    {Type: w.Response_Validated_Constraint_FIELD_FORBIDDEN, Reason: "null only"},
				},
				DeltaUpdates: true,
			}}}}},
		{name: "Validated 2026 projection constraints",
			real: &pm.Response{Validated: &pm.Response_Validated{Bindings: []*pm.Response_Validated_Binding{validated(func(b *pm.Response_Validated_Binding) {
				b.CaseInsensitiveFields = true
				b.SerPolicy = &pf.SerPolicy{StrTruncateAfter: 100}
				b.ProjectionConstraints = []*pm.Response_Validated_ProjectionConstraint{
					{Field: "id", Constraint: &pm.Response_Validated_Constraint{Type: pm.Response_Validated_Constraint_FIELD_REQUIRED, FoldedField: "ID"}},
					{Field: "name", Constraint: &pm.Response_Validated_Constraint{Type: pm.Response_Validated_Constraint_INCOMPATIBLE, Reason: "backfill"}},
					{Field: "name", Constraint: &pm.Response_Validated_Constraint{Type: pm.Response_Validated_Constraint_LOCATION_RECOMMENDED}},
					{Field: "region", Constraint: &pm.Response_Validated_Constraint{Type: pm.Response_Validated_Constraint_FIELD_OPTIONAL}},
				}
			})}}},
			mine: &w.Response{Validated: &w.Response_Validated{Bindings: []*w.Response_Validated_Binding{{
				ResourcePath:          []string{"public", "widgets"},
				CaseInsensitiveFields: true,
				SerPolicy:             &w.SerPolicy{StrTruncateAfter: 100},
				ProjectionConstraints: []*w.Response_Validated_ProjectionConstraint{
					{Field: "id", Constraint: &w.Response_Validated_Constraint{Type: w.Response_Validated_Constraint_FIELD_REQUIRED, FoldedField: "ID"}},
					{Field: "name", Constraint: &w.Response_Validated_Constraint{Type: w.Response_Validated_Constraint_INCOMPATIBLE, Reason: "backfill"}},
					{Field: "name", Constraint: &w.Response_Validated_Constraint{Type: w.Response_Validated_Constraint_LOCATION_RECOMMENDED}},
					{Field: "region", Constraint: &w.Response_Validated_Constraint{Type: w.Response_Validated_Constraint_FIELD_OPTIONAL}},
				},
			}}}}},
		{name: "Applied",
			real: &pm.Response{Applied: &pm.Response_Applied{ActionDescription: "CREATE TABLE widgets", State: rs4}},
			mine: &w.Response{Applied: &w.Response_Applied{ActionDescription: "CREATE TABLE widgets", State: ws4}}},
		{name: "Opened",
			real: &pm.Response{Opened: &pm.Response_Opened{RuntimeCheckpoint: rcp2, DisableLoadOptimization: true}},
			mine: &w.Response{Opened: &w.Response_Opened{RuntimeCheckpoint: wcp2, DisableLoadOptimization: true}}},
		{name: "Opened empty",
			real: &pm.Response{Opened: &pm.Response_Opened{}},
			mine: &w.Response{Opened: &w.Response_Opened{}}},
		{name: "Acknowledged",
			real: &pm.Response{Acknowledged: &pm.Response_Acknowledged{State: rs3}},
			mine: &w.Response{Acknowledged: &w.Response_Acknowledged{State: ws3}}},
		{name: "Loaded",
			real: &pm.Response{Loaded: &pm.Response_Loaded{Binding: 2, DocJson: []byte(`{"id":42,"nested":{"a":[1,2]}}`)}},
			mine: &w.Response{Loaded: &w.Response_Loaded{Binding: 2, DocJson: []byte(`{"id":42,"nested":{"a":[1,2]}}`)}}},
		{name: "Flushed",
			real: &pm.Response{Flushed: &pm.Response_Flushed{State: rs1}},
			mine: &w.Response{Flushed: &w.Response_Flushed{State: ws1}}},
		{name: "StartedCommit",
			real: &pm.Response{StartedCommit: &pm.Response_StartedCommit{State: rs2}},
			mine: &w.Response{StartedCommit: &w.Response_StartedCommit{State: ws2}}},
		{name: "StartedCommit no state",
			real: &pm.Response{StartedCommit: &pm.Response_StartedCommit{}},
			mine: &w.Response{StartedCommit: &w.Response_StartedCommit{}}},
	}
}
