package grpcconn

import (
	"encoding/json"
	"fmt"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/protocol"
	"google.golang.org/protobuf/encoding/protowire"
)

// A later era's connector may send state with StartedCommit (transactional) and
// Acknowledged (best effort); the 2021 messages that connector-proxy serves to the
// driver have no field for it. It travels as field 1 of DriverCommitted and of
// Acknowledged, holding a flow.DriverCheckpoint (driver_checkpoint_json = 1,
// rfc7396_merge_patch = 2): the very bytes of a 2022 connector's
// StartedCommit{driver_checkpoint = 1}, which the proxy relays as they are, so one
// rule reads both. A 2021 connector never sets the field, and a 2021 client skips it
// as an unknown field.
const stateField protowire.Number = 1

// AttachState puts u (nil: nothing) into m, a DriverCommitted or an Acknowledged.
func AttachState(m *materialize.TransactionResponse, u *protocol.StateUpdate) {
	if u == nil {
		return
	}
	var cp = pf.DriverCheckpoint{DriverCheckpointJson: u.JSON, Rfc7396MergePatch: u.MergePatch}
	var b, _ = cp.Marshal() // a DriverCheckpoint always marshals
	var field = protowire.AppendBytes(protowire.AppendTag(nil, stateField, protowire.BytesType), b)
	switch {
	case m.DriverCommitted != nil:
		m.DriverCommitted.XXX_unrecognized = append(m.DriverCommitted.XXX_unrecognized, field...)
	case m.Acknowledged != nil:
		m.Acknowledged.XXX_unrecognized = append(m.Acknowledged.XXX_unrecognized, field...)
	}
}

// TakeState returns the state carried by m, a DriverCommitted or an Acknowledged
// (nil when it carries none), and clears what m held beyond its 2021 fields.
func TakeState(m *materialize.TransactionResponse) (*protocol.StateUpdate, error) {
	var raw *[]byte
	switch {
	case m.DriverCommitted != nil:
		raw = &m.DriverCommitted.XXX_unrecognized
	case m.Acknowledged != nil:
		raw = &m.Acknowledged.XXX_unrecognized
	default:
		return nil, nil
	}
	var b = *raw
	*raw = nil
	var u *protocol.StateUpdate
	for len(b) > 0 {
		var num, typ, n = protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%s carries undecodable extra bytes: %v", kindOf(m), protowire.ParseError(n))
		}
		b = b[n:]
		if num != stateField || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, fmt.Errorf("%s carries undecodable extra bytes: %v", kindOf(m), protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		var v, n2 = protowire.ConsumeBytes(b)
		if n2 < 0 {
			return nil, fmt.Errorf("%s carries an undecodable connector state: %v", kindOf(m), protowire.ParseError(n2))
		}
		b = b[n2:]
		var cp pf.DriverCheckpoint
		if err := cp.Unmarshal(v); err != nil {
			return nil, fmt.Errorf("%s carries an undecodable connector state: %w", kindOf(m), err)
		}
		if len(cp.DriverCheckpointJson) == 0 {
			continue // no update (as over stdio)
		}
		u = &protocol.StateUpdate{JSON: json.RawMessage(cp.DriverCheckpointJson), MergePatch: cp.Rfc7396MergePatch}
	}
	return u, nil
}

func kindOf(m *materialize.TransactionResponse) string {
	if m.DriverCommitted != nil {
		return "DriverCommitted (StartedCommit)"
	}
	return "Acknowledged"
}
