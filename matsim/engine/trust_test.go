package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
	"golang.org/x/text/unicode/norm"
)

func TestRichKeysComeInFamiliesOfCollationTwins(t *testing.T) {
	var kinds = map[string]bool{}
	var d, e Rich
	for f := uint64(0); f < 64; f++ {
		for m := uint64(0); m < keyFamilySize; m++ {
			d.Generate(3, f*keyFamilySize, 1)
			e.Generate(3, f*keyFamilySize+m, 1)
			if d.ID != e.ID {
				t.Fatalf("family %d: member %d has integer %d, the family %d", f, m, e.ID, d.ID)
			}
			for n := uint64(0); n < m; n++ {
				d.Generate(3, f*keyFamilySize+n, 1)
				if d.Name == e.Name {
					t.Fatalf("family %d: members %d and %d have the same name %q", f, n, m, d.Name)
				}
				switch {
				case strings.ToLower(d.Name) == strings.ToLower(e.Name):
					kinds["case"] = true
				case strings.TrimRight(d.Name, " ") == strings.TrimRight(e.Name, " "):
					kinds["trailing space"] = true
				case norm.NFC.String(d.Name) == norm.NFC.String(e.Name):
					kinds["normalisation"] = true
				case norm.NFKC.String(d.Name) == norm.NFKC.String(e.Name):
					kinds["width"] = true
				}
			}
		}
	}
	for _, k := range []string{"case", "trailing space", "normalisation", "width"} {
		if !kinds[k] {
			t.Errorf("no family has twins that differ only by %s", k)
		}
	}
}

func TestMergedTwinsFailNamingBothKeys(t *testing.T) {
	for defect, says := range map[string]string{
		"case-insensitive-keys":    "letter case",
		"trim-trailing-space-keys": "trailing spaces",
		"normalize-keys":           "normalisation",
		"first-key-only":           "first component only",
	} {
		var rep = run(t, "basic", 4, `{"defect":"`+defect+`"}`, nil)
		var f = rep.Failures[0]
		if f.Check != CheckLoadMerged || len(f.Keys) == 0 || strings.Count(f.Keys[0], "[") != 2 {
			t.Fatalf("%s: want load.merged-keys naming two keys, got %s %v: %s", defect, f.Check, f.Keys, f.Message)
		}
		if !strings.Contains(f.Message, "returned the document of key") || !strings.Contains(f.Message, says) {
			t.Fatalf("%s: the message must name both keys and say %q: %s", defect, says, f.Message)
		}
	}
}

func TestAtLeastOnceOnlyIsTheHeadline(t *testing.T) {
	for _, test := range []string{"fence", "recovery"} {
		var rep = run(t, test, 6, `{"defect":"no-checkpoint"}`, nil)
		if !rep.Passed() || !rep.Result.AtLeastOnceOnly {
			t.Fatalf("%s: want a pass marked at-least-once only, got %s atLeastOnceOnly=%v: %s", test, rep.Result.Outcome, rep.Result.AtLeastOnceOnly, rep.Result.Message)
		}
		var text, junit strings.Builder
		_ = rep.WriteText(&text, "")
		_ = rep.WriteJUnit(&junit)
		var headline = strings.SplitN(text.String(), "\n", 2)[0]
		if !strings.Contains(headline, "verified at-least-once only") || !strings.Contains(junit.String(), "verified at-least-once only") {
			t.Fatalf("%s: the headline must say verified at-least-once only:\n%s\n%s", test, text.String(), junit.String())
		}
		if !strings.Contains(string(rep.Result.Marshal(0)), `"atLeastOnceOnly":true`) {
			t.Fatalf("%s: the result file must carry atLeastOnceOnly", test)
		}
		// The correct connector returns its checkpoints: exactly-once is verified.
		rep = run(t, test, 6, `{}`, func(o *Options) { o.ExactlyOnce = true })
		if !rep.Passed() || rep.Result.AtLeastOnceOnly {
			t.Fatalf("%s --exactly-once against the reference: %s %v", test, rep.Result.Message, rep.Result.AtLeastOnceOnly)
		}
	}
}

func TestDeltaAcceptsAKeylessSelection(t *testing.T) {
	var forbidKeys = func(r *materialize.ValidateResponse) {
		for _, k := range []string{"id", "name"} {
			r.Bindings[0].Constraints[k] = &materialize.Constraint{Type: materialize.Constraint_FIELD_FORBIDDEN, Reason: "webhooks take documents only"}
		}
	}
	var out strings.Builder
	var rep = run(t, "delta", 2, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(wrapped{Driver: reference.New(), validate: forbidKeys}, "x")
		o.Output = &out
	})
	if !rep.Passed() || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "key fields were left out") {
		t.Fatalf("want a keyless delta pass with a note, got %s: %s %v", rep.Result.Check, rep.Result.Message, rep.Notes)
	}
	if strings.Count(out.String(), "\n") != 60+120+240 {
		t.Fatalf("delta wrote %d documents", strings.Count(out.String(), "\n"))
	}
	// Standard updates still need the keys.
	rep = run(t, "basic", 2, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(wrapped{Driver: reference.New(), validate: forbidKeys}, "x")
	})
	if rep.Result.Check != string(CheckSetupConstraint) || !strings.Contains(rep.Result.Message, `key field "id"`) {
		t.Fatalf("basic with forbidden keys: want setup.constraint, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

func TestDeltaSaysWhenTheConnectorHasNoDeltaOption(t *testing.T) {
	var noDelta = func(r *materialize.SpecResponse) error {
		r.ResourceSpecSchemaJson = json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}}}`)
		return nil
	}
	var rep = run(t, "delta", 2, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(wrapped{Driver: reference.New(), spec: noDelta}, "x")
		o.Resource = json.RawMessage(`{"name":"t"}`)
	})
	if rep.Result.Check != string(CheckDeltaModeDiffers) || !strings.Contains(rep.Result.Message, "has no delta-updates option") {
		t.Fatalf("want setup.delta-updates saying there is no option, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
	rep = run(t, "delta", 2, `{}`, func(o *Options) { o.Resource = json.RawMessage(`{"name":"t"}`) })
	if rep.Result.Check != string(CheckDeltaModeDiffers) || !strings.Contains(rep.Result.Message, "set the resource's delta-updates option") {
		t.Fatalf("want setup.delta-updates telling to set the option, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

// endsOlderStreams is a connector that ends every open stream over an overlapping
// key range cleanly when a new one opens, so that the older stream's commit can
// never be attempted.
type endsOlderStreams struct {
	*reference.Driver
	mu   sync.Mutex
	open []openRange
}

type openRange struct {
	begin, end uint32
	stop       chan struct{}
}

// replayOpen hands the Open it already read to the wrapped connector first.
type replayOpen struct {
	materialize.Driver_TransactionsServer
	first *materialize.TransactionRequest
}

func (r *replayOpen) Recv() (*materialize.TransactionRequest, error) {
	if m := r.first; m != nil {
		r.first = nil
		return m, nil
	}
	return r.Driver_TransactionsServer.Recv()
}

func (e *endsOlderStreams) Transactions(stream materialize.Driver_TransactionsServer) error {
	var req, err = stream.Recv()
	if err != nil || req.Open == nil {
		return err
	}
	var me = openRange{req.Open.KeyBegin, req.Open.KeyEnd, make(chan struct{})}
	e.mu.Lock()
	var keep []openRange
	for _, o := range e.open {
		if o.begin <= me.end && o.end >= me.begin {
			close(o.stop)
		} else {
			keep = append(keep, o)
		}
	}
	e.open = append(keep, me)
	e.mu.Unlock()
	var stop = me.stop
	var done = make(chan error, 1)
	go func() { done <- e.Driver.Transactions(&replayOpen{stream, req}) }()
	select {
	case err := <-done:
		return err
	case <-stop:
		return nil
	}
}

func TestFenceThatNeverAttemptsTheCommitIsVacuous(t *testing.T) {
	var rep = run(t, "fence", 2, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(&endsOlderStreams{Driver: reference.New()}, "x")
		o.CallTimeout = time.Second
	})
	if rep.Result.Check != string(CheckVacuous) || !strings.Contains(rep.Result.Message, "never attempted") {
		t.Fatalf("want run.vacuous, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

func TestBasicVerifiesStoredKeysInEveryLoop(t *testing.T) {
	// Even with one document per loop, every loop after the first loads a stored key.
	var rep = run(t, "basic", 9, `{}`, func(o *Options) { o.Start, o.Loops = 1, 4 })
	if !rep.Passed() {
		t.Fatal(rep.Result.Message)
	}
	for _, l := range rep.Loops[1:4] {
		if l.Loaded == 0 {
			t.Fatalf("%s loaded no stored key", l.Phase)
		}
	}
}

// endsStream ends every stream cleanly (no error) when the request for which the
// stream's own end function (a fresh one per stream from newEnd) says so arrives,
// before the connector sees it.
type endsStream struct {
	*reference.Driver
	newEnd func() func(*materialize.TransactionRequest) bool
}

type stoppingStream struct {
	materialize.Driver_TransactionsServer
	end  func(*materialize.TransactionRequest) bool
	stop chan struct{}
}

func (c *stoppingStream) Recv() (*materialize.TransactionRequest, error) {
	var m, err = c.Driver_TransactionsServer.Recv()
	if err == nil && c.end(m) {
		close(c.stop)
		select {} // the stream is ended by the wrapper; this goroutine parks
	}
	return m, err
}

func (e endsStream) Transactions(stream materialize.Driver_TransactionsServer) error {
	var c = &stoppingStream{Driver_TransactionsServer: stream, end: e.newEnd(), stop: make(chan struct{})}
	var done = make(chan error, 1)
	go func() { done <- e.Driver.Transactions(c) }()
	select {
	case err := <-done:
		return err
	case <-c.stop:
		return nil
	}
}

// endsOnThirdPrepare ends a stream at the third Prepare of the stream, so that a
// crash after it can never happen.
func endsOnThirdPrepare() endsStream {
	return endsStream{reference.New(), func() func(*materialize.TransactionRequest) bool {
		var n int
		return func(m *materialize.TransactionRequest) bool {
			if m.Prepare != nil {
				n++
			}
			return n == 3 && m.Prepare != nil
		}
	}}
}

func TestRecoveryCrashThatCannotHappenIsVacuous(t *testing.T) {
	var rep = run(t, "recovery", 3, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(endsOnThirdPrepare(), "x")
		o.Reopen = nil
		o.CrashAt = []string{"after-prepared"}
	})
	if rep.Result.Check != string(CheckRecoveryVacuous) || !strings.Contains(rep.Result.Message, "after-prepared") {
		t.Fatalf("want recovery.vacuous naming the crash point, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

func TestRecoveryCrashesAtEveryMessageBoundary(t *testing.T) {
	var start = time.Now()
	var rep = run(t, "recovery", 5, `{}`, func(o *Options) { o.CrashAt = []string{"all"}; o.Start = 200 })
	if !rep.Passed() || rep.Result.LoopsDone != len(CrashPoints) {
		t.Fatalf("want %d passing crash points, got %d: %s", len(CrashPoints), rep.Result.LoopsDone, rep.Result.Message)
	}
	for _, p := range CrashPoints {
		var seen bool
		for _, l := range rep.Loops {
			seen = seen || strings.Contains(l.Phase, "(crash "+p+")")
		}
		if !seen {
			t.Errorf("crash point %s did not run", p)
		}
	}
	t.Logf("%d crash points in %s", len(CrashPoints), time.Since(start))
}

func TestMigrateVerifiesOldAndNewDocuments(t *testing.T) {
	var rep = run(t, "migrate", 8, `{}`, nil)
	if !rep.Passed() || rep.Result.LoopsDone != 3 {
		t.Fatalf("migrate against the reference: %s (%d steps): %s", rep.Result.Outcome, rep.Result.LoopsDone, rep.Result.Message)
	}
	// 60 documents stored with v1, 120 with v2 in each binding; the 60 v1 documents
	// verified when the v2 stream loads them, then the 120 of each binding.
	if rep.Result.Stored != 60+120+120 || rep.Result.Verified != 60+120+120 {
		t.Fatalf("stored %d, verified %d; want 300 and 300", rep.Result.Stored, rep.Result.Verified)
	}
	for _, d := range []string{"drop-on-apply", "ignore-new-field", "loads-first-binding", "drop-later-bindings"} {
		var rep = run(t, "migrate", 8, `{"defect":"`+d+`"}`, nil)
		if rep.Result.Check != string(CheckMigrateState) {
			t.Fatalf("%s: want migrate.state, got %s: %s", d, rep.Result.Check, rep.Result.Message)
		}
	}
	rep = run(t, "migrate", 8, `{}`, func(o *Options) { o.Resource = json.RawMessage(`{}`) })
	if rep.Result.Check != string(CheckSetupConfig) || !strings.Contains(rep.Result.Message, "second binding") {
		t.Fatalf("want a setup error asking for a named resource, got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

// versions is the reference connector recording the version of every ApplyUpsert;
// unsat, when set, answers spec v2's Validate (two bindings) with "text"
// UNSATISFIABLE and fails the ApplyUpsert of v2, as a SQL connector that cannot
// relax a NOT NULL column does.
type versions struct {
	*reference.Driver
	applied *[]string
	unsat   bool
}

func (v versions) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	var resp, err = v.Driver.Validate(ctx, req)
	if err == nil && v.unsat && len(req.Bindings) == 2 {
		resp.Bindings[0].Constraints["text"] = &materialize.Constraint{Type: materialize.Constraint_UNSATISFIABLE, Reason: "column text is NOT NULL"}
	}
	return resp, err
}

func (v versions) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	*v.applied = append(*v.applied, req.Version)
	if v.unsat && len(req.Materialization.Bindings) == 2 {
		return nil, fmt.Errorf("ALTER TABLE t ALTER COLUMN text DROP NOT NULL: permission denied")
	}
	return v.Driver.ApplyUpsert(ctx, req)
}

// Spec v2 is applied with a version of its own: a connector that (correctly) skips
// an ApplyUpsert of the version it holds applies v2 and passes.
func TestMigrateAppliesSpecV2WithANewVersion(t *testing.T) {
	var applied []string
	var rep = run(t, "migrate", 8, `{"skip_applied_version":true}`, func(o *Options) {
		o.Connector = connector.InProcess(versions{Driver: reference.New(), applied: &applied}, "reference skipping applied versions")
	})
	if !rep.Passed() {
		t.Fatalf("migrate against a connector that skips applied versions: %s: %s", rep.Result.Check, rep.Result.Message)
	}
	if len(applied) != 3 || applied[0] == applied[1] || applied[1] != applied[2] {
		t.Fatalf("ApplyUpsert versions %q: want v1, then v2 twice, v2 another version than v1", applied)
	}
}

// When Validate answers a field UNSATISFIABLE for spec v2, the migrate.apply message
// says so.
func TestMigrateApplyNamesUnsatisfiableFields(t *testing.T) {
	var applied []string
	var rep = run(t, "migrate", 8, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(versions{Driver: reference.New(), applied: &applied, unsat: true}, "reference that cannot relax NOT NULL")
	})
	if rep.Result.Check != string(CheckMigrateApply) {
		t.Fatalf("got %s, want migrate.apply: %s", rep.Result.Check, rep.Result.Message)
	}
	for _, want := range []string{`UNSATISFIABLE for binding 0 field "text" (column text is NOT NULL)`, "permission denied"} {
		if !strings.Contains(rep.Result.Message, want) {
			t.Errorf("the migrate.apply message does not say %q: %s", want, rep.Result.Message)
		}
	}
}

// A fence rerun with a seed used before, against a fresh table over the same
// endpoint (whose checkpoints, kept per materialization and key range, still hold
// the first run's), passes: the materialization's identity includes the resource.
func TestFenceRerunWithTheSameSeedAgainstAFreshTable(t *testing.T) {
	var ref = reference.New()
	var names []string
	for _, table := range []string{"first", "fresh"} {
		var rep = run(t, "fence", 5, `{}`, func(o *Options) {
			o.Connector = connector.InProcess(ref, "reference")
			o.Resource = json.RawMessage(`{"name":"` + table + `"}`)
		})
		if !rep.Passed() {
			t.Fatalf("fence seed 5 against table %s: %s: %s", table, rep.Result.Check, rep.Result.Message)
		}
		names = append(names, rep.Materialization)
	}
	if names[0] == names[1] {
		t.Errorf("both runs named their materialization %s: the resource is not part of its identity", names[0])
	}
}
