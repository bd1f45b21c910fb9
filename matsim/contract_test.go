package matsim

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// counting counts the Transactions of a reference connector still running.
type counting struct {
	*reference.Driver
	running *atomic.Int32
}

func (c counting) Transactions(stream materialize.Driver_TransactionsServer) error {
	c.running.Add(1)
	defer c.running.Add(-1)
	return c.Driver.Transactions(stream)
}

// Every stream a run opens has stopped when Execute returns, whichever way the run
// ends: a failed check (the stream is abandoned mid-transaction), a crash in
// recovery, a fenced stream, or a pass. Before sessions had Kill, an abandoned
// in-process stream left its server goroutine blocked in Recv for ever.
func TestNoStreamOutlivesTheRun(t *testing.T) {
	for _, tc := range []struct {
		test, config string
		passes       bool
	}{
		{"basic", `{"defect":"drop-store"}`, false},
		{"basic", `{"defect":"ack-never"}`, false},
		{"recovery", `{}`, true},
		{"fence", `{}`, true},
		{"fence", `{"defect":"no-fence"}`, false},
		{"basic", `{}`, true},
	} {
		t.Run(tc.test+tc.config, func(t *testing.T) {
			var running atomic.Int32
			var ref = reference.New()
			var rep = Execute(context.Background(), Options{
				Test:      tc.test,
				Connector: connector.InProcess(counting{ref, &running}, "reference"),
				Reopen: func(context.Context) (connector.Connector, error) {
					ref = ref.Restart()
					return connector.InProcess(counting{ref, &running}, "reference (restarted)"), nil
				},
				Config: json.RawMessage(tc.config), Resource: json.RawMessage(`{"name":"t"}`),
				Loops: 2, Start: 30, Batch: 10, Seed: 5, CallTimeout: 300 * time.Millisecond,
			})
			if rep.Passed() != tc.passes {
				t.Fatalf("passed = %v: %s %s", rep.Passed(), rep.Result.Check, rep.Result.Message)
			}
			if n := running.Load(); n != 0 {
				t.Fatalf("%d Transactions of the connector still running after Execute returned", n)
			}
		})
	}
}
