package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Check identifies what a failure is about. The README's table lists them all.
type Check string

// Checks of the connector's behaviour (a failure exits 1).
const (
	CheckLoadMissing      Check = "load.missing"                   // a stored key was requested and not returned
	CheckLoadUnrequested  Check = "load.unrequested"               // a Loaded document for a key not requested in this transaction
	CheckLoadDuplicate    Check = "load.duplicate"                 // the same key returned twice in one transaction
	CheckLoadPhantom      Check = "load.phantom"                   // a document for a key that was never stored (or whose store was fenced/aborted)
	CheckLoadValue        Check = "load.value"                     // a returned document differs from the last committed one
	CheckLoadUndecodable  Check = "load.undecodable"               // a returned document isn't JSON of the test data type
	CheckLoadMerged       Check = "load.merged-keys"               // two distinct keys kept as one row (collation twins, first key component only)
	CheckDeltaLoaded      Check = "delta.loaded"                   // Loaded sent for a delta-updates binding
	CheckProtocolInvalid  Check = "protocol.invalid"               // a message fails its Validate()
	CheckProtocolOrder    Check = "protocol.order"                 // a message the protocol doesn't allow at this point
	CheckAckTwice         Check = "protocol.ack-twice"             // two Acknowledged in one transaction
	CheckLoadedAfterPrep  Check = "protocol.loaded-after-prepared" // Loaded between Prepared and DriverCommitted
	CheckCommittedEarly   Check = "protocol.committed-early"       // DriverCommitted before Commit
	CheckTimeout          Check = "connector.timeout"
	CheckConnectorError   Check = "connector.error"
	CheckNotFenced        Check = "fence.not-fenced"
	CheckNewerFailed      Check = "fence.newer-failed"
	CheckZombieVisible    Check = "fence.zombie-visible"
	CheckFenceCheckpoint  Check = "fence.checkpoint"      // the newer stream's Opened lacks the checkpoint of the range covering it
	CheckDisjointFenced   Check = "fence.disjoint-fenced" // a stream was fenced by one over a disjoint key range
	CheckRecoveryCheckpt  Check = "recovery.checkpoint"
	CheckRecoveryState    Check = "recovery.state"
	CheckApplyIdempotent  Check = "recovery.apply-idempotent"
	CheckDeltaModeDiffers Check = "setup.delta-updates"
	CheckMigrateApply     Check = "migrate.apply"    // applying an evolved spec over existing tables failed
	CheckMigrateState     Check = "migrate.state"    // after applying an evolved spec, stored documents differ
	CheckVacuous          Check = "run.vacuous"      // the run did not exercise what the test claims
	CheckRecoveryVacuous  Check = "recovery.vacuous" // a crash did not happen where it was asked
)

// Checks of what a delta-updates binding holds, read back by a Verifier.
const (
	CheckDeltaValue     Check = "delta.value"     // a row of a committed key matches none of its committed documents
	CheckDeltaDuplicate Check = "delta.duplicate" // a committed document read back more than once
	CheckDeltaExtra     Check = "delta.extra"     // a row that no committed transaction stored
	CheckDeltaMissing   Check = "delta.missing"   // a committed document not read back
	CheckSetupVerify    Check = "setup.verify"    // the verifier could not read the destination
)

// Setup checks: the connector could not be set up; a failure exits 2.
const (
	CheckSetupConfig     Check = "setup.config"
	CheckSetupConnect    Check = "setup.connect"
	CheckSetupSpec       Check = "setup.spec"
	CheckSetupValidate   Check = "setup.validate"
	CheckSetupConstraint Check = "setup.constraint"
	CheckSetupApply      Check = "setup.apply"
)

// CheckInfo documents a check.
type CheckInfo struct {
	Check   Check
	Catches string
	// Setup checks report a usage/setup error rather than a connector failure.
	Setup bool
}

// AllChecks documents every check, in README order.
var AllChecks = []CheckInfo{
	{CheckLoadMerged, "two distinct keys kept as one row: keys that differ only in a later key component, by letter case, by trailing spaces or by Unicode normalisation or width (first-key-only keys, case-insensitive or PAD SPACE collations, normalising stores); the message names both keys", false},
	{CheckLoadUnrequested, "a Loaded document whose key was not requested in this transaction", false},
	{CheckLoadDuplicate, "the same key returned twice in one transaction (duplicate rows, double sends)", false},
	{CheckLoadPhantom, "a document for a key that was never stored, e.g. an empty document for a missing key, or a fenced stream's write", false},
	{CheckLoadUndecodable, "a returned document that is not JSON of the test data type", false},
	{CheckLoadValue, "a document that differs from the last committed one (stale values, corrupted unicode, truncated strings, lost precision, lost nested fields, null not applied)", false},
	{CheckLoadMissing, "a stored document that Load did not return (dropped stores, lost commits, deferred Loaded never flushed)", false},
	{CheckDeltaLoaded, "Loaded sent for a delta-updates binding", false},
	{CheckDeltaValue, "with a verifier: a delta row of a committed key that matches none of its committed documents (truncated or mangled values), compared like Loaded documents", false},
	{CheckDeltaDuplicate, "with a verifier: a committed delta document stored more than once (a transaction replayed after a restart)", false},
	{CheckDeltaExtra, "with a verifier: a delta row that no committed transaction stored (an aborted transaction's rows, rows of another run)", false},
	{CheckDeltaMissing, "with a verifier: a committed delta document that is not in the destination (dropped rows, lost commits)", false},
	{CheckProtocolInvalid, "a message that fails its own Validate() (e.g. an empty driver checkpoint marked as a merge patch)", false},
	{CheckProtocolOrder, "a message the protocol does not allow at that point (e.g. Prepared before Prepare)", false},
	{CheckAckTwice, "Acknowledged answered twice in one transaction", false},
	{CheckLoadedAfterPrep, "Loaded after Prepared and before DriverCommitted: not flushed before Prepared, or the next transaction's Loads answered before the commit (reads uncommitted state); one check for the window, since which of the two a Loaded there is depends on timing", false},
	{CheckCommittedEarly, "DriverCommitted before Commit", false},
	{CheckTimeout, "a connector that does not answer within --call-timeout during the transactions stream (e.g. never Acknowledged), or does not end the stream within it after matsim closed it (a setup call that does not answer fails its setup check)", false},
	{CheckConnectorError, "the connector failed an RPC or ended the stream unexpectedly (crash, exit code, error)", false},
	{CheckNotFenced, "a fenced (older) stream's commit succeeded", false},
	{CheckNewerFailed, "the newer stream could not commit after fencing the older one", false},
	{CheckZombieVisible, "a fenced stream's stores are visible after its commit failed", false},
	{CheckFenceCheckpoint, "the newer stream's Opened did not return the checkpoint committed over the key range covering it (a split child must start from its parent's); an empty one fails with --exactly-once or when the connector returned checkpoints before", false},
	{CheckDisjointFenced, "a stream could not commit while a stream over a disjoint key range was open (a global fence breaks every multi-shard materialization)", false},
	{CheckRecoveryCheckpt, "after a crash, Opened returned a checkpoint other than the last committed one (with --exactly-once also an empty one)", false},
	{CheckRecoveryState, "after a crash, stored data differs from the committed state (lost commits, half-applied transactions)", false},
	{CheckApplyIdempotent, "applying the same spec a second time fails", false},
	{CheckMigrateApply, "Validate or ApplyUpsert of an evolved spec (a new optional field, a field made nullable, an added binding) over tables holding data failed", false},
	{CheckMigrateState, "after applying an evolved spec, documents differ from what was stored: the table was dropped or recreated, or the new field was ignored", false},
	{CheckVacuous, "a run that exercised nothing: fence could not attempt the older stream's commit (the connector ended the stream cleanly first); the message says what was missing. (basic and delta cannot pass vacuously: a loop without a verified stored document fails load.missing, a transaction that does not commit connector.timeout)", false},
	{CheckRecoveryVacuous, "a crash that did not happen where it was asked (the stream had already ended, or the connector failed first)", false},
	{CheckDeltaModeDiffers, "the binding's delta_updates does not match the test (delta needs true, basic/fence/recovery need false)", true},
	{CheckSetupConfig, "bad flags, --config or --resource", true},
	{CheckSetupConnect, "the connector cannot be started or reached", true},
	{CheckSetupSpec, "Spec failed, whatever the fault: an error, a crash, no answer within --call-timeout, garbage on stdout, an invalid SpecResponse (see the fault table)", true},
	{CheckSetupValidate, "Validate failed, whatever the fault (e.g. wrong password, unreachable database, no answer, an invalid ValidateResponse)", true},
	{CheckSetupConstraint, "Validate forbade a field matsim needs (a key, a required field, the document)", true},
	{CheckSetupApply, "ApplyUpsert failed, whatever the fault", true},
	{CheckSetupVerify, "the verifier (--verify-command, --verify-sql) could not read the destination back", true},
}

func isSetup(c Check) bool {
	for _, ci := range AllChecks {
		if ci.Check == c {
			return ci.Setup
		}
	}
	return false
}

// Failure is one failed check.
type Failure struct {
	Check   Check    `json:"check"`
	Phase   string   `json:"phase"`
	Binding string   `json:"binding,omitempty"`
	Count   int      `json:"count,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Message string   `json:"message"`
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", f.Check, f.Phase)
	if f.Binding != "" {
		fmt.Fprintf(&b, ", binding %s", f.Binding)
	}
	b.WriteString(": ")
	b.WriteString(f.Message)
	if f.Count > 0 {
		fmt.Fprintf(&b, " (%d document(s)", f.Count)
		if len(f.Keys) > 0 {
			fmt.Fprintf(&b, "; first keys: %s", strings.Join(f.Keys, ", "))
		}
		b.WriteString(")")
	}
	return b.String()
}

func failf(check Check, phase string, format string, args ...interface{}) *Failure {
	return &Failure{Check: check, Phase: phase, Message: fmt.Sprintf(format, args...)}
}

// asFailure extracts a *Failure from an error chain.
func asFailure(err error) (*Failure, bool) {
	var f *Failure
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// maxKeysShown is how many keys a failure lists.
const maxKeysShown = 5

// findings aggregates per-document failures of one phase by check.
type findings struct {
	phase, binding string
	byCheck        map[Check]*Failure
	order          []Check
}

func newFindings(phase, binding string) *findings {
	return &findings{phase: phase, binding: binding, byCheck: map[Check]*Failure{}}
}

// add records a document failing a check. The first document's detail becomes the message.
func (fs *findings) add(check Check, key string, detail string) {
	var f, ok = fs.byCheck[check]
	if !ok {
		f = &Failure{Check: check, Phase: fs.phase, Binding: fs.binding, Message: detail}
		fs.byCheck[check] = f
		fs.order = append(fs.order, check)
	}
	f.Count++
	if len(f.Keys) < maxKeysShown && key != "" {
		f.Keys = append(f.Keys, key)
	}
}

func (fs *findings) empty() bool { return len(fs.order) == 0 }

// list returns the failures, most severe (by AllChecks order) first.
func (fs *findings) list() []*Failure {
	var out = make([]*Failure, 0, len(fs.order))
	for _, c := range fs.order {
		out = append(out, fs.byCheck[c])
	}
	var rank = func(c Check) int {
		for i, ci := range AllChecks {
			if ci.Check == c {
				return i
			}
		}
		return len(AllChecks)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Check) < rank(out[j].Check) })
	return out
}
