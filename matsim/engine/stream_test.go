package engine

import (
	"strings"
	"testing"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

// A message in a state that does not allow it fails with the check of that fault
// and names the state it arrived in.
func TestWrongStateNamesTheState(t *testing.T) {
	var loaded = func(binding uint32) *materialize.TransactionResponse {
		var l = &materialize.TransactionResponse_Loaded{Binding: binding, Arena: pf.Arena(`{}`)}
		l.DocsJson = []pf.Slice{{Begin: 0, End: 2}}
		return &materialize.TransactionResponse{Loaded: l}
	}
	var (
		opened    = &materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}
		acked     = &materialize.TransactionResponse{Acknowledged: &materialize.TransactionResponse_Acknowledged{}}
		prepared  = &materialize.TransactionResponse{Prepared: &pf.DriverCheckpoint{DriverCheckpointJson: []byte(`{}`)}}
		committed = &materialize.TransactionResponse{DriverCommitted: &materialize.TransactionResponse_DriverCommitted{}}
	)
	for _, c := range []struct {
		state       rxState
		loadsSent   int
		ackSent     bool
		prepareSent bool
		m           *materialize.TransactionResponse
		check       Check
		want        string
	}{
		{rxAwaitOpened, 0, false, false, acked, CheckProtocolOrder, "got Acknowledged while in state <awaitOpened>"},
		{rxAwaitCommitted, 1, false, false, loaded(0), CheckLoadedAfterPrep, "got Loaded between Prepared and DriverCommitted"},
		{rxAwaitCommitted, 0, false, false, loaded(0), CheckLoadedAfterPrep, "got Loaded between Prepared and DriverCommitted"},
		{rxPrepared, 1, true, true, loaded(0), CheckLoadedAfterPrep, "got Loaded between Prepared and DriverCommitted"},
		{rxAcknowledged, 1, true, false, loaded(2), CheckProtocolOrder, "got Loaded while in state <acknowledged>: Loaded for binding 2; the materialization has 1 binding(s)"},
		{rxAwaitAcknowledged, 0, true, false, loaded(0), CheckProtocolOrder, "got Loaded while in state <awaitAcknowledged>: Loaded sent but matsim sent no Load"},
		{rxAwaitAcknowledged, 0, false, false, acked, CheckProtocolOrder, "got Acknowledged while in state <awaitAcknowledged>: Acknowledged sent before matsim sent Acknowledge"},
		{rxAcknowledged, 0, true, false, acked, CheckAckTwice, "got Acknowledged while in state <acknowledged>"},
		{rxAwaitCommitted, 0, false, false, prepared, CheckProtocolOrder, "got Prepared while in state <awaitCommitted>"},
		{rxAcknowledged, 0, true, false, prepared, CheckProtocolOrder, "got Prepared while in state <acknowledged>: Prepared sent before matsim sent Prepare"},
		{rxAwaitAcknowledged, 0, true, true, prepared, CheckProtocolOrder, "got Prepared while in state <awaitAcknowledged>: Prepared sent before Acknowledged"},
		{rxAcknowledged, 0, true, true, committed, CheckCommittedEarly, "got DriverCommitted while in state <acknowledged>: DriverCommitted sent before Prepared"},
		{rxPrepared, 0, true, true, committed, CheckCommittedEarly, "got DriverCommitted while in state <prepared>: DriverCommitted sent before matsim sent Commit"},
		{rxAcknowledged, 0, true, false, opened, CheckProtocolOrder, "got Opened while in state <acknowledged>"},
	} {
		var o = newOracle(nil)
		var s = &stream{name: "stream", round: 1, rx: c.state, bindings: 1, loadsSent: c.loadsSent, ackSent: c.ackSent, prepareSent: c.prepareSent,
			judge: &loadJudge{oracles: []*oracle{o}, findings: []*findings{newFindings("p", "b")}}}
		var err = s.check(c.m)
		var f, ok = asFailure(err)
		if !ok || f.Check != c.check || !strings.Contains(f.Message, c.want) {
			t.Errorf("%s in state %s: want %s %q, got %v", kind(c.m), c.state, c.check, c.want, err)
		}
		if s.rx != c.state {
			t.Errorf("%s in state %s: a refused message moved the state to %s", kind(c.m), c.state, s.rx)
		}
	}
}

// A connector that sends a Loaded after Prepared, and one that sends it when Commit
// arrives, fail one check with one message, on every seed: which state matsim was in
// when the Loaded arrived is timing (the two defects once failed two checks, each
// the other's now and then, under load).
func TestLoadedBeforeCommittedFailsOneCheckWhateverTheTiming(t *testing.T) {
	for _, defect := range []string{"loaded-before-committed", "loaded-after-prepared"} {
		for seed := uint64(1); seed <= 20; seed++ {
			var rep = run(t, "basic", seed, `{"defect":"`+defect+`"}`, nil)
			if rep.Result.Check != string(CheckLoadedAfterPrep) || !strings.Contains(rep.Result.Message, "got Loaded between Prepared and DriverCommitted") {
				t.Fatalf("%s, seed %d: want %s, got %s: %s", defect, seed, CheckLoadedAfterPrep, rep.Result.Check, rep.Result.Message)
			}
		}
	}
}

// A Loaded document goes to the oracle of its binding: one of a binding the
// transaction loads nothing from is unrequested there, although the same key was
// requested from (and is stored in) another binding.
func TestLoadedGoesToTheOracleOfItsBinding(t *testing.T) {
	var src, err = newSource(func() TestData { return new(Rich) }, 1)
	if err != nil {
		t.Fatal(err)
	}
	var o0, o1 = newOracle(src), newOracle(src)
	var keys = o0.allocate(2)
	o1.cover(2)
	// Both keys stored at revision 1 in both bindings (hash 0: judged by value).
	for i := range keysOf(keys) {
		o0.sendStore(i, 0)
		o1.sendStore(i, 0)
	}
	var committed = txnStores{keys: keys}
	o0.commit(&committed)
	o1.commit(&committed)
	o0.beginLoads(keys)
	o1.beginLoads(nil)
	var s = &stream{name: "stream", round: 1, rx: rxAcknowledged, bindings: 2, loadsSent: 1, ackSent: true,
		judge: &loadJudge{oracles: []*oracle{o0, o1}, findings: []*findings{newFindings("p", "b0"), newFindings("p", "b1")}}}
	for _, b := range []uint32{0, 1} {
		var doc = src.appendJSON(nil, keys.nth(0), 1)
		var l = &materialize.TransactionResponse_Loaded{Binding: b, Arena: pf.Arena(doc), DocsJson: []pf.Slice{{Begin: 0, End: uint32(len(doc))}}}
		if err := s.check(&materialize.TransactionResponse{Loaded: l}); err != nil {
			t.Fatal(err)
		}
	}
	var got = map[string]Check{}
	for _, f := range s.judge.missing() {
		got[f.Binding] = f.Check
	}
	// Binding 0: key 0 verified, key 1 missing. Binding 1: key 0 unrequested.
	if len(got) != 2 || got["b0"] != CheckLoadMissing || got["b1"] != CheckLoadUnrequested {
		t.Fatalf("want load.missing on b0 and load.unrequested on b1, got %v", got)
	}
}
