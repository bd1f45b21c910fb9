package connector

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/estuary/protocols/materialize"
)

// Stream is a transactions stream of requests Req and responses Resp: a Session
// (decoded messages), or a stream of encoded messages such as connector-proxy
// relays.
type Stream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
	Kill() error
}

// Oct2021Messages tells AdaptOct2021Stream how to recognise an Acknowledge request
// and how to make an Acknowledged response in the stream's representation.
type Oct2021Messages[Req, Resp any] struct {
	IsAcknowledge func(Req) bool
	Acknowledged  func() Resp
}

// AdaptOct2021 adapts the transactions session of a connector speaking the 2021-10
// revision to the 2021-12 contract: Acknowledge, which 2021-10 does not have, is
// not sent, and Recv returns a synthesized Acknowledged for each one, before
// anything the connector sends afterwards. (DriverCommitted and 2021-10's Committed
// share their field number: nothing else differs on the wire.) Every transport uses
// it, so that a 2021-10 connector gets the same verdicts on each.
func AdaptOct2021(s Session) Session {
	return AdaptOct2021Stream[*materialize.TransactionRequest, *materialize.TransactionResponse](s, Oct2021Messages[*materialize.TransactionRequest, *materialize.TransactionResponse]{
		IsAcknowledge: func(m *materialize.TransactionRequest) bool { return m.Acknowledge != nil },
		Acknowledged: func() *materialize.TransactionResponse {
			return &materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{}}
		},
	})
}

// AdaptOct2021Stream is AdaptOct2021 for any representation of the messages.
func AdaptOct2021Stream[Req, Resp any](s Stream[Req, Resp], m Oct2021Messages[Req, Resp]) Stream[Req, Resp] {
	return &oct2021[Req, Resp]{s: s, m: m, ready: make(chan struct{}, 1), rx: make(chan recvd[Resp], 16), stop: make(chan struct{}), gaveUp: make(chan struct{})}
}

type recvd[Resp any] struct {
	m   Resp
	err error
}

type oct2021[Req, Resp any] struct {
	s Stream[Req, Resp]
	m Oct2021Messages[Req, Resp]

	pending atomic.Int32  // Acknowledged to synthesize
	ready   chan struct{} // wakes a Recv waiting for the connector

	pump     sync.Once
	rx       chan recvd[Resp] // the connector's responses, received by the pump
	stop     chan struct{}    // closed by Kill: the pump may give up
	stopOnce sync.Once
	gaveUp   chan struct{} // closed when the pump gave up, final set

	mu    sync.Mutex
	final *recvd[Resp] // the error that ended the stream
}

func (a *oct2021[Req, Resp]) Send(m Req) error {
	if a.m.IsAcknowledge(m) {
		a.pending.Add(1)
		select {
		case a.ready <- struct{}{}:
		default:
		}
		return nil
	}
	return a.s.Send(m)
}

func (a *oct2021[Req, Resp]) Recv() (Resp, error) {
	a.pump.Do(func() { go a.receive() })
	for {
		if n := a.pending.Load(); n > 0 {
			if a.pending.CompareAndSwap(n, n-1) {
				return a.m.Acknowledged(), nil
			}
			continue
		}
		if r, ok := a.ended(); ok {
			return r.m, r.err
		}
		select {
		case r := <-a.rx:
			return a.got(r)
		case <-a.ready:
		case <-a.gaveUp:
			select {
			case r := <-a.rx:
				return a.got(r)
			default:
			}
		}
	}
}

// receive moves the connector's responses to rx until the stream ends. Once Kill
// was called it gives up when nobody takes them.
func (a *oct2021[Req, Resp]) receive() {
	for {
		var m, err = a.s.Recv()
		var r = recvd[Resp]{m, err}
		select {
		case a.rx <- r:
		default:
			select {
			case a.rx <- r:
			case <-a.stop:
				if err == nil {
					err = errKilled
				}
				a.mu.Lock()
				a.final = &recvd[Resp]{err: err}
				a.mu.Unlock()
				close(a.gaveUp)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var errKilled = errors.New("the transactions stream was killed")

func (a *oct2021[Req, Resp]) got(r recvd[Resp]) (Resp, error) {
	if r.err != nil {
		a.mu.Lock()
		a.final = &r
		a.mu.Unlock()
	}
	return r.m, r.err
}

func (a *oct2021[Req, Resp]) ended() (recvd[Resp], bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.final == nil {
		return recvd[Resp]{}, false
	}
	select {
	case r := <-a.rx: // responses received before the end come first
		if r.err != nil {
			return *a.final, true
		}
		return r, true
	default:
	}
	return *a.final, true
}

func (a *oct2021[Req, Resp]) CloseSend() error { return a.s.CloseSend() }

func (a *oct2021[Req, Resp]) Kill() error {
	a.stopOnce.Do(func() { close(a.stop) })
	return a.s.Kill()
}
