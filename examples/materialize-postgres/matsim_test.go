package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
	"github.com/flowsim/flowsim/internal/pgtest"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/go-logr/logr"
)

func TestMain(m *testing.M) {
	var code = pgtest.Main(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	basicStart = flag.Int("basic-start", 5000, "documents in basic's first loop (doubling each loop)")
	basicLoops = flag.Int("basic-loops", 5, "loops of basic")
)

// endpoint returns the connector config of a fresh database.
func endpoint(t testing.TB) json.RawMessage {
	t.Helper()
	var srv = pgtest.Shared(t)
	var cfg = pgdriver.Config{Address: srv.Address(), User: srv.User, Password: srv.Password,
		Database: srv.NewDatabase(t), Schema: "matsim"}
	var b, err = json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildDir holds the binary built by binary(), removed by TestMain.
var buildDir string

// binary builds this command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	var dir, err = os.MkdirTemp("", "materialize-postgres-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	var bin = filepath.Join(dir, "materialize-postgres")
	var cmd = exec.Command("go", "build", "-tags", "nozstd", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// transport makes the connectors of one run: in process, or the built binary
// through the --command transport (stdio framing, one process per call).
type transport struct {
	name string
	make func(t testing.TB) connector.Connector
}

var allTransports = []transport{
	{"in-process", func(t testing.TB) connector.Connector {
		return connector.InProcess(pgdriver.New(logr.Discard()), "materialize-postgres")
	}},
	{"command", func(t testing.TB) connector.Connector { return commandConnector(t, "") }},
}

// commandConnector opens the connector binary with args (a command line tail) exactly
// as `flowsim matsim <test> --command "BIN ARGS"` does.
func commandConnector(t testing.TB, args string) connector.Connector {
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	var line = strings.TrimSpace(bin + " " + args)
	var stderr = &lockedBuffer{}
	c, ok, err := transports.Open(context.Background(), transports.Options{Command: line, CallTimeout: 5 * time.Minute, Stderr: stderr})
	if err != nil || !ok {
		t.Fatalf("transports.Open --command %s: ok=%v err=%v", line, ok, err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("connector stderr:\n%s", stderr.String())
		}
	})
	return c
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// execute runs one matsim test and fails t with the report unless it passed.
func execute(t testing.TB, tr transport, opts engine.Options) *engine.Report {
	t.Helper()
	var rep = executeReport(t, tr, opts)
	if !rep.Passed() {
		var js, _ = json.MarshalIndent(rep, "", "  ")
		t.Fatalf("matsim %s over %s did not pass: %s: %s\nreport: %s", opts.Test, tr.name, rep.Result.Check, rep.Result.Message, js)
	}
	return rep
}

// executeReport runs one matsim test with this package's defaults.
func executeReport(t testing.TB, tr transport, opts engine.Options) *engine.Report {
	t.Helper()
	opts.Connector = tr.make(t)
	if opts.Test == "fence" {
		opts.Peer = tr.make(t) // the newer stream: another process for the command transport
	}
	if opts.Test == "recovery" {
		opts.Reopen = func(context.Context) (connector.Connector, error) { return tr.make(t), nil }
	}
	if opts.Config == nil {
		opts.Config = endpoint(t)
	}
	if opts.Seed == 0 {
		opts.Seed = 0x5eed
	}
	if opts.Batch == 0 {
		opts.Batch = 1000
	}
	var ctx, cancel = context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return engine.Execute(ctx, opts)
}

func TestMatsimBasic(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var start, loops = *basicStart, *basicLoops
			var rep = execute(t, tr, engine.Options{Test: "basic", Resource: json.RawMessage(`{"table":"basic"}`),
				Start: start, Loops: loops})
			var want = int64(start * ((1 << loops) - 1))
			if rep.Result.Stored != want {
				t.Errorf("stored %d documents, want %d", rep.Result.Stored, want)
			}
			if rep.Result.Verified == 0 && rep.Result.Loaded == 0 {
				t.Errorf("nothing was loaded back: %+v", rep.Result)
			}
			for _, l := range rep.Loops {
				t.Logf("%s: loaded %d stored %d load %s store %s commit %s", l.Phase, l.Loaded, l.Stored, l.LoadTime, l.StoreTime, l.CommitTime)
			}
			t.Logf("basic over %s: %d stored, %d loaded in %dms: %.0f docs/s",
				tr.name, rep.Result.Stored, rep.Result.Loaded, rep.Result.DurationMillis, rep.Result.DocsPerSecond)
		})
	}
}

// BenchmarkMatsimBasic reports matsim basic's docs/s (loaded + stored per second
// of the transactions phase) against the throwaway cluster, per transport:
//
//	go test -tags nozstd -run '^$' -bench MatsimBasic -benchtime 1x ./examples/materialize-postgres/
func BenchmarkMatsimBasic(b *testing.B) {
	for _, tr := range allTransports {
		b.Run(tr.name, func(b *testing.B) {
			var total, seconds float64
			for i := 0; i < b.N; i++ {
				var rep = execute(b, tr, engine.Options{Test: "basic", Resource: json.RawMessage(`{"table":"bench"}`),
					Start: *basicStart, Loops: *basicLoops, Seed: uint64(i + 1)})
				total += float64(rep.Result.Loaded + rep.Result.Stored)
				seconds += float64(rep.Result.Loaded+rep.Result.Stored) / rep.Result.DocsPerSecond
			}
			b.ReportMetric(total/seconds, "docs/s")
			b.ReportMetric(total/float64(b.N), "docs/op")
		})
	}
}

func TestMatsimDelta(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var out strings.Builder
			var rep = execute(t, tr, engine.Options{Test: "delta", Resource: json.RawMessage(`{"table":"delta","delta_updates":true}`),
				Start: 500, Loops: 3, Output: &out})
			if lines := strings.Count(out.String(), "\n"); int64(lines) != rep.Result.Stored || lines != 500*7 {
				t.Errorf("delta wrote %d NDJSON lines for %d stored documents, want %d", lines, rep.Result.Stored, 500*7)
			}
		})
	}
}

func TestMatsimFence(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			// The connector stores checkpoints with its data: exactly-once is asserted,
			// and every key-range case (same, overlapping, split, disjoint, straddling) runs.
			var rep = execute(t, tr, engine.Options{Test: "fence", Resource: json.RawMessage(`{"table":"fence"}`),
				Start: 500, Loops: 1, ExactlyOnce: true})
			if rep.Result.AtLeastOnceOnly || rep.Result.LoopsDone != 4 {
				t.Errorf("fence: want 4 exactly-once phases, got %d (atLeastOnceOnly=%v)", rep.Result.LoopsDone, rep.Result.AtLeastOnceOnly)
			}
		})
	}
}

func TestMatsimRecovery(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var rep = execute(t, tr, engine.Options{Test: "recovery", Resource: json.RawMessage(`{"table":"recovery"}`),
				Start: 500, Loops: 3, ExactlyOnce: true, CrashAt: []string{"all"}})
			if rep.Result.LoopsDone != len(engine.CrashPoints) || rep.Result.AtLeastOnceOnly {
				t.Errorf("recovery passed without completing a crash point: %+v", rep.Result)
			}
		})
	}
}

func TestMatsimMigrate(t *testing.T) {
	for _, tr := range allTransports {
		t.Run(tr.name, func(t *testing.T) {
			var rep = execute(t, tr, engine.Options{Test: "migrate", Resource: json.RawMessage(`{"table":"migrate"}`),
				Start: 500, Loops: 1})
			// 500 v1 documents verified by the v2 stream, then the 1000 of each binding.
			if rep.Result.LoopsDone != 3 || rep.Result.Verified != 2500 {
				t.Errorf("migrate: %d steps, %d documents verified; want 3 and 2500", rep.Result.LoopsDone, rep.Result.Verified)
			}
		})
	}
}

// TestMainRunsMatsimInProcess runs the built binary the way docs/postgres.md
// shows: `materialize-postgres basic --config ... --resource ...`.
func TestMainRunsMatsimInProcess(t *testing.T) {
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	var config = endpoint(t)
	for _, tc := range []struct {
		name   string
		config string
		code   int
		want   string
	}{
		{"passes", string(config), 0, "matsim basic: PASSED"},
		{"wrong password", strings.Replace(string(config), `"password":"`, `"password":"wrong`, 1), 2, "password authentication failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmd = exec.Command(bin, "basic", "--config", tc.config, "--resource", `{table: main_basic}`,
				"--start", "200", "--loops", "3", "--seed", "7")
			var out, _ = cmd.CombinedOutput()
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Fatalf("exit code %d, want %d:\n%s", got, tc.code, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output doesn't say %q:\n%s", tc.want, out)
			}
			var password = pgtest.Shared(t).Password
			if strings.Contains(string(out), password) {
				t.Errorf("output shows the password:\n%s", out)
			}
		})
	}
}

// TestOct2021Connector: the example connector speaking the October 2021 revision
// (`--protocol 2021-10`, as spec.connector.command runs it in a pod) passes fence and
// recovery through --command, and the report names the revision it detected.
func TestOct2021Connector(t *testing.T) {
	var oct = transport{"command-2021-10", func(t testing.TB) connector.Connector { return commandConnector(t, "--protocol 2021-10") }}
	for _, test := range []string{"fence", "recovery"} {
		t.Run(test, func(t *testing.T) {
			var rep = execute(t, oct, engine.Options{Test: test, Resource: json.RawMessage(`{"table":"oct_` + test + `"}`),
				Start: 50, Loops: 2, Config: endpoint(t)})
			if rep.Result.Protocol != string(connector.Oct2021) {
				t.Fatalf("report protocol %q, want %s", rep.Result.Protocol, connector.Oct2021)
			}
		})
	}
}

// TestMatsimFenceRerunWithTheSameSeed: the connector keeps its checkpoints per
// materialization and key range in one table of the schema, shared by every table
// it materializes. A fence rerun with the same --seed against a fresh table passes
// (the resource is part of the materialization's identity); one against the same
// table, dropped but with its checkpoints kept, is a setup error that names the
// checkpoint the run never committed, not fence.checkpoint against the connector.
func TestMatsimFenceRerunWithTheSameSeed(t *testing.T) {
	var tr = allTransports[0] // in process: the behaviour is the driver's, not the transport's
	var config = endpoint(t)
	var fence = func(table string) *engine.Report {
		return executeReport(t, tr, engine.Options{Test: "fence", Resource: json.RawMessage(`{"table":"` + table + `"}`),
			Config: config, Start: 50, Loops: 1, ExactlyOnce: true, Seed: 7})
	}
	for _, table := range []string{"fence_first", "fence_fresh"} {
		if rep := fence(table); !rep.Passed() {
			t.Fatalf("fence --seed 7 against table %s: %s: %s", table, rep.Result.Check, rep.Result.Message)
		}
	}

	// The same table again, dropped: the checkpoints of its first run remain.
	var cfg pgdriver.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	var ctx = context.Background()
	var conn, err = pgtest.Shared(t).Connect(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE matsim.fence_fresh`); err != nil {
		t.Fatal(err)
	}
	var rep = fence("fence_fresh")
	if rep.Result.Check != string(engine.CheckSetupConfig) || rep.ExitCode() != 2 {
		t.Fatalf("fence against a dropped table whose checkpoints remain: %s exit %d, want setup.config exit 2: %s", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
	}
	for _, want := range []string{"a checkpoint this run never committed", "earlier run of materialization " + rep.Materialization, "another --seed"} {
		if !strings.Contains(rep.Result.Message, want) {
			t.Errorf("the message does not say %q: %s", want, rep.Result.Message)
		}
	}
}
