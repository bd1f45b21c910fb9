package pgdriver

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/google/go-cmp/cmp"
)

// nastyDocs exercise what a JSON document may hold: unicode, escapes, U+0000,
// integers at and beyond ±2^53 and int64, floats from tiny to huge, nulls and
// absent optional fields, nested objects and arrays.
var nastyDocs = []string{
	`{"id":1,"name":"plain","big":9007199254740993,"flag":true,"num":0.1,"obj":{"a":[1,2,{"b":null}]},"opt":"x","mixed":7}`,
	`{"id":-9223372036854775808,"name":"naïve café 日本語 🚀 👩‍👩‍👧‍👦","big":-9007199254740993,"flag":false,"num":1e-300,"obj":{},"mixed":"seven"}`,
	`{"id":9223372036854775807,"name":"quote \" back\\slash \u0001 ctl \u2028","big":9223372036854775807,"num":1.7976931348623157e308,"obj":{"deep":{"deeper":[[],[{}]]}},"opt":null,"mixed":null}`,
	`{"id":0,"name":"","big":0,"flag":null,"num":-0.0,"obj":{"x":"\ud83d\ude80 \t\n\r"},"opt":"nul \u0000 in a value"}`,
	`{"id":2,"name":"ordering","num":12345678901234567890.123456789,"big":18446744073709551615,"obj":{"z":1,"a":2,"z2":1.0,"dup":1}}`,
}

func TestLoadStoreCommitRoundTrip(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/roundtrip", cfg, bindingOpt{table: "things"})
	applyUpsert(t, d, spec)

	var docs []doc
	for _, js := range nastyDocs {
		docs = append(docs, makeDoc(t, js))
	}
	var missing = makeDoc(t, `{"id":42,"name":"never stored"}`)

	var s, opened = openStream(t, d, spec, 0, 0xffffffff)
	if len(opened) != 0 {
		t.Fatalf("first Open returned checkpoint %q, want none", opened)
	}
	// Round 0: nothing exists yet.
	var loaded, err = s.round(0, append(docs, missing), docs, "ckpt-1")
	if err != nil {
		t.Fatalf("round 0: %v", err)
	}
	if len(loaded) != 0 {
		t.Fatalf("round 0 loaded %d documents from an empty table: %v", len(loaded), loaded)
	}
	// Round 1: every stored document comes back byte for byte; the missing key is omitted.
	loaded, err = s.round(0, append(docs, missing), nil, "ckpt-2")
	if err != nil {
		t.Fatalf("round 1: %v", err)
	}
	var want = append([]string(nil), nastyDocs...)
	sort.Strings(want)
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Fatalf("loaded documents (-stored +loaded):\n%s", diff)
	}
	// Round 2: update one document (and store it twice: the last one wins).
	var v2 = makeDoc(t, `{"id":1,"name":"plain","big":1,"num":2.5,"obj":{"v":2}}`)
	var v3 = makeDoc(t, `{"id":1,"name":"plain","big":2,"num":3.5,"obj":{"v":3}}`)
	if _, err = s.round(0, docs[:1], []doc{v2, v3}, "ckpt-3"); err != nil {
		t.Fatalf("round 2: %v", err)
	}
	if loaded, err = s.round(0, docs[:1], nil, "ckpt-4"); err != nil {
		t.Fatalf("round 3: %v", err)
	} else if diff := cmp.Diff([]string{v3.json}, loaded); diff != "" {
		t.Fatalf("after an update (-want +got):\n%s", diff)
	}
	if err = s.close(); err != nil {
		t.Fatalf("closing the stream: %v", err)
	}

	// The typed columns hold exact values; absent optional fields are NULL.
	var conn = srv.Conn(t, cfg.Database)
	var rows, qerr = conn.Query(context.Background(),
		`SELECT id::text, big::text, num::text, coalesce(opt, '<null>'), coalesce(flag::text, '<null>'), coalesce(mixed::text, '<null>')
		 FROM flow.things ORDER BY id`)
	if qerr != nil {
		t.Fatal(qerr)
	}
	var got []string
	for rows.Next() {
		var id, big, num, opt, flag, mixed string
		if err := rows.Scan(&id, &big, &num, &opt, &flag, &mixed); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{id, big, num, opt, flag, mixed}, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var wantCols = []string{
		"-9223372036854775808 | -9007199254740993 | " + "0." + strings.Repeat("0", 299) + "1" + " | <null> | false | \"seven\"",
		"0 | 0 | 0 | nul \uFFFD in a value | <null> | <null>",
		"1 | 2 | 3.5 | <null> | <null> | <null>",
		"2 | 18446744073709551615 | 12345678901234567000 | <null> | <null> | <null>",
		"9223372036854775807 | 9223372036854775807 | 17976931348623157" + strings.Repeat("0", 292) + " | <null> | <null> | <null>",
	}
	if diff := cmp.Diff(wantCols, got); diff != "" {
		t.Errorf("typed columns (-want +got):\n%s", diff)
	}

	// A new stream over the same range resumes from the last committed checkpoint.
	var s2, reopened = openStream(t, d, spec, 0, 0xffffffff)
	if string(reopened) != "ckpt-4" {
		t.Errorf("reopened checkpoint = %q, want ckpt-4", reopened)
	}
	s2.close()
}

func TestCancelledStreamRollsBack(t *testing.T) {
	var cfg, _ = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/cancel", cfg, bindingOpt{table: "things"})
	applyUpsert(t, d, spec)

	var committed = makeDoc(t, `{"id":1,"name":"committed"}`)
	var s, _ = openStream(t, d, spec, 0, 0xffffffff)
	if _, err := s.round(0, nil, []doc{committed}, "c1"); err != nil {
		t.Fatal(err)
	}
	// The runtime goes away in the middle of a store phase: no CloseSend, just a
	// cancelled context, with more rows staged than one flush.
	var inflight = make([]doc, flushRows+1)
	for i := range inflight {
		inflight[i] = makeDoc(t, fmt.Sprintf(`{"id":%d,"name":"in-flight"}`, i+100))
	}
	s.send(&pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}})
	s.send(&pm.TransactionRequest{Prepare: &pm.TransactionRequest_Prepare{FlowCheckpoint: []byte("c2")}})
	var st = &pm.TransactionRequest_Store{}
	for _, d := range inflight {
		st.PackedKeys = append(st.PackedKeys, st.Arena.Add(d.key))
		st.PackedValues = append(st.PackedValues, st.Arena.Add(d.values))
		st.DocsJson = append(st.DocsJson, st.Arena.Add([]byte(d.json)))
		st.Exists = append(st.Exists, false)
	}
	s.send(&pm.TransactionRequest{Store: st})
	for {
		var resp, err = s.c.Recv()
		if err != nil {
			t.Fatalf("before Prepared: %v", err)
		}
		if resp.Prepared != nil {
			break
		}
	}
	s.cancel()
	drain(s.c) // returns once Transactions has returned

	var s2, opened = openStream(t, d, spec, 0, 0xffffffff)
	if string(opened) != "c1" {
		t.Errorf("checkpoint after the abandoned round = %q, want c1", opened)
	}
	var loaded, err = s2.round(0, append([]doc{committed}, inflight[:3]...), nil, "c3")
	if err != nil {
		t.Fatalf("a new stream after the abandoned one: %v", err)
	}
	if diff := cmp.Diff([]string{committed.json}, loaded); diff != "" {
		t.Errorf("after an abandoned round (-want +got):\n%s", diff)
	}
}

func TestTwoBindingsInOneTransaction(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/two", cfg, bindingOpt{table: "things"}, bindingOpt{table: "events", delta: true})
	applyUpsert(t, d, spec)

	var a = makeDoc(t, `{"id":1,"name":"a","num":1}`)
	var b = makeDoc(t, `{"id":2,"name":"b","num":2}`)
	var s, _ = openStream(t, d, spec, 0, 0xffffffff)
	// One round storing to both bindings: the runtime interleaves Store requests.
	s.send(&pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}})
	s.send(&pm.TransactionRequest{Prepare: &pm.TransactionRequest_Prepare{FlowCheckpoint: []byte("c1")}})
	for _, r := range []struct {
		binding uint32
		d       doc
	}{{0, a}, {1, a}, {1, b}, {0, b}} {
		var st = &pm.TransactionRequest_Store{Binding: r.binding}
		st.PackedKeys = append(st.PackedKeys, st.Arena.Add(r.d.key))
		st.PackedValues = append(st.PackedValues, st.Arena.Add(r.d.values))
		st.DocsJson = append(st.DocsJson, st.Arena.Add([]byte(r.d.json)))
		st.Exists = append(st.Exists, false)
		s.send(&pm.TransactionRequest{Store: st})
	}
	s.send(&pm.TransactionRequest{Commit: &pm.TransactionRequest_Commit{}})
	for _, want := range []string{"Acknowledged", "Prepared", "DriverCommitted"} {
		var resp, err = s.c.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if got := describeResponse(resp); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	var loaded, err = s.round(0, []doc{a, b}, nil, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a.json, b.json}, loaded); diff != "" {
		t.Errorf("binding 0 loads (-want +got):\n%s", diff)
	}
	var n int
	if err := srv.Conn(t, cfg.Database).QueryRow(context.Background(), `SELECT count(*) FROM flow.events`).Scan(&n); err != nil || n != 2 {
		t.Errorf("delta binding has %d rows (err %v), want 2", n, err)
	}
}

func TestNulInAKeyIsAClearError(t *testing.T) {
	var cfg, _ = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/nul", cfg, bindingOpt{table: "things"})
	applyUpsert(t, d, spec)
	var s, _ = openStream(t, d, spec, 0, 0xffffffff)
	var _, err = s.round(0, nil, []doc{makeDoc(t, `{"id":1,"name":"a\u0000b"}`)}, "c1")
	if err == nil || !strings.Contains(err.Error(), `key field "name" holds U+0000`) {
		t.Fatalf("storing a key with U+0000: err = %v, want an error naming the field", err)
	}
}

func TestManyDocumentsCrossTheFlushThreshold(t *testing.T) {
	var cfg, _ = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/many", cfg, bindingOpt{table: "many"})
	applyUpsert(t, d, spec)

	var n = 2*flushRows + 123
	var docs = make([]doc, n)
	var want = make([]string, n)
	for i := range docs {
		docs[i] = makeDoc(t, fmt.Sprintf(`{"id":%d,"name":"k%d","big":%d,"num":%d.5,"obj":{}}`, i, i%7, i*3, i))
		want[i] = docs[i].json
	}
	sort.Strings(want)

	var s, _ = openStream(t, d, spec, 0, 0xffffffff)
	if _, err := s.round(0, docs, docs, "c1"); err != nil {
		t.Fatalf("storing %d documents: %v", n, err)
	}
	var loaded, err = s.round(0, docs, nil, "c2")
	if err != nil {
		t.Fatalf("loading %d documents: %v", n, err)
	}
	if len(loaded) != n {
		t.Fatalf("loaded %d documents, want %d", len(loaded), n)
	}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Fatalf("loaded documents (-want +got):\n%s", diff)
	}
}

func TestFencing(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/fenced", cfg, bindingOpt{table: "things"})
	applyUpsert(t, d, spec)
	var conn = srv.Conn(t, cfg.Database)
	var count = func(name string) int {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM flow.things WHERE name = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The old stream covers the whole key space and commits once.
	var old, _ = openStream(t, d, spec, 0, 0xffffffff)
	if _, err := old.round(0, nil, []doc{makeDoc(t, `{"id":1,"name":"old-1"}`)}, "old-ckpt"); err != nil {
		t.Fatalf("old stream's first commit: %v", err)
	}

	// A newer stream opens half of it: it inherits the covering checkpoint and fences the old one.
	var newer, opened = openStream(t, d, spec, 0, 0x7fffffff)
	if string(opened) != "old-ckpt" {
		t.Errorf("newer stream opened with checkpoint %q, want the covering range's old-ckpt", opened)
	}

	// The old stream's next commit fails, and nothing of it is visible.
	var _, err = old.round(0, nil, []doc{makeDoc(t, `{"id":2,"name":"zombie"}`)}, "zombie-ckpt")
	if err == nil || !strings.Contains(err.Error(), "fenced off") {
		t.Fatalf("old stream committed after being fenced: err = %v, want it to say fenced off", err)
	}
	if n := count("zombie"); n != 0 {
		t.Errorf("a fenced commit left %d rows behind", n)
	}

	// A stream of the other half overlaps only the old row: the newer stream keeps committing.
	var other, opened2 = openStream(t, d, spec, 0x80000000, 0xffffffff)
	if string(opened2) != "old-ckpt" {
		t.Errorf("other half opened with checkpoint %q, want old-ckpt", opened2)
	}
	if _, err = newer.round(0, nil, []doc{makeDoc(t, `{"id":3,"name":"newer"}`)}, "newer-ckpt"); err != nil {
		t.Fatalf("newer stream's commit after a non-overlapping Open: %v", err)
	}
	if _, err = other.round(0, nil, []doc{makeDoc(t, `{"id":4,"name":"other"}`)}, "other-ckpt"); err != nil {
		t.Fatalf("other half's commit: %v", err)
	}
	if count("newer") != 1 || count("other") != 1 || count("old-1") != 1 {
		t.Errorf("rows: newer=%d other=%d old-1=%d, want 1 each", count("newer"), count("other"), count("old-1"))
	}

	// Reopening the newer range resumes from its own checkpoint, not the old one.
	var again, opened3 = openStream(t, d, spec, 0, 0x7fffffff)
	if string(opened3) != "newer-ckpt" {
		t.Errorf("reopened checkpoint = %q, want newer-ckpt", opened3)
	}
	again.close()
	if _, err = newer.round(0, nil, []doc{makeDoc(t, `{"id":5,"name":"late"}`)}, "late"); err == nil {
		t.Errorf("newer stream committed after the same range was reopened")
	}
}

func TestDeltaUpdatesAppend(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/delta", cfg, bindingOpt{table: "events", delta: true})
	applyUpsert(t, d, spec)

	var a1 = makeDoc(t, `{"id":1,"name":"a","num":1}`)
	var a2 = makeDoc(t, `{"id":1,"name":"a","num":2}`)
	var s, _ = openStream(t, d, spec, 0, 0xffffffff)
	if _, err := s.round(0, nil, []doc{a1, a2}, "c1"); err != nil {
		t.Fatalf("round 0: %v", err)
	}
	if _, err := s.round(0, nil, []doc{a1}, "c2"); err != nil {
		t.Fatalf("round 1: %v", err)
	}
	var got []string
	var rows, err = srv.Conn(t, cfg.Database).Query(context.Background(), `SELECT flow_document::text FROM flow.events ORDER BY ctid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{a1.json, a2.json, a1.json}, got); diff != "" {
		t.Errorf("delta rows (-want +got):\n%s", diff)
	}

	// Loads make no sense for a delta binding: the stream fails.
	if _, err := s.round(0, []doc{a1}, nil, "c3"); err == nil || !strings.Contains(err.Error(), "delta-updates") {
		t.Errorf("Load on a delta binding: err = %v, want a protocol error", err)
	}
}

func TestProtocolOrderIsEnforced(t *testing.T) {
	var cfg, _ = testDB(t)
	var d = new(Driver)
	var spec = testSpec(t, "acme/order", cfg, bindingOpt{table: "things"})
	applyUpsert(t, d, spec)

	var ack = &pm.TransactionRequest{Acknowledge: &pm.TransactionRequest_Acknowledge{}}
	var prepare = &pm.TransactionRequest{Prepare: &pm.TransactionRequest_Prepare{FlowCheckpoint: []byte("c")}}
	for _, tc := range []struct {
		name string
		reqs []*pm.TransactionRequest
		want string
	}{
		{"Prepare before Acknowledge", []*pm.TransactionRequest{prepare}, "Prepare before Acknowledge"},
		{"two Acknowledges", []*pm.TransactionRequest{ack, ack}, "second Acknowledge"},
		{"Commit in the load phase", []*pm.TransactionRequest{ack, {Commit: &pm.TransactionRequest_Commit{}}}, "unexpected Commit"},
		{"second Open", []*pm.TransactionRequest{{Open: &pm.TransactionRequest_Open{Materialization: spec, Version: "v", KeyEnd: 1}}}, "unexpected Open"},
		{"unknown binding", []*pm.TransactionRequest{{Load: &pm.TransactionRequest_Load{Binding: 7, PackedKeys: make([]pf.Slice, 1)}}}, "binding 7 doesn't exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s, _ = openStream(t, d, spec, 0, 0xffffffff)
			for _, r := range tc.reqs {
				s.send(r)
			}
			var err error
			for err == nil {
				_, err = s.c.Recv()
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
