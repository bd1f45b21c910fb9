package engine

import (
	"fmt"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

// txnPlan is one transaction to run on a stream.
type txnPlan struct {
	phase  string
	loads  keySeq // distinct key indices to load
	stores keySeq // distinct key indices to store at their next revision
	// holdCommit returns after the Stores, leaving Commit to the caller.
	holdCommit bool
	// remap turns a load check into another (e.g. fence's zombie check).
	remap map[Check]Check
	// loop numbers the transaction for progress reports (0: not a loop).
	loop int
	// exists overrides Exists for stores (delta sends false).
	noExists bool
	// binding the loads go to (stores go to binding 0; see migrate).
	binding int
}

// txn is a transaction in flight: its stores commit when DriverCommitted arrives.
type txn struct {
	r         *runner
	stores    txnStores // of binding 0
	others    []bindingStores
	statIdx   int
	started   time.Time
	commitAt  time.Time
	committed bool
	// phase, loop and docs (loads and stores) of the plan, for progress events.
	phase string
	loop  int
	docs  int64
	// progressLoop numbers the transaction for the progress lines (0: none).
	progressLoop int
}

// bindingStores are a transaction's stores of a binding other than 0.
type bindingStores struct {
	binding int
	stores  txnStores
}

// transact runs Acknowledge, Loads, Prepare, Stores and (unless held) Commit on s.
// A previous transaction's DriverCommitted may still be pending: some Loads are then
// sent before it (pipelining, as the runtime does), and it is awaited before
// Acknowledge. Load findings are returned as a *Failure.
func (r *runner) transact(s *stream, p txnPlan) (*txn, error) {
	var t = &txn{r: r, started: time.Now(), phase: p.phase, loop: p.loop, docs: int64(keyCount(p.loads) + keyCount(p.stores))}
	var judge = r.beginLoads(s, p.phase, p.binding, p.loads)

	var nLoads = keyCount(p.loads)
	var stat = LoopStats{Phase: p.phase, Requested: nLoads}
	var loadedBefore = s.loadedDocs
	var batches = (nLoads + r.opts.Batch - 1) / r.opts.Batch
	var loadKeys keyIter
	if nLoads > 0 {
		loadKeys = p.loads.iter()
	}
	var batchKeys []uint64

	// Pipelining: how many Load batches go out before the previous DriverCommitted
	// is awaited, and after how many (more) the Acknowledge is sent.
	var pre, ackAt = 0, 0
	if s.pipelines {
		if s.commitPending() && batches > 0 && r.rng.intn(3) != 0 {
			pre = r.rng.intn(batches + 1)
		}
		ackAt = pre + r.rng.intn(batches-pre+1)
	}

	var loadStart = time.Now()
	for b := 0; b <= batches; b++ {
		if b == pre && s.commitPending() {
			if err := s.awaitCommitted(); err != nil {
				return nil, err
			}
		}
		if b == ackAt {
			if err := s.send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, "Acknowledge"); err != nil {
				return nil, err
			}
		}
		if b == batches {
			break
		}
		var lo, hi = b * r.opts.Batch, min((b+1)*r.opts.Batch, nLoads)
		var load = &materialize.TransactionRequest_Load{
			Binding:    uint32(p.binding),
			Arena:      make(pf.Arena, 0, (hi-lo)*r.keySize),
			PackedKeys: make([]pf.Slice, 0, hi-lo),
		}
		batchKeys = nextKeys(batchKeys[:0], loadKeys, hi-lo)
		for _, i := range batchKeys {
			var begin = len(load.Arena)
			load.Arena = r.src.appendKey(load.Arena, i)
			load.PackedKeys = append(load.PackedKeys, pf.Slice{Begin: uint32(begin), End: uint32(len(load.Arena))})
		}
		r.keySize = max(r.keySize, len(load.Arena)/(hi-lo)+8)
		if err := s.send(&materialize.TransactionRequest{Load: load}, "Load"); err != nil {
			return nil, err
		}
		r.progress(p.phase, p.loop, int64(hi), t.docs, false)
		if err := r.drain(s); err != nil {
			return nil, err
		}
	}
	if err := s.await("Acknowledged", "Acknowledge", s.acknowledged); err != nil {
		return nil, err
	}
	if err := s.send(&materialize.TransactionRequest{Prepare: &materialize.TransactionRequest_Prepare{
		FlowCheckpoint: r.prepareCheckpoint(s),
	}}, "Prepare"); err != nil {
		return nil, err
	}
	if err := s.await("Prepared", "Prepare", s.prepared); err != nil {
		return nil, err
	}
	stat.LoadTime = time.Since(loadStart)
	stat.Loaded = s.loadedDocs - loadedBefore
	stat.Verified = stat.Loaded
	if list := judge.missing(); len(list) > 0 {
		if f := s.settle(); f != nil {
			list = append([]*Failure{f}, list...)
		}
		for _, f := range list {
			if to, ok := p.remap[f.Check]; ok {
				f.Message = fmt.Sprintf("%s (%s)", f.Message, f.Check)
				f.Check = to
			}
			if f.Check != CheckLoadMissing { // a missing document was never Loaded
				stat.Verified -= int64(f.Count)
			}
		}
		stat.Verified = max(stat.Verified, 0)   // findings not about Loaded documents (e.g. a protocol error) take none away
		r.rep.Loops = append(r.rep.Loops, stat) // the failing transaction counts in the totals too
		r.rep.Failures = append(r.rep.Failures, list...)
		return nil, list[0]
	}

	// Stores.
	var storeStart = time.Now()
	t.stores.keys = p.stores
	if err := r.sendStores(s, p); err != nil {
		return nil, err
	}
	stat.StoreTime = time.Since(storeStart)
	stat.Stored = int64(keyCount(p.stores))
	r.rep.Loops = append(r.rep.Loops, stat)
	t.statIdx = len(r.rep.Loops) - 1

	if p.holdCommit {
		return t, nil
	}
	return t, r.commit(s, t, p.loop)
}

// beginLoads starts judging a transaction's Loaded documents: keys are requested
// from binding b, nothing from the others. The stream hands each Loaded document to
// the oracle of its binding (stream.check).
func (r *runner) beginLoads(s *stream, phase string, b int, keys keySeq) *loadJudge {
	var j = &loadJudge{}
	for k, bs := range r.bindings {
		if k == b {
			bs.oracle.beginLoads(keys)
		} else {
			bs.oracle.beginLoads(nil)
		}
		j.oracles = append(j.oracles, bs.oracle)
		j.findings = append(j.findings, newFindings(phase, bs.name))
	}
	s.judge = j
	return j
}

// commit sends Commit; the transaction commits in the oracle when DriverCommitted
// arrives (possibly during the next transaction): stream.check then calls
// t.driverCommitted.
func (r *runner) commit(s *stream, t *txn, loop int) error {
	if err := r.drain(s); err != nil {
		return err
	}
	t.r, t.progressLoop = r, loop
	s.committing = t
	t.commitAt = time.Now()
	if err := s.send(&materialize.TransactionRequest{Commit: &materialize.TransactionRequest_Commit{}}, "Commit"); err != nil {
		return err
	}
	s.beginRound()
	return nil
}

// driverCommitted applies the transaction to the oracles of its bindings once its
// DriverCommitted arrived, and records its timing.
func (t *txn) driverCommitted() {
	var r = t.r
	t.committed = true
	r.oracle.commit(&t.stores)
	for k := range t.others {
		r.bindings[t.others[k].binding].oracle.commit(&t.others[k].stores)
	}
	var stat = &r.rep.Loops[t.statIdx]
	stat.CommitTime = time.Since(t.commitAt)
	if wall := time.Since(t.started).Seconds(); wall > 0 {
		stat.DocsPerSec = float64(stat.Loaded+stat.Stored) / wall
	}
	if r.onCommitted != nil {
		r.onCommitted(t)
	}
	r.progress(t.phase, t.loop, t.docs, t.docs, true)
	if t.progressLoop > 0 {
		r.loopDone(t.progressLoop, r.opts.Loops)
	}
}

// drain checks messages that already arrived, so that early or unexpected ones are
// reported where they happen.
func (r *runner) drain(s *stream) error {
	for {
		var m, err = s.poll()
		if err != nil || m == nil {
			return err
		}
	}
}

// finishStream awaits the last DriverCommitted, acknowledges it, and closes cleanly.
func (r *runner) finishStream(s *stream) error {
	if err := s.awaitCommitted(); err != nil {
		return err
	}
	if err := s.send(&materialize.TransactionRequest{Acknowledge: &materialize.TransactionRequest_Acknowledge{}}, "Acknowledge"); err != nil {
		return err
	}
	if err := s.await("Acknowledged", "Acknowledge", s.acknowledged); err != nil {
		return err
	}
	return s.closeClean()
}

// chooseKeys picks n keys for a loop: a random share (a quarter to a half) of
// previously stored keys, in a random order, and the rest new. The keys are not
// listed: the returned sequence produces them again whenever it is iterated.
func (r *runner) chooseKeys(n int) keySeq {
	var stored = r.oracle.stored()
	var m = stored.count()
	var existing = 0
	if m > 0 {
		// At least one, so that every loop after the first verifies a stored key.
		existing = min(m, max(1, n/4+r.rng.intn(n/4+1)))
	}
	var fresh = r.oracle.allocate(n - existing)
	// A random walk over stored keys with a stride coprime to their count picks
	// distinct keys without a set.
	var at, stride = 0, 1
	if m > 0 {
		at = r.rng.intn(m)
		stride = 1 + r.rng.intn(m)
		for gcd(stride, m) != 1 {
			stride++
		}
	}
	var c = &chosenKeys{n: n, existing: existing, stored: stored, at: at, stride: stride, fresh: fresh, rng: r.rng}
	// The interleaving draws from the runner's generator, which goes on from where
	// the draws end.
	var it = chosenIter{c: c, rng: r.rng}
	for k := 0; k < n; k++ {
		it.step()
	}
	r.rng = it.rng
	return c
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sendStores builds and sends the Store requests of a transaction. Building
// (generating, encoding and packing documents) is the engine's heaviest work, so
// generated sources build batches on parallel workers, each with its own source,
// while this goroutine sends them in order: the requests are the same whoever
// built them. Keys are produced batch by batch, and no batch is built more than 2
// ahead of the sender per worker, so memory is bounded by the batch.
func (r *runner) sendStores(s *stream, p txnPlan) error {
	var n = keyCount(p.stores)
	var batches = (n + r.opts.Batch - 1) / r.opts.Batch
	var workers = 1
	var sources = []source{r.src}
	if g, ok := r.src.(*genSource); ok && batches > 1 {
		workers = 2
		sources = append(sources, g.clone())
	}
	type built struct {
		st   *materialize.TransactionRequest_Store
		keys []uint64
		sums []uint64 // hashes of the documents
	}
	// Worker w builds batches w, w+workers, … and hands them over in that order.
	// Each worker builds at most 2 batches ahead of the sender. (Budgets are per
	// worker: with a shared one, a fast worker could hold every token with batches
	// far ahead while the sender waits for a batch of the other.)
	var tokens = make([]chan struct{}, workers)
	var jobs = make([]chan []uint64, workers) // the keys of each worker's next batch
	var results = make([]chan built, workers)
	for w := range tokens {
		tokens[w] = make(chan struct{}, 2)
		jobs[w] = make(chan []uint64, 1)
		results[w] = make(chan built, 2)
	}
	var done = make(chan struct{})
	defer close(done)
	if batches > 0 {
		go func() {
			var it = p.stores.iter()
			for b := 0; b < batches; b++ {
				var lo, hi = b * r.opts.Batch, min((b+1)*r.opts.Batch, n)
				select {
				case jobs[b%workers] <- nextKeys(make([]uint64, 0, hi-lo), it, hi-lo):
				case <-done:
					return
				}
			}
		}()
	}
	var itemSize = r.itemSize
	for w := 0; w < workers; w++ {
		go func(w int, src source) {
			for b := w; b < batches; b += workers {
				select {
				case tokens[w] <- struct{}{}:
				case <-done:
					return
				}
				var keys []uint64
				select {
				case keys = <-jobs[w]:
				case <-done:
					return
				}
				var st = &materialize.TransactionRequest_Store{
					Arena:        make(pf.Arena, 0, len(keys)*itemSize),
					PackedKeys:   make([]pf.Slice, 0, len(keys)),
					PackedValues: make([]pf.Slice, 0, len(keys)),
					DocsJson:     make([]pf.Slice, 0, len(keys)),
					Exists:       make([]bool, 0, len(keys)),
				}
				var sums = make([]uint64, len(keys))
				for k, i := range keys {
					var rev = r.oracle.rev[i] + 1
					var begin = uint32(len(st.Arena))
					var valuesAt, docAt int
					st.Arena, valuesAt, docAt = src.appendItem(st.Arena, i, rev, r.sel.valueIdx)
					if r.sel.Keyless {
						// No key field is selected: the packed key is the empty tuple.
						st.PackedKeys = append(st.PackedKeys, pf.Slice{Begin: begin, End: begin})
					} else {
						st.PackedKeys = append(st.PackedKeys, pf.Slice{Begin: begin, End: uint32(valuesAt)})
					}
					st.PackedValues = append(st.PackedValues, pf.Slice{Begin: uint32(valuesAt), End: uint32(docAt)})
					st.DocsJson = append(st.DocsJson, pf.Slice{Begin: uint32(docAt), End: uint32(len(st.Arena))})
					sums[k] = docHash(st.Arena[docAt:])
					// Exists: the document was loaded (found) in this transaction, or stored before.
					st.Exists = append(st.Exists, !p.noExists && (rev > 1 || r.oracle.requested.get(i) && r.oracle.got.get(i)))
				}
				results[w] <- built{st, keys, sums}
			}
		}(w, sources[w])
	}
	for b := 0; b < batches; b++ {
		var bt = <-results[b%workers]
		<-tokens[b%workers]
		var lo = b * r.opts.Batch
		for k, i := range bt.keys {
			r.oracle.sendStore(i, bt.sums[k])
		}
		r.itemSize = max(r.itemSize, len(bt.st.Arena)/len(bt.st.DocsJson)+64)
		if err := s.send(&materialize.TransactionRequest{Store: bt.st}, "Store"); err != nil {
			return err
		}
		r.progress(p.phase, p.loop, int64(keyCount(p.loads)+lo+len(bt.st.DocsJson)), int64(keyCount(p.loads)+n), false)
		if err := r.drain(s); err != nil {
			return err
		}
	}
	return nil
}
