package engine

import (
	"context"
	"fmt"
	"math"
	"time"
)

// fullRange is the whole key space of a stream.
const fullRange = math.MaxUint32

// basic: loops of load/store/commit with upserts, then every key loaded and verified.
func (r *runner) basic(ctx context.Context) error {
	var s, done, err = r.openTimed(ctx)
	if err != nil {
		return err
	}
	defer done()

	for loop := 0; loop < r.opts.Loops; loop++ {
		var keys = r.chooseKeys(r.opts.Start << loop)
		var phase = fmt.Sprintf("loop %d of %d", loop+1, r.opts.Loops)
		// No run.vacuous guard is needed here: chooseKeys puts at least one stored key
		// in every loop after the first (TestBasicVerifiesStoredKeysInEveryLoop), and
		// by the time transact judges the loop that key's transaction has committed, so
		// a loop in which no stored document is verified has already failed — the key
		// not returned is load.missing, a wrong document load.value
		// (TestBasicCannotPassVacuously). A guard on the count of verified documents
		// could only fire on a bug of matsim, never because of a connector.
		if _, err := r.transact(s, txnPlan{phase: phase, loads: keys, stores: keys, loop: loop + 1}); err != nil {
			return err
		}
		r.rep.Result.LoopsDone = loop + 1
	}
	// The final read: every key ever stored must come back exactly.
	if _, err := r.transact(s, txnPlan{phase: "final read of every stored key", loads: r.oracle.stored()}); err != nil {
		return err
	}
	return r.finishStream(s)
}

// delta: store-only loops; each committed transaction's documents go to Output as
// NDJSON. A Loaded from the connector fails the test.
func (r *runner) delta(ctx context.Context) error {
	var s, done, err = r.openTimed(ctx)
	if err != nil {
		return err
	}
	defer done()

	var buf []byte
	var writeErr error
	r.onCommitted = func(t *txn) {
		for i := range keysOf(t.stores.keys) {
			buf = r.src.appendJSON(buf[:0], i, r.oracle.rev[i]) // committed: the revision stored
			buf = append(buf, '\n')
			if _, err := r.opts.Output.Write(buf); err != nil && writeErr == nil {
				writeErr = err
			}
		}
	}
	for loop := 0; loop < r.opts.Loops; loop++ {
		if r.opts.Verifier != nil && loop > 0 && loop == r.opts.Loops-1 {
			// With a verifier the last loop runs after a restart (see verify_delta.go).
			if s, err = r.deltaRestart(ctx, s); err != nil {
				return err
			}
			defer s.abort()
		}
		var keys = r.chooseKeys(r.opts.Start << loop)
		var phase = fmt.Sprintf("loop %d of %d", loop+1, r.opts.Loops)
		if _, err := r.transact(s, txnPlan{phase: phase, stores: keys, loop: loop + 1, noExists: true}); err != nil {
			return err
		}
		r.rep.Result.LoopsDone = loop + 1
	}
	// Every transaction committed once this returns: transact awaits the previous
	// transaction's DriverCommitted before it acknowledges (deltaRestart and
	// finishStream the last one), and a DriverCommitted answers exactly one Commit
	// (stream.check). A connector that does not commit fails there, as
	// connector.timeout or connector.error (TestDeltaCannotPassVacuously), so a
	// run.vacuous guard counting commits could never fire because of a connector.
	if err := r.finishStream(s); err != nil {
		return err
	}
	if writeErr != nil {
		return failf(CheckSetupConfig, "output", "writing delta documents to --output: %v", writeErr)
	}
	if r.opts.Verifier != nil {
		return r.verifyDelta(ctx, "after the last commit", "")
	}
	return nil
}

// openTimed opens the single stream of basic and delta; done ends it and records the
// duration of the transactions phase.
func (r *runner) openTimed(ctx context.Context) (*stream, func(), error) {
	var s, _, err = r.open(ctx, r.opts.Connector, "stream", 0, fullRange, nil)
	if err != nil {
		return nil, nil, err
	}
	var start = time.Now()
	return s, func() {
		s.abort()
		r.rep.txnTime = time.Since(start)
	}, nil
}
