package matsim

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/flowsim/flowsim/connector"
)

// CrashPoints are where the recovery test ends the stream abruptly:
//   - after-stores: the transaction's Stores were sent, Commit was not;
//   - after-commit: Commit was sent, DriverCommitted not awaited (it may or may not
//     have committed, but all or nothing, and its checkpoint with it);
//   - after-committed: DriverCommitted arrived, the next Acknowledge was never sent.
var CrashPoints = []string{"after-stores", "after-commit", "after-committed"}

func knownCrashPoint(s string) bool {
	for _, c := range CrashPoints {
		if c == s {
			return true
		}
	}
	return false
}

// recovery drives a few transactions, crashes at a chosen point, restarts the
// connector where the transport can (Options.Reopen), applies the spec again, and
// checks that Opened returns the checkpoint of the last committed transaction and
// that the stored data is exactly the committed state. Connectors that return no
// checkpoint rely on the runtime's recovery log (at-least-once): for them the aborted
// transaction's documents may be present or absent, per document.
func (r *runner) recovery(ctx context.Context) error {
	var points = r.opts.CrashAt
	if len(points) == 0 {
		points = CrashPoints
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
	}
	return nil
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

	// Two transactions that commit.
	var lastCommitted []byte
	for k := 0; k < 2; k++ {
		var keys = r.chooseKeys(r.opts.Start)
		var cp = flowCheckpoint(s.name, s.round)
		if _, err := r.transact(s, txnPlan{phase: fmt.Sprintf("%s: transaction %d", name, k+1), loads: keys, stores: keys}); err != nil {
			return nil, nil, err
		}
		if err := s.awaitCommitted(); err != nil {
			return nil, nil, err
		}
		lastCommitted = cp
	}
	// The transaction that crashes.
	var keys = r.chooseKeys(r.opts.Start)
	var crashCP = flowCheckpoint(s.name, s.round)
	t, err := r.transact(s, txnPlan{phase: name + ": crashing transaction", loads: keys, stores: keys, holdCommit: true})
	if err != nil {
		return nil, nil, err
	}
	var committed, ambiguous bool
	switch point {
	case "after-stores":
	case "after-commit":
		if err := r.commit(s, t, 0); err != nil {
			return nil, nil, err
		}
		ambiguous = true
	case "after-committed":
		if err := r.commit(s, t, 0); err != nil {
			return nil, nil, err
		}
		if err := s.awaitCommitted(); err != nil {
			return nil, nil, err
		}
		committed = true
	}
	var logCP = append([]byte(nil), s.driverCP.DriverCheckpointJson...)
	s.onCommitted = nil
	s.crash()

	// Restart.
	if r.opts.Reopen != nil {
		var next, err = r.opts.Reopen(ctx)
		if err != nil {
			return nil, nil, failf(CheckSetupConnect, name, "restarting the connector: %v", err)
		}
		conn = next
	}
	if err := r.apply(ctx, conn, name+": ApplyUpsert after restart"); err != nil {
		var f, _ = asFailure(err)
		f.Check = CheckApplyIdempotent
		f.Message = "applying the same materialization again after a restart failed: " + f.Message
		return nil, nil, f
	}
	s2, opened, err := r.open(ctx, conn, name+": stream after the restart", 0, fullRange, logCP)
	if err != nil {
		return nil, nil, err
	}
	defer s2.abort()

	// The checkpoint.
	var atLeastOnce = len(opened) == 0
	switch {
	case atLeastOnce:
		r.rep.Notes = appendOnce(r.rep.Notes, "the connector returns no Flow checkpoint from Open: it relies on the runtime's recovery log (at-least-once), so recovery accepts an aborted transaction's documents as present or absent")
		if ambiguous {
			committed = false
		}
	case bytes.Equal(opened, crashCP) && (committed || ambiguous):
		committed = true
	case bytes.Equal(opened, lastCommitted) && !committed:
	default:
		var want = describeCheckpoint(lastCommitted)
		if committed {
			want = describeCheckpoint(crashCP)
		} else if ambiguous {
			want = describeCheckpoint(lastCommitted) + " or " + describeCheckpoint(crashCP)
		}
		return nil, nil, failf(CheckRecoveryCheckpt, name, "after the crash Opened returned %s; the last committed transaction has %s", describeCheckpoint(opened), want)
	}

	// The data.
	if committed {
		r.oracle.commit(&t.stores)
	} else {
		if atLeastOnce && point != "after-committed" {
			r.oracle.alt = map[uint64]uint32{}
			for k, i := range t.stores.keys {
				r.oracle.alt[i] = t.stores.revs[k]
			}
		}
		r.oracle.abort(&t.stores)
	}
	var all = r.oracle.stored()
	all = append(all, keysNotIn(t.stores.keys, r.oracle)...)
	var state = map[Check]Check{CheckLoadValue: CheckRecoveryState, CheckLoadPhantom: CheckRecoveryState, CheckLoadMissing: CheckRecoveryState}
	var verdict = "the crashed transaction did not commit"
	if committed {
		verdict = "the crashed transaction committed"
	}
	// An at-least-once connector is brought to a definite state the way the runtime
	// does it: by replaying the aborted transaction.
	var replay []uint64
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

// keysNotIn returns the keys of an aborted transaction that are not stored, so that
// the read back also proves they are absent.
func keysNotIn(keys []uint64, o *oracle) []uint64 {
	var out []uint64
	for _, i := range keys {
		if !o.sent.get(i) {
			out = append(out, i)
		}
	}
	return out
}

func appendOnce(list []string, s string) []string {
	for _, l := range list {
		if l == s {
			return list
		}
	}
	return append(list, s)
}
