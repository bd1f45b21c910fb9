// Package stdiotest provides a small, strict in-memory connector and a fault-injecting
// stdio harness for the transport tests: a test binary re-executes itself as the
// connector (see Main and Command), so no other binary needs to be built.
package stdiotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
)

// Server is a strict in-memory Dec 2021 connector: it fails the stream on an
// out-of-order message (notably Prepare before Acknowledge), which makes it a check
// of the Oct 2021 adapters.
type Server struct {
	mu   sync.Mutex
	docs map[string][]byte // binding/key -> document
}

// NewServer returns an empty Server.
func NewServer() *Server { return &Server{docs: map[string][]byte{}} }

var _ materialize.DriverServer = (*Server)(nil)

// Spec returns a fixed schema.
func (s *Server) Spec(context.Context, *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	return &materialize.SpecResponse{
		EndpointSpecSchemaJson: []byte(`{"type":"object"}`),
		ResourceSpecSchemaJson: []byte(`{"type":"object"}`),
		DocumentationUrl:       "https://example.com/stdiotest",
	}, nil
}

// Validate accepts everything.
func (s *Server) Validate(context.Context, *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	return &materialize.ValidateResponse{}, nil
}

// ApplyUpsert describes itself.
func (s *Server) ApplyUpsert(_ context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return &materialize.ApplyResponse{ActionDescription: "upsert " + req.Version}, nil
}

// ApplyDelete describes itself.
func (s *Server) ApplyDelete(_ context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return &materialize.ApplyResponse{ActionDescription: "delete " + req.Version}, nil
}

// Hooks let a fault mode intervene in Transactions.
var beforeResponse func(req *materialize.TransactionRequest)

// Transactions serves the stream strictly in order.
func (s *Server) Transactions(stream materialize.Driver_TransactionsServer) error {
	var req, err = stream.Recv()
	if err != nil {
		return fmt.Errorf("reading Open: %w", err)
	} else if req.Open == nil {
		return fmt.Errorf("expected Open, got %v", req)
	}
	if err = stream.Send(&materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}); err != nil {
		return err
	}
	var acked bool
	var staged = map[string][]byte{}
	for {
		if req, err = stream.Recv(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if beforeResponse != nil {
			beforeResponse(req)
		}
		switch {
		case req.Acknowledge != nil:
			if acked {
				return errors.New("protocol error: two Acknowledge in one round")
			}
			acked = true
			if err = stream.Send(&materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{}}); err != nil {
				return err
			}
		case req.Load != nil:
			var loaded = &materialize.TransactionResponse_Loaded{Binding: req.Load.Binding}
			s.mu.Lock()
			for _, k := range req.Load.PackedKeys {
				if doc, ok := s.docs[docKey(req.Load.Binding, req.Load.Arena.Bytes(k))]; ok {
					loaded.DocsJson = append(loaded.DocsJson, loaded.Arena.Add(doc))
				}
			}
			s.mu.Unlock()
			if len(loaded.DocsJson) != 0 {
				if err = stream.Send(&materialize.TransactionResponse{Loaded: loaded}); err != nil {
					return err
				}
			}
		case req.Prepare != nil:
			if !acked {
				return errors.New("protocol error: Prepare before Acknowledge")
			}
			if err = stream.Send(&materialize.TransactionResponse{Prepared: &flow.DriverCheckpoint{DriverCheckpointJson: []byte(`{}`)}}); err != nil {
				return err
			}
		case req.Store != nil:
			for i, k := range req.Store.PackedKeys {
				staged[docKey(req.Store.Binding, req.Store.Arena.Bytes(k))] = bytes.Clone(req.Store.Arena.Bytes(req.Store.DocsJson[i]))
			}
		case req.Commit != nil:
			s.mu.Lock()
			for k, v := range staged {
				s.docs[k] = v
			}
			s.mu.Unlock()
			staged = map[string][]byte{}
			acked = false
			if err = stream.Send(&materialize.TransactionResponse{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{}}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected request %v", req)
		}
	}
}

func docKey(binding uint32, key []byte) string { return fmt.Sprintf("%d/%s", binding, key) }

// Arg is the argv[1] marker of a re-executed test binary.
const Arg = "stdiotest-connector"

// Command returns the argv that runs this test binary as a connector in mode
// (one of the Modes); a client appends the subcommand. TestMain must call Main first.
func Command(mode string) []string {
	var self, err = os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return []string{self, Arg, mode}
}

// Modes of the re-executed connector.
const (
	ModeOK           = "ok"             // Dec 2021, well behaved
	ModeOct          = "oct"            // Oct 2021 emulation
	ModeLogStdout    = "log-stdout"     // logs a line to stdout before serving
	ModeExit3        = "exit3"          // writes an error to stderr, exits 3
	ModeBigStderr    = "big-stderr"     // writes 10 KiB of numbered stderr lines, exits 1
	ModeOversize     = "oversize"       // answers with a 2 MiB frame
	ModeTruncated    = "truncated"      // answers with a frame cut short, exits 0
	ModeHang         = "hang"           // never answers
	ModeHangPrepare  = "hang-prepare"   // serves transactions but never answers Prepare
	ModeDieOnLoad    = "die-on-load"    // exits 7 with a panic message at the first Load
	ModeTrailing     = "trailing"       // writes a log line to stdout after the response
	ModeNoResponse   = "no-response"    // exits 0 without writing anything
	ModeKilledOnLoad = "killed-on-load" // is killed by SIGKILL at the first Load
	ModeFloodThenDie = "flood-then-die" // answers Open with Opened and 1000 Loaded, then exits 9
	ModeCloseHang    = "close-hang"     // closes stdout without answering, then never exits
	ModeAnswerLinger = "answer-linger"  // answers, then never exits, stdout left open
)

// Main runs this process as a connector when its arguments say so (see Command), and
// never returns in that case. Call it first thing in TestMain.
func Main() {
	if len(os.Args) < 3 || os.Args[1] != Arg {
		return
	}
	// With no subcommand (as today's era runs a connector, which flowsim tries when
	// the subcommand eras fail) it is still the connector, never the test suite.
	Run(os.Args[2], os.Args[3:])
}

// ModeEnv selects the mode of the fakeconnector binary (default ModeOK), for images
// whose entrypoint takes only the subcommand.
const ModeEnv = "STDIOTEST_MODE"

// Run serves one subcommand (args) as a connector in mode, then exits the process.
func Run(mode string, args []string) {
	var opts stdio.ServeOptions
	switch mode {
	case ModeOct:
		opts.Protocol = connector.Oct2021
	case ModeLogStdout:
		fmt.Fprintln(os.Stdout, "INFO connector starting up, reading config")
	case ModeExit3:
		fmt.Fprintln(os.Stderr, "error: invalid endpoint config: missing host")
		os.Exit(3)
	case ModeBigStderr:
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(os.Stderr, "log line %04d\n", i) // 14 bytes each
		}
		os.Exit(1)
	case ModeOversize:
		var hdr = []byte{0, 0, 0x20, 0} // 2 MiB
		os.Stdout.Write(hdr)
		os.Stdout.Write(make([]byte, 1024))
		os.Exit(0)
	case ModeTruncated:
		os.Stdout.Write([]byte{100, 0, 0, 0})
		os.Stdout.Write([]byte("0123456789"))
		os.Exit(0)
	case ModeHang:
		time.Sleep(time.Hour)
	case ModeNoResponse:
		os.Exit(0)
	case ModeCloseHang:
		fmt.Fprintln(os.Stderr, "closing stdout")
		os.Stdout.Close()
		time.Sleep(time.Hour)
	case ModeHangPrepare:
		beforeResponse = func(req *materialize.TransactionRequest) {
			if req.Prepare != nil {
				time.Sleep(time.Hour)
			}
		}
	case ModeFloodThenDie:
		var r, w = stdio.NewReader(os.Stdin, 0, "stdin"), stdio.NewWriter(os.Stdout)
		_ = r.Read(new(materialize.TransactionRequest))
		_ = w.Write(&materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}})
		for i := 0; i < 1000; i++ {
			var l = &materialize.TransactionResponse_Loaded{}
			l.DocsJson = append(l.DocsJson, l.Arena.Add([]byte(`{"flood":true}`)))
			_ = w.Write(&materialize.TransactionResponse{Loaded: l})
		}
		_ = w.Flush()
		fmt.Fprintln(os.Stderr, "flooded")
		os.Exit(9)
	case ModeKilledOnLoad:
		beforeResponse = func(req *materialize.TransactionRequest) {
			if req.Load != nil {
				fmt.Fprintln(os.Stderr, "loading…")
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Hour)
			}
		}
	case ModeDieOnLoad:
		beforeResponse = func(req *materialize.TransactionRequest) {
			if req.Load != nil {
				fmt.Fprintln(os.Stderr, "panic: disk on fire")
				os.Exit(7)
			}
		}
	}
	var err = stdio.Serve(context.Background(), NewServer(), args, os.Stdin, os.Stdout, opts)
	if mode == ModeTrailing {
		fmt.Fprintln(os.Stdout, "INFO done")
	}
	if mode == ModeAnswerLinger {
		fmt.Fprintln(os.Stderr, "answered, lingering")
		time.Sleep(time.Hour)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Exercise drives a connector through Open and two rounds: the first stores docs
// documents, the second loads them all back and checks every one. It is a smoke
// test of a transport, independent of the matsim engine.
func Exercise(ctx context.Context, c connector.Connector, docs int) error {
	var stream, err = c.Transactions(ctx)
	if err != nil {
		return fmt.Errorf("starting transactions: %w", err)
	}
	var expect = func(what string, ok func(*materialize.TransactionResponse) bool) error {
		var m, err = stream.Recv()
		if err != nil {
			return fmt.Errorf("awaiting %s: %w", what, err)
		} else if !ok(m) {
			return fmt.Errorf("awaiting %s: got %v", what, m)
		}
		return nil
	}
	var send = func(m *materialize.TransactionRequest) error {
		if err := stream.Send(m); err != nil {
			return fmt.Errorf("sending %v: %w", m, err)
		}
		return nil
	}
	var ack = &materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}
	var prepare = &materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{FlowCheckpoint: []byte("cp")}}
	var commit = &materialize.TransactionRequest{Commit: &materialize.TransactionRequest_Commit{}}

	if err = send(&materialize.TransactionRequest{Open: &materialize.TransactionRequest_Open{Version: "v1", KeyEnd: ^uint32(0)}}); err != nil {
		return err
	} else if err = expect("Opened", func(m *materialize.TransactionResponse) bool { return m.Opened != nil }); err != nil {
		return err
	}
	// Round 1: store.
	if err = send(ack); err != nil {
		return err
	} else if err = expect("Acknowledged", func(m *materialize.TransactionResponse) bool { return m.Acknowledged != nil }); err != nil {
		return err
	} else if err = send(prepare); err != nil {
		return err
	} else if err = expect("Prepared", func(m *materialize.TransactionResponse) bool { return m.Prepared != nil }); err != nil {
		return err
	}
	const batch = 1000
	for i := 0; i < docs; i += batch {
		var st = &materialize.TransactionRequest_Store{}
		for j := i; j < min(i+batch, docs); j++ {
			st.PackedKeys = append(st.PackedKeys, st.Arena.Add(fmt.Appendf(nil, "key-%08d", j)))
			st.PackedValues = append(st.PackedValues, st.Arena.Add(fmt.Appendf(nil, "%d", j)))
			st.DocsJson = append(st.DocsJson, st.Arena.Add(fmt.Appendf(nil, `{"key":"key-%08d","n":%d}`, j, j)))
			st.Exists = append(st.Exists, false)
		}
		if err = send(&materialize.TransactionRequest{Store: st}); err != nil {
			return err
		}
	}
	if err = send(commit); err != nil {
		return err
	} else if err = expect("DriverCommitted", func(m *materialize.TransactionResponse) bool { return m.DriverCommitted != nil }); err != nil {
		return err
	}
	// Round 2: load everything back.
	if err = send(ack); err != nil {
		return err
	}
	for i := 0; i < docs; i += batch {
		var ld = &materialize.TransactionRequest_Load{}
		for j := i; j < min(i+batch, docs); j++ {
			ld.PackedKeys = append(ld.PackedKeys, ld.Arena.Add(fmt.Appendf(nil, "key-%08d", j)))
		}
		if err = send(&materialize.TransactionRequest{Load: ld}); err != nil {
			return err
		}
	}
	if err = send(prepare); err != nil {
		return err
	}
	var seen = make(map[string]bool, docs)
	var acked bool
	for {
		var m, err = stream.Recv()
		if err != nil {
			return fmt.Errorf("awaiting Loaded/Prepared: %w", err)
		}
		if m.Acknowledged != nil {
			acked = true
			continue
		}
		if m.Prepared != nil {
			break
		}
		if m.Loaded == nil {
			return fmt.Errorf("awaiting Loaded: got %v", m)
		}
		for _, d := range m.Loaded.DocsJson {
			seen[string(m.Loaded.Arena.Bytes(d))] = true
		}
	}
	if !acked {
		return errors.New("round 2: no Acknowledged before Prepared")
	}
	for j := 0; j < docs; j++ {
		var want = fmt.Sprintf(`{"key":"key-%08d","n":%d}`, j, j)
		if !seen[want] {
			return fmt.Errorf("round 2: document %s was not loaded (%d of %d loaded)", want, len(seen), docs)
		}
	}
	if err = send(commit); err != nil {
		return err
	} else if err = expect("DriverCommitted", func(m *materialize.TransactionResponse) bool { return m.DriverCommitted != nil }); err != nil {
		return err
	}
	if err = stream.CloseSend(); err != nil {
		return fmt.Errorf("CloseSend: %w", err)
	}
	if m, err := stream.Recv(); err != io.EOF {
		return fmt.Errorf("after CloseSend: want io.EOF, got %v, %v", m, err)
	}
	return nil
}
