package era2021

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/protocol"
	"google.golang.org/grpc/metadata"
)

// Server gives a 2021 DriverServer (flowsim's reference connector, the PostgreSQL
// example) the neutral face, so that connector/era2023 serves it as a connector
// of today's era: one implementation, driven through every era.
//
// Later eras carry the runtime checkpoint in StartCommit, not in Flush (2021's
// Prepare): the Prepare handed to the driver carries a placeholder until
// StartCommit arrives, then the real checkpoint. A driver served this way must
// read Prepare's checkpoint when it commits, as flowsim's own drivers do.
func Server(d pm.DriverServer) protocol.Server { return server{d: d} }

// ServerKeepingState is Server whose connector also keeps state in the runtime,
// as many of today's connectors do: every StartedCommit carries the merge patch
// {"commits":N} and every Acknowledged {"acks":N}, counting on from the state Open
// carried (the Flushed state, the 2021 driver checkpoint, becomes a merge patch so
// that neither wipes the other). Each Open's state is written to openLog as one
// line ("{}" when it carried none): a test reads them to see that the runtime —
// flowsim, through whatever transport — handed back the state the connector sent.
func ServerKeepingState(d pm.DriverServer, openLog io.Writer) protocol.Server {
	return server{d: d, keep: &stateLog{w: openLog}}
}

type server struct {
	d    pm.DriverServer
	keep *stateLog // nil: no state of its own
}

// stateLog is where ServerKeepingState writes the state of each Open.
type stateLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *stateLog) write(state json.RawMessage) error {
	if len(state) == 0 {
		state = json.RawMessage("{}")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.w, "%s\n", state)
	return err
}

// counters is the state ServerKeepingState keeps in the runtime.
type counters struct {
	Commits int64 `json:"commits"`
	Acks    int64 `json:"acks"`
}

func patch(v any) *protocol.StateUpdate {
	var b, _ = json.Marshal(v)
	return &protocol.StateUpdate{JSON: b, MergePatch: true}
}

func (s server) Spec(ctx context.Context, r *protocol.SpecRequest) (*protocol.SpecResponse, error) {
	var resp, err = s.d.Spec(ctx, &pm.SpecRequest{EndpointType: pf.EndpointType_FLOW_SINK, EndpointSpecJson: r.Config})
	if err != nil {
		return nil, err
	}
	return &protocol.SpecResponse{
		EndpointSchema:   json.RawMessage(resp.EndpointSpecSchemaJson),
		ResourceSchema:   json.RawMessage(resp.ResourceSpecSchemaJson),
		DocumentationURL: resp.DocumentationUrl,
	}, nil
}

func (s server) Validate(ctx context.Context, r *protocol.ValidateRequest) (*protocol.ValidateResponse, error) {
	var req = &pm.ValidateRequest{
		Materialization:  pf.Materialization(r.Name),
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: r.Config,
	}
	for _, b := range r.Bindings {
		req.Bindings = append(req.Bindings, &pm.ValidateRequest_Binding{
			ResourceSpecJson: b.Resource,
			Collection:       CollectionSpec(&b.Collection),
			FieldConfigJson:  b.FieldConfig,
		})
	}
	var resp, err = s.d.Validate(ctx, req)
	if err != nil {
		return nil, err
	}
	var out = new(protocol.ValidateResponse)
	for _, b := range resp.Bindings {
		var nb = &protocol.ValidatedBinding{Constraints: map[string]protocol.Constraint{},
			DeltaUpdates: b.DeltaUpdates, ResourcePath: b.ResourcePath}
		for f, c := range b.Constraints {
			var t, ok = constraintOf2021[c.Type]
			if !ok {
				return nil, fmt.Errorf("field %q: unknown constraint %d", f, c.Type)
			}
			nb.Constraints[f] = protocol.Constraint{Type: t, Reason: c.Reason}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	return out, nil
}

func (s server) Apply(ctx context.Context, r *protocol.ApplyRequest) (*protocol.ApplyResponse, error) {
	var resp, err = s.d.ApplyUpsert(ctx, &pm.ApplyRequest{Materialization: MaterializationSpec(r.Materialization), Version: r.Version, DryRun: r.DryRun})
	if err != nil {
		return nil, err
	}
	return &protocol.ApplyResponse{ActionDescription: resp.ActionDescription}, nil
}

func (s server) Transactions(st protocol.TransactionsStream) error {
	return s.d.Transactions(&txnServer{st: st, keep: s.keep})
}

// placeholder is Prepare's checkpoint until StartCommit brings the real one.
var placeholder = []byte{0}

// txnServer is the 2021 driver's side of a neutral transactions stream.
type txnServer struct {
	st      protocol.TransactionsStream
	prepare *pm.TransactionRequest_Prepare
	keep    *stateLog
	count   counters
}

var _ pm.Driver_TransactionsServer = (*txnServer)(nil)

func (t *txnServer) Recv() (*pm.TransactionRequest, error) {
	var r, err = t.st.Recv()
	if err != nil {
		return nil, err
	}
	switch {
	case r.Open != nil:
		if t.keep != nil {
			if err := t.keep.write(r.Open.State); err != nil {
				return nil, fmt.Errorf("writing the log of Open states: %w", err)
			}
			if len(r.Open.State) != 0 {
				if err := json.Unmarshal(r.Open.State, &t.count); err != nil {
					return nil, fmt.Errorf("Open.state is not the state this connector keeps: %w", err)
				}
			}
		}
		return &pm.TransactionRequest{Open: &pm.TransactionRequest_Open{
			Materialization:      MaterializationSpec(r.Open.Materialization),
			Version:              r.Open.Version,
			KeyBegin:             r.Open.KeyBegin,
			KeyEnd:               r.Open.KeyEnd,
			DriverCheckpointJson: r.Open.State,
		}}, nil
	case r.Acknowledge != nil:
		return &pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}}, nil
	case r.Load != nil:
		var l = &pm.TransactionRequest_Load{Binding: r.Load.Binding}
		for _, k := range r.Load.Keys {
			l.PackedKeys = append(l.PackedKeys, l.Arena.Add(k))
		}
		return &pm.TransactionRequest{Load: l}, nil
	case r.Flush != nil:
		var cp = r.Flush.RuntimeCheckpoint
		if len(cp) == 0 {
			cp = placeholder
		}
		t.prepare = &pm.TransactionRequest_Prepare{FlowCheckpoint: cp}
		return &pm.TransactionRequest{Prepare: t.prepare}, nil
	case r.Store != nil:
		var s = &pm.TransactionRequest_Store{Binding: r.Store.Binding}
		for _, d := range r.Store.Docs {
			s.PackedKeys = append(s.PackedKeys, s.Arena.Add(d.KeyPacked))
			s.PackedValues = append(s.PackedValues, s.Arena.Add(d.ValuesPacked))
			s.DocsJson = append(s.DocsJson, s.Arena.Add(d.Doc))
			s.Exists = append(s.Exists, d.Exists)
		}
		return &pm.TransactionRequest{Store: s}, nil
	case r.StartCommit != nil:
		if t.prepare == nil {
			return nil, errors.New("protocol error: StartCommit before Flush")
		}
		t.prepare.FlowCheckpoint = r.StartCommit.RuntimeCheckpoint
		t.prepare = nil
		return &pm.TransactionRequest{Commit: &pm.TransactionRequest_Commit{}}, nil
	}
	return nil, fmt.Errorf("protocol error: unexpected %s", r.Name())
}

func (t *txnServer) Send(m *pm.TransactionResponse) error {
	var r = new(protocol.Response)
	switch {
	case m.Opened != nil:
		r.Opened = &protocol.Opened{RuntimeCheckpoint: m.Opened.FlowCheckpoint}
	case m.Acknowledged != nil:
		r.Acknowledged = &protocol.Acknowledged{}
		if t.keep != nil {
			t.count.Acks++
			r.Acknowledged.State = patch(map[string]int64{"acks": t.count.Acks})
		}
	case m.Loaded != nil:
		var l = &protocol.Loaded{Binding: m.Loaded.Binding}
		for _, d := range m.Loaded.DocsJson {
			l.Docs = append(l.Docs, json.RawMessage(m.Loaded.Arena.Bytes(d)))
		}
		r.Loaded = l
	case m.Prepared != nil:
		var u *protocol.StateUpdate
		if len(m.Prepared.DriverCheckpointJson) > 0 {
			u = &protocol.StateUpdate{JSON: json.RawMessage(m.Prepared.DriverCheckpointJson), MergePatch: m.Prepared.Rfc7396MergePatch}
		}
		if u != nil && t.keep != nil {
			u.MergePatch = true
		}
		r.Flushed = &protocol.Flushed{State: u}
	case m.DriverCommitted != nil:
		r.StartedCommit = &protocol.StartedCommit{}
		if t.keep != nil {
			t.count.Commits++
			r.StartedCommit.State = patch(map[string]int64{"commits": t.count.Commits})
		}
	default:
		return errors.New("the driver sent an empty transactions response")
	}
	return t.st.Send(r)
}

func (t *txnServer) Context() context.Context     { return t.st.Context() }
func (t *txnServer) SetHeader(metadata.MD) error  { return nil }
func (t *txnServer) SendHeader(metadata.MD) error { return nil }
func (t *txnServer) SetTrailer(metadata.MD)       {}
func (t *txnServer) SendMsg(m any) error {
	var r, ok = m.(*pm.TransactionResponse)
	if !ok {
		return fmt.Errorf("unexpected %T", m)
	}
	return t.Send(r)
}
func (t *txnServer) RecvMsg(m any) error {
	var r, ok = m.(*pm.TransactionRequest)
	if !ok {
		return fmt.Errorf("unexpected %T", m)
	}
	var got, err = t.Recv()
	if err != nil {
		return err
	}
	*r = *got
	return nil
}
