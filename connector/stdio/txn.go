package stdio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/protocol"
	"github.com/flowsim/flowsim/protocol/wire2022"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Transactions starts `transactions` and returns its stream. Send buffers Load and
// Store requests and flushes every request the connector must answer; CloseSend
// closes the connector's stdin, which ends the stream cleanly. An Oct 2021
// connector's stream is adapted by connector.AdaptOct2021.
// Errors of Send and Recv carry the process's exit status and stderr tail.
func (c *Client) Transactions(ctx context.Context) (connector.Session, error) {
	if c.revision() == connector.Current {
		return c.current().Transactions(ctx)
	}
	var s, err = c.transactions(ctx, false)
	if err != nil {
		return nil, err
	}
	if s.oct {
		return connector.AdaptOct2021(s), nil
	}
	return s, nil
}

// RawStream is a transactions stream of encoded messages: protobuf bytes without the
// length prefix. A relay that need not look into the messages (connector-proxy) saves
// decoding and re-encoding each one. It behaves as the stream of Transactions
// (flushing, Oct 2021 adaptation, deadlines, errors).
type RawStream interface {
	// SendRaw sends one encoded TransactionRequest; b may be reused once it returns.
	SendRaw(b []byte) error
	// RecvRaw returns one encoded TransactionResponse, owned by the caller.
	RecvRaw() ([]byte, error)
	// CloseSend closes the connector's stdin.
	CloseSend() error
	// Kill kills the connector process and returns once it is reaped.
	Kill() error
}

// TransactionsRaw starts `transactions` and returns its stream of encoded messages.
func (c *Client) TransactionsRaw(ctx context.Context) (RawStream, error) {
	var s, err = c.transactions(ctx, true)
	if err != nil {
		return nil, err
	}
	if s.oct {
		return rawStream{connector.AdaptOct2021Stream[[]byte, []byte](rawSession{s}, connector.Oct2021Messages[[]byte, []byte]{
			IsAcknowledge: func(b []byte) bool { return len(b) > 0 && b[0] == tagAcknowledge },
			Acknowledged:  func() []byte { return bytes.Clone(encodedAcknowledged) },
		})}, nil
	}
	return s, nil
}

// rawSession is a raw stream as a connector.Stream of encoded messages, and
// rawStream the other way round: connector.AdaptOct2021Stream adapts both
// representations of a 2021-10 stream.
type rawSession struct{ *txnStream }

func (r rawSession) Send(b []byte) error   { return r.SendRaw(b) }
func (r rawSession) Recv() ([]byte, error) { return r.RecvRaw() }

type rawStream struct {
	connector.Stream[[]byte, []byte]
}

func (r rawStream) SendRaw(b []byte) error   { return r.Send(b) }
func (r rawStream) RecvRaw() ([]byte, error) { return r.Recv() }

func (c *Client) transactions(ctx context.Context, raw bool) (*txnStream, error) {
	var oct = c.revision() == connector.Oct2021
	var compat = c.revision() == connector.Compat || c.revision() == connector.Era2022
	var p, err = c.start("transactions")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var s = &txnStream{
		ctx:      ctx,
		cancel:   cancel,
		p:        p,
		raw:      raw,
		w:        NewWriter(p.stdin),
		rx:       make(chan rxItem, 256),
		finished: make(chan struct{}),
		oct:      oct,
		compat:   compat,
		timeout:  c.opts.CallTimeout,
	}
	p.watch(ctx)
	go s.readLoop(NewReader(p.stdout, c.opts.MaxFrame, "connector stdout").withRedactor(c.opts.Redactor))
	return s, nil
}

// rxItem is a response, decoded (m) or encoded (b) as the stream is typed or raw.
type rxItem struct {
	m *materialize.TransactionResponse
	b []byte
}

// The first byte of an encoded message names its one field (number << 3 | 2).
const (
	tagOpen, tagLoad, tagPrepare, tagStore, tagCommit, tagAcknowledge = 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x32
	tagOpened, tagPrepared, tagDriverCommitted, tagAcknowledged       = 0x0a, 0x1a, 0x22, 0x2a
)

// encodedAcknowledged is TransactionResponse{Acknowledged: {}}.
var encodedAcknowledged = []byte{tagAcknowledged, 0}

type txnStream struct {
	ctx    context.Context
	cancel context.CancelFunc // kills the process (see watch)
	p      *proc
	oct    bool // the connector speaks 2021-10: the stream is adapted (connector.AdaptOct2021)
	// compat: the connector speaks 2022, or 2021-12 or 2022 (connector.Compat):
	// Commit carries the runtime checkpoint of the transaction's Prepare (2022's
	// StartCommit; a 2021-12 connector skips the field) and a DriverCommitted's
	// driver checkpoint (2022's StartedCommit) is kept for the engine.
	compat     bool
	checkpoint []byte // of the last Prepare, for compat's Commit; guarded by mu
	qmu        sync.Mutex
	committed  []*protocol.StateUpdate
	timeout    time.Duration

	// Send side.
	mu         sync.Mutex
	w          *Writer
	sendClosed bool

	// Receive side.
	raw      bool
	rx       chan rxItem   // closed after final is set
	final    error         // io.EOF or a *CallError
	finished chan struct{} // closed once the process is reaped and final set

	// Deadline of awaited responses.
	awaiting  atomic.Int32 // requests sent whose response has not arrived
	lastEvent atomic.Int64 // unix nanos of the last awaited send or any receive
	awaitName atomic.Value // string: the last awaited request
	timedOut  atomic.Bool
	tmu       sync.Mutex
	timer     *time.Timer
	armed     bool
}

var _ connector.Session = (*txnStream)(nil)

// requestName names the request kinds that the connector must answer with exactly one response.
func requestName(m *materialize.TransactionRequest) string {
	switch {
	case m.Open != nil:
		return "Open"
	case m.Acknowledge != nil:
		return "Acknowledge"
	case m.Prepare != nil:
		return "Prepare"
	case m.Commit != nil:
		return "Commit"
	}
	return ""
}

func awaitedResponse(m *materialize.TransactionResponse) bool {
	return m.Opened != nil || m.Acknowledged != nil || m.Prepared != nil || m.DriverCommitted != nil
}

func (s *txnStream) readLoop(r *Reader) {
	var err error
	for {
		var item rxItem
		var awaited bool
		if s.raw {
			var b []byte
			if b, err = r.Next(); err != nil {
				break
			}
			item.b = bytes.Clone(b)
			awaited = len(b) > 0 && (b[0] == tagOpened || b[0] == tagPrepared || b[0] == tagDriverCommitted || b[0] == tagAcknowledged)
		} else if s.compat {
			var b []byte
			if b, err = r.Next(); err != nil {
				break
			}
			item.m = new(materialize.TransactionResponse)
			if err = item.m.Unmarshal(b); err != nil {
				err = &FrameError{Kind: ErrNotProtocol, Frame: r.Frames(), Msg: fmt.Sprintf("decoding a response: %v", err)}
				break
			}
			if item.m.DriverCommitted != nil {
				var u *protocol.StateUpdate
				if u, err = startedCommitState(b); err != nil {
					break
				}
				s.qmu.Lock()
				s.committed = append(s.committed, u)
				s.qmu.Unlock()
			}
			awaited = awaitedResponse(item.m)
		} else {
			item.m = new(materialize.TransactionResponse)
			if err = r.Read(item.m); err != nil {
				break
			}
			awaited = awaitedResponse(item.m)
		}
		if awaited {
			// Never below zero: an unasked-for response must not disarm a later deadline.
			for n := s.awaiting.Load(); n > 0 && !s.awaiting.CompareAndSwap(n, n-1); n = s.awaiting.Load() {
			}
		}
		if s.timeout > 0 {
			s.lastEvent.Store(time.Now().UnixNano())
		}
		select {
		case s.rx <- item:
			continue
		case <-s.ctx.Done():
			err = s.ctx.Err()
		}
		break
	}
	s.finish(err)
}

// finish reaps the process and sets the stream's final error.
func (s *txnStream) finish(err error) {
	if err != io.EOF {
		s.p.kill() // a framing error or a cancelled context: it won't get better
	}
	s.p.stdout.Close()
	var lingered = s.p.wait(reapGrace) && err == io.EOF && s.ctx.Err() == nil && !s.timedOut.Load()
	s.mu.Lock()
	if !s.sendClosed {
		s.sendClosed = true
		s.p.stdin.Close()
	}
	s.mu.Unlock()
	s.tmu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.tmu.Unlock()

	if lingered {
		s.final = s.p.callError(fmt.Errorf("the connector closed stdout, but %s did not exit within %s; it was killed", s.p.what, reapGrace))
	} else {
		s.final = s.describe(err)
	}
	close(s.finished)
	close(s.rx)
}

// describe is the stream's error once the process is reaped, given what reading
// its stdout ended with.
func (s *txnStream) describe(readErr error) error {
	var code, _ = s.p.exitStatus()
	switch {
	case s.timedOut.Load():
		return s.p.callError(fmt.Errorf("no response to %s within %s (--call-timeout %s and a margin); the connector was killed: %w",
			s.awaitName.Load(), backstop(s.timeout), s.timeout, context.DeadlineExceeded))
	case s.ctx.Err() != nil:
		return s.p.callError(s.ctx.Err())
	case readErr == io.EOF && code == 0:
		return io.EOF
	case readErr == io.EOF:
		return s.p.callError(nil)
	}
	return s.p.callError(readErr)
}

func (s *txnStream) Send(m *materialize.TransactionRequest) error {
	if s.compat && m.Prepare != nil {
		return s.send("Prepare", false, func() error {
			s.checkpoint = append(s.checkpoint[:0], m.Prepare.FlowCheckpoint...)
			return s.w.Write(m)
		})
	} else if s.compat && m.Commit != nil {
		return s.send("Commit", false, func() error { return s.w.WriteRaw(startCommit(s.checkpoint)) })
	}
	return s.send(requestName(m), m.Load != nil || m.Store != nil, func() error { return s.w.Write(m) })
}

// startCommit is the encoded TransactionRequest{Commit} carrying 2022's runtime
// checkpoint at StartCommit's field 1 (Commit and StartCommit share field 5).
func startCommit(checkpoint []byte) []byte {
	var inner = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), checkpoint)
	return protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), inner)
}

// startedCommitState is the driver checkpoint a 2022 connector's StartedCommit
// carries (nil for none, as a 2021-12 DriverCommitted always has).
func startedCommitState(b []byte) (*protocol.StateUpdate, error) {
	var m wire2022.TransactionResponse
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, &FrameError{Kind: ErrNotProtocol, Msg: fmt.Sprintf("decoding StartedCommit: %v", err)}
	}
	var cp = m.GetStartedCommit().GetDriverCheckpoint()
	if cp == nil || len(cp.DriverCheckpointJson) == 0 {
		return nil, nil
	}
	return &protocol.StateUpdate{JSON: cp.DriverCheckpointJson, MergePatch: cp.Rfc7396MergePatch}, nil
}

// CommittedState is the driver checkpoint of the next DriverCommitted (2022's
// StartedCommit) not yet taken; connector.StateSession.
func (s *txnStream) CommittedState() *protocol.StateUpdate {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(s.committed) == 0 {
		return nil
	}
	var u = s.committed[0]
	s.committed = s.committed[1:]
	return u
}

// AcknowledgedState: Acknowledged carries no state before today's era.
func (s *txnStream) AcknowledgedState() *protocol.StateUpdate { return nil }

// SendRaw sends one encoded TransactionRequest.
func (s *txnStream) SendRaw(b []byte) error {
	var name string
	var batched bool
	if len(b) > 0 {
		switch b[0] {
		case tagOpen:
			name = "Open"
		case tagAcknowledge:
			name = "Acknowledge"
		case tagPrepare:
			name = "Prepare"
		case tagCommit:
			name = "Commit"
		case tagLoad, tagStore:
			batched = true
		}
	}
	if s.compat && name == "Prepare" {
		return s.send(name, false, func() error {
			var m materialize.TransactionRequest
			if err := m.Unmarshal(b); err == nil && m.Prepare != nil {
				s.checkpoint = append(s.checkpoint[:0], m.Prepare.FlowCheckpoint...)
			}
			return s.w.WriteRaw(b)
		})
	} else if s.compat && name == "Commit" {
		return s.send(name, false, func() error { return s.w.WriteRaw(startCommit(s.checkpoint)) })
	}
	return s.send(name, batched, func() error { return s.w.WriteRaw(b) })
}

// send writes one request: name is its kind when the connector must answer it,
// batched says it may wait in the buffer.
func (s *txnStream) send(name string, batched bool, write func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.sendClosed {
		select {
		case <-s.finished:
			return s.sendError(nil)
		default:
			return errors.New("Send after CloseSend")
		}
	}
	if name != "" {
		s.awaiting.Add(1)
		if s.timeout > 0 {
			s.awaitName.Store(name)
			s.lastEvent.Store(time.Now().UnixNano())
			s.arm()
		}
	}
	var err = write()
	if err == nil && !batched {
		err = s.w.Flush()
	}
	if err != nil {
		return s.sendError(err)
	}
	return nil
}

// sendError waits for the process to end (it closed its stdin, or we did) and
// describes why sending failed. It does not wait for the stdout reader, which may be
// blocked on responses nobody receives. Called with mu held.
func (s *txnStream) sendError(werr error) error {
	s.mu.Unlock()
	var lingered = s.p.wait(reapGrace)
	s.mu.Lock()

	var err error
	select {
	case <-s.finished:
		err = s.final // the reader saw it end: its account is the most precise
	default:
		err = s.describe(io.EOF)
	}
	var ce *CallError
	if errors.As(err, &ce) {
		var cp = *ce
		if cp.Err == nil && werr != nil {
			cp.Err = fmt.Errorf("writing to stdin: %w", werr)
		}
		return &cp
	}
	err = errors.New("the connector exited (exit code 0) while the stream was still open")
	if lingered {
		err = fmt.Errorf("the connector stopped reading its stdin, and %s did not exit within %s; it was killed", s.p.what, reapGrace)
	}
	if werr != nil {
		err = fmt.Errorf("%w: writing to stdin: %w", err, werr)
	}
	return s.p.callError(err)
}

func (s *txnStream) Recv() (*materialize.TransactionResponse, error) {
	var item, err = s.recv()
	if err != nil {
		return nil, err
	}
	return item.m, nil
}

// RecvRaw returns one encoded TransactionResponse.
func (s *txnStream) RecvRaw() ([]byte, error) {
	var item, err = s.recv()
	if err != nil {
		return nil, err
	}
	return item.b, nil
}

// recv returns the next response.
func (s *txnStream) recv() (rxItem, error) {
	var item, ok = <-s.rx
	if !ok {
		return rxItem{}, s.final
	}
	return item, nil
}

// CloseSend flushes buffered requests and closes the connector's stdin.
func (s *txnStream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendClosed {
		return nil
	}
	s.sendClosed = true
	var err = s.w.Flush()
	if cerr := s.p.stdin.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.sendError(err)
	}
	return nil
}

// arm starts the response deadline if it is not running. Called with mu held.
func (s *txnStream) arm() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.armed {
		return
	}
	s.armed = true
	if s.timer == nil {
		s.timer = time.AfterFunc(backstop(s.timeout), s.onTimer)
	} else {
		s.timer.Reset(backstop(s.timeout))
	}
}

func (s *txnStream) onTimer() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.awaiting.Load() <= 0 {
		s.armed = false
		return
	}
	var idle = time.Since(time.Unix(0, s.lastEvent.Load()))
	if idle < backstop(s.timeout) {
		s.timer.Reset(backstop(s.timeout) - idle)
		return
	}
	s.timedOut.Store(true)
	s.p.kill()
}

// Kill kills the connector process (and removes its container) and returns once
// the process is reaped and the stream's final error is set.
func (s *txnStream) Kill() error {
	s.cancel()
	s.p.kill()
	var t = time.NewTimer(connector.KillTimeout)
	defer t.Stop()
	select {
	case <-s.finished:
		return nil
	case <-t.C:
		// Not reaped: its exit status is not there to read.
		var ce = &CallError{Call: s.p.call, Target: s.p.target, Exit: "still running", Stderr: s.p.stderr.String(),
			Err: fmt.Errorf("%s was not reaped within %s of being killed", s.p.what, connector.KillTimeout)}
		s.p.cmu.Lock()
		if s.p.cleanupErr != nil {
			ce.Cleanup = s.p.cleanupErr.Error()
		}
		s.p.cmu.Unlock()
		return ce
	}
}

// backstop is when a stream's own deadline of an awaited response fires: a margin
// after the call timeout, so that a caller waiting the call timeout itself (matsim
// does, on every transport) names the timeout, and the verdict does not depend on
// which of two equal timers fired first. The margin is a tenth of the timeout, at
// least 100ms and at most 5s.
func backstop(d time.Duration) time.Duration {
	return d + min(max(d/10, 100*time.Millisecond), 5*time.Second)
}
