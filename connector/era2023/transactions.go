package era2023

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/protobuf/proto"
)

// ---- runtime checkpoints ----

// The neutral model carries a runtime checkpoint as the bytes of a marshalled
// gazette consumer.Checkpoint; the current era carries the message itself (same
// bytes on the binary wire, a JSON object on the JSON codec).

// Checkpoint decodes neutral checkpoint bytes (nil for none).
func Checkpoint(b []byte) (*w.Checkpoint, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var cp = new(w.Checkpoint)
	if err := proto.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("runtime checkpoint is not a consumer.Checkpoint: %w", err)
	}
	return cp, nil
}

// CheckpointBytes encodes a checkpoint as neutral bytes (nil for none). The
// encoding is deterministic, so equal checkpoints give equal bytes.
func CheckpointBytes(cp *w.Checkpoint) ([]byte, error) {
	if cp == nil {
		return nil, nil
	}
	var b, err = proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encoding runtime checkpoint: %w", err)
	}
	if b == nil {
		b = []byte{} // an empty checkpoint was sent: not the same as none
	}
	return b, nil
}

// SameCheckpoint says whether two neutral checkpoints mean the same. Compare
// checkpoints with it, not by bytes: a checkpoint that went through a connector
// (Opened returns what StartCommit sent) is re-encoded here, and encoders differ
// in map order and in writing empty map values (gogo, which the engine's gazette
// types use, leaves both to chance and out; this package sorts and writes them).
// A single-source checkpoint without producers keeps its bytes.
func SameCheckpoint(a, b []byte) (bool, error) {
	var ca, err = Checkpoint(a)
	if err != nil {
		return false, err
	}
	cb, err := Checkpoint(b)
	if err != nil {
		return false, err
	}
	if ca == nil || cb == nil {
		return ca == nil && cb == nil, nil
	}
	return proto.Equal(ca, cb), nil
}

// ---- the runtime's side ----

// FullRange is the key range of an Open over [begin, end] and every r-clock.
func FullRange(begin, end uint32) *w.RangeSpec {
	return &w.RangeSpec{KeyBegin: begin, KeyEnd: end, RClockBegin: 0, RClockEnd: math.MaxUint32}
}

// AppendRequests appends the wire requests of one neutral request: a Load of n
// keys is n Load messages, a Store of n documents n Store messages. Flush's
// runtime checkpoint is not sent (the current era takes it in StartCommit).
func AppendRequests(dst []*w.Request, r *protocol.Request) ([]*w.Request, error) {
	switch {
	case r.Open != nil:
		if r.Open.Version == "" {
			return dst, fmt.Errorf("Open needs a version (today's connectors reject an empty one)")
		}
		return append(dst, &w.Request{Open: &w.Request_Open{
			Materialization: Materialization(r.Open.Materialization),
			Version:         r.Open.Version,
			Range:           FullRange(r.Open.KeyBegin, r.Open.KeyEnd),
			StateJson:       r.Open.State,
		}}), nil
	case r.Acknowledge != nil:
		return append(dst, &w.Request{Acknowledge: &w.Request_Acknowledge{}}), nil
	case r.Load != nil:
		for _, k := range r.Load.Keys {
			dst = append(dst, &w.Request{Load: &w.Request_Load{Binding: r.Load.Binding, KeyPacked: k}})
		}
		return dst, nil
	case r.Flush != nil:
		return append(dst, &w.Request{Flush: &w.Request_Flush{}}), nil
	case r.Store != nil:
		for _, d := range r.Store.Docs {
			dst = append(dst, &w.Request{Store: &w.Request_Store{
				Binding: r.Store.Binding, KeyPacked: d.KeyPacked, ValuesPacked: d.ValuesPacked,
				DocJson: d.Doc, Exists: d.Exists,
			}})
		}
		return dst, nil
	case r.StartCommit != nil:
		var cp, err = Checkpoint(r.StartCommit.RuntimeCheckpoint)
		if err != nil {
			return dst, err
		}
		return append(dst, &w.Request{StartCommit: &w.Request_StartCommit{RuntimeCheckpoint: cp}}), nil
	}
	return dst, fmt.Errorf("cannot send %s", r.Name())
}

// NeutralResponse translates one transactions response. A Loaded holds one
// document. Spec, Validated or Applied in a transactions stream, an empty
// response and one with several messages are errors naming what arrived.
func NeutralResponse(r *w.Response) (*protocol.Response, error) {
	var kind = ResponseName(r)
	switch kind {
	case "Opened":
		var cp, err = CheckpointBytes(r.Opened.GetRuntimeCheckpoint())
		if err != nil {
			return nil, err
		}
		return &protocol.Response{Opened: &protocol.Opened{RuntimeCheckpoint: cp}}, nil
	case "Acknowledged":
		return &protocol.Response{Acknowledged: &protocol.Acknowledged{State: NeutralState(r.Acknowledged.GetState())}}, nil
	case "Loaded":
		if len(r.Loaded.GetDocJson()) == 0 {
			return nil, fmt.Errorf("Loaded of binding %d has no document", r.Loaded.GetBinding())
		}
		return &protocol.Response{Loaded: &protocol.Loaded{Binding: r.Loaded.GetBinding(),
			Docs: []json.RawMessage{r.Loaded.GetDocJson()}}}, nil
	case "Flushed":
		return &protocol.Response{Flushed: &protocol.Flushed{State: NeutralState(r.Flushed.GetState())}}, nil
	case "StartedCommit":
		return &protocol.Response{StartedCommit: &protocol.StartedCommit{State: NeutralState(r.StartedCommit.GetState())}}, nil
	}
	return nil, fmt.Errorf("expected a transactions response (Opened, Acknowledged, Loaded, Flushed or StartedCommit), got %s", kind)
}

// ---- the connector's side ----

// NeutralRequest translates one transactions request (Load: one key; Store: one
// document). Spec, Validate and Apply are not transactions requests: an error.
func NeutralRequest(r *w.Request) (*protocol.Request, error) {
	switch {
	case r.Open != nil:
		return &protocol.Request{Open: &protocol.Open{
			Materialization: NeutralMaterialization(r.Open.GetMaterialization()),
			Version:         r.Open.GetVersion(),
			KeyBegin:        r.Open.GetRange().GetKeyBegin(),
			KeyEnd:          r.Open.GetRange().GetKeyEnd(),
			State:           r.Open.GetStateJson(),
		}}, nil
	case r.Acknowledge != nil:
		return &protocol.Request{Acknowledge: &protocol.Acknowledge{}}, nil
	case r.Load != nil:
		return &protocol.Request{Load: &protocol.Load{Binding: r.Load.GetBinding(), Keys: [][]byte{r.Load.GetKeyPacked()}}}, nil
	case r.Flush != nil:
		return &protocol.Request{Flush: &protocol.Flush{}}, nil
	case r.Store != nil && r.Store.GetDelete():
		return nil, fmt.Errorf("Store of binding %d deletes its document: deletions are not in flowsim's protocol model", r.Store.GetBinding())
	case r.Store != nil:
		return &protocol.Request{Store: &protocol.Store{Binding: r.Store.GetBinding(), Docs: []protocol.StoredDoc{{
			KeyPacked: r.Store.GetKeyPacked(), ValuesPacked: r.Store.GetValuesPacked(),
			Doc: r.Store.GetDocJson(), Exists: r.Store.GetExists(),
		}}}}, nil
	case r.StartCommit != nil:
		var cp, err = CheckpointBytes(r.StartCommit.GetRuntimeCheckpoint())
		if err != nil {
			return nil, err
		}
		return &protocol.Request{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: cp}}, nil
	case r.Spec != nil, r.Validate != nil, r.Apply != nil:
		return nil, fmt.Errorf("expected a transactions request, got %s", requestKind(r))
	}
	return nil, fmt.Errorf("expected a transactions request, got an empty request")
}

func requestKind(r *w.Request) string {
	switch {
	case r.Spec != nil:
		return "Spec"
	case r.Validate != nil:
		return "Validate"
	case r.Apply != nil:
		return "Apply"
	}
	return "a transactions request"
}

// AppendResponses appends the wire responses of one neutral response (a Loaded of
// n documents is n Loaded messages).
func AppendResponses(dst []*w.Response, r *protocol.Response) ([]*w.Response, error) {
	switch {
	case r.Opened != nil:
		var cp, err = Checkpoint(r.Opened.RuntimeCheckpoint)
		if err != nil {
			return dst, err
		}
		return append(dst, &w.Response{Opened: &w.Response_Opened{RuntimeCheckpoint: cp}}), nil
	case r.Acknowledged != nil:
		return append(dst, &w.Response{Acknowledged: &w.Response_Acknowledged{State: State(r.Acknowledged.State)}}), nil
	case r.Loaded != nil:
		for _, d := range r.Loaded.Docs {
			dst = append(dst, &w.Response{Loaded: &w.Response_Loaded{Binding: r.Loaded.Binding, DocJson: d}})
		}
		return dst, nil
	case r.Flushed != nil:
		return append(dst, &w.Response{Flushed: &w.Response_Flushed{State: State(r.Flushed.State)}}), nil
	case r.StartedCommit != nil:
		return append(dst, &w.Response{StartedCommit: &w.Response_StartedCommit{State: State(r.StartedCommit.State)}}), nil
	}
	return dst, fmt.Errorf("cannot send %s", r.Name())
}
