package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

// ServeOptions configure Serve. The zero value speaks the Dec 2021 revision with
// the default frame cap.
type ServeOptions struct {
	// Protocol is the revision to speak on stdin/stdout. Oct2021 emulates a connector
	// built against the October 2021 protocol around a Dec 2021 server: the `apply`
	// subcommand replaces `apply-upsert` and `apply-delete`, and no Acknowledge is
	// expected on stdin (Serve gives one to the server after Opened and after every
	// DriverCommitted, and swallows the server's Acknowledged). Era2022 emulates a
	// connector of the 2022 era (github.com/estuary/flow before April 2023) with its
	// rules: Acknowledge first in every transaction ("expected Acknowledge, got
	// Load", as its boilerplate says), and the runtime checkpoint read from
	// StartCommit (Commit's field 1), which it requires; the checkpoint of the Flush
	// (Prepare) it hands the server is replaced by it before the server commits.
	// Auto and "" mean Dec2021.
	Protocol connector.Revision
	// MaxFrame caps one incoming frame (DefaultMaxFrame when <= 0).
	MaxFrame int
}

// Subcommands of the stdio convention, per revision.
var (
	Dec2021Subcommands = []string{"spec", "validate", "apply-upsert", "apply-delete", "transactions"}
	Oct2021Subcommands = []string{"spec", "validate", "apply", "transactions"}
)

// UnknownSubcommandError is returned by Serve for a subcommand it does not know.
// Its message contains `unknown subcommand`, which clients use to detect the
// revision a connector speaks.
type UnknownSubcommandError struct {
	Subcommand string
	Protocol   connector.Revision
}

func (e *UnknownSubcommandError) Error() string {
	var want = Dec2021Subcommands
	if e.Protocol == connector.Oct2021 {
		want = Oct2021Subcommands
	}
	return fmt.Sprintf("unknown subcommand %q (protocol %s has %v)", e.Subcommand, e.Protocol, want)
}

// Serve runs one subcommand of the stdio convention against server, the connector
// side of what Client does:
//
//	args[0] is spec, validate, apply-upsert, apply-delete or transactions
//	(Oct 2021: apply instead of the two apply verbs). Unary subcommands read exactly
//	one length-prefixed request from stdin and write one response to stdout;
//	transactions serves the stream until stdin ends.
//
// A connector's main is then:
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		err := stdio.Serve(ctx, newServer(), os.Args[1:], os.Stdin, os.Stdout, stdio.ServeOptions{})
//		stop()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err) // logs and errors go to stderr, never stdout
//			os.Exit(1)
//		}
//	}
//
// Serve buffers stdout and flushes it before returning; it never closes stdin or stdout.
func Serve(ctx context.Context, server materialize.DriverServer, args []string, stdin io.Reader, stdout io.Writer, opts ServeOptions) error {
	var rev = opts.Protocol
	if rev != connector.Oct2021 && rev != connector.Era2022 {
		rev = connector.Dec2021
	}
	if len(args) == 0 {
		return fmt.Errorf("missing subcommand (protocol %s has %v)", rev, subcommands(rev))
	}
	var r = NewReader(stdin, opts.MaxFrame, "stdin")
	var w = NewWriter(stdout)
	var sub = args[0]

	switch {
	case sub == "spec":
		return serveUnary(ctx, sub, r, w, new(materialize.SpecRequest), server.Spec)
	case sub == "validate":
		return serveUnary(ctx, sub, r, w, new(materialize.ValidateRequest), server.Validate)
	case sub == "apply-upsert" && rev != connector.Oct2021, sub == "apply" && rev == connector.Oct2021:
		return serveUnary(ctx, sub, r, w, new(materialize.ApplyRequest), server.ApplyUpsert)
	case sub == "apply-delete" && rev != connector.Oct2021:
		return serveUnary(ctx, sub, r, w, new(materialize.ApplyRequest), server.ApplyDelete)
	case sub == "transactions":
		return serveTransactions(ctx, server, r, w, rev)
	}
	return &UnknownSubcommandError{Subcommand: sub, Protocol: rev}
}

func subcommands(rev connector.Revision) []string {
	if rev == connector.Oct2021 {
		return Oct2021Subcommands
	}
	return Dec2021Subcommands
}

func serveUnary[Req Message, Resp Message](ctx context.Context, sub string, r *Reader, w *Writer, req Req,
	call func(context.Context, Req) (Resp, error)) error {
	if err := r.Read(req); err == io.EOF {
		return fmt.Errorf("%s: no request on stdin", sub)
	} else if err != nil {
		return fmt.Errorf("%s: reading the request: %w", sub, err)
	}
	var resp, err = call(ctx, req)
	if err != nil {
		return fmt.Errorf("%s: %w", sub, err)
	}
	if err = w.WriteFlush(resp); err != nil {
		return fmt.Errorf("%s: writing the response: %w", sub, err)
	}
	return nil
}

func serveTransactions(ctx context.Context, server materialize.DriverServer, r *Reader, w *Writer, rev connector.Revision) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var s = &serveStream{
		ctx:  ctx,
		in:   make(chan recvResult, 64),
		ack:  make(chan struct{}, 2),
		w:    w,
		oct:  rev == connector.Oct2021,
		e22:  rev == connector.Era2022,
		next: want2022Acknowledge,
	}
	go s.readLoop(r)

	var err = server.Transactions(s)
	s.mu.Lock()
	var ferr = w.Flush()
	s.mu.Unlock()

	if err != nil {
		return fmt.Errorf("transactions: %w", err)
	} else if ferr != nil {
		return fmt.Errorf("transactions: writing stdout: %w", ferr)
	}
	return nil
}

type recvResult struct {
	m   *materialize.TransactionRequest
	err error
}

// serveStream is the materialize.Driver_TransactionsServer of Serve.
type serveStream struct {
	ctx context.Context
	in  chan recvResult
	ack chan struct{} // Oct2021: Acknowledges to inject
	mu  sync.Mutex    // guards w
	w   *Writer
	oct bool

	// Era2022 emulation (readLoop's goroutine only).
	e22     bool
	next    want2022
	prepare *materialize.TransactionRequest_Prepare // held until StartCommit brings the checkpoint
}

// want2022 is what a 2022-era connector expects next in a transaction.
type want2022 int

const (
	want2022Open want2022 = iota
	want2022Acknowledge
	want2022Any
)

var _ materialize.Driver_TransactionsServer = (*serveStream)(nil)

func (s *serveStream) readLoop(r *Reader) {
	defer close(s.in)
	for {
		var m = new(materialize.TransactionRequest)
		var err = r.Read(m)
		if err == nil && s.oct && m.Acknowledge != nil {
			err = errors.New("received Acknowledge, which is not part of the 2021-10 protocol this connector speaks")
		}
		if err == nil && s.e22 {
			err = s.rules2022(m)
		}
		if err == io.EOF {
			return
		}
		select {
		case s.in <- recvResult{m: m, err: err}:
		case <-s.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// rules2022 holds a request to the rules of a 2022-era connector (see ServeOptions)
// and moves StartCommit's runtime checkpoint into the Prepare the server holds.
func (s *serveStream) rules2022(m *materialize.TransactionRequest) error {
	switch {
	case m.Open != nil:
		s.next = want2022Acknowledge
		return nil
	case s.next == want2022Acknowledge && m.Acknowledge == nil:
		return fmt.Errorf("expected Acknowledge, got %s (a 2022-era connector reads Acknowledge first in every transaction)", name2022(m))
	case m.Acknowledge != nil:
		if s.next != want2022Acknowledge {
			return errors.New("unexpected Acknowledge: a 2022-era connector reads it only first in a transaction")
		}
		s.next = want2022Any
	case m.Prepare != nil:
		if len(m.Prepare.FlowCheckpoint) == 0 {
			m.Prepare.FlowCheckpoint = []byte{0} // a placeholder until StartCommit
		}
		s.prepare = m.Prepare
	case m.Commit != nil:
		var cp, err = startCommitCheckpoint(m.Commit.XXX_unrecognized)
		if err != nil {
			return err
		} else if len(cp) == 0 {
			return errors.New("StartCommit: expected RuntimeCheckpoint (a 2022-era connector reads the runtime checkpoint from StartCommit)")
		} else if s.prepare == nil {
			return errors.New("StartCommit before Flush")
		}
		s.prepare.FlowCheckpoint, s.prepare = cp, nil
		m.Commit.XXX_unrecognized = nil
		s.next = want2022Acknowledge
	}
	return nil
}

// startCommitCheckpoint reads StartCommit's runtime_checkpoint (field 1), which a
// 2021 Commit does not declare.
func startCommitCheckpoint(b []byte) ([]byte, error) {
	var cp []byte
	for len(b) > 0 {
		var num, typ, n = protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("StartCommit: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			var v, m = protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, fmt.Errorf("StartCommit: %v", protowire.ParseError(m))
			}
			cp, b = v, b[m:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return nil, fmt.Errorf("StartCommit: %v", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return cp, nil
}

// name2022 names a request as the 2022 era does.
func name2022(m *materialize.TransactionRequest) string {
	switch {
	case m.Load != nil:
		return "Load"
	case m.Prepare != nil:
		return "Flush"
	case m.Store != nil:
		return "Store"
	case m.Commit != nil:
		return "StartCommit"
	}
	return "an empty request"
}

func (s *serveStream) Recv() (*materialize.TransactionRequest, error) {
	// An injected Acknowledge goes first: the server expects it before what follows.
	select {
	case <-s.ack:
		return &materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, nil
	default:
	}
	select {
	case <-s.ack:
		return &materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, nil
	case rx, ok := <-s.in:
		if !ok {
			return nil, io.EOF
		}
		return rx.m, rx.err
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

func (s *serveStream) Send(m *materialize.TransactionResponse) error {
	if s.oct {
		if m.Acknowledged != nil {
			return nil // the Oct 2021 client never asked for it
		}
		if m.Opened != nil || m.DriverCommitted != nil {
			defer func() { s.ack <- struct{}{} }()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	if err := s.w.Write(m); err != nil {
		return fmt.Errorf("writing stdout: %w", err)
	}
	// Loaded responses are batched; everything else is awaited by the client.
	if m.Loaded == nil {
		if err := s.w.Flush(); err != nil {
			return fmt.Errorf("writing stdout: %w", err)
		}
	}
	return nil
}

func (s *serveStream) Context() context.Context     { return s.ctx }
func (s *serveStream) SetHeader(metadata.MD) error  { return nil }
func (s *serveStream) SendHeader(metadata.MD) error { return nil }
func (s *serveStream) SetTrailer(metadata.MD)       {}
func (s *serveStream) SendMsg(m interface{}) error {
	return s.Send(m.(*materialize.TransactionResponse))
}
func (s *serveStream) RecvMsg(m interface{}) error {
	var rx, err = s.Recv()
	if err != nil {
		return err
	}
	*m.(*materialize.TransactionRequest) = *rx
	return nil
}
