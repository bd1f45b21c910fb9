package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/flowsim/flowsim/protocol"
	"io"
	"sync"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	pb "go.gazette.dev/core/broker/protocol"
	pc "go.gazette.dev/core/consumer/protocol"
)

// respQueue is an unbounded queue of responses, fed by one goroutine reading the
// stream, so that a connector writing many Loaded never blocks on the engine while
// the engine blocks on sending it Loads.
type respQueue struct {
	mu     sync.Mutex
	items  []recvd
	signal chan struct{}
}

type recvd struct {
	m   *materialize.TransactionResponse
	err error // io.EOF on a clean close
}

func (q *respQueue) push(r recvd) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *respQueue) pop() (recvd, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return recvd{}, false
	}
	var r = q.items[0]
	q.items[0] = recvd{}
	q.items = q.items[1:]
	return r, true
}

// stream drives one Transactions RPC and checks every message the connector sends
// against the protocol's ordering rules.
type stream struct {
	name   string // "stream", "stream A" …: used in messages
	client connector.Session
	cancel context.CancelFunc
	q      *respQueue
	// recvDone is closed when the RPC has ended (Recv returned an error or EOF).
	recvDone chan struct{}
	timeout  time.Duration
	delta    bool
	// pipelines: the connector's protocol lets Loads go out before the previous
	// commit was confirmed, and Acknowledge anywhere among them (the 2021 eras);
	// later eras take Acknowledge first, after the previous commit.
	pipelines bool
	// asyncCommits: the connector itself speaks an era after 2021 (through
	// connector-proxy too: Info.Spoken), where StartedCommit only starts a commit.
	// acks counts Acknowledged, commits DriverCommitted: there the k-th commit is
	// confirmed by the (k+1)-th Acknowledged (the first answers the Open).
	asyncCommits  bool
	acks, commits int
	// states carries the state updates of a later era's StartedCommit and
	// Acknowledged, which the 2021 messages cannot (nil for the 2021 eras).
	states connector.StateSession

	// Protocol state. rx is what matsim may receive next (as the runtime's
	// transaction client tracks it); the send-side facts of the current
	// transaction say which answers matsim asked for.
	rx          rxState
	round       int  // transaction number, from 1
	ackSent     bool // Acknowledge sent in this transaction
	loadsSent   int  // Load requests sent in this transaction
	prepareSent bool
	closed      error
	bindings    int // of the materialization the stream opened

	// judge receives the Loaded documents of the current transaction: the oracle of
	// each binding and the findings they add to (set by the transaction that sends
	// Loads; nil before).
	judge *loadJudge
	// committing is the transaction whose Commit was sent: when its DriverCommitted
	// arrives, check calls its driverCommitted (txn.go), which applies its stores to
	// the oracle of each binding.
	committing *txn
	// checkpoint is the driver checkpoint as the runtime's recovery log would hold it.
	driverCP pf.DriverCheckpoint
	// pendingCP is the driver checkpoint of the transaction being committed.
	pendingCP *pf.DriverCheckpoint

	// Counters.
	loadedDocs int64
}

// openStream starts a Transactions RPC and exchanges Open/Opened.
func openStream(ctx context.Context, conn connector.Connector, name string, open *materialize.TransactionRequest_Open, timeout time.Duration, delta bool) (*stream, []byte, error) {
	var sctx, cancel = context.WithCancel(ctx)
	var client, err = conn.Transactions(sctx)
	if err != nil {
		cancel()
		return nil, nil, failf(CheckConnectorError, name+" open", "starting the Transactions RPC: %v", err)
	}
	var s = &stream{
		name: name, client: client, cancel: cancel, timeout: timeout, delta: delta,
		bindings:  len(open.Materialization.Bindings),
		pipelines: conn.Info().Protocol.Pipelines(),
		// The 2021 eras (what Pipelines names) hold DriverCommitted durable.
		asyncCommits: !conn.Info().Spoken().Pipelines(),
		q:            &respQueue{signal: make(chan struct{}, 1)}, recvDone: make(chan struct{}),
	}
	s.states, _ = client.(connector.StateSession)
	go func() {
		defer close(s.recvDone)
		for {
			var m, err = client.Recv()
			if err != nil {
				s.q.push(recvd{err: err})
				return
			}
			s.q.push(recvd{m: m})
		}
	}()

	if err := s.send(&materialize.TransactionRequest{Open: open}, "Open"); err != nil {
		s.abort()
		return nil, nil, err
	}
	var m *materialize.TransactionResponse
	if m, err = s.next("Opened", "Open"); err != nil {
		s.abort()
		return nil, nil, err
	}
	if m.Opened == nil {
		s.abort()
		return nil, nil, failf(CheckProtocolOrder, name+" open", "the connector answered Open with %s; the first message must be Opened", kind(m))
	}
	s.round = 1
	return s, m.Opened.FlowCheckpoint, nil
}

// abort ends the session without a clean close, as a crash of the runtime does,
// and returns once the connector side has stopped (Session.Kill), so that nothing of
// a failed or finished stream outlives it. A connector side that could not be
// confirmed stopped is returned as a connector.error.
func (s *stream) abort() error {
	defer s.cancel()
	if err := s.client.Kill(); err != nil {
		return failf(CheckConnectorError, s.phase(), "stopping the stream: %v", err)
	}
	return nil
}

// crash ends the session abruptly, as a runtime process dying does. Like abort it
// returns once the connector side has stopped, so that whatever the connector does
// with the requests it already received happens before a restart.
func (s *stream) crash() error { return s.abort() }

func (s *stream) phase() string { return fmt.Sprintf("%s, transaction %d", s.name, s.round) }

// send transmits a request. When the connector already closed the stream, the
// error it closed with is returned instead of a bare EOF.
func (s *stream) send(req *materialize.TransactionRequest, what string) error {
	if s.closed != nil {
		return s.closed
	}
	// A connector that stops reading its requests blocks Send once the transport's
	// buffers are full (a stdin pipe, gRPC flow control, an in-process channel):
	// that wait is bounded by the call timeout too. Kill unblocks Send on every
	// transport; a Send that only returned at the deadline counts as stalled.
	var killed = make(chan struct{})
	var watchdog = time.AfterFunc(max(s.timeout, time.Millisecond), func() {
		defer close(killed)
		_ = s.client.Kill()
	})
	var err = s.client.Send(req)
	if !watchdog.Stop() {
		<-killed
		s.closed = failf(CheckTimeout, s.phase(), "the connector did not take %s within %s: it stopped reading its requests, so matsim stopped it", what, s.timeout)
		return s.closed
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The real error comes from Recv.
			for {
				var r, ok = s.waitItem(s.timeout)
				if !ok {
					break
				}
				if r.err != nil {
					s.closed = s.connectorError(r.err, "sending "+what)
					return s.closed
				}
			}
		}
		s.closed = failf(CheckConnectorError, s.phase(), "sending %s: %v", what, err)
		return s.closed
	}
	switch {
	case req.Acknowledge != nil:
		s.ackSent = true
	case req.Load != nil:
		s.loadsSent++
	case req.Prepare != nil:
		s.prepareSent = true
	case req.Commit != nil:
		s.rx = rxAwaitCommitted
	}
	return nil
}

func (s *stream) waitItem(timeout time.Duration) (recvd, bool) {
	var timer = time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if r, ok := s.q.pop(); ok {
			return r, true
		}
		select {
		case <-s.q.signal:
		case <-timer.C:
			return recvd{}, false
		}
	}
}

func (s *stream) connectorError(err error, while string) *Failure {
	if errors.Is(err, io.EOF) {
		return failf(CheckConnectorError, s.phase(), "the connector closed the stream while %s", while)
	}
	if errors.Is(err, context.Canceled) {
		return failf(CheckConnectorError, s.phase(), "the stream was cancelled while %s", while)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The transport's own deadline (e.g. connector-proxy's --call-timeout) ran out
		// before matsim's: the same fault as matsim's timer firing, the same check.
		return failf(CheckTimeout, s.phase(), "the connector did not answer while %s: its transport's deadline ran out first: %v", while, err)
	}
	return failf(CheckConnectorError, s.phase(), "the connector failed while %s: %v", while, err)
}

// next receives the next message, waiting at most the call timeout, and checks it
// against Validate() and the ordering rules.
func (s *stream) next(waitingFor, answering string) (*materialize.TransactionResponse, error) {
	if s.closed != nil {
		return nil, s.closed
	}
	var r, ok = s.waitItem(s.timeout)
	if !ok {
		s.closed = failf(CheckTimeout, s.phase(), "the connector did not answer %s within %s (waiting for %s)", answering, s.timeout, waitingFor)
		return nil, s.closed
	}
	if r.err != nil {
		s.closed = s.connectorError(r.err, "matsim waited for "+waitingFor)
		return nil, s.closed
	}
	if err := s.check(r.m); err != nil {
		s.closed = err
		return nil, err
	}
	return r.m, nil
}

// poll returns a message that already arrived, if any, checking it like next.
func (s *stream) poll() (*materialize.TransactionResponse, error) {
	var r, ok = s.q.pop()
	if !ok {
		return nil, nil
	}
	if r.err != nil {
		s.closed = s.connectorError(r.err, "matsim was sending requests")
		return nil, s.closed
	}
	if err := s.check(r.m); err != nil {
		s.closed = err
		return nil, err
	}
	return r.m, nil
}

func kind(m *materialize.TransactionResponse) string {
	switch {
	case m.Opened != nil:
		return "Opened"
	case m.Loaded != nil:
		return "Loaded"
	case m.Prepared != nil:
		return "Prepared"
	case m.DriverCommitted != nil:
		return "DriverCommitted"
	case m.Acknowledged != nil:
		return "Acknowledged"
	}
	return "an empty message"
}

// rxState is what the engine may receive next on a stream, named after the states
// of the runtime's own transaction client. Every message the connector sends is
// checked against it, and a message the state does not allow names the state:
//
//	awaitOpened --Opened--> awaitAcknowledged --Acknowledged--> acknowledged
//	  --Prepared--> prepared --(matsim sends Commit)--> awaitCommitted
//	  --DriverCommitted--> awaitAcknowledged (the next transaction)
type rxState int

const (
	// Open was sent: Opened is the only answer.
	rxAwaitOpened rxState = iota
	// The previous transaction committed (or the stream just opened): Acknowledged
	// (once matsim sent Acknowledge) and Loaded (once it sent Load) may come.
	rxAwaitAcknowledged
	// Acknowledged arrived: Loaded and, once matsim sent Prepare, Prepared may come.
	rxAcknowledged
	// Prepared arrived: matsim sends Stores and Commit; nothing may come.
	rxPrepared
	// Commit was sent: DriverCommitted must come next (matsim may already send the
	// next transaction's Loads).
	rxAwaitCommitted
)

func (st rxState) String() string {
	switch st {
	case rxAwaitOpened:
		return "awaitOpened"
	case rxAwaitAcknowledged:
		return "awaitAcknowledged"
	case rxAcknowledged:
		return "acknowledged"
	case rxPrepared:
		return "prepared"
	case rxAwaitCommitted:
		return "awaitCommitted"
	}
	return fmt.Sprintf("rxState(%d)", int(st))
}

// orderf is a protocol-order failure of message m, naming the state it came in.
func (s *stream) orderf(check Check, m *materialize.TransactionResponse, format string, args ...interface{}) *Failure {
	var f = failf(check, s.phase(), format, args...)
	f.Message = fmt.Sprintf("got %s while in state <%s>: %s", kind(m), s.rx, f.Message)
	return f
}

// acknowledged reports whether this transaction's Acknowledged arrived.
func (s *stream) acknowledged() bool { return s.rx == rxAcknowledged || s.rx == rxPrepared }

// prepared reports whether this transaction's Prepared arrived.
func (s *stream) prepared() bool { return s.rx == rxPrepared }

// commitPending reports whether a Commit awaits its DriverCommitted.
func (s *stream) commitPending() bool { return s.rx == rxAwaitCommitted }

// loadJudge is where the Loaded documents of one transaction go: for each binding
// of the materialization, the oracle of what it holds and the findings of this
// transaction on it. The oracle of a binding the transaction loads nothing from
// has no requested key, so a Loaded document of that binding is load.unrequested.
type loadJudge struct {
	oracles  []*oracle
	findings []*findings
}

// missing judges, once Prepared arrived, what the transaction's Loaded documents
// lacked, and returns the findings of every binding in binding order, the most
// severe of each binding first.
func (j *loadJudge) missing() []*Failure {
	var out []*Failure
	for k, o := range j.oracles {
		o.judgeMissing(j.findings[k])
		out = append(out, j.findings[k].list()...)
	}
	return out
}

// check applies Validate() and the protocol state to a received message and moves
// the state on. A Loaded document goes to the oracle of its binding (s.judge); a
// DriverCommitted commits s.committing.
func (s *stream) check(m *materialize.TransactionResponse) error {
	var phase = s.phase()
	if s.rx == rxAwaitOpened && m.Opened == nil {
		return failf(CheckProtocolOrder, s.name+", open", "got %s while in state <%s>: the connector answered Open with %s; the first message must be Opened", kind(m), s.rx, kind(m))
	}
	if err := m.Validate(); err != nil {
		return failf(CheckProtocolInvalid, phase, "the connector sent an invalid %s: %v", kind(m), err)
	}
	switch {
	case m.Opened != nil:
		if s.rx == rxAwaitOpened {
			s.rx = rxAwaitAcknowledged // the answer to Open
			return nil
		}
		return s.orderf(CheckProtocolOrder, m, "Opened sent again after the stream was open (Opened comes once per stream)")

	case m.Acknowledged != nil:
		switch {
		case s.rx == rxAcknowledged || s.rx == rxPrepared:
			return s.orderf(CheckAckTwice, m, "Acknowledged sent twice for one Acknowledge")
		case s.rx != rxAwaitAcknowledged || !s.ackSent:
			return s.orderf(CheckProtocolOrder, m, "Acknowledged sent before matsim sent Acknowledge")
		}
		s.rx = rxAcknowledged
		s.acks++
		if s.states != nil {
			if err := s.reduceState(s.states.AcknowledgedState(), "Acknowledged"); err != nil {
				return failf(CheckProtocolInvalid, phase, "%v", err)
			}
		}

	case m.Loaded != nil:
		switch {
		case s.delta:
			return s.orderf(CheckDeltaLoaded, m, "Loaded sent for a delta-updates binding (the runtime never loads in delta mode; %d document(s))", len(m.Loaded.DocsJson))
		case s.rx == rxPrepared || s.rx == rxAwaitCommitted:
			// One check for the whole window: whether matsim had sent Commit (or the
			// next transaction's Loads) when the Loaded arrived is a matter of timing,
			// and the same connector must fail the same check every run. So the
			// message names the window, not the state.
			return failf(CheckLoadedAfterPrep, s.phase(), "got Loaded between Prepared and DriverCommitted: every Loaded of a transaction must come before its Prepared, and the next transaction's only after DriverCommitted (loads must read committed state); %d document(s)", len(m.Loaded.DocsJson))
		case s.loadsSent == 0 || s.judge == nil:
			return s.orderf(CheckProtocolOrder, m, "Loaded sent but matsim sent no Load in this transaction")
		case int(m.Loaded.Binding) >= s.bindings:
			return s.orderf(CheckProtocolOrder, m, "Loaded for binding %d; the materialization has %d binding(s)", m.Loaded.Binding, s.bindings)
		}
		s.loadedDocs += int64(len(m.Loaded.DocsJson))
		var o, fs = s.judge.oracles[m.Loaded.Binding], s.judge.findings[m.Loaded.Binding]
		for _, sl := range m.Loaded.DocsJson {
			o.judgeLoaded(m.Loaded.Arena.Bytes(sl), fs)
		}

	case m.Prepared != nil:
		switch {
		case s.rx == rxAwaitCommitted:
			return s.orderf(CheckProtocolOrder, m, "Prepared sent before DriverCommitted of the previous transaction")
		case s.rx == rxPrepared:
			return s.orderf(CheckProtocolOrder, m, "Prepared sent twice")
		case !s.prepareSent:
			return s.orderf(CheckProtocolOrder, m, "Prepared sent before matsim sent Prepare")
		case s.rx != rxAcknowledged:
			return s.orderf(CheckProtocolOrder, m, "Prepared sent before Acknowledged")
		}
		s.rx = rxPrepared
		var cp = *m.Prepared
		s.pendingCP = &cp

	case m.DriverCommitted != nil:
		if s.rx != rxAwaitCommitted {
			if s.prepareSent && s.rx != rxPrepared {
				return s.orderf(CheckCommittedEarly, m, "DriverCommitted sent before Prepared and before matsim sent Commit")
			}
			return s.orderf(CheckCommittedEarly, m, "DriverCommitted sent before matsim sent Commit")
		}
		s.rx = rxAwaitAcknowledged
		s.commits++
		if t := s.committing; t != nil {
			s.committing = nil
			t.driverCommitted()
		}
		if s.pendingCP != nil {
			if err := s.driverCP.Reduce(*s.pendingCP); err != nil {
				return failf(CheckProtocolInvalid, phase, "the driver checkpoint of Prepared is not a valid merge patch: %v", err)
			}
			s.pendingCP = nil
		}
		if s.states != nil {
			if err := s.reduceState(s.states.CommittedState(), "StartedCommit"); err != nil {
				return failf(CheckProtocolInvalid, phase, "%v", err)
			}
		}
	}
	return nil
}

// reduceState applies a later era's state update of a StartedCommit or an
// Acknowledged to the state the next Open carries, as the runtime does.
func (s *stream) reduceState(u *protocol.StateUpdate, from string) error {
	if u == nil {
		return nil
	}
	if err := s.driverCP.Reduce(pf.DriverCheckpoint{DriverCheckpointJson: u.JSON, Rfc7396MergePatch: u.MergePatch}); err != nil {
		return fmt.Errorf("the connector state of %s is not a valid merge patch: %v", from, err)
	}
	return nil
}

// await receives messages until done() holds.
func (s *stream) await(what, answering string, done func() bool) error {
	for !done() {
		if _, err := s.next(what, answering); err != nil {
			return err
		}
	}
	return nil
}

// beginRound resets per-transaction state. It is called once the previous
// transaction's Commit was sent (its DriverCommitted may still be pending).
func (s *stream) beginRound() {
	s.round++
	s.ackSent, s.loadsSent, s.prepareSent = false, 0, false
}

// unconfirmedCommit reports whether the last DriverCommitted is not yet confirmed
// by an Acknowledged: in the eras after 2021 a connector may complete a commit
// after StartedCommit (and fail it, e.g. fenced) until it answers the Acknowledge
// that follows. In the 2021 eras DriverCommitted is the confirmation.
func (s *stream) unconfirmedCommit() bool {
	return s.asyncCommits && s.commits > 0 && s.acks <= s.commits
}

// awaitCommitConfirmed awaits the confirmation of the transaction whose Commit was
// sent: its DriverCommitted and, in eras after 2021, the Acknowledged of the
// Acknowledge then sent (as the runtime sends it next). For a stream that ends
// after this commit: the next transaction would send Acknowledge again.
func (s *stream) awaitCommitConfirmed() error {
	if err := s.awaitCommitted(); err != nil || !s.unconfirmedCommit() {
		return err
	}
	if err := s.send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, "Acknowledge"); err != nil {
		return err
	}
	return s.await("Acknowledged", "Acknowledge", s.acknowledged)
}

// awaitCommitted waits for the pending DriverCommitted.
func (s *stream) awaitCommitted() error {
	return s.await("DriverCommitted", "Commit", func() bool { return !s.commitPending() })
}

// flowCheckpoint encodes the runtime's checkpoint for transaction n of a stream: one
// source journal whose read-through offset is n, so that recovery can tell which
// transaction a stored checkpoint belongs to.
func flowCheckpoint(streamTag string, n int) []byte {
	var cp = pc.Checkpoint{
		Sources: map[pb.Journal]pc.Checkpoint_Source{
			pb.Journal("flowsim/source/" + streamTag): {ReadThrough: pb.Offset(n)},
		},
	}
	var b, err = cp.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// describeCheckpoint renders a Flow checkpoint for messages.
func describeCheckpoint(b []byte) string {
	if len(b) == 0 {
		return "an empty checkpoint"
	}
	var cp pc.Checkpoint
	if err := cp.Unmarshal(b); err != nil {
		return fmt.Sprintf("an undecodable checkpoint (%d bytes)", len(b))
	}
	for j, src := range cp.Sources {
		return fmt.Sprintf("the checkpoint of %s transaction %d", j, src.ReadThrough)
	}
	return "a checkpoint with no sources"
}

// closeClean ends the stream as a runtime shutting down does: CloseSend, then the
// connector must end the RPC without error.
func (s *stream) closeClean() error {
	defer s.cancel()
	if s.closed != nil {
		return s.closed
	}
	if err := s.client.CloseSend(); err != nil {
		return failf(CheckConnectorError, s.phase(), "closing the stream: %v", err)
	}
	for {
		var r, ok = s.waitItem(s.timeout)
		if !ok {
			return failf(CheckTimeout, s.phase(), "the connector did not end the stream within %s after matsim closed it", s.timeout)
		}
		if r.err == nil {
			if err := s.check(r.m); err != nil {
				return err
			}
			return s.orderf(CheckProtocolOrder, r.m, "%s sent after matsim closed the stream", kind(r.m))
		}
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		return failf(CheckConnectorError, s.phase(), "the connector failed when matsim closed the stream: %v", r.err)
	}
}

// settle ends a stream that failed a data check: it closes the send side and reads
// what the connector still sends until it ends the stream (bounded by the call
// timeout, at most 10s), so that a protocol violation that explains the data failure
// (e.g. Loaded sent after Prepared) is reported. It returns that violation, if any.
func (s *stream) settle() *Failure {
	if s.closed != nil {
		return nil
	}
	_ = s.client.CloseSend()
	var limit = min(s.timeout, 10*time.Second)
	for {
		var r, ok = s.waitItem(limit)
		if !ok || r.err != nil {
			return nil
		}
		if err := s.check(r.m); err != nil {
			if f, ok := asFailure(err); ok {
				return f
			}
			return nil
		}
	}
}
