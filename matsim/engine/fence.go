package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowsim/flowsim/connector"
)

// fencePhaseTable lists the fence test's two-stream phases: older stream A's and
// newer stream B's key ranges.
var fencePhaseTable = []struct {
	name    string
	a, b    [2]uint32
	inherit bool // B's range is covered by A's: B's Opened must return A's checkpoint
}{
	{"same key range", [2]uint32{0, fullRange}, [2]uint32{0, fullRange}, true},
	{"overlapping key ranges", [2]uint32{0, 0xbfffffff}, [2]uint32{0x40000000, fullRange}, false},
	{"split: child range inside the parent", [2]uint32{0, 0x7fffffff}, [2]uint32{0, 0x3fffffff}, true},
}

// fencePhases is the number of phases of the fence test, reported as its loops.
var fencePhases = len(fencePhaseTable) + 1

// fence: fencing is per key range, as the runtime splits a materialization into
// shards by key range. An older stream A and a newer stream B over overlapping key
// ranges: once B has opened, A's next commit must fail; B must still commit, and
// nothing A stored in its fenced transaction may be visible. Phases: the same range
// (a shard replaced: B starts from A's checkpoint), partly overlapping ranges, a
// split (a child range inside its parent: the parent is fenced and the child starts
// from the parent's checkpoint), and two neighbours over disjoint ranges, which must
// both keep committing, then straddled by a newer range that fences both.
func (r *runner) fence(ctx context.Context) error {
	var phases = fencePhaseTable
	var total = fencePhases
	var start = time.Now()
	defer func() { r.rep.txnTime = time.Since(start) }()
	for n, ph := range phases {
		if err := r.fencePhase(ctx, fmt.Sprintf("fence %d of %d (%s)", n+1, total, ph.name), ph.a, ph.b, ph.inherit); err != nil {
			return err
		}
		r.rep.Result.LoopsDone = n + 1
		r.loopDone(n+1, total)
	}
	if err := r.fenceNeighbours(ctx, fmt.Sprintf("fence %d of %d (disjoint neighbours, then a straddling range)", total, total)); err != nil {
		return err
	}
	r.rep.Result.LoopsDone = total
	r.loopDone(total, total)
	return nil
}

// judgeOpenedCheckpoint checks the Flow checkpoint a newer stream's Opened returned.
// want is the checkpoint the older stream committed over a range covering the newer
// one's (nil: no exact expectation). An empty checkpoint is at-least-once, unless
// --exactly-once asserts otherwise or the connector returned checkpoints before.
func (r *runner) judgeOpenedCheckpoint(name string, opened, want []byte) error {
	if err := r.foreignCheckpoint(name, opened); err != nil {
		return err
	}
	switch {
	case len(opened) == 0 && r.opts.ExactlyOnce:
		return failf(CheckFenceCheckpoint, name, "the newer stream's Opened returned an empty checkpoint although the older stream committed %s over a covering key range; "+
			"with --exactly-once the connector must return it (it stores checkpoints transactionally)", describeCheckpoint(want))
	case len(opened) == 0 && want != nil && r.sawCheckpoint:
		return failf(CheckFenceCheckpoint, name, "the newer stream's Opened returned an empty checkpoint, but its key range is covered by the older stream's, which committed %s; "+
			"the connector returned stored checkpoints earlier in this run, so a new (split) range must start from the checkpoint of the range that covers it", describeCheckpoint(want))
	case len(opened) == 0:
		r.rep.Result.AtLeastOnceOnly = true
	default:
		r.sawCheckpoint = true
		if want != nil && !bytes.Equal(opened, want) {
			return failf(CheckFenceCheckpoint, name, "the newer stream's Opened returned %s; its key range is covered by the older stream's, whose last commit was %s", describeCheckpoint(opened), describeCheckpoint(want))
		}
	}
	return nil
}

func (r *runner) fencePhase(ctx context.Context, name string, ra, rb [2]uint32, inherit bool) error {
	var size = r.opts.Start
	var a, _, err = r.open(ctx, r.opts.Connector, fmt.Sprintf("stream A [%08x, %08x]", ra[0], ra[1]), ra[0], ra[1], nil)
	if err != nil {
		return err
	}
	defer a.abort()

	// A commits one transaction normally.
	var aCP = r.checkpointOf(a)
	var k1 = r.oracle.allocate(size)
	if _, err := r.transact(a, txnPlan{phase: name + ": stream A, first transaction", loads: k1, stores: k1}); err != nil {
		return err
	}
	if err := a.awaitCommitted(); err != nil {
		return err
	}
	// A prepares and stores a second one, updating k1 and adding k2, but holds its commit.
	var k2 = r.oracle.allocate(size)
	var held, err2 = r.transact(a, txnPlan{phase: name + ": stream A, second transaction", loads: k1, stores: catKeys(k1, k2), holdCommit: true})
	if err2 != nil {
		return err2
	}

	// B opens over an overlapping range: A is now a zombie.
	var b, opened, err3 = r.open(ctx, r.peer(), fmt.Sprintf("stream B [%08x, %08x]", rb[0], rb[1]), rb[0], rb[1], nil)
	if err3 != nil {
		return err3
	}
	defer b.abort()
	// A connector whose store is authoritative returns the checkpoint A committed
	// (B's range is covered by a range with a commit). One that returns none relies
	// on the runtime's recovery log, which then does the fencing.
	var logAuthoritative = len(opened) == 0
	var want []byte
	if inherit {
		want = aCP
	}
	if err := r.judgeOpenedCheckpoint(name, opened, want); err != nil {
		return err
	}

	// A's commit must fail (in eras after 2021, possibly at the Acknowledge that
	// follows StartedCommit).
	err = r.commit(a, held, 0)
	if err == nil {
		err = a.awaitCommitConfirmed()
	}
	if cleanlyClosed(err) {
		// No commit was attempted and failed: the stream just ended.
		return failf(CheckVacuous, name, "stream A ended without an error before its commit was confirmed or failed, so the older stream's commit was never attempted "+
			"(fence needs the connector to fail the commit itself): %v", err)
	}
	switch f, _ := asFailure(err); {
	case err == nil && logAuthoritative:
		r.rep.Notes = appendOnce(r.rep.Notes, "the connector returns no Flow checkpoint from Open: it relies on the runtime's recovery log, "+
			"which fences zombie shards, so its own fencing was not required; fence verified that both streams' commits stay consistent")
	case err == nil:
		return failf(CheckNotFenced, name, "stream A committed after stream B opened over an overlapping key range; "+
			"the connector stores checkpoints (B's Opened returned %s), so it must fence off the older stream and fail its commit", describeCheckpoint(opened))
	case f == nil || f.Check != CheckConnectorError:
		return err // a timeout or protocol violation, not a fenced commit
	default:
		r.log.V(1).Info("Older stream was fenced", "phase", name, "error", err.Error())
		a.abort()
		r.dropHeld(held)
	}
	a.abort()

	// B sees A's first transaction only, updates k1 and adds k3, and must commit.
	var zombie = map[Check]Check{CheckLoadValue: CheckZombieVisible, CheckLoadPhantom: CheckZombieVisible}
	var k3 = r.oracle.allocate(size)
	var loads = catKeys(k1, k2)
	var stores = catKeys(k1, k3)
	if _, err := r.transact(b, txnPlan{phase: name + ": stream B, first transaction", loads: loads, stores: stores, remap: zombie}); err != nil {
		return newerFailed(err)
	}
	if err := b.awaitCommitted(); err != nil {
		return newerFailed(err)
	}
	var all = catKeys(k1, k2, k3)
	if _, err := r.transact(b, txnPlan{phase: name + ": stream B, read back", loads: all, remap: zombie}); err != nil {
		return newerFailed(err)
	}
	return newerFailed(r.finishStream(b))
}

// newerFailed reports a connector error of the newer stream as fence.newer-failed.
func newerFailed(err error) error {
	if f, ok := asFailure(err); ok && f.Check == CheckConnectorError {
		f.Check = CheckNewerFailed
		f.Message = "the newer stream failed after fencing the older one: " + f.Message
	}
	return err
}

// peer is the connector of the newer stream.
func (r *runner) peer() connector.Connector {
	if r.opts.Peer != nil {
		return r.opts.Peer
	}
	return r.opts.Connector
}

// fenceNeighbours opens two streams over disjoint neighbouring key ranges, L and R:
// both must keep committing while the other is open (a connector that fences
// globally breaks every multi-shard materialization). Then each prepares and stores
// a transaction, and a newer stream S opens over a range straddling both: L's and
// R's commits must fail, and S must commit and see neither fenced transaction.
func (r *runner) fenceNeighbours(ctx context.Context, name string) error {
	var size = r.opts.Start
	var ranges = [2][2]uint32{{0x80000000, 0xbfffffff}, {0xc0000000, fullRange}}
	var streams [2]*stream
	for n, rg := range ranges {
		var s, _, err = r.open(ctx, r.opts.Connector, fmt.Sprintf("stream %c [%08x, %08x]", "LR"[n], rg[0], rg[1]), rg[0], rg[1], nil)
		if err != nil {
			return err
		}
		defer s.abort()
		streams[n] = s
	}
	// Both commit, interleaved, while the other is open.
	var disjoint = func(err error, s *stream) error {
		if f, ok := asFailure(err); ok && f.Check == CheckConnectorError {
			f.Check = CheckDisjointFenced
			f.Message = fmt.Sprintf("%s could not commit while a stream over a disjoint key range was open (fencing must be per key range, or a multi-shard materialization cannot commit): %s", s.name, f.Message)
		}
		return err
	}
	var committed [2]keySeq
	for round := 0; round < 2; round++ {
		for n, s := range streams {
			var keys = r.oracle.allocate(size)
			if _, err := r.transact(s, txnPlan{phase: fmt.Sprintf("%s: %s, transaction %d", name, s.name, round+1), loads: keys, stores: keys}); err != nil {
				return disjoint(err, s)
			}
			if err := s.awaitCommitted(); err != nil {
				return disjoint(err, s)
			}
			committed[n] = catKeys(committed[n], keys)
		}
	}
	// Each holds a prepared transaction updating its keys and adding new ones.
	var held [2]*txn
	var all keySeq
	for n, s := range streams {
		var fresh = r.oracle.allocate(size)
		var t, err = r.transact(s, txnPlan{phase: fmt.Sprintf("%s: %s, held transaction", name, s.name), loads: committed[n], stores: catKeys(committed[n], fresh), holdCommit: true})
		if err != nil {
			return disjoint(err, s)
		}
		held[n] = t
		all = catKeys(all, committed[n], fresh)
	}
	// S straddles both.
	var rs = [2]uint32{0xa0000000, 0xdfffffff}
	var sNew, opened, err = r.open(ctx, r.peer(), fmt.Sprintf("stream S [%08x, %08x]", rs[0], rs[1]), rs[0], rs[1], nil)
	if err != nil {
		return err
	}
	defer sNew.abort()
	if err := r.judgeOpenedCheckpoint(name, opened, nil); err != nil {
		return err
	}
	for n, s := range streams {
		err = r.commit(s, held[n], 0)
		if err == nil {
			err = s.awaitCommitConfirmed()
		}
		if cleanlyClosed(err) {
			return failf(CheckVacuous, name, "%s ended without an error before its commit was confirmed or failed, so the older stream's commit was never attempted: %v", s.name, err)
		}
		switch f, _ := asFailure(err); {
		case err == nil && len(opened) == 0:
			// An at-least-once connector: the runtime's recovery log fences it.
		case err == nil:
			return failf(CheckNotFenced, name, "%s committed after stream S opened over a key range straddling it; the connector stores checkpoints, so it must fence every stream whose range overlaps the new one", s.name)
		case f == nil || f.Check != CheckConnectorError:
			return err
		default:
			s.abort()
			r.dropHeld(held[n])
		}
	}
	var zombie = map[Check]Check{CheckLoadValue: CheckZombieVisible, CheckLoadPhantom: CheckZombieVisible}
	var more = r.oracle.allocate(size)
	if _, err := r.transact(sNew, txnPlan{phase: name + ": stream S, first transaction", loads: all, stores: catKeys(all, more), remap: zombie}); err != nil {
		return newerFailed(err)
	}
	if err := sNew.awaitCommitted(); err != nil {
		return newerFailed(err)
	}
	return newerFailed(r.finishStream(sNew))
}

// dropHeld drops a held transaction whose commit failed: aborted, or uncommitted if
// its StartedCommit had arrived (a later era's connector fails a fenced commit at
// the Acknowledge that follows).
func (r *runner) dropHeld(t *txn) {
	if t.committed {
		r.oracle.uncommit(&t.stores)
	} else {
		r.oracle.abort(&t.stores)
	}
}

// cleanlyClosed reports a stream the connector ended without an error (or that
// ended on matsim's side), rather than failing a request.
func cleanlyClosed(err error) bool {
	var f, ok = asFailure(err)
	return ok && f.Check == CheckConnectorError && (strings.Contains(f.Message, "closed the stream") || strings.Contains(f.Message, "was cancelled"))
}
