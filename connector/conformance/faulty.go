// Package conformance holds the fault-injecting connector of the cross-transport
// conformance suite: the reference connector with one fault (engine.FaultTable) at
// one call. Run in process (Server) or as a stdio connector process (Main, Run,
// and the faultconnector binary for images), the same scenario must fail the same
// check with the same exit code over every transport; conformance_test.go asserts
// it over in-process, --command, --image and --endpoint through connector-proxy.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/matsim/engine"
)

// Calls a fault can be injected at: the setup calls, the requests of a
// transactions stream (at their first occurrence), and End, the end of the stream
// once matsim closed it.
const (
	CallSpec        = "Spec"
	CallValidate    = "Validate"
	CallApplyUpsert = "ApplyUpsert"
	CallOpen        = "Open"
	CallAcknowledge = "Acknowledge"
	CallLoad        = "Load"
	CallPrepare     = "Prepare"
	CallStore       = "Store"
	CallCommit      = "Commit"
	CallEnd         = "End"
)

// Scenario is one fault at one call. Delay is how long a slow-exit takes to exit.
type Scenario struct {
	Call  string
	Fault engine.Fault
	Delay time.Duration
}

func (s Scenario) String() string {
	if s.Delay > 0 {
		return fmt.Sprintf("%s:%s:%s", s.Call, s.Fault, s.Delay)
	}
	return fmt.Sprintf("%s:%s", s.Call, s.Fault)
}

// ParseScenario reads the String form ("Load:hang", "End:slow-exit:250ms"); ""
// is no fault.
func ParseScenario(s string) (Scenario, error) {
	if s == "" {
		return Scenario{}, nil
	}
	var parts = strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Scenario{}, fmt.Errorf("scenario %q is not CALL:FAULT[:DELAY]", s)
	}
	var sc = Scenario{Call: parts[0], Fault: engine.Fault(parts[1])}
	if len(parts) == 3 {
		var err error
		if sc.Delay, err = time.ParseDuration(parts[2]); err != nil {
			return Scenario{}, fmt.Errorf("scenario %q: %w", s, err)
		}
	}
	return sc, nil
}

// Env holds the scenario of the faultconnector binary.
const Env = "FLOWSIM_FAULT"

// Arg is the argv[1] marker of a test binary re-executed as the fault connector.
const Arg = "conformance-connector"

// Main runs this process as the fault connector when its arguments say so
// (argv: Arg SCENARIO SUBCOMMAND, or Arg SCENARIO --protocol 2023), and never
// returns then. Call it first in TestMain.
func Main() {
	if len(os.Args) < 4 || os.Args[1] != Arg {
		return
	}
	Run(os.Args[2], os.Args[3:])
}

// Run serves one subcommand as the fault connector with the scenario, then exits.
func Run(scenario string, args []string) {
	var sc, err = ParseScenario(scenario)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance connector:", err)
		os.Exit(2)
	}
	// As the reference connector's binary: --protocol 2023 (or $FLOWSIM_CONNECTOR_PROTOCOL)
	// speaks today's era, one stream with no subcommand.
	err = stdio.ServeArgs(context.Background(), &server{inner: reference.New(), sc: sc, proc: true}, args, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance connector:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Server is the reference connector with sc's fault, run in process. Faults that
// only a process can have (garbage on stdout, lingering after an answer) panic.
func Server(sc Scenario) materialize.DriverServer {
	return &server{inner: reference.New(), sc: sc}
}

// InProcess reports whether a scenario can happen to a connector in process:
// there is no stdout to write garbage to, and a unary call that answered has
// returned.
func InProcess(sc Scenario) bool {
	switch sc.Fault {
	case engine.FaultGarbage:
		return false
	case engine.FaultSlowExit, engine.FaultLinger:
		return sc.Call == CallEnd
	}
	return true
}

type server struct {
	inner *reference.Driver
	sc    Scenario
	proc  bool // a connector process: crash with os.Exit, write garbage to stdout
}

// Injected is the stderr line (or error) of an injected crash.
func Injected(call string) string { return "panic: fault injected at " + call }

// fault acts before call answers. done says the call must return err (and no
// response) at once.
func (s *server) fault(ctx context.Context, call string) (done bool, err error) {
	if s.sc.Call != call {
		return false, nil
	}
	switch s.sc.Fault {
	case engine.FaultError:
		if s.proc {
			fmt.Fprintln(os.Stderr, Injected(call))
			os.Exit(7)
		}
		return true, errors.New(Injected(call))
	case engine.FaultHang:
		if s.proc {
			time.Sleep(time.Hour) // a hung process: nothing but a kill ends it
		}
		<-ctx.Done()
		return true, ctx.Err()
	case engine.FaultGarbage:
		if !s.proc {
			panic("garbage on stdout needs a connector process")
		}
		_, _ = os.Stdout.WriteString("INFO connector: this log line is not a frame\n")
		os.Exit(0)
	case engine.FaultNoAnswer:
		if s.proc {
			os.Exit(0)
		}
		return true, nil
	}
	return false, nil
}

// answered acts once a unary call has its response: a process writes it itself,
// then exits late or not at all.
func (s *server) answered(call string, resp stdio.Message) {
	if s.sc.Call != call || !s.proc || (s.sc.Fault != engine.FaultSlowExit && s.sc.Fault != engine.FaultLinger) {
		return
	}
	var w = stdio.NewWriter(os.Stdout)
	if err := w.WriteFlush(resp); err != nil {
		os.Exit(1)
	}
	if s.sc.Fault == engine.FaultSlowExit {
		time.Sleep(s.sc.Delay)
		os.Exit(0)
	}
	time.Sleep(time.Hour) // stdout stays open
}

func (s *server) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	if done, err := s.fault(ctx, CallSpec); done {
		return nil, err
	}
	var resp, err = s.inner.Spec(ctx, req)
	if err == nil && s.sc.Call == CallSpec && s.sc.Fault == engine.FaultInvalid {
		resp.DocumentationUrl = ""
	}
	if err == nil {
		s.answered(CallSpec, resp)
	}
	return resp, err
}

func (s *server) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	if done, err := s.fault(ctx, CallValidate); done {
		return nil, err
	}
	var resp, err = s.inner.Validate(ctx, req)
	if err == nil && s.sc.Call == CallValidate && s.sc.Fault == engine.FaultInvalid {
		resp.Bindings = nil
	}
	if err == nil {
		s.answered(CallValidate, resp)
	}
	return resp, err
}

func (s *server) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	if done, err := s.fault(ctx, CallApplyUpsert); done {
		return nil, err
	}
	var resp, err = s.inner.ApplyUpsert(ctx, req)
	if err == nil {
		s.answered(CallApplyUpsert, resp)
	}
	return resp, err
}

func (s *server) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return s.inner.ApplyDelete(ctx, req)
}

func (s *server) Transactions(stream materialize.Driver_TransactionsServer) error {
	return s.inner.Transactions(&faultStream{Driver_TransactionsServer: stream, s: s})
}

// faultStream injects the scenario's fault at the first request of its kind, or
// at the end of the stream.
type faultStream struct {
	materialize.Driver_TransactionsServer
	s     *server
	fired bool
}

func requestKind(m *materialize.TransactionRequest) string {
	switch {
	case m.Open != nil:
		return CallOpen
	case m.Acknowledge != nil:
		return CallAcknowledge
	case m.Load != nil:
		return CallLoad
	case m.Prepare != nil:
		return CallPrepare
	case m.Store != nil:
		return CallStore
	case m.Commit != nil:
		return CallCommit
	}
	return ""
}

func (fs *faultStream) Recv() (*materialize.TransactionRequest, error) {
	var m, err = fs.Driver_TransactionsServer.Recv()
	var ctx = fs.Context()
	if err == io.EOF && fs.s.sc.Call == CallEnd {
		switch fs.s.sc.Fault {
		case engine.FaultSlowExit:
			time.Sleep(fs.s.sc.Delay)
		case engine.FaultLinger:
			if fs.s.proc {
				time.Sleep(time.Hour) // stdout stays open
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return m, err
	}
	if err != nil || fs.fired || requestKind(m) != fs.s.sc.Call || fs.s.sc.Fault == engine.FaultInvalid {
		return m, err
	}
	fs.fired = true
	if done, ferr := fs.s.fault(ctx, fs.s.sc.Call); done {
		if ferr == nil {
			return nil, io.EOF // in process: end the stream without answering
		}
		return nil, ferr
	}
	return m, err
}

func (fs *faultStream) Send(m *materialize.TransactionResponse) error {
	if fs.s.sc.Call == CallPrepare && fs.s.sc.Fault == engine.FaultInvalid && m.Prepared != nil && !fs.fired {
		fs.fired = true
		var cp = *m
		cp.Prepared = &pf.DriverCheckpoint{Rfc7396MergePatch: true} // empty: fails Validate()
		m = &cp
	}
	return fs.Driver_TransactionsServer.Send(m)
}
