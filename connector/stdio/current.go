package stdio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/era2023"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// Today's era on stdin/stdout: the connector runs without a subcommand, its codec
// named by FLOW_RUNTIME_CODEC; every exchange (Spec, Validate, Apply, and the
// transactions) is one stream of materialize.Request/Response. A unary call is a
// stream with one request; closing stdin ends a stream cleanly.

func (c *Client) codec() w.Codec { return codecOf(c.opts) }

func codecOf(o Options) w.Codec {
	if o.Codec == "" {
		return w.Proto
	}
	return o.Codec
}

// current is the connector driven in today's era (built once).
func (c *Client) current() connector.Connector {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		c.cur = connector.Bridge(era2023.NewClient(c.openCurrent), c.Info, nil)
	}
	return c.cur
}

// curStream is one current-era stream over a process.
type curStream struct {
	p       *proc
	r       *w.Reader
	mu      sync.Mutex
	bw      *bufio.Writer
	w       *w.Writer
	closed  bool
	timeout time.Duration
}

func (c *Client) openCurrent(ctx context.Context) (era2023.Stream, error) {
	return c.openCurrentWith(ctx, c.opts.Stderr)
}

// probeCurrent is a connector of today's era whose stderr goes to stderr (the
// detection holds it back until it knows whether the connector speaks that era).
func (c *Client) probeCurrent(stderr io.Writer) connector.Connector {
	return connector.Bridge(era2023.NewClient(func(ctx context.Context) (era2023.Stream, error) {
		return c.openCurrentWith(ctx, stderr)
	}), c.Info, nil)
}

func (c *Client) openCurrentWith(ctx context.Context, stderr io.Writer) (era2023.Stream, error) {
	var p, err = c.startCurrent("(protocol 2023)", stderr)
	if err != nil {
		return nil, err
	}
	p.watch(ctx)
	var bw = bufio.NewWriterSize(p.stdin, 64<<10)
	return &curStream{p: p, r: w.NewReader(p.stdout, c.codec(), c.opts.MaxFrame), bw: bw, w: w.NewWriter(bw, c.codec()), timeout: c.opts.CallTimeout}, nil
}

// Send writes one request. Loads and Stores are buffered; every other request is
// one the connector answers, so it is flushed with what precedes it.
func (s *curStream) Send(r *w.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("send after CloseSend")
	}
	var err = s.w.Write(r)
	if err == nil && r.Load == nil && r.Store == nil {
		err = s.bw.Flush()
	}
	if err != nil {
		select {
		case <-s.p.done:
			return io.EOF // Recv reports how the process ended
		default:
		}
		return fmt.Errorf("writing %s to the connector's stdin: %w", era2023.RequestName(r), err)
	}
	return nil
}

// Recv reads one response. At the end of stdout the process must exit: cleanly
// (io.EOF) or with an error naming its exit status and stderr.
func (s *curStream) Recv() (*w.Response, error) {
	var m = new(w.Response)
	var err = s.r.Read(m)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, io.EOF) {
		s.p.kill()
		s.p.wait(0)
		return nil, s.p.callError(err)
	}
	s.p.wait(reapGrace)
	if code, _ := s.p.exitStatus(); code == 0 && s.p.err == nil {
		return nil, io.EOF
	}
	return nil, s.p.callError(nil)
}

// CloseSend flushes and closes the connector's stdin.
func (s *curStream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err = s.bw.Flush()
	if cerr := s.p.stdin.Close(); err == nil {
		err = cerr
	}
	select {
	case <-s.p.done:
		return nil // it ended first; Recv says how
	default:
	}
	return err
}

// Kill kills the process (and its container) and returns once it is reaped.
func (s *curStream) Kill() error {
	s.p.kill()
	select {
	case <-s.p.done:
		return nil
	case <-time.After(connector.KillTimeout):
		return fmt.Errorf("connector %s was killed but not reaped within %s", s.p.target, connector.KillTimeout)
	}
}
