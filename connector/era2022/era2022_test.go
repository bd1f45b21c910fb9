package era2022_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector/era2022"
	"github.com/flowsim/flowsim/protocol"
	w "github.com/flowsim/flowsim/protocol/wire2022"
	"github.com/google/go-cmp/cmp"
)

func TestRequests(t *testing.T) {
	var got, err = era2022.AppendRequests(nil, &protocol.Request{Store: &protocol.Store{Binding: 2, Docs: []protocol.StoredDoc{
		{KeyPacked: []byte("k1"), ValuesPacked: []byte("v1"), Doc: json.RawMessage(`{"a":1}`), Exists: true},
		{KeyPacked: []byte("k2"), ValuesPacked: []byte("v2"), Doc: json.RawMessage(`{}`)},
	}}}, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %d messages", err, len(got))
	}
	var s = got[0].Store
	var at = func(sl *w.Slice) string { return string(s.Arena[sl.Begin:sl.End]) }
	if s.Binding != 2 || at(s.PackedKeys[1]) != "k2" || at(s.PackedValues[0]) != "v1" || at(s.DocsJson[0]) != `{"a":1}` ||
		!s.Exists[0] || s.Exists[1] {
		t.Errorf("Store: %v", s)
	}
	open, err := era2022.AppendRequests(nil, &protocol.Request{Open: &protocol.Open{Version: "v1", KeyBegin: 1, KeyEnd: 2, State: json.RawMessage(`{"s":1}`)}}, []byte{0x0a, 1, 'm'})
	if err != nil || string(open[0].Open.DriverCheckpointJson) != `{"s":1}` || open[0].Open.KeyEnd != 2 || len(open[0].Open.Materialization) != 3 {
		t.Errorf("Open: %v, %v", open, err)
	}
	if got, _ := era2022.AppendRequests(nil, &protocol.Request{Load: &protocol.Load{}}, nil); len(got) != 0 {
		t.Errorf("an empty Load was sent (a protocol error in these eras): %v", got)
	}
	for _, bad := range []struct {
		req  *protocol.Request
		spec []byte
		want string
	}{
		{&protocol.Request{Open: &protocol.Open{Version: "v1"}}, nil, "MaterializationSpec"},
		{&protocol.Request{Open: &protocol.Open{}}, []byte{1}, "version"},
		{&protocol.Request{StartCommit: &protocol.StartCommit{}}, nil, "runtime checkpoint"},
		{&protocol.Request{}, nil, "cannot send"},
	} {
		if _, err := era2022.AppendRequests(nil, bad.req, bad.spec); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error saying %q", bad.req.Name(), err, bad.want)
		}
	}
}

func TestResponses(t *testing.T) {
	var tests = []struct {
		name string
		in   *w.TransactionResponse
		want *protocol.Response
	}{
		{"Opened", &w.TransactionResponse{Opened: &w.TransactionResponse_Opened{RuntimeCheckpoint: []byte("cp")}},
			&protocol.Response{Opened: &protocol.Opened{RuntimeCheckpoint: []byte("cp")}}},
		{"Loaded", &w.TransactionResponse{Loaded: &w.TransactionResponse_Loaded{Binding: 1, Arena: []byte(`{"a":1}{"b":2}`),
			DocsJson: []*w.Slice{{Begin: 7, End: 14}, {Begin: 0, End: 7}}}},
			&protocol.Response{Loaded: &protocol.Loaded{Binding: 1, Docs: []json.RawMessage{json.RawMessage(`{"b":2}`), json.RawMessage(`{"a":1}`)}}}},
		{"Prepared or Flushed", &w.TransactionResponse{Flushed: &w.DriverCheckpoint{DriverCheckpointJson: []byte(`{"x":1}`), Rfc7396MergePatch: true}},
			&protocol.Response{Flushed: &protocol.Flushed{State: &protocol.StateUpdate{JSON: json.RawMessage(`{"x":1}`), MergePatch: true}}}},
		{"DriverCommitted", &w.TransactionResponse{StartedCommit: &w.TransactionResponse_StartedCommit{}},
			&protocol.Response{StartedCommit: &protocol.StartedCommit{}}},
		{"StartedCommit with state", &w.TransactionResponse{StartedCommit: &w.TransactionResponse_StartedCommit{DriverCheckpoint: &w.DriverCheckpoint{DriverCheckpointJson: []byte(`{"c":2}`)}}},
			&protocol.Response{StartedCommit: &protocol.StartedCommit{State: &protocol.StateUpdate{JSON: json.RawMessage(`{"c":2}`)}}}},
		{"Acknowledged", &w.TransactionResponse{Acknowledged: &w.TransactionResponse_Acknowledged{}},
			&protocol.Response{Acknowledged: &protocol.Acknowledged{}}},
	}
	for _, tc := range tests {
		var got, err = era2022.NeutralResponse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	for _, bad := range []struct {
		in   *w.TransactionResponse
		want string
	}{
		{&w.TransactionResponse{}, "0 messages"},
		{&w.TransactionResponse{Opened: &w.TransactionResponse_Opened{}, Acknowledged: &w.TransactionResponse_Acknowledged{}}, "2 messages"},
		{&w.TransactionResponse{Loaded: &w.TransactionResponse_Loaded{Arena: []byte("x"), DocsJson: []*w.Slice{{Begin: 0, End: 9}}}}, "outside its arena"},
		{&w.TransactionResponse{Loaded: &w.TransactionResponse_Loaded{Binding: 3}}, "no documents"},
	} {
		if _, err := era2022.NeutralResponse(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want an error saying %q", bad.in, err, bad.want)
		}
	}
}
