package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// withholds wraps the reference connector and withholds the responses drop selects:
// the connector runs correctly, but matsim never sees those answers.
type withholds struct {
	*reference.Driver
	drop func(*materialize.TransactionResponse) bool
}

type withholding struct {
	materialize.Driver_TransactionsServer
	drop func(*materialize.TransactionResponse) bool
}

func (w withholding) Send(m *materialize.TransactionResponse) error {
	if w.drop(m) {
		return nil
	}
	return w.Driver_TransactionsServer.Send(m)
}

func (w withholds) Transactions(stream materialize.Driver_TransactionsServer) error {
	return w.Driver.Transactions(withholding{stream, w.drop})
}

// endsAfterCommit ends every stream cleanly (no error) when the first Commit arrives,
// before answering it.
func endsAfterCommit() endsStream {
	return endsStream{reference.New(), func() func(*materialize.TransactionRequest) bool {
		return func(m *materialize.TransactionRequest) bool { return m.Commit != nil }
	}}
}

// basic has no run.vacuous guard (tests.go): a connector that would let a loop
// verify no stored document fails a load check instead.
func TestBasicCannotPassVacuously(t *testing.T) {
	// Loads answered with nothing at all.
	var rep = run(t, "basic", 4, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(withholds{reference.New(), func(m *materialize.TransactionResponse) bool { return m.Loaded != nil }}, "x")
	})
	if rep.Result.Check != string(CheckLoadMissing) || !strings.Contains(rep.Result.Message, "loop 2 of 3") {
		t.Fatalf("want load.missing in loop 2, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
	// Even with one document a loop, the one stored key of loop 2 must come back.
	rep = run(t, "basic", 4, `{}`, func(o *Options) {
		o.Start = 1
		o.Connector = connector.InProcess(withholds{reference.New(), func(m *materialize.TransactionResponse) bool { return m.Loaded != nil }}, "x")
	})
	if rep.Result.Check != string(CheckLoadMissing) || rep.Loops[1].Requested != 2 || rep.Loops[1].Verified != 0 {
		t.Fatalf("want load.missing in loop 2 (2 keys requested, none verified), got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

// delta has no run.vacuous guard (tests.go): a connector that does not commit every
// transaction fails when matsim awaits the commit.
func TestDeltaCannotPassVacuously(t *testing.T) {
	var rep = run(t, "delta", 4, `{}`, func(o *Options) {
		o.CallTimeout = 200 * time.Millisecond
		o.Connector = connector.InProcess(withholds{reference.New(), func(m *materialize.TransactionResponse) bool { return m.DriverCommitted != nil }}, "x")
	})
	if rep.Result.Check != string(CheckTimeout) || !strings.Contains(rep.Result.Message, "waiting for DriverCommitted") || rep.Result.LoopsDone != 1 {
		t.Fatalf("want connector.timeout awaiting the first DriverCommitted, got %s after %d loops: %s", rep.Result.Check, rep.Result.LoopsDone, rep.Result.Message)
	}
	rep = run(t, "delta", 4, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(endsAfterCommit(), "x")
	})
	if rep.Result.Check != string(CheckConnectorError) || !strings.Contains(rep.Result.Message, "closed the stream") {
		t.Fatalf("want connector.error for a stream ended before DriverCommitted, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}
