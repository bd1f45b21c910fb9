package wire2022

import "google.golang.org/protobuf/encoding/protowire"

// Inference.exists (field 8 of flow.Inference, from April 2022) replaced 2021's
// must_exist (field 2): a 2022 connector reads existence only from exists, and a
// spec built with the 2021 module's types sets only must_exist, so the 2022
// connector sees exists INVALID (neither MUST nor MAY).

// Inference.Exists values.
const (
	ExistsMust = 1
	ExistsMay  = 2
)

// InferenceExists is the encoded exists field for a location that must (or may)
// exist. Appended to a 2021 flow.Inference's XXX_unrecognized, it is written after
// the known fields, so one spec serves both eras: 2021 connectors skip field 8,
// 2022 connectors read it.
func InferenceExists(mustExist bool) []byte {
	var v uint64 = ExistsMay
	if mustExist {
		v = ExistsMust
	}
	return protowire.AppendVarint(protowire.AppendTag(nil, 8, protowire.VarintType), v)
}
