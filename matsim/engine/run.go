// Package engine is matsim's engine: it drives a materialization connector through
// the Flow materialize protocol and checks that what it stores is exactly right.
// Tests: basic (load/store/commit with upserts, then everything loaded back and
// verified), delta (store-only, committed documents streamed as NDJSON), fence (an
// older stream's commit must fail once a newer one opens over overlapping keys),
// recovery (crashes at chosen points; the committed state and checkpoint must
// survive) and migrate (a spec change applied between transactions).
//
// Execute runs one test from Options and returns its Report. The engine imports no
// Kubernetes and no command-line code: flags, YAML inputs, report files, rerun lines
// and exit codes are matsim/cmdline's; a connector's own main calls matsim.Run. It
// runs the same in the flowsim CLI, in a pod, and inside a connector's own main.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/lib/matsimtests"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/go-logr/logr"
)

// Tests are the test names, in documentation order.
var Tests = matsimtests.Names

// Options configure one run.
type Options struct {
	// Test is one of Tests.
	Test string
	// Connector is driven by every test; Peer, when set, serves the second (newer)
	// stream of the fence test — another connector process over the same store.
	Connector connector.Connector
	Peer      connector.Connector
	// Reopen starts a new connector process over the same store, for recovery.
	// When nil, recovery reuses Connector.
	Reopen func(ctx context.Context) (connector.Connector, error)
	// Config and Resource are the connector's endpoint and resource configuration (JSON).
	Config, Resource json.RawMessage
	// Loops of load/store/commit; the first has Start documents, doubling each loop.
	Loops, Start int
	// Batch is the number of documents per Load and Store request.
	Batch int
	// Seed makes the documents and choices of the run reproducible.
	Seed uint64
	// NewTestData makes empty documents of the type to test; nil means Rich.
	NewTestData func() TestData
	// Output receives delta's committed documents as NDJSON (nil: discarded).
	Output io.Writer

	// Verifier, when set, reads a delta-updates binding back after delta (and after
	// each crash point of recovery on a delta binding); see verify.go.
	Verifier Verifier

	// Progress receives one result.Progress line per loop (nil: none).
	Progress io.Writer
	// OnProgress, when set, follows each transaction as it runs (a live display).
	OnProgress func(ProgressEvent)
	// CallTimeout bounds each wait for a connector answer (default 5m).
	CallTimeout time.Duration
	// CrashAt selects recovery's crash points (default all).
	CrashAt []string
	// ExactlyOnce asserts that the connector stores Flow checkpoints transactionally
	// with its data: an empty or stale Opened checkpoint after a commit then fails
	// fence and recovery instead of being accepted as at-least-once.
	ExactlyOnce bool
	// Cleanup, after a passing run, asks the connector to delete what the test
	// applied (ApplyDelete of the last applied spec and version: the SQL connectors
	// drop the tables and the checkpoints). A run that did not pass is never cleaned
	// up: what it left is the evidence. The outcome is Result.Cleanup; it never
	// changes the verdict.
	Cleanup bool
	Log     logr.Logger
}

// LoopStats measure one transaction.
type LoopStats struct {
	Phase      string        `json:"phase"`
	Loaded     int64         `json:"loaded"`
	Verified   int64         `json:"verified"`
	Stored     int64         `json:"stored"`
	Requested  int           `json:"requested"`
	LoadTime   time.Duration `json:"loadNanos"`
	StoreTime  time.Duration `json:"storeNanos"`
	CommitTime time.Duration `json:"commitNanos"`
	DocsPerSec float64       `json:"docsPerSec"`
}

// Report is the outcome of a run.
type Report struct {
	Result          result.Result  `json:"result"`
	Connector       connector.Info `json:"connector"`
	Materialization string         `json:"materialization,omitempty"`
	ResourcePath    []string       `json:"resourcePath,omitempty"`
	DeltaUpdates    bool           `json:"deltaUpdates"`
	DroppedFields   []string       `json:"droppedFields,omitempty"`
	Loops           []LoopStats    `json:"loops"`
	Failures        []*Failure     `json:"failures,omitempty"`
	Notes           []string       `json:"notes,omitempty"`
	OracleBytes     int            `json:"oracleBytes"`
	Keys            int            `json:"keys"`
	started         time.Time
	txnTime         time.Duration
	// verifiedRows counts the rows a delta verifier read back that matched a committed
	// document (part of Result.Verified, see totals).
	verifiedRows int64
	paint        func(result.Outcome, string) string // colours of the text report
	interrupt    *interrupt.Error                    // the signal that stopped the run
}

// Passed reports whether every check passed.
func (r *Report) Passed() bool { return r.Result.Outcome == result.Passed }

// ExitCode is 0 passed, 1 a check failed, 2 usage or setup error, 128+signal
// interrupted.
func (r *Report) ExitCode() int {
	if r.interrupt != nil {
		return r.interrupt.ExitCode()
	}
	return r.Result.Outcome.ExitCode()
}

// Execute runs one test and returns its report. It never panics on connector
// misbehaviour: every problem becomes a Failure in the report.
func Execute(ctx context.Context, opts Options) *Report {
	var rep = &Report{started: time.Now()}
	rep.Result.Test = opts.Test
	rep.Result.Seed = opts.Seed
	rep.Result.Loops = opts.Loops
	if opts.Connector != nil {
		rep.Connector = opts.Connector.Info()
	}

	var err = execute(ctx, &opts, rep)
	if opts.Connector != nil {
		rep.Connector = opts.Connector.Info()
		rep.Result.Protocol = string(rep.Connector.Spoken())
	}
	rep.finish(err)
	if ie := interrupt.Of(ctx); ie != nil && !rep.Passed() {
		rep.interrupted(ie)
	}
	return rep
}

// interrupted makes the report of a run a signal stopped: whatever failed after the
// signal failed because of it, so nothing is blamed on the connector.
func (rep *Report) interrupted(ie *interrupt.Error) {
	rep.interrupt = ie
	rep.Failures = nil
	rep.Result.Outcome = result.Interrupted
	rep.Result.Check = ""
	rep.Result.Message = fmt.Sprintf("%s after %d of %d loops; the connector was stopped and not judged", ie, rep.Result.LoopsDone, rep.Result.Loops)
}

func (rep *Report) finish(err error) {
	rep.Result.DurationMillis = time.Since(rep.started).Milliseconds()
	rep.totals()
	if err != nil {
		var f, ok = asFailure(err)
		if !ok {
			f = &Failure{Check: CheckConnectorError, Phase: "run", Message: err.Error()}
		}
		if len(rep.Failures) == 0 || rep.Failures[0] != f {
			rep.Failures = append([]*Failure{f}, rep.Failures...)
		}
	}
	if len(rep.Failures) == 0 {
		rep.Result.Outcome = result.Passed
		return
	}
	var first = rep.Failures[0]
	rep.Result.Check = string(first.Check)
	rep.Result.Message = first.Error()
	if isSetup(first.Check) {
		rep.Result.Outcome = result.Error
	} else {
		rep.Result.Outcome = result.Failed
	}
}

// runner holds the state of one run.
type runner struct {
	opts    *Options
	rep     *Report
	log     logr.Logger
	schema  *docSchema
	src     source
	oracle  *oracle
	sel     *selection
	names   specNames
	spec    *pf.MaterializationSpec
	rng     rng
	binding string
	version string
	// onCommitted runs when a transaction's DriverCommitted arrives.
	onCommitted func(t *txn)
	// sawCheckpoint is set once the connector returned a non-empty Flow checkpoint
	// from Open: it stores checkpoints, so an empty one later is not at-least-once.
	sawCheckpoint bool
	// prepared holds every Flow checkpoint this run sent with Prepare (checkpoints.go).
	prepared map[string]bool
	// bindings of the materialization, in spec order: binding 0 is the one every
	// test runs (r.sel, r.oracle, r.binding); migrate's spec v2 adds a second.
	bindings []*boundBinding
	// Bytes per Load key and per Store item, learned from earlier requests.
	keySize, itemSize int
	// deltaTwice are delta documents that may be read back twice (verify_delta.go).
	deltaTwice map[rowRef]bool
}

func validateOptions(o *Options) error {
	var known bool
	for _, t := range Tests {
		known = known || t == o.Test
	}
	switch {
	case !known:
		return failf(CheckSetupConfig, "setup", "unknown test %q (want one of %s)", o.Test, strings.Join(Tests, ", "))
	case o.Connector == nil:
		return failf(CheckSetupConfig, "setup", "no connector")
	case o.Loops < 1:
		return failf(CheckSetupConfig, "setup", "--loops must be at least 1 (got %d)", o.Loops)
	case o.Start < 1:
		return failf(CheckSetupConfig, "setup", "--start must be at least 1 (got %d)", o.Start)
	case o.Batch < 1:
		return failf(CheckSetupConfig, "setup", "--batch must be at least 1 (got %d)", o.Batch)
	case !Addressable(o.Start, o.Loops):
		return failf(CheckSetupConfig, "setup", "--start %d doubled over --loops %d is more documents than matsim can address", o.Start, o.Loops)
	}
	return nil
}

// Addressable says whether start documents doubled over loops fit matsim's key
// space (key indexes of 40 bits). The one home of the start·2^loops bound: the
// command line checks it, and the CRD's CEL rule is tested against it
// (TestCRDStartBoundIsTheEngines).
func Addressable(start, loops int) bool {
	return start >= 1 && loops >= 1 && loops <= 40 && bits.Len64(uint64(start))+loops <= 40
}

func execute(ctx context.Context, o *Options, rep *Report) error {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Minute
	}
	if o.NewTestData == nil {
		o.NewTestData = func() TestData { return new(Rich) }
	}
	if len(o.Config) == 0 {
		o.Config = json.RawMessage("{}")
	}
	if len(o.Resource) == 0 {
		o.Resource = json.RawMessage("{}")
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if err := validateOptions(o); err != nil {
		return err
	}
	var r = &runner{opts: o, rep: rep, log: o.Log, keySize: 32, itemSize: 1024, rng: newRng(o.Seed, 0x5eed)}
	var err error
	if r.schema, err = schemaOf(o.NewTestData()); err != nil {
		return failf(CheckSetupConfig, "setup", "%v", err)
	}
	// Each test draws keys from its own part of the key space, so that tests run with
	// the same seed against one table don't collide.
	var docSeed = o.Seed
	for _, c := range o.Test {
		docSeed = mix64(docSeed ^ uint64(c))
	}
	if o.Test == "basic" {
		docSeed = o.Seed
	}
	if r.src, err = newSource(o.NewTestData, docSeed); err != nil {
		return failf(CheckSetupConfig, "setup", "%v", err)
	}
	r.oracle = newOracle(r.src)
	r.names = newSpecNames(o.Test, r.schema.TypeName, o.Seed, o.Resource)
	rep.Materialization = r.names.Materialization

	if err := r.setup(ctx); err != nil {
		return err
	}
	defer func() {
		rep.OracleBytes = r.oracle.memBytes()
		rep.Keys = len(r.oracle.rev)
	}()
	var tests = map[string]func(context.Context) error{
		"basic": r.basic, "delta": r.delta, "fence": r.fence, "recovery": r.recovery, "migrate": r.migrate,
	}
	if err := tests[o.Test](ctx); err != nil {
		return err
	}
	if o.Cleanup && ctx.Err() == nil && len(rep.Failures) == 0 {
		rep.Result.Cleanup = r.cleanup(ctx)
	}
	return nil
}

// bindingNames are the resource paths of every binding, comma separated.
func (r *runner) bindingNames() string {
	var names = make([]string, len(r.bindings))
	for i, b := range r.bindings {
		names[i] = b.name
	}
	return strings.Join(names, ", ")
}

// cleanup deletes what a passing test applied (Options.Cleanup) and says how it went:
// "done: …", "skipped: …" (the connector's era has no apply-delete) or "failed: …".
func (r *runner) cleanup(ctx context.Context) string {
	var cctx, cancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	var resp, err = r.opts.Connector.ApplyDelete(cctx, &materialize.ApplyRequest{Materialization: r.spec, Version: r.version})
	switch {
	case errors.Is(err, connector.ErrNoApplyDelete):
		return "skipped: the connector's protocol has no apply-delete; delete the test's tables (" + r.bindingNames() + ") yourself"
	case err != nil:
		r.log.Info("Cleanup failed", "error", err.Error())
		// Not cut here: the report redacts secrets first and cuts after, so that no
		// fragment of one is shown.
		return "failed: ApplyDelete of " + r.bindingNames() + " (version " + r.version + "): " + err.Error()
	}
	return "done: " + resp.ActionDescription
}

// setup runs Spec, Validate and ApplyUpsert.
func (r *runner) setup(ctx context.Context) error {
	var conn = r.opts.Connector
	var cctx, cancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()

	var specResp, err = conn.Spec(cctx, &materialize.SpecRequest{
		EndpointType:     pf.EndpointType_FLOW_SINK,
		EndpointSpecJson: r.opts.Config,
	})
	if err != nil {
		return r.unaryFailure(cctx, CheckSetupSpec, "spec", "Spec", err)
	}
	if err := specResp.Validate(); err != nil {
		return failf(CheckSetupSpec, "spec", "the connector sent an invalid SpecResponse: %v", err)
	}
	for _, s := range []struct {
		name string
		b    json.RawMessage
	}{{"endpoint spec schema", specResp.EndpointSpecSchemaJson}, {"resource spec schema", specResp.ResourceSpecSchemaJson}} {
		if !json.Valid(s.b) {
			return failf(CheckSetupSpec, "spec", "the %s is not valid JSON: %s", s.name, clip(string(s.b), 120))
		}
	}

	var vreq = r.schema.validateRequest(r.names, r.opts.Config, r.opts.Resource)
	if err := vreq.Validate(); err != nil {
		return failf(CheckSetupConfig, "validate", "matsim built an invalid ValidateRequest (a bug in matsim or the test data type): %v", err)
	}
	// Validate has its own deadline: --call-timeout bounds each call.
	var vctx, vcancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer vcancel()
	vresp, err := conn.Validate(vctx, vreq)
	if err != nil {
		return r.unaryFailure(vctx, CheckSetupValidate, "validate", "Validate", err)
	}
	if err := vresp.Validate(); err != nil {
		return failf(CheckSetupValidate, "validate", "the connector sent an invalid ValidateResponse: %v", err)
	}
	if len(vresp.Bindings) != 1 {
		return failf(CheckSetupValidate, "validate", "ValidateResponse has %d bindings for 1 requested", len(vresp.Bindings))
	}
	var vb = vresp.Bindings[0]
	var wantDelta = r.opts.Test == "delta" || r.opts.Test == "recovery" && r.opts.Verifier != nil && vb.DeltaUpdates
	if vb.DeltaUpdates != wantDelta {
		if wantDelta && !hasDeltaOption(specResp.ResourceSpecSchemaJson) {
			return failf(CheckDeltaModeDiffers, "validate", "the delta test needs a delta-updates binding, but this connector's resource schema has no delta-updates option (Validate returned delta_updates=false for resource %s): it does not materialize with delta updates, so the delta test does not apply to it", clip(string(r.opts.Resource), 200))
		}
		if wantDelta {
			return failf(CheckDeltaModeDiffers, "validate", "the delta test needs a delta-updates binding, but Validate returned delta_updates=false for resource %s (set the resource's delta-updates option)", clip(string(r.opts.Resource), 200))
		}
		return failf(CheckDeltaModeDiffers, "validate", "the %s test needs a standard (non-delta) binding, but Validate returned delta_updates=true for resource %s (use the delta test, or turn delta updates off; recovery of a delta-updates binding needs a verifier: --verify-command or --verify-sql)", r.opts.Test, clip(string(r.opts.Resource), 200))
	}
	if r.sel, err = r.schema.selectFields(vb); err != nil {
		return failf(CheckSetupConstraint, "validate", "%v", err)
	}
	r.binding = strings.Join(vb.ResourcePath, ".")
	r.bindings = []*boundBinding{{name: r.binding, sel: r.sel, oracle: r.oracle}}
	r.rep.ResourcePath = vb.ResourcePath
	r.rep.DeltaUpdates = vb.DeltaUpdates
	r.rep.DroppedFields = r.sel.Dropped
	if r.sel.Keyless {
		r.rep.Notes = append(r.rep.Notes, "the connector forbids the key fields ("+strings.Join(r.sel.KeyReasons, "; ")+
			"): valid for a delta-updates binding, so the key fields were left out of the field selection and Stores carry the documents only")
	}
	if n := len(r.o().NewTestData().Values()); n != len(r.schema.Values) {
		return failf(CheckSetupConfig, "setup", "test data type %s: Values() returns %d values but the type has %d non-key fields %v", r.schema.TypeName, n, len(r.schema.Values), r.schema.Values)
	}

	r.spec = r.schema.materializationSpec(r.names, r.opts.Config, r.opts.Resource, r.sel)
	if err := r.spec.Validate(); err != nil {
		return failf(CheckSetupConfig, "apply", "matsim built an invalid MaterializationSpec: %v", err)
	}
	r.version = specVersion(r.spec)
	var applied, err2 = r.applied(ctx, conn, "apply")
	if err2 != nil {
		return err2
	}
	// The fence peer is applied the same spec (idempotently): like the runtime, which
	// applies before any shard opens, and so that a peer whose revision is auto learns
	// it from the real request, not from a probe.
	if r.opts.Peer != nil {
		var peerApplied, err = r.applied(ctx, r.opts.Peer, "apply (peer)")
		if err != nil {
			return err
		}
		// flowsim's reference connector keeps its state in its own state_dir: a peer
		// instance that does not share it (the operator's second pod) would make fence
		// fail a correct connector. Its ApplyUpsert names its store: refuse the setup.
		var a, b = connector.ReferenceStoreOf(applied), connector.ReferenceStoreOf(peerApplied)
		if specResp.DocumentationUrl == connector.ReferenceDocumentationURL && a != b {
			return failf(CheckSetupConfig, "apply (peer)", "fence needs both of its streams over one store, and the two instances of flowsim's reference connector "+
				"(--peer-endpoint: in the operator, the second pod) keep separate ones (store %s and store %s): its state lives in each instance's state_dir. "+
				"fence cannot judge it so; run fence with the reference connector locally (flowsim matsim fence), or test fence with your own connector", a, b)
		}
	}
	if conn.Info().Spoken() == connector.Compat {
		r.rep.Notes = appendOnce(r.rep.Notes, "protocol 2021-12|2022: the connector answered spec, validate and apply-upsert as both eras do, "+
			"so it was driven with transactions both accept, and a commit was judged confirmed at the Acknowledged after it (2022's rule); "+
			"for a 2021-12 connector, --protocol 2021-12 also pipelines Loads and holds DriverCommitted as durable")
	}
	r.log.V(1).Info("Connector set up", "resourcePath", vb.ResourcePath, "delta", vb.DeltaUpdates, "dropped", r.sel.Dropped)
	return nil
}

func (r *runner) o() *Options { return r.opts }

// boundBinding is what the engine tracks of one binding: its name (resource path),
// field selection and the oracle of the documents it holds.
type boundBinding struct {
	name   string
	sel    *selection
	oracle *oracle
}

// specVersion derives the ApplyRequest and Open version from the spec's content,
// as the runtime does from a build: a connector may treat a reapplication of the
// version it holds as a no-op, so a run with the same seed but another resource (a
// fresh table) must carry another version. The endpoint config is left out: a hash
// of it could help to guess a secret, and a connector keeps the versions it applied
// in the endpoint itself.
func specVersion(spec *pf.MaterializationSpec) string {
	var cp = *spec
	cp.EndpointSpecJson = nil
	var b, err = cp.Marshal()
	if err != nil {
		panic(fmt.Sprintf("marshalling a validated MaterializationSpec: %v", err))
	}
	var sum = sha256.Sum256(b)
	return fmt.Sprintf("flowsim-%x", sum[:8])
}

func (r *runner) apply(ctx context.Context, conn connector.Connector, phase string) error {
	var _, err = r.applied(ctx, conn, phase)
	return err
}

// applied is apply, returning the connector's description of what it did.
func (r *runner) applied(ctx context.Context, conn connector.Connector, phase string) (string, error) {
	var cctx, cancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	var resp, err = conn.ApplyUpsert(cctx, &materialize.ApplyRequest{Materialization: r.spec, Version: r.version})
	if err != nil {
		return "", r.unaryFailure(cctx, CheckSetupApply, phase, "ApplyUpsert", err)
	}
	r.log.V(1).Info("Applied", "action", resp.ActionDescription)
	return resp.ActionDescription, nil
}

// openRequest builds Open for a key range, carrying the driver checkpoint the
// runtime's recovery log holds.
func (r *runner) openRequest(begin, end uint32, driverCP json.RawMessage) *materialize.TransactionRequest_Open {
	return &materialize.TransactionRequest_Open{
		Materialization:      r.spec,
		Version:              r.version,
		KeyBegin:             begin,
		KeyEnd:               end,
		DriverCheckpointJson: driverCP,
	}
}

func (r *runner) open(ctx context.Context, conn connector.Connector, name string, begin, end uint32, driverCP json.RawMessage) (*stream, []byte, error) {
	return openStream(ctx, conn, name, r.openRequest(begin, end, driverCP), r.opts.CallTimeout, r.sel.DeltaUpdates)
}

// unaryFailure reports a failed Spec, Validate or Apply as the call's setup check,
// whatever the fault (FaultTable): a call that ran out of time says so.
func (r *runner) unaryFailure(ctx context.Context, check Check, phase, call string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failf(check, phase, "the connector did not finish %s within %s (--call-timeout): %v", call, r.opts.CallTimeout, err)
	}
	return failf(check, phase, "%s failed: %v", call, err)
}

// hasDeltaOption reports whether a connector's resource schema has a property that
// looks like a delta-updates switch (delta_updates, deltaUpdates, delta-updates …),
// at any depth. A schema that is not JSON is given the benefit of the doubt.
func hasDeltaOption(schema json.RawMessage) bool {
	var v interface{}
	if json.Unmarshal(schema, &v) != nil {
		return true
	}
	var found bool
	var walk func(v interface{})
	walk = func(v interface{}) {
		switch t := v.(type) {
		case map[string]interface{}:
			if props, ok := t["properties"].(map[string]interface{}); ok {
				for k := range props {
					var n = strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(k))
					if strings.Contains(n, "delta") {
						found = true
					}
				}
			}
			for _, e := range t {
				walk(e)
			}
		case []interface{}:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}
