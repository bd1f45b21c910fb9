// Package wire2022 holds what flowsim knows of the 2022 era's wire
// (github.com/estuary/flow/go/protocols/materialize before April 2023: the 2021
// subcommands spec, validate, apply-upsert, apply-delete and transactions, with
// TransactionRequest/TransactionResponse), and how to tell it from 2021-12.
//
// The finding (docs/protocol-wire.md has the details): the 2022 era is two
// transaction shapes under one module path.
//
//   - Until at least October 2022 the module's transactions are 2021-12's on the
//     wire: Prepare{flow_checkpoint} → Prepared{driver checkpoint}, Commit{} →
//     DriverCommitted{}, Acknowledge anywhere in a round before Prepare.
//   - From about November 2022 to April 2023: Acknowledge opens every round,
//     Flush{} → Flushed (a no-op merge patch), StartCommit{runtime_checkpoint} →
//     StartedCommit{driver_checkpoint}; a StartCommit without a runtime
//     checkpoint is rejected.
//
// The two use the same field numbers for the same places (Prepare and Flush are
// field 3, Commit and StartCommit field 5, Prepared and Flushed field 3,
// DriverCommitted and StartedCommit field 4), and Spec, Validate and Apply are
// identical but for optional fields. Nothing the connector must send before its
// first commit tells them apart for certain, so the runtime must not guess:
// it speaks the one sequence both accept (CompatibleRound) and reduces the state
// of Prepared/Flushed and then of DriverCommitted/StartedCommit. Shape then only
// labels the era in reports, from evidence that cannot be wrong.
package wire2022

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative wire2022.proto

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// CompatibleRound is the request sequence of one transaction that a connector of
// either shape accepts (and the 2021-12 module too):
//
//	Acknowledge, Load*, (wait for Acknowledged) Prepare/Flush{field 1: runtime checkpoint},
//	Store*, Commit/StartCommit{field 1: runtime checkpoint}
//
// 2021-12 reads the checkpoint in Prepare and ignores the unknown field 1 of
// Commit; the late-2022 shape ignores Flush's (deprecated) checkpoint and
// requires StartCommit's. The late-2022 loop must see Acknowledged written
// before it reads Flush: a Flush that overtakes it can make the real loop skip
// Acknowledged and then panic (its await races its load), so the runtime waits
// for Acknowledged before sending Flush, as today's runtime does.
const CompatibleRound = "Acknowledge, Load*, (Acknowledged) Flush{runtime checkpoint}, Store*, StartCommit{runtime checkpoint}"

// Shape is a transaction shape of the subcommand eras.
type Shape int

const (
	// Undecided: no evidence yet (most connectors never give any before their
	// first commit with a state update).
	Undecided Shape = iota
	// FlushShape: the late-2022 shape (Flush/StartCommit, Acknowledge first).
	FlushShape
)

func (s Shape) String() string {
	if s == FlushShape {
		return "2022 (Flush/StartCommit)"
	}
	return "2021-12 or 2022 (undecided)"
}

// Transaction response field numbers (TransactionResponse, both shapes).
const (
	respDriverCommitted = 4 // DriverCommitted{} (2021-12) = StartedCommit{driver_checkpoint = 1} (2022)
	specOAuth2          = 4 // SpecResponse.oauth2_spec: only the estuary/flow module has it
)

// ShapeOfCommitted looks at one encoded TransactionResponse. A
// DriverCommitted/StartedCommit (field 4) that carries a field 1 can only be the
// late-2022 StartedCommit{driver_checkpoint}: 2021-12's DriverCommitted is
// empty. Anything else is Undecided, never a guess.
func ShapeOfCommitted(response []byte) Shape {
	var payload, ok = field(response, respDriverCommitted, protowire.BytesType)
	if !ok {
		return Undecided
	}
	if _, has := field(payload, 1, protowire.BytesType); has {
		return FlushShape
	}
	return Undecided
}

// FromFlowModule says whether an encoded SpecResponse can only come from the
// estuary/flow module (2022 era): it carries oauth2_spec (field 4), which the
// 2021 module does not have. False proves nothing (few connectors use OAuth).
func FromFlowModule(specResponse []byte) bool {
	var _, ok = field(specResponse, specOAuth2, protowire.BytesType)
	return ok
}

// field returns the last value of a length-delimited field num of an encoded
// message (ok false when absent or when the bytes are not a valid message).
func field(b []byte, num protowire.Number, typ protowire.Type) (val []byte, ok bool) {
	for len(b) > 0 {
		var n, t, l = protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && t == typ {
			var v, m = protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false
			}
			val, ok = v, true
			b = b[m:]
			continue
		}
		var m = protowire.ConsumeFieldValue(n, t, b)
		if m < 0 {
			return nil, false
		}
		b = b[m:]
	}
	return val, ok
}
