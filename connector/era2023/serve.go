package era2023

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// Serve answers one current-era stream with srv, as today's connectors do: Spec,
// Validate and Apply requests, each answered in turn, until Open, which starts
// srv.Transactions on the rest of the stream. The runtime closing its side between
// requests, or during transactions where srv accepts it, is the clean end (nil).
func Serve(srv protocol.Server, s w.ServerStream) error {
	var ctx = s.Context()
	for {
		var req, err = s.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		var resp *w.Response
		switch {
		case req.Spec != nil:
			var r, err = srv.Spec(ctx, NeutralSpecRequest(req.Spec))
			if err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			resp = &w.Response{Spec: Spec(r)}
		case req.Validate != nil:
			var r, err = srv.Validate(ctx, NeutralValidateRequest(req.Validate))
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			v, err := Validated(r)
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			resp = &w.Response{Validated: v}
		case req.Apply != nil:
			var r, err = srv.Apply(ctx, NeutralApplyRequest(req.Apply))
			if err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			resp = &w.Response{Applied: Applied(r)}
		case req.Open != nil:
			var open, err = NeutralRequest(req)
			if err != nil {
				return err
			}
			return srv.Transactions(&txnStream{s: s, first: open})
		default:
			return fmt.Errorf("expected Spec, Validate, Apply or Open, got %s", describeRequest(req))
		}
		if err := s.Send(resp); err != nil {
			return err
		}
	}
}

func describeRequest(r *w.Request) string {
	if n, err := NeutralRequest(r); err == nil {
		return n.Name()
	}
	return "an empty request"
}

// txnStream is the neutral TransactionsStream over a wire stream.
type txnStream struct {
	s     w.ServerStream
	first *protocol.Request // the Open, returned by the first Recv
	mu    sync.Mutex        // Send may be called from several goroutines
	buf   []*w.Response
}

func (t *txnStream) Context() context.Context { return t.s.Context() }

func (t *txnStream) Recv() (*protocol.Request, error) {
	if t.first != nil {
		var r = t.first
		t.first = nil
		return r, nil
	}
	var req, err = t.s.Recv()
	if err != nil {
		return nil, err
	}
	return NeutralRequest(req)
}

func (t *txnStream) Send(r *protocol.Response) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	if t.buf, err = AppendResponses(t.buf[:0], r); err != nil {
		return err
	}
	for _, m := range t.buf {
		if err := t.s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// ConnectorServer is srv as a gRPC materialize.Connector service
// (wire2023.RegisterConnectorServer).
func ConnectorServer(srv protocol.Server) w.ConnectorServer { return grpcServer{srv} }

type grpcServer struct{ srv protocol.Server }

func (g grpcServer) Materialize(s w.ServerStream) error { return Serve(g.srv, s) }

// ServeStdio serves srv as a current-era connector on r (its stdin) and wr (its
// stdout) in codec (from FLOW_RUNTIME_CODEC: wire2023.ParseCodec).
func ServeStdio(ctx context.Context, srv protocol.Server, r io.Reader, wr io.Writer, codec w.Codec) error {
	var bw = bufio.NewWriterSize(wr, 64<<10)
	var err = Serve(srv, &stdioStream{ctx: ctx, r: w.NewReader(r, codec, 0), bw: bw, w: w.NewWriter(bw, codec)})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// stdioStream buffers Loaded responses (a connector may send them any time before
// Flushed) and flushes every other response, which the runtime awaits.
type stdioStream struct {
	ctx context.Context
	r   *w.Reader
	mu  sync.Mutex
	bw  *bufio.Writer
	w   *w.Writer
}

func (s *stdioStream) Context() context.Context { return s.ctx }

func (s *stdioStream) Recv() (*w.Request, error) {
	var req = new(w.Request)
	if err := s.r.Read(req); err != nil {
		return nil, err // io.EOF only at a clean end between messages
	}
	return req, nil
}

func (s *stdioStream) Send(r *w.Response) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Write(r); err != nil {
		return err
	}
	if r.Loaded != nil {
		return nil
	}
	return s.bw.Flush()
}
