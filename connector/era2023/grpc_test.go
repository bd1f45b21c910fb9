package era2023_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"

	"github.com/flowsim/flowsim/connector/era2023"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// TestNeutralServerOverGRPC: a neutral server served as materialize.Connector, and
// driven through the runtime side of the translation, answers in the neutral model.
func TestNeutralServerOverGRPC(t *testing.T) {
	var lis = bufconn.Listen(1 << 20)
	var srv = grpc.NewServer()
	w.RegisterConnectorServer(srv, era2023.ConnectorServer(&memServer{store: map[string]json.RawMessage{}}))
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	var cc, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	var s w.ClientStream
	if s, err = w.OpenMaterialize(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	if err = s.Send(era2023.SpecRequest(&protocol.SpecRequest{})); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil || era2023.NeutralSpec(resp.GetSpec()).Protocol != era2023.ProtocolNumber {
		t.Fatalf("Spec: %v, %v", resp, err)
	}
	var send = func(r *protocol.Request) {
		var ws, err = era2023.AppendRequests(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ws {
			if err := s.Send(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var recv = func() *protocol.Response {
		var m, err = s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		r, err := era2023.NeutralResponse(m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send(&protocol.Request{Open: &protocol.Open{Materialization: materialization(), Version: "v1", KeyEnd: 0xffffffff}})
	if recv().Opened == nil {
		t.Fatal("no Opened")
	}
	send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	if recv().Acknowledged == nil {
		t.Fatal("no Acknowledged")
	}
	send(&protocol.Request{Flush: &protocol.Flush{}})
	if recv().Flushed == nil {
		t.Fatal("no Flushed")
	}
	send(&protocol.Request{Store: &protocol.Store{Docs: []protocol.StoredDoc{{KeyPacked: []byte{1}, ValuesPacked: []byte{2}, Doc: json.RawMessage(`{"a":1}`)}}}})
	send(&protocol.Request{StartCommit: &protocol.StartCommit{}})
	if r := recv(); r.StartedCommit == nil || string(r.StartedCommit.State.JSON) != `{"commits":1}` || !r.StartedCommit.State.MergePatch {
		t.Fatalf("got %+v, want StartedCommit with the connector's state", r)
	}
	send(&protocol.Request{Acknowledge: &protocol.Acknowledge{}})
	recv()
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want io.EOF", err)
	}
}
