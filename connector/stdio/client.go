package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/lib/redact"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// Options configure a Client.
type Options struct {
	// Protocol the connector speaks; Auto detects it once, at the first ApplyUpsert
	// (an `apply-upsert` rejected as an unknown subcommand means Oct2021, and the
	// same request is then sent to `apply`). A transactions stream opened while the
	// revision is still Auto speaks Dec2021: matsim always applies first, and
	// connector-proxy is told the revision of its child (--protocol).
	Protocol connector.Revision
	// MaxFrame caps one frame read from the connector (DefaultMaxFrame when <= 0).
	MaxFrame int
	// CallTimeout bounds a unary call, and on a transactions stream the wait for
	// each awaited response (Opened, Acknowledged, Prepared, DriverCommitted) with no
	// message from the connector in between; the stream's deadline is a backstop that
	// fires a margin later (see backstop), so that a caller waiting CallTimeout itself
	// names the timeout. Zero means no deadline for the answer; the waits for a process
	// to exit are bounded either way (5s after its answer or after it closed stdout).
	CallTimeout time.Duration
	// Codec is how a connector of today's era frames its messages (FLOW_RUNTIME_CODEC;
	// Proto when empty). Earlier eras always use length-prefixed protobuf.
	Codec w.Codec
	// Stderr receives the connector's stderr as it is written (nil: discarded; the
	// last StderrTail bytes are kept for errors either way).
	Stderr io.Writer
	// Redactor, when set, redacts what errors quote of the connector's output (the
	// end of its stderr, the start of unexpected stdout) before it is cut.
	Redactor *redact.Redactor
}

// reapGrace is how long a connector may take to exit once its stdin is closed.
const reapGrace = 5 * time.Second

// Client runs one connector process per call and implements connector.Connector.
type Client struct {
	transport string
	target    string
	// argv returns the command line of a subcommand and a cleanup to run after a kill.
	argv func(sub string) ([]string, func() error)
	// what names a call's process in messages about waiting for it to exit.
	what string
	opts Options

	mu     sync.Mutex
	era    connector.Era // the revision given or detected
	procs  map[*proc]struct{}
	closed bool
	cur    connector.Connector // the connector in today's era, once built
}

var _ connector.Connector = (*Client)(nil)

// NewCommand returns a Client that runs argv plus a subcommand for each call, for
// example argv = ["/usr/local/bin/connector", "--verbose"]. argv[0] is looked up in
// $PATH when it has no slash; a missing or non-executable binary is an error now
// rather than at the first call.
func NewCommand(argv []string, opts Options) (*Client, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("connector command is empty")
	}
	var path, err = lookExecutable(argv[0])
	if err != nil {
		return nil, err
	}
	var args = append([]string{path}, argv[1:]...)
	return newClient("command", strings.Join(argv, " "), func(sub string) ([]string, func() error) {
		if sub == "" { // today's era: no subcommand
			return args[:len(args):len(args)], nil
		}
		return append(args[:len(args):len(args)], sub), nil
	}, opts), nil
}

func newClient(transport, target string, argv func(string) ([]string, func() error), opts Options) *Client {
	if opts.Protocol == "" {
		opts.Protocol = connector.Auto
	}
	var c = &Client{transport: transport, target: target, argv: argv, opts: opts,
		procs: map[*proc]struct{}{}}
	c.era.Set(opts.Protocol)
	return c
}

// lookExecutable resolves a command and explains why it cannot run.
func lookExecutable(name string) (string, error) {
	if !strings.Contains(name, "/") {
		var path, err = exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("connector command %q: not found in $PATH", name)
		}
		return path, nil
	}
	var st, err = os.Stat(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("connector command %q: no such file", name)
	case err != nil:
		return "", fmt.Errorf("connector command %q: %w", name, err)
	case st.IsDir():
		return "", fmt.Errorf("connector command %q: is a directory", name)
	case st.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("connector command %q: not executable (mode %s; try chmod +x)", name, st.Mode().Perm())
	}
	return name, nil
}

// Info describes the connector; Protocol reads Auto until it is detected.
func (c *Client) Info() connector.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connector.Info{Transport: c.transport, Target: c.target, Protocol: c.era.Get()}
}

// Close kills the processes of calls still running and waits for them.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	var procs = make([]*proc, 0, len(c.procs))
	for p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	var deadline = time.Now().Add(connector.KillTimeout) // every wait after a kill is bounded
	var stuck int
	for _, p := range procs {
		p.kill()
		if !p.reaped(time.Until(deadline)) {
			stuck++
		}
	}
	if stuck != 0 {
		return fmt.Errorf("connector %s: %d process(es) not reaped within %s of being killed", c.target, stuck, connector.KillTimeout)
	}
	return nil
}

// Running is the number of connector processes not yet reaped.
func (c *Client) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.procs)
}

func (c *Client) revision() connector.Revision { return c.era.Get() }

func (c *Client) setRevision(r connector.Revision) { c.era.Set(r) }

func (c *Client) start(sub string) (*proc, error) { return c.startWith(sub, c.opts.Stderr) }

// startWith starts sub with its stderr passed through to stderr (nil: kept for errors only).
func (c *Client) startWith(sub string, stderr io.Writer) (*proc, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("connector %s %s: the client is closed", c.target, sub)
	}
	c.mu.Unlock()

	var argv, cleanup = c.argv(sub)
	return startProc(sub, c.target, c.what, argv, nil, stderrOf{stderr, c.opts.Redactor}, cleanup, c.track)
}

// startCurrent starts the connector without a subcommand, as today's era runs it,
// with its codec in the environment; call names the exchange in messages.
func (c *Client) startCurrent(call string, stderr io.Writer) (*proc, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("connector %s: the client is closed", c.target)
	}
	c.mu.Unlock()
	var argv, cleanup = c.argv("")
	return startProc(call, c.target, c.what, argv, []string{w.CodecEnv + "=" + string(c.codec())}, stderrOf{stderr, c.opts.Redactor}, cleanup, c.track)
}

// unaryCtx bounds a unary exchange of today's era by CallTimeout (the process is
// killed when it runs out).
func (c *Client) unaryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.CallTimeout > 0 {
		return context.WithTimeout(ctx, c.opts.CallTimeout)
	}
	return context.WithCancel(ctx)
}

// track records a process as running (or no longer).
func (c *Client) track(p *proc, running bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if running {
		c.procs[p] = struct{}{}
	} else {
		delete(c.procs, p)
	}
}

// Spec runs `spec`, or today's Spec exchange. While the protocol is Auto, a
// connector that does not answer the `spec` subcommand is asked again as today's
// era runs a connector (no subcommand); if that answers, the connector speaks
// today's era from then on. If neither answers, the error names both attempts as a
// *connector.EraError.
func (c *Client) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	switch c.revision() {
	case connector.Current:
		ctx, cancel := c.unaryCtx(ctx)
		defer cancel()
		return c.current().Spec(ctx, req)
	case connector.Auto:
		var held = &heldWriter{pass: c.opts.Stderr, limit: probeHold}
		var resp = new(materialize.SpecResponse)
		var err = c.unaryWith(ctx, "spec", req, resp, held)
		if err == nil {
			held.release()
			return resp, nil
		}
		var le *lingerError
		var ce *CallError
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &le) ||
			(errors.As(err, &ce) && strings.Contains(ce.Exit, "sent by flowsim")) {
			// Out of time, it answered spec (and then misbehaved), or it had to be
			// killed: a connector of today's era rejects the subcommand and exits.
			held.release()
			return nil, err
		}
		// Its stderr is held back too: shown if it speaks today's era, otherwise the
		// error quotes the tail of each attempt and the first attempt's is shown.
		var held2 = &heldWriter{pass: c.opts.Stderr, limit: probeHold}
		uctx, cancel := c.unaryCtx(ctx)
		defer cancel()
		cur, cerr := c.probeCurrent(held2).Spec(uctx, req)
		if cerr == nil {
			c.setRevision(connector.Current)
			held2.release()
			return cur, nil
		}
		held.release()
		// Both attempts go into the error, also when today's timed out: a 2021
		// connector that crashed at spec may hang without a subcommand, and its
		// crash is what the developer needs to see.
		return nil, &connector.EraError{Target: c.target, Attempts: []connector.EraAttempt{
			{Era: "2021-10, 2021-12 or 2022 (the spec subcommand)", Err: err},
			{Era: "2023 (no subcommand, " + w.CodecEnv + "=" + string(c.codec()) + ")", Err: cerr},
		}}
	}
	var resp = new(materialize.SpecResponse)
	if err := c.unary(ctx, "spec", req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Validate runs `validate`.
func (c *Client) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	if c.revision() == connector.Current {
		ctx, cancel := c.unaryCtx(ctx)
		defer cancel()
		return c.current().Validate(ctx, req)
	}
	var resp = new(materialize.ValidateResponse)
	if err := c.unary(ctx, "validate", req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// ApplyUpsert runs `apply-upsert`, or `apply` for an Oct 2021 connector.
func (c *Client) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	var resp = new(materialize.ApplyResponse)
	switch c.revision() {
	case connector.Oct2021:
		if err := c.unary(ctx, "apply", req, resp); err != nil {
			return nil, err
		}
	case connector.Current:
		ctx, cancel := c.unaryCtx(ctx)
		defer cancel()
		return c.current().ApplyUpsert(ctx, req)
	case connector.Dec2021, connector.Era2022, connector.Compat:
		if err := c.unary(ctx, "apply-upsert", req, resp); err != nil {
			return nil, err
		}
	default:
		var err = c.probe(ctx, "apply-upsert", req, resp)
		if isUnknownSubcommand(err, "apply-upsert") {
			resp = new(materialize.ApplyResponse)
			if err = c.unary(ctx, "apply", req, resp); err != nil {
				return nil, err
			}
			c.setRevision(connector.Oct2021)
			return resp, nil
		} else if err != nil {
			return nil, err
		}
		// 2021-12 and 2022 answer alike until the transactions: drive both alike.
		c.setRevision(connector.Compat)
	}
	return resp, nil
}

// ApplyDelete runs `apply-delete`; the Oct 2021 revision has no such verb.
func (c *Client) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	if c.revision() == connector.Current {
		return c.current().ApplyDelete(ctx, req)
	}
	if c.revision() == connector.Oct2021 {
		return nil, fmt.Errorf("connector %s speaks protocol 2021-10: %w", c.target, connector.ErrNoApplyDelete)
	}
	var resp = new(materialize.ApplyResponse)
	if err := c.unary(ctx, "apply-delete", req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// isUnknownSubcommand reports whether a failed call looks like a connector that
// does not know the subcommand: a non-zero exit with nothing on stdout and a stderr
// that names the subcommand and says it is unknown.
func isUnknownSubcommand(err error, sub string) bool {
	var ce *CallError
	if !errors.As(err, &ce) || ce.ExitCode == 0 || ce.Err != nil {
		return false
	}
	var s = strings.ToLower(ce.Stderr)
	if !strings.Contains(s, sub) {
		return false
	}
	for _, w := range []string{"unknown", "unrecognized", "unrecognised", "invalid", "unsupported", "not found", "no such"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// unary runs one process for a unary subcommand: one request on stdin, one
// response on stdout, then a clean exit.
func (c *Client) unary(ctx context.Context, sub string, req, resp Message) error {
	return c.unaryWith(ctx, sub, req, resp, c.opts.Stderr)
}

// probe is unary for the revision detection. Its stderr is held back: a connector
// rejecting the subcommand says so there, and the user would take that for a
// failure. Any other outcome passes the held stderr through afterwards. At most
// probeHold bytes are held: a connector writing more is not merely rejecting a
// subcommand, so the held bytes and everything after are streamed through (the
// error keeps its own tail either way), and memory stays bounded however much a
// connector logs.
func (c *Client) probe(ctx context.Context, sub string, req, resp Message) error {
	var held = &heldWriter{pass: c.opts.Stderr, limit: probeHold}
	var err = c.unaryWith(ctx, sub, req, resp, held)
	if !isUnknownSubcommand(err, sub) {
		held.release()
	}
	return err
}

// probeHold is how much stderr a probe holds back.
const probeHold = 64 << 10

// heldWriter holds what is written, up to limit bytes; beyond that, and after
// release, it passes everything through to pass (nil: discarded).
type heldWriter struct {
	mu        sync.Mutex
	pass      io.Writer
	limit     int
	buf       []byte
	streaming bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.streaming && len(h.buf)+len(p) <= h.limit {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	h.flushLocked()
	if h.pass != nil {
		_, _ = h.pass.Write(p)
	}
	return len(p), nil
}

func (h *heldWriter) flushLocked() {
	if !h.streaming && h.pass != nil && len(h.buf) > 0 {
		_, _ = h.pass.Write(h.buf)
	}
	h.streaming, h.buf = true, nil
}

// release passes the held bytes through and streams from now on.
func (h *heldWriter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushLocked()
}

func (c *Client) unaryWith(ctx context.Context, sub string, req, resp Message, stderr io.Writer) error {
	var started = time.Now()
	// Which deadline bounds the answer, for the message when it runs out:
	// --call-timeout, or the caller's (a driver's, through connector-proxy) when it
	// comes clearly earlier.
	var limit, whose = c.opts.CallTimeout, "--call-timeout"
	if dl, ok := ctx.Deadline(); ok && (limit <= 0 || dl.Before(started.Add(limit-50*time.Millisecond))) {
		limit, whose = time.Until(dl).Round(time.Millisecond), "the caller's deadline"
	}
	if c.opts.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	var p, err = c.startWith(sub, stderr)
	if err != nil {
		return err
	}
	p.watch(ctx)

	var wdone = make(chan error, 1)
	go func() {
		var err = NewWriter(p.stdin).WriteFlush(req)
		p.stdin.Close()
		wdone <- err
	}()

	var r = NewReader(p.stdout, c.opts.MaxFrame, "connector stdout").withRedactor(c.opts.Redactor)
	var rerr = r.Read(resp)
	var trailing []byte
	var linger *lingerError // the answer came, and the process did not exit in time
	var emptyKilled bool    // it closed stdout without answering, and did not exit in time
	if rerr == nil {
		// The answer came: the process must now close stdout and exit, within
		// exitGrace of its answer and within the call's deadline.
		var bound = exitGrace(ctx)
		var restDone, fired, openAtKill atomic.Bool
		var t = time.AfterFunc(bound, func() {
			openAtKill.Store(!restDone.Load())
			fired.Store(true)
			p.kill()
		})
		trailing = r.rest(excerptPeek)
		restDone.Store(true)
		select {
		case <-p.done:
		case <-ctx.Done(): // watch kills it
			p.reaped(connector.KillTimeout)
		}
		t.Stop()
		var killed bool
		select {
		case <-p.killed:
			killed = true
		default:
		}
		if killed && (fired.Load() || ctx.Err() != nil) {
			linger = &lingerError{call: sub, what: p.what, bound: bound, stdoutOpen: !fired.Load() || openAtKill.Load()}
		}
	} else if !errors.Is(rerr, io.EOF) {
		p.kill() // it speaks something else: no point in waiting
	}
	p.stdout.Close()
	var grace = exitGrace(ctx)
	if rerr != nil {
		emptyKilled = p.wait(grace) && errors.Is(rerr, io.EOF) && ctx.Err() == nil
	}
	var werr = <-wdone

	var code, _ = p.exitStatus()
	switch {
	case rerr == nil && len(trailing) == 0 && code == 0:
		return nil // even if the deadline passed meanwhile
	case linger != nil:
		return p.callError(linger)
	case ctx.Err() == context.DeadlineExceeded:
		return p.callError(fmt.Errorf("no response within %s (%s); the connector was killed: %w",
			limit, whose, context.DeadlineExceeded))
	case ctx.Err() != nil:
		return p.callError(fmt.Errorf("no response before the call was cancelled; the connector was killed: %w", ctx.Err()))
	case emptyKilled:
		return p.callError(fmt.Errorf("closed stdout without writing a response, then %s did not exit within %s; it was killed", p.what, grace.Round(time.Millisecond)))
	case code != 0 && (rerr == nil || rerr == io.EOF):
		return p.callError(nil)
	case rerr == io.EOF:
		if werr != nil {
			return p.callError(fmt.Errorf("writing the request to stdin: %w", werr))
		}
		return p.callError(errors.New("exited without writing a response to stdout"))
	case rerr != nil:
		return p.callError(rerr)
	case len(trailing) > 0:
		return p.callError(&FrameError{Kind: ErrNotProtocol, Frame: 2,
			Msg: fmt.Sprintf("unexpected bytes on stdout after the response: %s "+
				"(a connector logging to stdout is a common bug: logs belong on stderr)", r.excerpt(trailing, len(trailing) == excerptPeek))})
	}
	return p.callError(nil) // code != 0
}

// exitGrace is how long a process may take to exit once it answered (or closed
// stdout): reapGrace, and no longer than the call's deadline.
func exitGrace(ctx context.Context) time.Duration {
	var d = reapGrace
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = max(left, 0)
		}
	}
	return d
}

// lingerError is a unary call whose answer came, but whose process did not exit
// within the bound: the message says that the answer came, and which wait ran out.
type lingerError struct {
	call, what string
	bound      time.Duration
	stdoutOpen bool
}

func (e *lingerError) Error() string {
	var how = "kept stdout open"
	if !e.stdoutOpen {
		how = "closed stdout"
	}
	return fmt.Sprintf("the connector answered %s, but %s did not exit within %s of the answer (it %s); it was killed", e.call, e.what, e.bound.Round(time.Millisecond), how)
}

// rest reads what remains of the stream, returning at most n bytes of it.
func (r *Reader) rest(n int) []byte {
	var b, _ = io.ReadAll(io.LimitReader(r.r, int64(n)))
	if len(b) == n {
		_, _ = io.Copy(io.Discard, r.r)
	}
	return b
}
