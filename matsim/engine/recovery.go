package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"

	"github.com/flowsim/flowsim/connector"
)

// CrashPoints are where the recovery test ends the stream abruptly, one at every
// message boundary of a transaction:
//   - before-acknowledge: the previous transaction's DriverCommitted arrived, its
//     Acknowledge was never sent;
//   - after-acknowledge: Acknowledge sent, no Load yet;
//   - after-load: the first Load request sent; after-loads: every Load sent;
//   - after-prepare: Prepare sent, Prepared not awaited; after-prepared: Prepared arrived;
//   - after-store: the first Store request sent; after-stores: every Store sent, no Commit;
//   - after-commit: Commit was sent, DriverCommitted not awaited (it may or may not
//     have committed, but all or nothing, and its checkpoint with it);
//   - after-committed: DriverCommitted arrived, the next Acknowledge was never sent;
//   - after-next-acknowledge: the next transaction's Acknowledge was sent and answered.
var CrashPoints = []string{"before-acknowledge", "after-acknowledge", "after-load", "after-loads", "after-prepare", "after-prepared",
	"after-store", "after-stores", "after-commit", "after-committed", "after-next-acknowledge"}

// KnownCrashPoint says whether s names a crash point (or is "all").
func KnownCrashPoint(s string) bool {
	for _, c := range CrashPoints {
		if c == s {
			return true
		}
	}
	return s == "all"
}

// CrashPointsOf expands --crash-at: empty or "all" is every crash point.
func CrashPointsOf(list []string) []string {
	for _, p := range list {
		if p == "all" {
			return CrashPoints
		}
	}
	if len(list) == 0 {
		return CrashPoints
	}
	return list
}

// Phases is what Options.Loops of test holds: loops for basic and delta, and for
// the tests that ignore --loops the number of phases they run (fence: one per key
// range case; recovery: one per crash point of crashAt; migrate: three steps).
func Phases(test string, loops int, crashAt []string) int {
	switch test {
	case "fence":
		return fencePhases
	case "recovery":
		return len(CrashPointsOf(crashAt))
	case "migrate":
		return migrateSteps
	}
	return loops
}

// deltaApplicable are the crash points of a delta-updates binding, whose transactions
// have no Loads: the others cannot happen there.
var deltaApplicable = []string{"after-stores", "after-commit", "after-committed"}

// deltaCrashPoints keeps the points that can happen on a delta-updates binding; a point
// asked for by name that cannot is a setup error rather than a crash that never happened.
func deltaCrashPoints(points, asked []string) ([]string, error) {
	var all = len(asked) == 0 || slices.Contains(asked, "all")
	var out []string
	for _, p := range points {
		switch {
		case slices.Contains(deltaApplicable, p):
			out = append(out, p)
		case !all:
			return nil, failf(CheckSetupConfig, "recovery", "crash point %s cannot happen on a delta-updates binding (its transactions have no Loads): use %s or all",
				p, strings.Join(deltaApplicable, ", "))
		}
	}
	return out, nil
}

// crashRank orders the crash points along a transaction.
func crashRank(point string) int {
	for n, c := range CrashPoints {
		if c == point {
			return n
		}
	}
	return len(CrashPoints)
}

// recovery drives a few transactions, crashes at a chosen point, restarts the
// connector where the transport can (Options.Reopen), applies the spec again, and
// checks that Opened returns the checkpoint of the last committed transaction and
// that the stored data is exactly the committed state. Connectors that return no
// checkpoint rely on the runtime's recovery log (at-least-once): for them the aborted
// transaction's documents may be present or absent, per document.
func (r *runner) recovery(ctx context.Context) error {
	var points = CrashPointsOf(r.opts.CrashAt)
	if r.sel.DeltaUpdates {
		var err error
		if points, err = deltaCrashPoints(points, r.opts.CrashAt); err != nil {
			return err
		}
		r.rep.Result.Loops = len(points)
	}
	var conn = r.opts.Connector
	var driverCP []byte // the driver checkpoint the runtime's recovery log holds
	var start = time.Now()
	defer func() { r.rep.txnTime = time.Since(start) }()
	for n, cp := range points {
		var name = fmt.Sprintf("recovery %d of %d (crash %s)", n+1, len(points), cp)
		var next, dcp, err = r.recoveryPhase(ctx, conn, name, cp, driverCP)
		if err != nil {
			return err
		}
		conn, driverCP = next, dcp
		r.rep.Result.LoopsDone = n + 1
		r.loopDone(n+1, len(points))
	}
	return nil
}

// beforeCrash is what the transactions before the crash committed: the checkpoints
// of the last two and the last one itself.
type beforeCrash struct {
	lastCP, prevCP []byte
	last           *txn
}

// commitBeforeCrash runs recovery's two transactions that commit before the crashing
// one (both kinds of binding). On a standard binding every stored key is loaded too,
// so that data lost before the crash is reported as such (load.missing), not as a
// recovery failure; a delta binding has no Loads.
func (r *runner) commitBeforeCrash(s *stream, name string, delta bool) (beforeCrash, error) {
	var b beforeCrash
	for k := 0; k < 2; k++ {
		var keys = r.chooseKeys(r.opts.Start)
		var cp = r.checkpointOf(s)
		var plan = txnPlan{phase: fmt.Sprintf("%s: transaction %d", name, k+1), stores: keys, noExists: delta}
		if !delta {
			plan.loads = catKeys(r.oracle.stored(), r.oracle.keysNotIn(keys))
		}
		t, err := r.transact(s, plan)
		if err != nil {
			return b, err
		}
		if err := s.awaitCommitted(); err != nil {
			return b, err
		}
		b.prevCP, b.lastCP, b.last = b.lastCP, cp, t
	}
	return b, nil
}

func (r *runner) recoveryPhase(ctx context.Context, conn connector.Connector, name, point string, driverCP []byte) (connector.Connector, []byte, error) {
	if r.sel.DeltaUpdates {
		return r.deltaRecoveryPhase(ctx, conn, name, point, driverCP) // verify_delta.go
	}
	var s, _, err = r.open(ctx, conn, name+": stream before the crash", 0, fullRange, driverCP)
	if err != nil {
		return nil, nil, err
	}
	defer s.abort()

	before, err := r.commitBeforeCrash(s, name, false)
	if err != nil {
		return nil, nil, err
	}
	var lastCommitted, prevCommitted, lastTxn = before.lastCP, before.prevCP, before.last
	// The transaction that crashes.
	var keys = r.chooseKeys(r.opts.Start)
	var crashCP = r.checkpointOf(s)
	t, err := r.crashingTxn(s, name+": crashing transaction", keys, point)
	if err != nil {
		return nil, nil, err
	}
	var committed = crashRank(point) >= crashRank("after-committed")
	var ambiguous = point == "after-commit"
	// In eras after 2021 a commit is confirmed by the Acknowledged after its
	// StartedCommit: until then the connector may still complete it, or lose it in
	// the crash (all or nothing, its checkpoint with it).
	var prevUnconfirmed bool
	if s.unconfirmedCommit() {
		if point == "after-committed" {
			ambiguous = true // committed stays the default when Opened cannot tell
		} else {
			prevUnconfirmed = true
		}
	}
	if t == nil {
		t = &txn{} // crashed before any Store: nothing of it can be stored
	}
	// The crash must happen where it was asked: on a stream that is still open. (A
	// connector that failed on its own has crashed already; recovery judges that.)
	s.committing = nil
	select {
	case <-s.recvDone:
		if err := r.drain(s); err == nil || strings.Contains(err.Error(), "closed the stream") {
			return nil, nil, failf(CheckRecoveryVacuous, name, "the connector had already ended the stream when matsim was to crash it %s, so that crash point was not exercised", point)
		}
	default:
	}
	var logCP = append([]byte(nil), s.driverCP.DriverCheckpointJson...)
	if err := s.crash(); err != nil {
		return nil, nil, err
	}

	var rolledBack bool
	s2, conn, committed, atLeastOnce, err := r.reopenAfterCrash(ctx, conn, name, logCP, crashJudge{
		lastCommitted: lastCommitted, crashCP: crashCP, committed: committed, ambiguous: ambiguous,
		prevCommitted: prevCommitted, prevUnconfirmed: prevUnconfirmed, rolledBack: &rolledBack,
		note: "the connector returns no Flow checkpoint from Open: it relies on the runtime's recovery log (at-least-once), so recovery accepts an aborted transaction's documents as present or absent",
	})
	if err != nil {
		return nil, nil, err
	}
	defer s2.abort()

	// The data.
	if committed {
		r.oracle.commit(&t.stores)
	} else {
		if atLeastOnce && point != "after-committed" {
			// Before abort: each key's store is revision rev+1.
			r.oracle.alt = make(bitset, len(r.oracle.sent))
			for i := range keysOf(t.stores.keys) {
				r.oracle.alt.set(i)
			}
		}
		if t.committed { // its StartedCommit arrived; it was not confirmed
			r.oracle.uncommit(&t.stores)
		} else {
			r.oracle.abort(&t.stores)
		}
	}
	if rolledBack {
		// The previous transaction's commit was lost in the crash (before it was
		// confirmed): the connector is back at the one before.
		r.oracle.uncommit(&lastTxn.stores)
	}
	var all = catKeys(r.oracle.stored(), r.oracle.keysNotIn(t.stores.keys))
	var state = map[Check]Check{CheckLoadValue: CheckRecoveryState, CheckLoadPhantom: CheckRecoveryState, CheckLoadMissing: CheckRecoveryState}
	var verdict = "the crashed transaction did not commit"
	if committed {
		verdict = "the crashed transaction committed"
	} else if rolledBack {
		verdict = "neither the crashed transaction nor the unconfirmed one before it committed"
	}
	// An at-least-once connector is brought to a definite state the way the runtime
	// does it: by replaying the aborted transaction.
	var replay keySeq
	if r.oracle.alt != nil {
		replay = t.stores.keys
		verdict += "; replayed as the runtime would"
	}
	_, err = r.transact(s2, txnPlan{phase: fmt.Sprintf("%s: read back after the restart (%s)", name, verdict), loads: all, stores: replay, remap: state})
	r.oracle.alt = nil
	if err != nil {
		return nil, nil, err
	}
	// The connector must go on working.
	var more = r.chooseKeys(r.opts.Start)
	if _, err := r.transact(s2, txnPlan{phase: name + ": transaction after the restart", loads: more, stores: more}); err != nil {
		return nil, nil, err
	}
	if err := r.finishStream(s2); err != nil {
		return nil, nil, err
	}
	return conn, append([]byte(nil), s2.driverCP.DriverCheckpointJson...), nil
}

func appendOnce(list []string, s string) []string {
	for _, l := range list {
		if l == s {
			return list
		}
	}
	return append(list, s)
}

// crashingTxn runs the transaction that recovery crashes, stopping at point. It
// returns the transaction once Stores were sent (nil before). A stream the
// connector ended before the point fails as recovery.vacuous.
func (r *runner) crashingTxn(s *stream, phase string, keys keySeq, point string) (*txn, error) {
	var judge = r.beginLoads(s, phase, 0, keys)
	var vacuous = func(err error) error {
		if f, ok := asFailure(err); ok && f.Check == CheckConnectorError && strings.Contains(f.Message, "closed the stream") {
			return failf(CheckRecoveryVacuous, phase, "the connector ended the stream before the crash point %s was reached, so that crash was not exercised: %s", point, f.Message)
		}
		return err
	}
	var stop = func(p string) bool { return point == p }
	if stop("before-acknowledge") {
		return nil, nil
	}
	if err := s.send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, "Acknowledge"); err != nil {
		return nil, vacuous(err)
	}
	if stop("after-acknowledge") {
		return nil, nil
	}
	var it, batch = keys.iter(), []uint64(nil)
	for lo := 0; lo < keys.count(); lo += r.opts.Batch {
		var hi = min(lo+r.opts.Batch, keys.count())
		var load = &materialize.TransactionRequest_Load{}
		batch = nextKeys(batch[:0], it, hi-lo)
		for _, i := range batch {
			var begin = len(load.Arena)
			load.Arena = r.src.appendKey(load.Arena, i)
			load.PackedKeys = append(load.PackedKeys, pf.Slice{Begin: uint32(begin), End: uint32(len(load.Arena))})
		}
		if err := s.send(&materialize.TransactionRequest{Load: load}, "Load"); err != nil {
			return nil, vacuous(err)
		}
		if err := r.drain(s); err != nil {
			return nil, vacuous(err)
		}
		if stop("after-load") {
			return nil, nil
		}
	}
	if stop("after-loads") {
		return nil, nil
	}
	if err := s.await("Acknowledged", "Acknowledge", s.acknowledged); err != nil {
		return nil, vacuous(err)
	}
	if err := s.send(&materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{
		FlowCheckpoint: r.prepareCheckpoint(s),
	}}, "Prepare"); err != nil {
		return nil, vacuous(err)
	}
	if stop("after-prepare") {
		return nil, nil
	}
	if err := s.await("Prepared", "Prepare", s.prepared); err != nil {
		return nil, vacuous(err)
	}
	if list := judge.missing(); len(list) > 0 {
		r.rep.Failures = append(r.rep.Failures, list...)
		return nil, list[0]
	}
	if stop("after-prepared") {
		return nil, nil
	}
	var stores = keys
	if stop("after-store") {
		stores = keyPrefix{keys, min(keys.count(), r.opts.Batch)}
	}
	var t = &txn{started: time.Now()}
	t.stores = txnStores{keys: stores}
	if err := r.sendStores(s, txnPlan{phase: phase, loads: keys, stores: stores}); err != nil {
		return nil, vacuous(err)
	}
	r.rep.Loops = append(r.rep.Loops, LoopStats{Phase: phase, Requested: keys.count(), Stored: int64(stores.count())})
	t.statIdx = len(r.rep.Loops) - 1
	if crashRank(point) <= crashRank("after-stores") {
		return t, nil
	}
	if err := r.commit(s, t, 0); err != nil {
		return nil, vacuous(err)
	}
	if stop("after-commit") {
		return t, nil
	}
	if err := s.awaitCommitted(); err != nil {
		return nil, vacuous(err)
	}
	if stop("after-committed") {
		return t, nil
	}
	if err := s.send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, "Acknowledge"); err != nil {
		return nil, vacuous(err)
	}
	if err := s.await("Acknowledged", "Acknowledge", s.acknowledged); err != nil {
		return nil, vacuous(err)
	}
	return t, nil
}

// crashJudge is what the runner knows of a crashed transaction, to judge the
// checkpoint the restarted connector's Opened returns.
type crashJudge struct {
	lastCommitted, crashCP []byte // Flow checkpoints of the last committed and the crashed transaction
	committed, ambiguous   bool   // the crashed transaction committed; it may or may not have
	note                   string // said when the connector returns no checkpoint (at-least-once)
	// prevUnconfirmed: the transaction of lastCommitted was not confirmed (eras after
	// 2021), so Opened may return prevCommitted instead, which sets *rolledBack.
	prevCommitted   []byte
	prevUnconfirmed bool
	rolledBack      *bool
}

// reopenAfterCrash restarts the connector where the transport can, applies the spec
// again (it must be idempotent), opens a stream from the recovery log's driver
// checkpoint logCP and judges Opened's Flow checkpoint: whether the crashed
// transaction committed, and whether the connector relies on the runtime's recovery
// log (at-least-once only). The caller aborts the returned stream.
func (r *runner) reopenAfterCrash(ctx context.Context, conn connector.Connector, name string, logCP []byte, j crashJudge) (s2 *stream, next connector.Connector, committed, atLeastOnce bool, err error) {
	if r.opts.Reopen != nil {
		if conn, err = r.opts.Reopen(ctx); err != nil {
			return nil, nil, false, false, failf(CheckSetupConnect, name, "restarting the connector: %v", err)
		}
	}
	if err := r.apply(ctx, conn, name+": ApplyUpsert after restart"); err != nil {
		var f, _ = asFailure(err)
		f.Check = CheckApplyIdempotent
		f.Message = "applying the same materialization again after a restart failed: " + f.Message
		return nil, nil, false, false, f
	}
	s2, opened, err := r.open(ctx, conn, name+": stream after the restart", 0, fullRange, logCP)
	if err != nil {
		return nil, nil, false, false, err
	}
	committed, atLeastOnce = j.committed, len(opened) == 0
	switch {
	case atLeastOnce && r.opts.ExactlyOnce:
		err = failf(CheckRecoveryCheckpt, name, "after the crash Opened returned an empty checkpoint; with --exactly-once the connector must return %s, the checkpoint of the last committed transaction", describeCheckpoint(j.lastCommitted))
	case atLeastOnce:
		r.rep.Result.AtLeastOnceOnly = true
		r.rep.Notes = appendOnce(r.rep.Notes, j.note)
	case bytes.Equal(opened, j.crashCP) && (j.committed || j.ambiguous):
		committed = true
	case bytes.Equal(opened, j.lastCommitted) && (!j.committed || j.ambiguous):
		committed = false
	case j.prevUnconfirmed && len(j.prevCommitted) > 0 && bytes.Equal(opened, j.prevCommitted) && !j.committed:
		*j.rolledBack = true
	default:
		var want = describeCheckpoint(j.lastCommitted)
		if j.committed {
			want = describeCheckpoint(j.crashCP)
		} else if j.ambiguous {
			want = describeCheckpoint(j.lastCommitted) + " or " + describeCheckpoint(j.crashCP)
		} else if j.prevUnconfirmed && len(j.prevCommitted) > 0 {
			want = describeCheckpoint(j.prevCommitted) + " or " + describeCheckpoint(j.lastCommitted) + " (its commit was not yet confirmed by Acknowledged)"
		}
		err = failf(CheckRecoveryCheckpt, name, "after the crash Opened returned %s; the last committed transaction has %s", describeCheckpoint(opened), want)
		if ferr := r.foreignCheckpoint(name, opened); ferr != nil {
			err = ferr
		}
	}
	if err != nil {
		s2.abort()
		return nil, nil, false, false, err
	}
	return s2, conn, committed, atLeastOnce, nil
}
