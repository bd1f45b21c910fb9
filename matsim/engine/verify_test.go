package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// rowsOf reads every delta row of a reference connector's table t.
func rowsOf(t *testing.T, ref *reference.Driver) [][]byte {
	t.Helper()
	var out [][]byte
	if err := ref.DeltaRows(nil, "t", func(doc []byte) error { out = append(out, append([]byte(nil), doc...)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// alteredRows is a verifier that reads the reference connector's rows and lets a
// test change them, as a broken destination would.
func alteredRows(ref *reference.Driver, alter func(rows [][]byte) [][]byte) Verifier {
	return VerifierFunc{Name: "altered rows", Fn: func(_ context.Context, path []string, fn func([]byte) error) error {
		var rows [][]byte
		if err := ref.DeltaRows(nil, path[0], func(doc []byte) error { rows = append(rows, append([]byte(nil), doc...)); return nil }); err != nil {
			return err
		}
		for _, r := range alter(rows) {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}}
}

func deltaWith(t *testing.T, alter func(rows [][]byte) [][]byte) *Report {
	t.Helper()
	return run(t, "delta", 4, `{}`, func(o *Options) {
		var ref = reference.New()
		o.Connector = connector.InProcess(ref, "reference")
		o.Reopen = nil
		o.Verifier = alteredRows(ref, alter)
	})
}

func TestDeltaVerifyPassesAndCountsRows(t *testing.T) {
	var rep = run(t, "delta --verify", 2, `{}`, nil)
	if !rep.Passed() {
		t.Fatalf("%s: %s", rep.Result.Check, rep.Result.Message)
	}
	if rep.Result.Verified != rep.Result.Stored || rep.Result.Stored != 60+120+240 {
		t.Fatalf("verified %d of %d stored rows", rep.Result.Verified, rep.Result.Stored)
	}
	// With a verifier the last loop runs on a new stream after a restart.
	var opened = 0
	for _, n := range rep.Notes {
		if strings.Contains(n, "read back 420 row(s)") {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("notes do not report the rows read back: %v", rep.Notes)
	}
}

func TestDeltaVerifyComparesAsAMultiset(t *testing.T) {
	var cases = []struct {
		name  string
		alter func([][]byte) [][]byte
		check Check
		says  string
	}{
		{"members reordered and numbers respelled, as jsonb prints them", func(rows [][]byte) [][]byte {
			for k, r := range rows {
				var v map[string]json.RawMessage
				if err := json.Unmarshal(r, &v); err != nil {
					panic(err)
				}
				rows[k], _ = json.Marshal(v) // sorted members
			}
			return rows
		}, "", ""},
		{"one row missing", func(rows [][]byte) [][]byte { return rows[1:] }, CheckDeltaMissing, "was not read back"},
		{"one row twice", func(rows [][]byte) [][]byte { return append(rows, rows[7]) }, CheckDeltaDuplicate, "×2"},
		{"a row twice and another of the same count missing", func(rows [][]byte) [][]byte {
			rows[3] = rows[4]
			return rows
		}, CheckDeltaDuplicate, "read back more than once"},
		{"a row of another run", func(rows [][]byte) [][]byte {
			return append(rows, []byte(`{"id":1,"name":"not ours","flag":true}`))
		}, CheckDeltaExtra, "matches no document matsim committed"},
		{"a row that is not JSON", func(rows [][]byte) [][]byte { return append(rows, []byte(`<html>`)) }, CheckDeltaExtra, "not a JSON document"},
		{"a value changed", func(rows [][]byte) [][]byte {
			var v map[string]interface{}
			_ = json.Unmarshal(rows[5], &v)
			v["flag"] = v["flag"] != true
			rows[5], _ = json.Marshal(v)
			return rows
		}, CheckDeltaValue, "/flag: expected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rep = deltaWith(t, c.alter)
			if c.check == "" {
				if !rep.Passed() {
					t.Fatalf("%s: %s", rep.Result.Check, rep.Result.Message)
				}
				return
			}
			if rep.Result.Check != string(c.check) || !strings.Contains(rep.Result.Message, c.says) || rep.ExitCode() != 1 {
				t.Fatalf("got %s (exit %d): %s; want %s saying %q", rep.Result.Check, rep.ExitCode(), rep.Result.Message, c.check, c.says)
			}
			if f := rep.Failures[0]; f.Count < 1 || (c.check != CheckDeltaExtra && len(f.Keys) == 0) {
				t.Fatalf("the failure must count documents and name keys: %+v", f)
			}
		})
	}
}

func TestDeltaVerifyExtraRowOfAnAbortedTransaction(t *testing.T) {
	// A row of revision rev+1 is what an uncommitted transaction stored.
	var src, _ = newSource(func() TestData { return new(Rich) }, 5)
	var o = newOracle(src)
	o.allocate(2)
	o.rev[0] = 1
	var tally = newDeltaTally(o, "p", "t")
	tally.row(src.appendJSON(nil, 0, 1))
	tally.row(src.appendJSON(nil, 0, 2)) // not committed
	tally.row(src.appendJSON(nil, 1, 1)) // key never committed
	var list = tally.finish()
	if len(list) != 1 || list[0].Check != CheckDeltaExtra || list[0].Count != 2 || !strings.Contains(list[0].Message, "did not commit") {
		t.Fatalf("want two delta.extra rows of an uncommitted transaction, got %+v", list)
	}
}

func TestDeltaVerifierErrorIsASetupError(t *testing.T) {
	var rep = run(t, "delta", 1, `{}`, func(o *Options) {
		o.Verifier = VerifierFunc{Name: "a broken verifier", Fn: func(context.Context, []string, func([]byte) error) error {
			return errors.New("psql: command not found")
		}}
	})
	if rep.Result.Check != string(CheckSetupVerify) || rep.ExitCode() != 2 || !strings.Contains(rep.Result.Message, "psql: command not found") {
		t.Fatalf("got %s exit %d: %s", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
	}
}

func TestRecoveryOfADeltaBinding(t *testing.T) {
	// Without a verifier recovery refuses a delta binding, and says what to do.
	var rep = run(t, "recovery", 1, `{}`, func(o *Options) { o.Resource = json.RawMessage(`{"name":"t","delta_updates":true}`) })
	if rep.Result.Check != string(CheckDeltaModeDiffers) || !strings.Contains(rep.Result.Message, "--verify-command") {
		t.Fatalf("got %s: %s", rep.Result.Check, rep.Result.Message)
	}
	for seed := uint64(1); seed <= 5; seed++ {
		rep = run(t, "recovery --verify", seed, `{}`, func(o *Options) { o.Resource = json.RawMessage(`{"name":"t","delta_updates":true}`) })
		// Only the crash points a delta binding can reach run (no Loads there).
		if !rep.Passed() || rep.Result.LoopsDone != len(deltaApplicable) || rep.Result.Loops != len(deltaApplicable) {
			t.Fatalf("seed %d: %s (%d of %d points): %s", seed, rep.Result.Check, rep.Result.LoopsDone, rep.Result.Loops, rep.Result.Message)
		}
	}
	// A point asked for by name that cannot happen on a delta binding is refused,
	// not run as another point.
	rep = run(t, "recovery --verify", 1, `{}`, func(o *Options) {
		o.Resource = json.RawMessage(`{"name":"t","delta_updates":true}`)
		o.CrashAt = []string{"after-load"}
	})
	if rep.Result.Check != string(CheckSetupConfig) || !strings.Contains(rep.Result.Message, "after-load cannot happen") {
		t.Fatalf("--crash-at after-load on a delta binding: got %s: %s", rep.Result.Check, rep.Result.Message)
	}
	for _, c := range []struct{ defect, crashAt, says string }{
		{"torn-commit", "after-commit", "did not commit"}, // half of the aborted transaction's rows remain
		{"delta-replay-on-open", "after-stores", "×2"},    // the restart writes the last commit again
		{"delta-drop-rows", "after-stores", "was not read back"},
	} {
		rep = run(t, "recovery --verify", 3, `{"defect":"`+c.defect+`"}`, func(o *Options) {
			o.Resource = json.RawMessage(`{"name":"t","delta_updates":true}`)
			o.CrashAt = []string{c.crashAt}
		})
		if rep.Result.Check != string(CheckRecoveryState) || !strings.Contains(rep.Result.Message, c.says) {
			t.Fatalf("%s: got %s: %s; want recovery.state saying %q", c.defect, rep.Result.Check, rep.Result.Message, c.says)
		}
	}
}

func TestRecoveryOfADeltaBindingAtLeastOnce(t *testing.T) {
	// No checkpoint from Open: the runtime replays; rows of the replayed transaction
	// may be there twice, and the report says at-least-once only.
	var ref = reference.New()
	var rep = Execute(context.Background(), Options{
		Test: "recovery", Connector: connector.InProcess(noCheckpoint{ref}, "x"),
		Reopen: func(context.Context) (connector.Connector, error) {
			ref = ref.Restart()
			return connector.InProcess(noCheckpoint{ref}, "x"), nil
		},
		Resource: json.RawMessage(`{"name":"t","delta_updates":true}`), Verifier: referenceVerifier(ref, nil),
		Loops: 1, Start: 40, Batch: 9, Seed: 11, CallTimeout: 5e9,
	})
	if !rep.Passed() {
		t.Fatalf("%s: %s", rep.Result.Check, rep.Result.Message)
	}
	var said bool
	for _, n := range rep.Notes {
		said = said || strings.HasPrefix(n, "at-least-once only")
	}
	if !said || !rep.Result.AtLeastOnceOnly {
		t.Fatalf("the report must say at-least-once only (headline %v): %v", rep.Result.AtLeastOnceOnly, rep.Notes)
	}

	// With --exactly-once the same connector fails: an empty checkpoint after a commit.
	ref = reference.New()
	rep = Execute(context.Background(), Options{
		Test: "recovery", Connector: connector.InProcess(noCheckpoint{ref}, "x"),
		Reopen: func(context.Context) (connector.Connector, error) {
			ref = ref.Restart()
			return connector.InProcess(noCheckpoint{ref}, "x"), nil
		},
		Resource: json.RawMessage(`{"name":"t","delta_updates":true}`), Verifier: referenceVerifier(ref, nil),
		Loops: 1, Start: 40, Batch: 9, Seed: 11, CallTimeout: 5e9, ExactlyOnce: true,
	})
	if rep.Result.Check != string(CheckRecoveryCheckpt) {
		t.Fatalf("--exactly-once over a connector without checkpoints: got %q, want %s: %s", rep.Result.Check, CheckRecoveryCheckpt, rep.Result.Message)
	}
}
