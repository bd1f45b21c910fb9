package stdio

import (
	"strings"
	"testing"

	"github.com/estuary/protocols/materialize"
	"google.golang.org/protobuf/encoding/protowire"
)

// The 2022-era emulation holds a stream to that era's rules: Acknowledge first in
// every transaction, and StartCommit's runtime checkpoint, which replaces the one the
// held Flush (Prepare) carried.
func TestRules2022(t *testing.T) {
	var req = func(f func(*materialize.TransactionRequest)) *materialize.TransactionRequest {
		var m = new(materialize.TransactionRequest)
		f(m)
		return m
	}
	var open = req(func(m *materialize.TransactionRequest) { m.Open = &materialize.TransactionRequest_Open{} })
	var ack = req(func(m *materialize.TransactionRequest) { m.Acknowledge = &materialize.TransactionRequest_Acknowledge{} })
	var load = req(func(m *materialize.TransactionRequest) { m.Load = &materialize.TransactionRequest_Load{} })
	var flush = func() *materialize.TransactionRequest {
		return req(func(m *materialize.TransactionRequest) { m.Prepare = &materialize.TransactionRequest_Prepare{} })
	}
	var startCommit = func(cp string) *materialize.TransactionRequest {
		var c = &materialize.TransactionRequest_Commit{}
		if cp != "" {
			c.XXX_unrecognized = protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte(cp))
		}
		return &materialize.TransactionRequest{Commit: c}
	}

	var s = &serveStream{e22: true}
	for i, m := range []*materialize.TransactionRequest{open, ack, load} {
		if err := s.rules2022(m); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	var f = flush()
	if err := s.rules2022(f); err != nil || string(f.Prepare.FlowCheckpoint) != "\x00" {
		t.Fatalf("Flush: %v, checkpoint %q (want the placeholder)", err, f.Prepare.FlowCheckpoint)
	}
	var c = startCommit("runtime-cp")
	if err := s.rules2022(c); err != nil || string(f.Prepare.FlowCheckpoint) != "runtime-cp" || c.Commit.XXX_unrecognized != nil {
		t.Fatalf("StartCommit: %v; the held Flush has %q", err, f.Prepare.FlowCheckpoint)
	}
	// The next transaction starts with Acknowledge, or the connector fails.
	if err := s.rules2022(load); err == nil || !strings.Contains(err.Error(), "expected Acknowledge, got Load") {
		t.Fatalf("Load before Acknowledge: %v", err)
	}
	s = &serveStream{e22: true}
	for _, m := range []*materialize.TransactionRequest{open, ack, flush()} {
		if err := s.rules2022(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.rules2022(startCommit("")); err == nil || !strings.Contains(err.Error(), "expected RuntimeCheckpoint") {
		t.Fatalf("StartCommit without a checkpoint: %v", err)
	}
	// Acknowledge anywhere but first is refused too.
	s = &serveStream{e22: true}
	for _, m := range []*materialize.TransactionRequest{open, ack, load} {
		_ = s.rules2022(m)
	}
	if err := s.rules2022(ack); err == nil {
		t.Fatal("a second Acknowledge in a transaction was accepted")
	}
}
