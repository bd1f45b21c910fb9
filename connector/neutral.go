package connector

import (
	"context"
	"errors"
	"fmt"

	"sync"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2021"
	"github.com/flowsim/flowsim/protocol"
)

// StateSession is a Session whose connector may send state updates that the 2021
// messages the engine reads cannot carry: on StartedCommit (transactional) and on
// Acknowledged (best effort). Each DriverCommitted and each Acknowledged the
// session returned has one entry, nil when it carried no update, taken in order.
type StateSession interface {
	Session
	// CommittedState is the update of the next DriverCommitted not yet taken.
	CommittedState() *protocol.StateUpdate
	// AcknowledgedState is the update of the next Acknowledged not yet taken.
	AcknowledgedState() *protocol.StateUpdate
}

// Bridge is a Connector over a connector of a later era driven in the neutral model: the engine's 2021 messages are
// translated to the neutral model (connector/era2021) and back, so that a
// connector of any era is driven by the same engine with the same checks.
func Bridge(n protocol.Client, info func() Info, close func() error) Connector {
	return &bridge{n: n, info: info, close: close}
}

type bridge struct {
	n     protocol.Client
	info  func() Info
	close func() error

	mu          sync.Mutex
	last        *pf.MaterializationSpec
	lastVersion string
}

func (b *bridge) Info() Info { return b.info() }

func (b *bridge) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}

func (b *bridge) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	var r, err = b.n.Spec(ctx, era2021.SpecRequest(req))
	if err != nil {
		return nil, err
	}
	return era2021.SpecResponse(r), nil
}

func (b *bridge) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	b.mu.Lock()
	var last = b.last
	b.mu.Unlock()
	var r, err = b.n.Validate(ctx, era2021.ValidateRequest(req, last))
	if err != nil {
		return nil, err
	}
	return era2021.ValidateResponse(r)
}

func (b *bridge) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	if req.DryRun {
		return nil, errors.New("flowsim asked for a dry-run apply, which this protocol era does not have")
	}
	b.mu.Lock()
	var last, lastVersion = b.last, b.lastVersion
	b.mu.Unlock()
	var r, err = b.n.Apply(ctx, era2021.ApplyRequest(req, last, lastVersion))
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.last, b.lastVersion = req.Materialization, req.Version
	b.mu.Unlock()
	return era2021.ApplyResponse(r), nil
}

func (b *bridge) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return nil, fmt.Errorf("protocol %s: %w", b.info().Protocol, ErrNoApplyDelete)
}

func (b *bridge) Transactions(ctx context.Context) (Session, error) {
	var s, err = b.n.Transactions(ctx)
	if err != nil {
		return nil, err
	}
	return &bridgeSession{s: s}, nil
}

// bridgeSession translates one transactions stream. Prepare's checkpoint is the
// one StartCommit carries in the later eras: it is kept from Prepare to Commit.
type bridgeSession struct {
	s protocol.Session

	smu        sync.Mutex
	checkpoint []byte

	qmu       sync.Mutex
	committed []*protocol.StateUpdate
	acked     []*protocol.StateUpdate
}

var _ StateSession = (*bridgeSession)(nil)

func (s *bridgeSession) Send(m *materialize.TransactionRequest) error {
	var r = new(protocol.Request)
	switch {
	case m.Open != nil:
		r.Open = era2021.Open(m.Open)
	case m.Acknowledge != nil:
		r.Acknowledge = &protocol.Acknowledge{}
	case m.Load != nil:
		r.Load = era2021.Load(m.Load)
	case m.Prepare != nil:
		s.smu.Lock()
		s.checkpoint = append(s.checkpoint[:0], m.Prepare.FlowCheckpoint...)
		s.smu.Unlock()
		r.Flush = &protocol.Flush{RuntimeCheckpoint: m.Prepare.FlowCheckpoint}
	case m.Store != nil:
		r.Store = era2021.Store(m.Store)
	case m.Commit != nil:
		s.smu.Lock()
		var cp = append([]byte(nil), s.checkpoint...)
		s.smu.Unlock()
		if len(cp) == 0 {
			return errors.New("flowsim sent Commit without a Prepare: no runtime checkpoint to start the commit with")
		}
		r.StartCommit = &protocol.StartCommit{RuntimeCheckpoint: cp}
	default:
		return errors.New("flowsim built an empty transactions request")
	}
	return s.s.Send(r)
}

func (s *bridgeSession) Recv() (*materialize.TransactionResponse, error) {
	var r, err = s.s.Recv()
	if err != nil {
		return nil, err
	}
	switch {
	case r.Opened != nil:
		return &materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{FlowCheckpoint: r.Opened.RuntimeCheckpoint}}, nil
	case r.Acknowledged != nil:
		s.qmu.Lock()
		s.acked = append(s.acked, r.Acknowledged.State)
		s.qmu.Unlock()
		return &materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{}}, nil
	case r.Loaded != nil:
		return &materialize.TransactionResponse{Loaded: era2021.Loaded(r.Loaded)}, nil
	case r.Flushed != nil:
		return &materialize.TransactionResponse{Prepared: era2021.DriverCheckpoint(r.Flushed.State)}, nil
	case r.StartedCommit != nil:
		s.qmu.Lock()
		s.committed = append(s.committed, r.StartedCommit.State)
		s.qmu.Unlock()
		return &materialize.TransactionResponse{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{}}, nil
	}
	return nil, fmt.Errorf("the connector sent %s, which is not a transactions response", r.Name())
}

func (s *bridgeSession) CommittedState() *protocol.StateUpdate { return s.pop(&s.committed) }

func (s *bridgeSession) AcknowledgedState() *protocol.StateUpdate { return s.pop(&s.acked) }

func (s *bridgeSession) pop(q *[]*protocol.StateUpdate) *protocol.StateUpdate {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(*q) == 0 {
		return nil
	}
	var u = (*q)[0]
	*q = (*q)[1:]
	return u
}

func (s *bridgeSession) CloseSend() error { return s.s.CloseSend() }

func (s *bridgeSession) Kill() error { return s.s.Kill() }
