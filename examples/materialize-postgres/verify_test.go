package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/internal/pgtest"
	"github.com/flowsim/flowsim/matsim"
	"github.com/flowsim/flowsim/matsim/verifier"
)

// sqlVerifier reads a delta table back the way --verify-sql does, with the
// connector's own config as the connection.
func sqlVerifier(t testing.TB, config json.RawMessage, query string) matsim.Verifier {
	t.Helper()
	var conn, err = verifier.ParseConnection(config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.NewSQL(query, conn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const verifyQuery = "SELECT flow_document FROM $FLOWSIM_TABLE"

// TestMatsimDeltaVerified: delta against an append-only table, read back with
// --verify-sql; every committed document is there exactly once.
func TestMatsimDeltaVerified(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var config = endpoint(t)
			var opts = matsim.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_verified","delta_updates":true}`),
				Start: 300, Loops: 3, Config: config, Verifier: sqlVerifier(t, config, verifyQuery)}
			var rep = execute(t, tr, opts)
			if rep.Result.Verified != rep.Result.Stored || rep.Result.Stored != 300*7 {
				t.Fatalf("verified %d of %d stored documents, want %d", rep.Result.Verified, rep.Result.Stored, 300*7)
			}
			// The same run again appends every document a second time: the verifier
			// sees each twice.
			rep = executeReport(t, tr, opts)
			if rep.Result.Check != string(matsim.CheckDeltaDuplicate) {
				t.Fatalf("a second run into the same table: got %s: %s; want delta.duplicate", rep.Result.Check, rep.Result.Message)
			}
		})
	}
}

// TestMatsimDeltaVerifyCatchesMissingRows: a query that does not see every row
// fails with delta.missing, naming keys.
func TestMatsimDeltaVerifyCatchesMissingRows(t *testing.T) {
	var config = endpoint(t)
	var rep = executeReport(t, allTransports[0], matsim.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_missing","delta_updates":true}`),
		Start: 100, Loops: 2, Config: config, Verifier: sqlVerifier(t, config, verifyQuery+" OFFSET 3")})
	if rep.Result.Check != string(matsim.CheckDeltaMissing) || rep.Failures[0].Count != 3 || len(rep.Failures[0].Keys) == 0 {
		t.Fatalf("got %s: %s; want delta.missing of 3 documents", rep.Result.Check, rep.Result.Message)
	}
	rep = executeReport(t, allTransports[0], matsim.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_bad_sql","delta_updates":true}`),
		Start: 10, Loops: 1, Config: config, Verifier: sqlVerifier(t, config, "SELECT nope FROM $FLOWSIM_TABLE")})
	if rep.Result.Check != string(matsim.CheckSetupVerify) || !strings.Contains(rep.Result.Message, `column "nope" does not exist`) {
		t.Fatalf("got %s: %s; want setup.verify with the server's reason", rep.Result.Check, rep.Result.Message)
	}
}

// TestMatsimRecoveryOfADeltaBinding: the connector commits rows and checkpoint in
// one transaction, so after every crash point each committed row is there once and
// none of an aborted transaction.
func TestMatsimRecoveryOfADeltaBinding(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var config = endpoint(t)
			var rep = execute(t, tr, matsim.Options{Test: "recovery", Resource: json.RawMessage(`{"table":"delta_recovery","delta_updates":true}`),
				Start: 200, Loops: 1, Config: config, Verifier: sqlVerifier(t, config, verifyQuery)})
			// A delta binding has no Loads: only the crash points after the Stores apply.
			if rep.Result.LoopsDone == 0 || rep.Result.LoopsDone != rep.Result.Loops {
				t.Fatalf("%d of %d crash points done: %s", rep.Result.LoopsDone, rep.Result.Loops, rep.Result.Message)
			}
			for _, n := range rep.Notes {
				if strings.Contains(n, "at-least-once") {
					t.Fatalf("the connector stores checkpoints: %s", n)
				}
			}
		})
	}
}

// TestMainDeltaVerifySQL runs the command docs/postgres.md shows.
func TestMainDeltaVerifySQL(t *testing.T) {
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	var cmd = exec.Command(bin, "delta", "--config", string(endpoint(t)), "--resource", `{table: main_delta, delta_updates: true}`,
		"--start", "100", "--loops", "2", "--seed", "7", "--output", "/dev/null", "--verify-sql", verifyQuery)
	var out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(string(out), "read back 300 row(s)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(string(out), pgtest.Shared(t).Password) {
		t.Fatalf("output shows the password:\n%s", out)
	}
}
