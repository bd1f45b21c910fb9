package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// run executes a test against a fresh in-process reference connector.
// A test named "delta --verify" (as in the defects' CaughtBy) runs delta with a
// verifier reading the reference connector's rows.
func run(t *testing.T, test string, seed uint64, config string, mutate func(*Options)) *Report {
	t.Helper()
	var ref = reference.New()
	var verifier Verifier
	if name, ok := strings.CutSuffix(test, " --verify"); ok {
		test, verifier = name, referenceVerifier(ref, json.RawMessage(config))
	}
	var opts = Options{
		Test:      test,
		Connector: connector.InProcess(ref, "reference"),
		Reopen: func(context.Context) (connector.Connector, error) {
			ref = ref.Restart()
			return connector.InProcess(ref, "reference (restarted)"), nil
		},
		Config:      json.RawMessage(config),
		Resource:    json.RawMessage(fmt.Sprintf(`{"name":"t","delta_updates":%v}`, test == "delta")),
		Loops:       3,
		Start:       60,
		Batch:       25,
		Seed:        seed,
		CallTimeout: 5 * time.Second,
		Verifier:    verifier,
	}
	if mutate != nil {
		mutate(&opts)
	}
	return Execute(context.Background(), opts)
}

func TestReferencePassesEveryTestForManySeeds(t *testing.T) {
	var seeds = 50
	if testing.Short() {
		seeds = 10
	}
	for _, test := range Tests {
		for seed := uint64(1); seed <= uint64(seeds); seed++ {
			var rep = run(t, test, seed, `{}`, nil)
			if !rep.Passed() {
				t.Fatalf("%s seed %d: expected a pass against the reference connector, got %s: %s", test, seed, rep.Result.Check, rep.Result.Message)
			}
			if test == "basic" && rep.Result.Verified == 0 {
				t.Fatalf("basic seed %d verified no documents", seed)
			}
		}
	}
}

func TestBasicCountsAndFinalRead(t *testing.T) {
	var rep = run(t, "basic", 7, `{}`, func(o *Options) { o.Loops, o.Start = 4, 100 })
	if !rep.Passed() {
		t.Fatal(rep.Result.Message)
	}
	// Loop i stores start·2^i documents: 100+200+400+800.
	if rep.Result.Stored != 1500 {
		t.Fatalf("stored %d documents, want 1500 (start 100 doubling over 4 loops)", rep.Result.Stored)
	}
	var final = rep.Loops[len(rep.Loops)-1]
	if !strings.HasPrefix(final.Phase, "final read") || final.Loaded != int64(rep.Keys) || final.Requested != rep.Keys {
		t.Fatalf("final read loaded %d of %d requested; %d keys were stored", final.Loaded, final.Requested, rep.Keys)
	}
	if rep.Result.Verified != rep.Result.Loaded {
		t.Fatalf("verified %d of %d loaded", rep.Result.Verified, rep.Result.Loaded)
	}
	// Later loops must load previously stored keys (a mix of new and existing).
	if rep.Loops[1].Loaded == 0 || rep.Loops[3].Loaded == 0 {
		t.Fatalf("loops after the first loaded no stored keys: %+v", rep.Loops)
	}
}

func TestSeedReproducesDocuments(t *testing.T) {
	var out1, out2, out3 strings.Builder
	run(t, "delta", 99, `{}`, func(o *Options) { o.Output = &out1 })
	run(t, "delta", 99, `{}`, func(o *Options) { o.Output = &out2 })
	run(t, "delta", 100, `{}`, func(o *Options) { o.Output = &out3 })
	if out1.String() != out2.String() {
		t.Fatal("the same seed produced different documents")
	}
	if out1.String() == out3.String() {
		t.Fatal("different seeds produced the same documents")
	}
	var lines = strings.Split(strings.TrimSpace(out1.String()), "\n")
	if len(lines) != 60+120+240 {
		t.Fatalf("delta wrote %d NDJSON lines, want %d", len(lines), 60+120+240)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("delta output line is not JSON: %s", l)
		}
	}
}

// TestDefectMatrix runs every defect of the reference connector against each test
// that must catch it, and asserts the run fails with the expected check.
func TestDefectMatrix(t *testing.T) {
	var known = map[string]bool{}
	for _, c := range AllChecks {
		known[string(c.Check)] = true
	}
	for _, d := range reference.Defects {
		if len(d.CaughtBy) == 0 {
			t.Errorf("defect %s has no test that catches it", d.Name)
		}
		for test, check := range d.CaughtBy {
			if !known[check] {
				t.Errorf("defect %s names unknown check %q", d.Name, check)
				continue
			}
			d, test, check := d, test, check
			var args = strings.Fields(test)
			test = args[0]
			t.Run(d.Name+"/"+strings.Join(args, "_"), func(t *testing.T) {
				var seeds = uint64(10)
				if testing.Short() {
					seeds = 3
				}
				for seed := uint64(1); seed <= seeds; seed++ {
					var runTest = test
					if slices.Contains(args[1:], "--verify") {
						runTest += " --verify" // run() gives it the reference connector's verifier
					}
					var rep = run(t, runTest, seed, fmt.Sprintf(`{"defect":%q}`, d.Name), func(o *Options) {
						o.CallTimeout = 500 * time.Millisecond
						for _, a := range args[1:] {
							switch a {
							case "--exactly-once":
								o.ExactlyOnce = true
							case "--verify":
							default:
								t.Fatalf("defect %s: the matrix does not know flag %s", d.Name, a)
							}
						}
					})
					if rep.Passed() {
						t.Fatalf("seed %d: %s passed against defect %s (%s)", seed, test, d.Name, d.Description)
					}
					if rep.Result.Check != check {
						t.Fatalf("seed %d: failed with %s, want %s: %s", seed, rep.Result.Check, check, rep.Result.Message)
					}
					var wantExit = 1
					if isSetup(Check(check)) {
						wantExit = 2
					}
					if rep.ExitCode() != wantExit {
						t.Fatalf("exit code %d, want %d", rep.ExitCode(), wantExit)
					}
					if len(rep.Result.Message) < 20 {
						t.Fatalf("message too short to help: %q", rep.Result.Message)
					}
				}
			})
		}
	}
}

func TestLoadFailuresNameKeysAndValues(t *testing.T) {
	var rep = run(t, "basic", 5, `{"defect":"corrupt-unicode"}`, nil)
	var f = rep.Failures[0]
	if f.Check != CheckLoadValue || f.Count == 0 || len(f.Keys) == 0 || len(f.Keys) > maxKeysShown {
		t.Fatalf("failure %+v: want load.value with a count and up to %d keys", f, maxKeysShown)
	}
	if !strings.Contains(f.Message, "expected") || f.Binding != "t" {
		t.Fatalf("message must show expected vs. actual and the binding: %s", f.Error())
	}
	if !strings.HasPrefix(f.Keys[0], "[") {
		t.Fatalf("keys must be shown as JSON arrays: %v", f.Keys)
	}

	rep = run(t, "basic", 5, `{"defect":"stale-value"}`, nil)
	if !strings.Contains(rep.Failures[0].Message, "stale value") {
		t.Fatalf("a stale value must be named as such: %s", rep.Failures[0].Message)
	}
}

// wrapped is a DriverServer that alters the reference connector's answers.
type wrapped struct {
	*reference.Driver
	validate func(*materialize.ValidateResponse)
	spec     func(*materialize.SpecResponse) error
}

func (w wrapped) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	var resp, err = w.Driver.Validate(ctx, req)
	if err == nil && w.validate != nil {
		w.validate(resp)
	}
	return resp, err
}

func (w wrapped) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	var resp, err = w.Driver.Spec(ctx, req)
	if err == nil && w.spec != nil {
		err = w.spec(resp)
	}
	return resp, err
}

func TestSetupFailures(t *testing.T) {
	var cases = []struct {
		name   string
		server materialize.DriverServer
		config string
		res    string
		test   string
		check  Check
		exit   int
		says   string
	}{
		{"validate rejects config", reference.New(), `{"nope": 1}`, `{}`, "basic", CheckSetupValidate, 2, `unknown field "nope"`},
		{"basic needs standard updates", reference.New(), `{}`, `{"delta_updates": true}`, "basic", CheckDeltaModeDiffers, 2, "needs a standard (non-delta) binding"},
		{"delta needs delta updates", reference.New(), `{}`, `{}`, "delta", CheckDeltaModeDiffers, 2, "needs a delta-updates binding"},
		{"key forbidden", wrapped{Driver: reference.New(), validate: func(r *materialize.ValidateResponse) {
			r.Bindings[0].Constraints["name"] = &materialize.Constraint{Type: materialize.Constraint_FIELD_FORBIDDEN, Reason: "strings are not keys here"}
		}}, `{}`, `{}`, "basic", CheckSetupConstraint, 2, `key field "name": FIELD_FORBIDDEN: strings are not keys here`},
		{"document missing", wrapped{Driver: reference.New(), validate: func(r *materialize.ValidateResponse) {
			delete(r.Bindings[0].Constraints, DocumentField)
		}}, `{}`, `{}`, "basic", CheckSetupConstraint, 2, "implicitly forbidden"},
		{"spec fails", wrapped{Driver: reference.New(), spec: func(*materialize.SpecResponse) error { return fmt.Errorf("no spec today") }},
			`{}`, `{}`, "basic", CheckSetupSpec, 2, "no spec today"},
		{"invalid spec response", wrapped{Driver: reference.New(), spec: func(r *materialize.SpecResponse) error { r.DocumentationUrl = ""; return nil }},
			`{}`, `{}`, "basic", CheckSetupSpec, 2, "missing DocumentationUrl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rep = Execute(context.Background(), Options{
				Test: c.test, Connector: connector.InProcess(c.server, "x"),
				Config: json.RawMessage(c.config), Resource: json.RawMessage(c.res),
				Loops: 1, Start: 10, Batch: 10, Seed: 1, CallTimeout: 5 * time.Second,
			})
			if rep.Result.Check != string(c.check) || rep.ExitCode() != c.exit || !strings.Contains(rep.Result.Message, c.says) {
				t.Fatalf("got check %s exit %d message %q; want %s exit %d containing %q", rep.Result.Check, rep.ExitCode(), rep.Result.Message, c.check, c.exit, c.says)
			}
		})
	}
}

func TestOptionalFieldsAreNotSelected(t *testing.T) {
	// The generic SQL driver of this era makes object fields FIELD_OPTIONAL.
	var srv = wrapped{Driver: reference.New(), validate: func(r *materialize.ValidateResponse) {
		r.Bindings[0].Constraints["nested"] = &materialize.Constraint{Type: materialize.Constraint_FIELD_OPTIONAL, Reason: "This field is able to be materialized"}
	}}
	var rep = Execute(context.Background(), Options{
		Test: "basic", Connector: connector.InProcess(srv, "x"), Loops: 2, Start: 20, Batch: 7, Seed: 3,
	})
	if !rep.Passed() || len(rep.DroppedFields) != 1 || !strings.Contains(rep.DroppedFields[0], "nested (FIELD_OPTIONAL") {
		t.Fatalf("want a pass with nested not selected; got %s %v", rep.Result.Message, rep.DroppedFields)
	}
}

func TestFenceOfARecoveryLogConnector(t *testing.T) {
	// No checkpoints and no fencing: the runtime's recovery log fences such a connector.
	var ref = reference.New()
	var rep = Execute(context.Background(), Options{
		Test: "fence", Connector: connector.InProcess(noCheckpoint{ref}, "x"), Config: json.RawMessage(`{"defect":"no-fence"}`),
		Loops: 1, Start: 30, Batch: 7, Seed: 3, CallTimeout: 5 * time.Second,
	})
	if !rep.Passed() || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "recovery log") {
		t.Fatalf("want a pass with a note; got %s %v", rep.Result.Message, rep.Notes)
	}
	// Its data must still be consistent: a zombie that half-writes is caught.
	rep = Execute(context.Background(), Options{
		Test: "fence", Connector: connector.InProcess(noCheckpoint{reference.New()}, "x"), Config: json.RawMessage(`{"defect":"drop-store"}`),
		Loops: 1, Start: 30, Batch: 7, Seed: 3, CallTimeout: 5 * time.Second,
	})
	if rep.Passed() {
		t.Fatal("drop-store passed fence")
	}
}

func TestOptionalFieldForbiddenIsDropped(t *testing.T) {
	var srv = wrapped{Driver: reference.New(), validate: func(r *materialize.ValidateResponse) {
		r.Bindings[0].Constraints["note"] = &materialize.Constraint{Type: materialize.Constraint_FIELD_FORBIDDEN, Reason: "no nullable strings"}
	}}
	var rep = Execute(context.Background(), Options{
		Test: "basic", Connector: connector.InProcess(srv, "x"), Loops: 2, Start: 20, Batch: 7, Seed: 3,
	})
	if !rep.Passed() || len(rep.DroppedFields) != 1 || !strings.Contains(rep.DroppedFields[0], "note") {
		t.Fatalf("want a pass with note dropped; got %s %v", rep.Result.Message, rep.DroppedFields)
	}
}

func TestBadOptions(t *testing.T) {
	for _, mutate := range []func(*Options){
		func(o *Options) { o.Loops = 0 },
		func(o *Options) { o.Start = 0 },
		func(o *Options) { o.Batch = 0 },
		func(o *Options) { o.Test = "nope" },
		func(o *Options) { o.Start, o.Loops = 1<<30, 20 },
	} {
		var rep = run(t, "basic", 1, `{}`, mutate)
		if rep.Result.Check != string(CheckSetupConfig) || rep.ExitCode() != 2 {
			t.Fatalf("want setup.config exit 2, got %s %d: %s", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
		}
	}
}

// noCheckpoint hides the reference connector's stored checkpoint, as a connector
// relying on the runtime's recovery log (at-least-once) does.
type noCheckpoint struct{ *reference.Driver }

func (n noCheckpoint) Transactions(stream materialize.Driver_TransactionsServer) error {
	return n.Driver.Transactions(stripOpened{stream})
}

type stripOpened struct {
	materialize.Driver_TransactionsServer
}

func (s stripOpened) Send(m *materialize.TransactionResponse) error {
	if m.Opened != nil {
		m = &materialize.TransactionResponse{Opened: &materialize.TransactionResponse_Opened{}}
	}
	return s.Driver_TransactionsServer.Send(m)
}

func TestRecoveryAtLeastOnceConnector(t *testing.T) {
	var ref = reference.New()
	var rep = Execute(context.Background(), Options{
		Test: "recovery", Connector: connector.InProcess(noCheckpoint{ref}, "x"),
		Reopen: func(context.Context) (connector.Connector, error) {
			ref = ref.Restart()
			return connector.InProcess(noCheckpoint{ref}, "x"), nil
		},
		Loops: 1, Start: 40, Batch: 9, Seed: 11, CallTimeout: 5 * time.Second,
	})
	if !rep.Passed() {
		t.Fatalf("an at-least-once connector must pass recovery: %s", rep.Result.Message)
	}
	if len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "at-least-once") {
		t.Fatalf("the report must say recovery ran in at-least-once mode: %v", rep.Notes)
	}
	// The same connector still loses data if it drops stores.
	ref = reference.New()
	rep = Execute(context.Background(), Options{
		Test: "recovery", Connector: connector.InProcess(noCheckpoint{ref}, "x"),
		Config: json.RawMessage(`{"defect":"drop-store"}`),
		Loops:  1, Start: 40, Batch: 9, Seed: 11, CallTimeout: 5 * time.Second,
	})
	if rep.Passed() {
		t.Fatal("drop-store passed recovery in at-least-once mode")
	}
}

func TestRecoveryCrashPointsSelectable(t *testing.T) {
	var rep = run(t, "recovery", 3, `{}`, func(o *Options) { o.CrashAt = []string{"after-commit"} })
	if !rep.Passed() || rep.Result.LoopsDone != 1 {
		t.Fatalf("want 1 passing crash point, got %d: %s", rep.Result.LoopsDone, rep.Result.Message)
	}
	for _, l := range rep.Loops {
		if strings.Contains(l.Phase, "after-stores") {
			t.Fatalf("crash point after-stores ran although only after-commit was chosen")
		}
	}
}
