package inproc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/connector/era2023/inproc"
	"github.com/flowsim/flowsim/connector/era2023/inproc/inproctest"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func materialization() *protocol.Materialization {
	return &protocol.Materialization{
		Name: "flowsim/tiny", Config: json.RawMessage(`{}`),
		Bindings: []*protocol.Binding{{
			Resource: json.RawMessage(`{"table":"t"}`), ResourcePath: []string{"t"},
			Collection: protocol.Collection{Name: "flowsim/docs", Schema: json.RawMessage(`{"type":"object"}`), Key: []string{"/k"},
				Projections: []protocol.Projection{
					{Ptr: "/k", Field: "k", IsPrimaryKey: true, Inference: protocol.Inference{Types: []string{"integer"}, MustExist: true}},
					{Ptr: "/v", Field: "v", Inference: protocol.Inference{Types: []string{"string"}}},
				}},
			Fields: protocol.FieldSelection{Keys: []string{"k"}, Values: []string{"v"}},
		}},
	}
}

func TestUnaryCalls(t *testing.T) {
	var ctx = context.Background()
	var c = &inproctest.Tiny{}
	var m = materialization()

	var resp, err = inproc.Call(ctx, c, era2023.SpecRequest(&protocol.SpecRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := era2023.NeutralSpec(resp.GetSpec()); got.Protocol != era2023.ProtocolNumber || got.DocumentationURL != "https://example.com" {
		t.Errorf("Spec: %+v", got)
	}
	resp, err = inproc.Call(ctx, c, era2023.ValidateRequest(&protocol.ValidateRequest{Name: m.Name, Config: m.Config,
		Bindings: []*protocol.ValidateBinding{{Resource: m.Bindings[0].Resource, Collection: m.Bindings[0].Collection}}}, false))
	if err != nil {
		t.Fatal(err)
	}
	validated, err := era2023.NeutralValidated(resp.GetValidated())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]protocol.Constraint{
		"k": {Type: protocol.LocationRequired, Reason: "tiny"}, "v": {Type: protocol.LocationRecommended, Reason: "tiny"},
	}, validated.Bindings[0].Constraints); d != "" {
		t.Errorf("Validated (-want +got):\n%s", d)
	}
	apply, err := era2023.ApplyRequest(&protocol.ApplyRequest{Materialization: m, Version: "v7"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = inproc.Call(ctx, c, apply); err != nil || resp.GetApplied().GetActionDescription() != "applied v7" {
		t.Errorf("Apply: %v, %v", resp, err)
	}
}

// session drives one transactions stream from the neutral side.
type session struct {
	t *testing.T
	s *inproc.Stream
}

func (x session) send(r *protocol.Request) {
	x.t.Helper()
	var ws, err = era2023.AppendRequests(nil, r)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, m := range ws {
		if err := x.s.Send(m); err != nil {
			x.t.Fatalf("sending %s: %v", r.Name(), err)
		}
	}
}

func (x session) recv() *protocol.Response {
	x.t.Helper()
	var m, err = x.s.Recv()
	if err != nil {
		x.t.Fatal(err)
	}
	r, err := era2023.NeutralResponse(m)
	if err != nil {
		x.t.Fatal(err)
	}
	return r
}

func TestTransactions(t *testing.T) {
	var c = &inproctest.Tiny{}
	var x = session{t, inproc.Open(context.Background(), c)}
	var cp, _ = era2023.CheckpointBytes(&w.Checkpoint{Sources: map[string]*w.Checkpoint_Source{"j": {ReadThrough: 9}}})

	x.send(&protocol.Request{Open: &protocol.Open{Materialization: materialization(), Version: "v1", KeyEnd: 0xffffffff, State: json.RawMessage(`{"commits":0}`)}})
	if r := x.recv(); r.Opened == nil {
		t.Fatalf("got %s, want Opened", r.Name())
	}
	if string(c.Opened().StateJson) != `{"commits":0}` || c.Opened().Range.KeyEnd != 0xffffffff {
		t.Errorf("the connector was opened with %v", c.Opened())
	}
	var keys = [][]byte{{0x15, 1}, {0x15, 2}}
	for round := 1; round <= 2; round++ {
		x.send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
		if r := x.recv(); r.Acknowledged == nil {
			t.Fatalf("round %d: got %s, want Acknowledged", round, r.Name())
		}
		x.send(&protocol.Request{Load: &protocol.Load{Keys: keys}})
		x.send(&protocol.Request{Flush: &protocol.Flush{RuntimeCheckpoint: cp}})
		var loaded []string
		for {
			var r = x.recv()
			if r.Flushed != nil {
				break
			}
			loaded = append(loaded, string(r.Loaded.Docs[0]))
		}
		if round == 1 && len(loaded) != 0 || round == 2 && len(loaded) != 2 {
			t.Errorf("round %d: loaded %q", round, loaded)
		}
		x.send(&protocol.Request{Store: &protocol.Store{Docs: []protocol.StoredDoc{
			{KeyPacked: keys[0], ValuesPacked: []byte{0x02, 'a', 0}, Doc: json.RawMessage(`{"k":1,"v":"a"}`)},
			{KeyPacked: keys[1], ValuesPacked: []byte{0x02, 'b', 0}, Doc: json.RawMessage(`{"k":2,"v":"b"}`)},
		}}})
		x.send(&protocol.Request{StartCommit: &protocol.StartCommit{RuntimeCheckpoint: cp}})
		var r = x.recv()
		var want = &protocol.StateUpdate{JSON: json.RawMessage(fmt.Sprintf(`{"commits":%d}`, round)), MergePatch: true}
		if r.StartedCommit == nil || !cmp.Equal(want, r.StartedCommit.State, cmpopts.EquateEmpty()) {
			t.Fatalf("round %d: got %+v, want StartedCommit with state %s", round, r, want.JSON)
		}
	}
	// The clean end: requests closed after Acknowledged.
	x.send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	x.recv()
	_ = x.s.CloseSend()
	if _, err := x.s.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want io.EOF", err)
	}
	if err := x.s.Send(&w.Request{Acknowledge: &w.Request_Acknowledge{}}); err == nil {
		t.Error("Send after CloseSend succeeded")
	}
}

func TestConnectorErrorAndKill(t *testing.T) {
	var boom = errors.New("disk full")
	var x = session{t, inproc.Open(context.Background(), &inproctest.Tiny{Fail: boom})}
	x.send(&protocol.Request{Open: &protocol.Open{Materialization: materialization(), Version: "v1", KeyEnd: 1}})
	x.recv()
	x.send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	x.recv()
	x.send(&protocol.Request{Flush: &protocol.Flush{}})
	x.recv()
	x.send(&protocol.Request{Store: &protocol.Store{Docs: []protocol.StoredDoc{{KeyPacked: []byte{1}, ValuesPacked: []byte{2}, Doc: json.RawMessage(`{}`)}}}})
	if _, err := x.s.Recv(); !errors.Is(err, boom) {
		t.Errorf("Recv: %v, want the connector's error", err)
	}
	if err := x.s.Send(&w.Request{Acknowledge: &w.Request_Acknowledge{}}); err != io.EOF {
		t.Errorf("Send after the connector returned: %v, want io.EOF", err)
	}

	// Kill: a connector blocked reading requests sees its context end, and Kill
	// returns once Materialize returned.
	var y = inproc.Open(context.Background(), &inproctest.Tiny{})
	var ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := y.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := y.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Materialize after Kill: %v, want context.Canceled", err)
	}
}

type panics struct{}

func (panics) Materialize(pm.Connector_MaterializeServer) error { panic("oops") }

func TestConnectorPanicIsAnError(t *testing.T) {
	var s = inproc.Open(context.Background(), panics{})
	if _, err := s.Recv(); err == nil || !strings.Contains(err.Error(), "connector panicked: oops") {
		t.Errorf("Recv: %v", err)
	}
}

// TestNoTwoRealModules: the package must not link the 2021 module
// (github.com/estuary/protocols), or a binary with it panics at start-up.
func TestNoTwoRealModules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list dependencies with")
	}
	for _, pkg := range []string{"github.com/flowsim/flowsim/connector/era2023/inproc", "github.com/flowsim/flowsim/connector/era2023", "github.com/flowsim/flowsim/protocol/wire2023"} {
		var out, err = exec.Command("go", "list", "-tags", "nozstd", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/estuary/protocols/") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
		if pkg != "github.com/flowsim/flowsim/connector/era2023/inproc" && strings.Contains(string(out), "github.com/estuary/flow/") {
			t.Errorf("%s links the real current-era module; only its in-process adapter may", pkg)
		}
	}
}
