// Package era2022 translates between flowsim's era-neutral protocol model
// (package protocol) and the transactions messages of the subcommand eras
// (protocol/wire2022), which serve the 2021-12 and the 2022 era alike: the runtime
// sends the compatible round (wire2022.CompatibleRound) and reads either shape's
// answers. Pure translation, no I/O.
//
// The mapping, for both eras at once:
//
//	neutral Open{State}          → Open{driver_checkpoint_json}; the spec is the
//	                               era's encoded flow.MaterializationSpec, given by
//	                               the caller (built with the 2021 module's types)
//	neutral Flush{checkpoint}    → Prepare/Flush{runtime checkpoint}
//	neutral StartCommit{cp}      → Commit/StartCommit{runtime checkpoint}
//	Prepared/Flushed{state}      → neutral Flushed{State} (2021-12: the transactional
//	                               driver checkpoint; 2022: a no-op merge patch)
//	DriverCommitted/StartedCommit → neutral StartedCommit{State} (2022 only carries one)
//	Opened{checkpoint}           → neutral Opened{RuntimeCheckpoint}
//
// The runtime must wait for Acknowledged before sending Flush (the 2022 loop races
// the two otherwise; see docs/protocol-wire.md).
package era2022

import (
	"encoding/json"
	"fmt"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2022"
)

// AppendRequests appends the wire request of one neutral request. spec is the
// encoded flow.MaterializationSpec for an Open (ignored otherwise). Keys,
// values and documents of one Load or Store share one arena.
func AppendRequests(dst []*w.TransactionRequest, r *protocol.Request, spec []byte) ([]*w.TransactionRequest, error) {
	switch {
	case r.Open != nil:
		if len(spec) == 0 {
			return dst, fmt.Errorf("Open needs the encoded MaterializationSpec")
		}
		if r.Open.Version == "" {
			return dst, fmt.Errorf("Open needs a version (connectors of this era reject an empty one)")
		}
		return append(dst, &w.TransactionRequest{Open: &w.TransactionRequest_Open{
			Materialization: spec, Version: r.Open.Version, KeyBegin: r.Open.KeyBegin, KeyEnd: r.Open.KeyEnd,
			DriverCheckpointJson: r.Open.State,
		}}), nil
	case r.Acknowledge != nil:
		return append(dst, &w.TransactionRequest{Acknowledge: &w.TransactionRequest_Acknowledge{}}), nil
	case r.Load != nil:
		if len(r.Load.Keys) == 0 {
			return dst, nil // an empty Load is a protocol error in these eras
		}
		var l = &w.TransactionRequest_Load{Binding: r.Load.Binding}
		for _, k := range r.Load.Keys {
			l.PackedKeys = append(l.PackedKeys, appendSlice(&l.Arena, k))
		}
		return append(dst, &w.TransactionRequest{Load: l}), nil
	case r.Flush != nil:
		return append(dst, &w.TransactionRequest{Flush: &w.TransactionRequest_Flush{RuntimeCheckpoint: r.Flush.RuntimeCheckpoint}}), nil
	case r.Store != nil:
		if len(r.Store.Docs) == 0 {
			return dst, nil
		}
		var s = &w.TransactionRequest_Store{Binding: r.Store.Binding}
		for _, d := range r.Store.Docs {
			s.PackedKeys = append(s.PackedKeys, appendSlice(&s.Arena, d.KeyPacked))
			s.PackedValues = append(s.PackedValues, appendSlice(&s.Arena, d.ValuesPacked))
			s.DocsJson = append(s.DocsJson, appendSlice(&s.Arena, d.Doc))
			s.Exists = append(s.Exists, d.Exists)
		}
		return append(dst, &w.TransactionRequest{Store: s}), nil
	case r.StartCommit != nil:
		if len(r.StartCommit.RuntimeCheckpoint) == 0 {
			return dst, fmt.Errorf("StartCommit needs a runtime checkpoint (the 2022 shape rejects an empty one)")
		}
		return append(dst, &w.TransactionRequest{StartCommit: &w.TransactionRequest_StartCommit{RuntimeCheckpoint: r.StartCommit.RuntimeCheckpoint}}), nil
	}
	return dst, fmt.Errorf("cannot send %s", r.Name())
}

func appendSlice(arena *[]byte, b []byte) *w.Slice {
	var s = &w.Slice{Begin: uint32(len(*arena)), End: uint32(len(*arena) + len(b))}
	*arena = append(*arena, b...)
	return s
}

func arenaBytes(arena []byte, s *w.Slice) ([]byte, error) {
	if s.GetBegin() > s.GetEnd() || int(s.GetEnd()) > len(arena) {
		return nil, fmt.Errorf("slice [%d, %d) is outside its arena of %d bytes", s.GetBegin(), s.GetEnd(), len(arena))
	}
	return arena[s.GetBegin():s.GetEnd()], nil
}

func state(c *w.DriverCheckpoint) *protocol.StateUpdate {
	if c == nil {
		return nil
	}
	return &protocol.StateUpdate{JSON: c.GetDriverCheckpointJson(), MergePatch: c.GetRfc7396MergePatch()}
}

// NeutralResponse translates one transactions response of either shape.
func NeutralResponse(r *w.TransactionResponse) (*protocol.Response, error) {
	var n = 0
	for _, set := range []bool{r.Opened != nil, r.Loaded != nil, r.Flushed != nil, r.StartedCommit != nil, r.Acknowledged != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("expected one transactions response, got a response with %d messages", n)
	}
	switch {
	case r.Opened != nil:
		return &protocol.Response{Opened: &protocol.Opened{RuntimeCheckpoint: r.Opened.GetRuntimeCheckpoint()}}, nil
	case r.Acknowledged != nil:
		return &protocol.Response{Acknowledged: &protocol.Acknowledged{}}, nil
	case r.Loaded != nil:
		var l = &protocol.Loaded{Binding: r.Loaded.GetBinding()}
		for i, s := range r.Loaded.GetDocsJson() {
			var b, err = arenaBytes(r.Loaded.GetArena(), s)
			if err != nil {
				return nil, fmt.Errorf("Loaded document %d: %w", i, err)
			}
			l.Docs = append(l.Docs, json.RawMessage(b))
		}
		if len(l.Docs) == 0 {
			return nil, fmt.Errorf("Loaded of binding %d has no documents", l.Binding)
		}
		return &protocol.Response{Loaded: l}, nil
	case r.Flushed != nil:
		return &protocol.Response{Flushed: &protocol.Flushed{State: state(r.Flushed)}}, nil
	}
	return &protocol.Response{StartedCommit: &protocol.StartedCommit{State: state(r.StartedCommit.GetDriverCheckpoint())}}, nil
}

// Shape labels the connector's transaction shape from one encoded response
// (wire2022.ShapeOfCommitted): only evidence that cannot be wrong moves it.
func Shape(prev w.Shape, encodedResponse []byte) w.Shape {
	if prev == w.FlushShape {
		return prev
	}
	return w.ShapeOfCommitted(encodedResponse)
}
