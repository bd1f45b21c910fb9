package matsim

import (
	"context"
	"fmt"
	"time"

	"github.com/flowsim/flowsim/connector"
)

// fence: an older stream A and a newer stream B over overlapping key ranges. Once B
// has opened, A's next commit must fail; B must still commit, and nothing A stored
// in its fenced transaction may be visible. Run twice: with identical ranges (a
// shard replaced) and with partly overlapping ranges (a shard split).
func (r *runner) fence(ctx context.Context) error {
	var phases = []struct {
		name string
		a, b [2]uint32
	}{
		{"identical key ranges", [2]uint32{0, fullRange}, [2]uint32{0, fullRange}},
		{"overlapping key ranges", [2]uint32{0, 0xbfffffff}, [2]uint32{0x40000000, fullRange}},
	}
	var start = time.Now()
	defer func() { r.rep.txnTime = time.Since(start) }()
	for n, ph := range phases {
		if err := r.fencePhase(ctx, fmt.Sprintf("fence %d of %d (%s)", n+1, len(phases), ph.name), ph.a, ph.b); err != nil {
			return err
		}
		r.rep.Result.LoopsDone = n + 1
	}
	return nil
}

func (r *runner) fencePhase(ctx context.Context, name string, ra, rb [2]uint32) error {
	var size = r.opts.Start
	var a, _, err = r.open(ctx, r.opts.Connector, fmt.Sprintf("stream A [%08x, %08x]", ra[0], ra[1]), ra[0], ra[1], nil)
	if err != nil {
		return err
	}
	defer a.abort()

	// A commits one transaction normally.
	var k1 = r.oracle.allocate(size)
	if _, err := r.transact(a, txnPlan{phase: name + ": stream A, first transaction", loads: k1, stores: k1}); err != nil {
		return err
	}
	if err := a.awaitCommitted(); err != nil {
		return err
	}
	// A prepares and stores a second one, updating k1 and adding k2, but holds its commit.
	var k2 = r.oracle.allocate(size)
	var held, err2 = r.transact(a, txnPlan{phase: name + ": stream A, second transaction", loads: k1, stores: append(append([]uint64{}, k1...), k2...), holdCommit: true})
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

	// A's commit must fail.
	err = r.commit(a, held, 0)
	if err == nil {
		err = a.awaitCommitted()
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
		r.oracle.abort(&held.stores)
	}
	a.abort()

	// B sees A's first transaction only, updates k1 and adds k3, and must commit.
	var zombie = map[Check]Check{CheckLoadValue: CheckZombieVisible, CheckLoadPhantom: CheckZombieVisible}
	var k3 = r.oracle.allocate(size)
	var loads = append(append([]uint64{}, k1...), k2...)
	var stores = append(append([]uint64{}, k1...), k3...)
	if _, err := r.transact(b, txnPlan{phase: name + ": stream B, first transaction", loads: loads, stores: stores, remap: zombie}); err != nil {
		return newerFailed(err)
	}
	if err := b.awaitCommitted(); err != nil {
		return newerFailed(err)
	}
	var all = append(append(append([]uint64{}, k1...), k2...), k3...)
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
