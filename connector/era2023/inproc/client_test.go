package inproc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/connector/era2023/inproc"
	"github.com/flowsim/flowsim/connector/era2023/inproc/inproctest"
	"github.com/flowsim/flowsim/protocol"
)

func TestClient(t *testing.T) {
	var ctx = context.Background()
	var c = inproc.NewClient(&inproctest.Tiny{})
	var m = materialization()

	spec, err := c.Spec(ctx, &protocol.SpecRequest{})
	if err != nil || spec.Protocol != era2023.ProtocolNumber {
		t.Fatalf("Spec: %+v, %v", spec, err)
	}
	v, err := c.Validate(ctx, &protocol.ValidateRequest{Name: m.Name, Config: m.Config, LastMaterialization: m,
		Bindings: []*protocol.ValidateBinding{{Resource: m.Bindings[0].Resource, Collection: m.Bindings[0].Collection}}})
	if err != nil || v.Bindings[0].Constraints["k"].Type != protocol.LocationRequired {
		t.Fatalf("Validate: %+v, %v", v, err)
	}
	a, err := c.Apply(ctx, &protocol.ApplyRequest{Materialization: m, Version: "v3"})
	if err != nil || a.ActionDescription != "applied v3" {
		t.Fatalf("Apply: %+v, %v", a, err)
	}

	s, err := c.Transactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var expect = func(name string) *protocol.Response {
		t.Helper()
		var r, err = s.Recv()
		if err != nil || r.Name() != name {
			t.Fatalf("got %v, %v; want %s", r, err, name)
		}
		return r
	}
	var send = func(r *protocol.Request) {
		t.Helper()
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	send(&protocol.Request{Open: &protocol.Open{Materialization: m, Version: "v3", KeyEnd: 0xffffffff}})
	expect("Opened")
	send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	expect("Acknowledged")
	send(&protocol.Request{Flush: &protocol.Flush{}})
	expect("Flushed")
	send(&protocol.Request{Store: &protocol.Store{Docs: []protocol.StoredDoc{{KeyPacked: []byte{0x15, 1}, ValuesPacked: []byte{2}, Doc: json.RawMessage(`{"k":1}`)}}}})
	send(&protocol.Request{StartCommit: &protocol.StartCommit{}})
	if r := expect("StartedCommit"); string(r.StartedCommit.State.JSON) != `{"commits":1}` {
		t.Errorf("state %s", r.StartedCommit.State.JSON)
	}
	send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	expect("Acknowledged")
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want io.EOF", err)
	}
	if err := s.Kill(); err != nil {
		t.Errorf("Kill after the end: %v", err)
	}
}

// badSpec answers Spec without a documentation URL.
type badSpec struct{}

func (badSpec) Materialize(s pm.Connector_MaterializeServer) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	return s.Send(&pm.Response{Spec: &pm.Response_Spec{Protocol: 3032023, ConfigSchemaJson: json.RawMessage(`{}`), ResourceConfigSchemaJson: json.RawMessage(`{}`)}})
}

func TestClientInvalidResponse(t *testing.T) {
	var _, err = inproc.NewClient(badSpec{}).Spec(context.Background(), &protocol.SpecRequest{})
	var invalid *era2023.InvalidResponseError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "documentation URL") {
		t.Errorf("Spec: %v, want an invalid-response error naming the documentation URL", err)
	}
}
