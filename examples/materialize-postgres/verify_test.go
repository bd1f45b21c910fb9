package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
	"github.com/flowsim/flowsim/internal/pgtest"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/verifier"
)

// sqlVerifier reads a delta table back the way --verify-sql does, with the
// connector's own config as the connection.
func sqlVerifier(t testing.TB, config json.RawMessage, query string) engine.Verifier {
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
			var opts = engine.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_verified","delta_updates":true}`),
				Start: 300, Loops: 3, Config: config, Verifier: sqlVerifier(t, config, verifyQuery)}
			var rep = execute(t, tr, opts)
			if rep.Result.Verified != rep.Result.Stored || rep.Result.Stored != 300*7 {
				t.Fatalf("verified %d of %d stored documents, want %d", rep.Result.Verified, rep.Result.Stored, 300*7)
			}
			// The same run again appends every document a second time: the verifier
			// sees each twice.
			rep = executeReport(t, tr, opts)
			if rep.Result.Check != string(engine.CheckDeltaDuplicate) {
				t.Fatalf("a second run into the same table: got %s: %s; want delta.duplicate", rep.Result.Check, rep.Result.Message)
			}
		})
	}
}

// TestMatsimDeltaVerifyCatchesMissingRows: a query that does not see every row
// fails with delta.missing, naming keys.
func TestMatsimDeltaVerifyCatchesMissingRows(t *testing.T) {
	var config = endpoint(t)
	var rep = executeReport(t, allTransports[0], engine.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_missing","delta_updates":true}`),
		Start: 100, Loops: 2, Config: config, Verifier: sqlVerifier(t, config, verifyQuery+" OFFSET 3")})
	if rep.Result.Check != string(engine.CheckDeltaMissing) || rep.Failures[0].Count != 3 || len(rep.Failures[0].Keys) == 0 {
		t.Fatalf("got %s: %s; want delta.missing of 3 documents", rep.Result.Check, rep.Result.Message)
	}
	rep = executeReport(t, allTransports[0], engine.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta_bad_sql","delta_updates":true}`),
		Start: 10, Loops: 1, Config: config, Verifier: sqlVerifier(t, config, "SELECT nope FROM $FLOWSIM_TABLE")})
	if rep.Result.Check != string(engine.CheckSetupVerify) || !strings.Contains(rep.Result.Message, `column "nope" does not exist`) {
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
			var rep = execute(t, tr, engine.Options{Test: "recovery", Resource: json.RawMessage(`{"table":"delta_recovery","delta_updates":true}`),
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

// psql returns the psql client of the PostgreSQL installation the tests use. It
// skips without one unless CI=true, where it fails.
func psql(t *testing.T) string {
	t.Helper()
	var dir, err = pgtest.FindBinDir()
	if err == nil {
		var p = filepath.Join(dir, "psql")
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("psql is needed with CI=true: %v", err)
	}
	t.Skipf("no psql client: %v", err)
	return ""
}

// TestMainDeltaVerifyCommandPsql: --verify-command with a real client against the
// real destination, as docs/postgres.md shows it: psql prints flow_document of
// every row, one JSON document per line. The connection comes from the PG*
// environment, so no password is on the command line. A query that misses rows
// fails the run with delta.missing (exit 1).
func TestMainDeltaVerifyCommandPsql(t *testing.T) {
	var client = psql(t)
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	var srv = pgtest.Shared(t)
	var config = endpoint(t)
	var cfg pgdriver.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	var env = append(os.Environ(), "PGHOST="+srv.Host, "PGPORT="+strconv.Itoa(srv.Port), "PGUSER="+srv.User,
		"PGPASSWORD="+srv.Password, "PGDATABASE="+cfg.Database)
	var run = func(table, query string) (int, string) {
		var line = client + ` -X -q -A -t -v ON_ERROR_STOP=1 -c '` + query + `'`
		var cmd = exec.Command(bin, "delta", "--config", string(config), "--resource", `{table: `+table+`, delta_updates: true}`,
			"--start", "100", "--loops", "2", "--seed", "7", "--output", "/dev/null", "--verify-command", line)
		cmd.Env = env
		var out, _ = cmd.CombinedOutput()
		if strings.Contains(string(out), srv.Password) {
			t.Fatalf("output shows the password:\n%s", out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	var code, out = run("cmd_delta", "SELECT flow_document FROM $FLOWSIM_SCHEMA.$FLOWSIM_TABLE")
	if code != 0 || !strings.Contains(out, "read back 300 row(s)") {
		t.Fatalf("psql reading every row: exit %d, want 0 and 300 rows read back:\n%s", code, out)
	}
	code, out = run("cmd_delta_missing", "SELECT flow_document FROM $FLOWSIM_SCHEMA.$FLOWSIM_TABLE OFFSET 3")
	if code != 1 || !strings.Contains(out, string(engine.CheckDeltaMissing)) {
		t.Fatalf("psql missing 3 rows: exit %d, want 1 with %s:\n%s", code, engine.CheckDeltaMissing, out)
	}
	code, out = run("cmd_delta_bad", "SELECT nope FROM $FLOWSIM_SCHEMA.$FLOWSIM_TABLE")
	if code != 2 || !strings.Contains(out, string(engine.CheckSetupVerify)) || !strings.Contains(out, `column "nope" does not exist`) {
		t.Fatalf("psql failing: exit %d, want 2 with %s and psql's message:\n%s", code, engine.CheckSetupVerify, out)
	}
}
