package era2021

import (
	"encoding/json"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/flowsim/flowsim/protocol"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
)

// MaterializationSpec builds the 2021 MaterializationSpec of a neutral
// materialization, with the shuffles and templates a connector of that era
// dereferences (nil for nil).
func MaterializationSpec(m *protocol.Materialization) *pf.MaterializationSpec {
	if m == nil {
		return nil
	}
	var s = &pf.MaterializationSpec{
		Materialization:  pf.Materialization(m.Name),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: m.Config,
		ShardTemplate: &pc.ShardSpec{
			Id:                pc.ShardID("materialize/" + m.Name + "/00000000-00000000"),
			RecoveryLogPrefix: "recovery",
			HintPrefix:        "/estuary/flow/hints",
			HintBackups:       2,
			MaxTxnDuration:    time.Second,
		},
		RecoveryLogTemplate: JournalTemplate(pb.Journal("recovery/materialize/"+m.Name+"/00000000-00000000"),
			"application/x-gazette-recoverylog"),
	}
	for _, b := range m.Bindings {
		var coll = CollectionSpec(&b.Collection)
		s.Bindings = append(s.Bindings, &pf.MaterializationSpec_Binding{
			ResourceSpecJson: b.Resource,
			ResourcePath:     b.ResourcePath,
			Collection:       coll,
			FieldSelection: pf.FieldSelection{
				Keys: b.Fields.Keys, Values: b.Fields.Values, Document: b.Fields.Document,
				FieldConfigJson: b.Fields.FieldConfig,
			},
			DeltaUpdates: b.DeltaUpdates,
			Shuffle: pf.Shuffle{
				GroupName:        "materialize/" + m.Name + "/" + strings.Join(b.ResourcePath, "."),
				SourceCollection: coll.Collection,
				SourcePartitions: pb.LabelSelector{Include: pb.MustLabelSet("estuary.dev/collection", b.Collection.Name)},
				SourceUuidPtr:    coll.UuidPtr,
				ShuffleKeyPtr:    coll.KeyPtrs,
				UsesSourceKey:    true,
				SourceSchemaUri:  coll.SchemaUri,
				UsesSourceSchema: true,
			},
		})
	}
	return s
}

// CollectionSpec builds the 2021 CollectionSpec of a neutral collection.
func CollectionSpec(c *protocol.Collection) pf.CollectionSpec {
	var s = pf.CollectionSpec{
		Collection:        pf.Collection(c.Name),
		SchemaUri:         "file:///flowsim/" + strings.ReplaceAll(c.Name, "/", "_") + ".schema.json",
		SchemaJson:        json.RawMessage(c.Schema),
		KeyPtrs:           c.Key,
		UuidPtr:           "/_meta/uuid",
		PartitionTemplate: JournalTemplate(pb.Journal(c.Name+"/pivot=00"), "application/x-ndjson"),
		AckJsonTemplate:   json.RawMessage(`{"_meta":{"ack":true}}`),
	}
	for _, p := range c.Projections {
		var inf = pf.Inference{Types: p.Inference.Types, MustExist: p.Inference.MustExist,
			Title: p.Inference.Title, Description: p.Inference.Description}
		if p.Inference.String != nil {
			inf.String_ = &pf.Inference_String{Format: p.Inference.String.Format, MaxLength: p.Inference.String.MaxLength}
		}
		s.Projections = append(s.Projections, pf.Projection{Ptr: p.Ptr, Field: p.Field,
			IsPrimaryKey: p.IsPrimaryKey, UserProvided: p.Explicit, Inference: inf})
	}
	return s
}

// JournalTemplate is the journal template a spec of this era carries (the
// collection's partitions, the recovery log): connectors dereference it.
func JournalTemplate(name pb.Journal, contentType string) *pb.JournalSpec {
	return &pb.JournalSpec{
		Name:        name,
		Replication: 1,
		LabelSet:    pb.MustLabelSet("app.gazette.dev/message-type", "flowsim", "content-type", contentType),
		Fragment: pb.JournalSpec_Fragment{
			Length:           1 << 29,
			CompressionCodec: pb.CompressionCodec_GZIP,
			RefreshInterval:  5 * time.Minute,
			FlushInterval:    24 * time.Hour,
		},
		Flags: pb.JournalSpec_O_RDWR,
	}
}
