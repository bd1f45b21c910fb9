package engine

import (
	"context"
	"fmt"

	"github.com/flowsim/flowsim/connector"
)

// deltaRestart ends the stream cleanly, restarts the connector where the transport
// can (Options.Reopen; --command and --image start a process per call anyway) and
// opens a new stream with the driver checkpoint the runtime's recovery log holds.
// delta does this before its last loop when it has a verifier, so that a connector
// that writes a committed transaction again when a stream opens (a stage-and-copy
// connector re-running its last COPY) is caught as delta.duplicate.
func (r *runner) deltaRestart(ctx context.Context, s *stream) (*stream, error) {
	if err := r.finishStream(s); err != nil {
		return nil, err
	}
	var conn = r.opts.Connector
	if r.opts.Reopen != nil {
		var next, err = r.opts.Reopen(ctx)
		if err != nil {
			return nil, failf(CheckSetupConnect, "restart before the last loop", "restarting the connector: %v", err)
		}
		conn = next
	}
	var s2, _, err = r.open(ctx, conn, "stream after a restart", 0, fullRange, append([]byte(nil), s.driverCP.DriverCheckpointJson...))
	return s2, err
}

// deltaRecoveryPhase is recovery's phase for a delta-updates binding, which has no
// Loads: two transactions commit, a third is cut off at the crash point, the
// connector restarts, and the verifier reads the binding back. A committed
// transaction's rows must be there exactly once and an aborted one's not at all
// (exactly-once), unless the connector returns no checkpoint: then the runtime
// replays the transaction and its rows may be there twice (at-least-once only).
func (r *runner) deltaRecoveryPhase(ctx context.Context, conn connector.Connector, name, point string, driverCP []byte) (connector.Connector, []byte, error) {
	var s, _, err = r.open(ctx, conn, name+": stream before the crash", 0, fullRange, driverCP)
	if err != nil {
		return nil, nil, err
	}
	defer s.abort()

	before, err := r.commitBeforeCrash(s, name, true)
	if err != nil {
		return nil, nil, err
	}
	var lastCommitted = before.lastCP
	var keys = r.chooseKeys(r.opts.Start)
	var crashCP = r.checkpointOf(s)
	t, err := r.transact(s, txnPlan{phase: name + ": crashing transaction", stores: keys, holdCommit: true, noExists: true})
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
	s.committing = nil
	if err := s.crash(); err != nil {
		return nil, nil, err
	}

	s2, conn, committed, atLeastOnce, err := r.reopenAfterCrash(ctx, conn, name, logCP, crashJudge{
		lastCommitted: lastCommitted, crashCP: crashCP, committed: committed, ambiguous: ambiguous,
		note: "at-least-once only: the connector returns no Flow checkpoint from Open and relies on the runtime's recovery log, " +
			"which replays a transaction that may have committed; recovery accepts such a transaction's delta rows once or twice",
	})
	if err != nil {
		return nil, nil, err
	}
	defer s2.abort()

	var verdict = "the crashed transaction did not commit"
	if committed {
		r.oracle.commit(&t.stores)
		verdict = "the crashed transaction committed"
	} else {
		r.oracle.abort(&t.stores)
		if atLeastOnce && point != "after-committed" {
			// The runtime replays the transaction: the same documents again.
			if r.deltaTwice == nil {
				r.deltaTwice = map[rowRef]bool{}
			}
			for i := range keysOf(t.stores.keys) {
				r.deltaTwice[rowRef{i, r.oracle.rev[i] + 1}] = true // aborted: the revision after the committed one
			}
			if _, err := r.transact(s2, txnPlan{phase: name + ": the crashed transaction replayed", stores: t.stores.keys, noExists: true}); err != nil {
				return nil, nil, err
			}
			if err := s2.awaitCommitted(); err != nil {
				return nil, nil, err
			}
			verdict += "; replayed as the runtime would"
		}
	}
	if err := r.verifyDelta(ctx, fmt.Sprintf("%s: read back after the restart (%s)", name, verdict), CheckRecoveryState); err != nil {
		return nil, nil, err
	}
	var more = r.chooseKeys(r.opts.Start)
	if _, err := r.transact(s2, txnPlan{phase: name + ": transaction after the restart", stores: more, noExists: true}); err != nil {
		return nil, nil, err
	}
	if err := r.finishStream(s2); err != nil {
		return nil, nil, err
	}
	if err := r.verifyDelta(ctx, name+": read back after the transaction after the restart", CheckRecoveryState); err != nil {
		return nil, nil, err
	}
	return conn, append([]byte(nil), s2.driverCP.DriverCheckpointJson...), nil
}
