package engine

import (
	"context"
	"encoding/json"
	"fmt"
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

// skipsEqualVersions treats a reapplication of the version it already applied to a
// materialization as a no-op, as the SQL drivers of the protocols module of 2021 do
// ("a reapplication of the current version is a no-op"). Its applied versions live
// in the endpoint (here: with the store), so they outlive a run.
type skipsEqualVersions struct {
	*reference.Driver
	applied map[string]string // materialization -> version
	tables  map[string]bool   // tables created by an ApplyUpsert
}

func (s skipsEqualVersions) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	var mat = string(req.Materialization.Materialization)
	if s.applied[mat] == req.Version {
		return &materialize.ApplyResponse{ActionDescription: "version " + req.Version + " already applied"}, nil
	}
	var resp, err = s.Driver.ApplyUpsert(ctx, req)
	if err == nil {
		s.applied[mat] = req.Version
		for _, b := range req.Materialization.Bindings {
			s.tables[b.ResourcePath[0]] = true
		}
	}
	return resp, err
}

// Transactions fails on a table no ApplyUpsert created, as a SQL store does
// ("relation does not exist").
func (s skipsEqualVersions) Transactions(stream materialize.Driver_TransactionsServer) error {
	return s.Driver.Transactions(tablesMustExist{stream, s.tables})
}

type tablesMustExist struct {
	materialize.Driver_TransactionsServer
	tables map[string]bool
}

func (t tablesMustExist) Recv() (*materialize.TransactionRequest, error) {
	var m, err = t.Driver_TransactionsServer.Recv()
	if err == nil && m.Open != nil {
		for _, b := range m.Open.Materialization.Bindings {
			if !t.tables[b.ResourcePath[0]] {
				return nil, fmt.Errorf("relation %q does not exist", b.ResourcePath[0])
			}
		}
	}
	return m, err
}

// A rerun with the same seed and a fresh table (what the load.phantom hint tells a
// user to do) passes against a connector that skips equal versions: the version
// follows the spec's content, and the materialization's name the resource, not the
// seed alone.
func TestReusedSeedWithAFreshTable(t *testing.T) {
	var conn = skipsEqualVersions{reference.New(), map[string]string{}, map[string]bool{}}
	for _, table := range []string{"first", "fresh"} {
		var rep = Execute(context.Background(), Options{
			Test: "basic", Connector: connector.InProcess(conn, "skips equal versions"),
			Resource: json.RawMessage(`{"name":"` + table + `"}`),
			Loops:    2, Start: 20, Batch: 10, Seed: 11, CallTimeout: 5 * time.Second,
		})
		if !rep.Passed() {
			t.Fatalf("table %s: %s: %s", table, rep.Result.Check, rep.Result.Message)
		}
	}
	// The resource is part of the materialization's identity: two materializations.
	if len(conn.applied) != 2 {
		t.Fatalf("applied %v: want two materializations, one per table", conn.applied)
	}
}
