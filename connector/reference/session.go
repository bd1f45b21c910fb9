package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

type binding struct {
	table string
	delta bool
}

// txn holds the stores of a transaction until it commits: per binding the writes
// in the order they came, their keys and documents copied into blocks of memory
// that are reused by the next transaction.
type txn struct {
	blocks [][]byte
	cur    int // the block being filled
	writes [][]write
}

// write is a store.
type write struct {
	key, doc []byte
	exists   bool
}

// txnBlock is the size of a txn's blocks.
const txnBlock = 256 << 10

// copy returns a copy of p in x's blocks.
func (x *txn) copy(p []byte) []byte {
	if len(p) > txnBlock/4 {
		return append([]byte(nil), p...) // a block of its own, not reused
	}
	for {
		if x.cur == len(x.blocks) {
			x.blocks = append(x.blocks, make([]byte, 0, txnBlock))
		}
		var b = x.blocks[x.cur]
		if cap(b)-len(b) >= len(p) {
			var at = len(b)
			x.blocks[x.cur] = append(b, p...)
			return x.blocks[x.cur][at : at+len(p) : at+len(p)]
		}
		x.cur++
	}
}

// reset empties x for a transaction over n bindings, keeping its memory.
func (x *txn) reset(n int) {
	for i := 0; i <= x.cur && i < len(x.blocks); i++ {
		x.blocks[i] = x.blocks[i][:0]
	}
	x.cur = 0
	if len(x.writes) != n {
		x.writes = make([][]write, n)
	}
	for b := range x.writes {
		clear(x.writes[b]) // drop references to blocks of their own
		x.writes[b] = x.writes[b][:0]
	}
}

// pendingCommit is a commit the lazy-commit defect holds in memory only.
type pendingCommit struct {
	writes     *txn
	checkpoint []byte
}

// session is one Transactions stream.
type session struct {
	stream   materialize.Driver_TransactionsServer
	open     *materialize.TransactionRequest_Open
	mat      string
	cfg      Config
	defect   string
	st       store
	bindings []binding
	fence    int64
	round    int
	volatile []pendingCommit
	// spare is the buffer of the last applied transaction, reused by the next.
	spare *txn
	// rowBuf holds the documents read for one Load, which end at rowEnds.
	rowBuf  []byte
	rowEnds []int
	scratch []byte
}

func newTxnSession(d *Driver, stream materialize.Driver_TransactionsServer, open *materialize.TransactionRequest_Open) (*session, error) {
	var cfg, err = parseConfig(open.Materialization.EndpointSpecJson)
	if err != nil {
		return nil, err
	}
	st, err := d.storeFor(cfg)
	if err != nil {
		return nil, err
	}
	var t = &session{stream: stream, open: open, mat: string(open.Materialization.Materialization), cfg: cfg, defect: cfg.Defect, st: st}
	for _, b := range open.Materialization.Bindings {
		t.bindings = append(t.bindings, binding{table: b.ResourcePath[0], delta: b.DeltaUpdates})
	}
	return t, nil
}

func (t *session) is(defect string) bool { return t.defect == defect }

// rowKey is the key of the row that holds a packed key (see foldKey).
func (t *session) rowKey(packed []byte) []byte { return foldKey(t.defect, packed) }

func (t *session) recv() (*materialize.TransactionRequest, error) {
	var req, err = t.stream.Recv()
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating request: %w", err)
	}
	return req, nil
}

func (t *session) run() error {
	var cp []byte
	if err := t.st.update(func(s *state) error {
		t.fence, cp = openFence(s, t.mat, t.open.KeyBegin, t.open.KeyEnd, t.defect)
		if t.is("delta-replay-on-open") {
			return t.replayDelta(s) // rows.go
		}
		return nil
	}); err != nil {
		return err
	}
	if t.is("no-checkpoint") {
		cp = nil
	}
	if err := t.stream.Send(&materialize.TransactionResponse{
		Opened: &materialize.TransactionResponse_Opened{FlowCheckpoint: cp},
	}); err != nil {
		return err
	}
	if t.is("prepared-unasked") {
		if err := t.stream.Send(&materialize.TransactionResponse{Prepared: &pf.DriverCheckpoint{}}); err != nil {
			return err
		}
	}

	for t.round = 1; ; t.round++ {
		var prepare, err = t.loadPhase()
		if errors.Is(err, io.EOF) {
			return nil // The runtime closed the stream between transactions.
		} else if err != nil {
			return err
		}
		writes, err := t.storePhase(prepare)
		if errors.Is(err, io.EOF) {
			return nil // Closed mid-transaction: nothing is committed.
		} else if err != nil {
			return err
		}
		if t.is("loaded-before-committed") {
			var l = &materialize.TransactionResponse_Loaded{}
			l.DocsJson = append(l.DocsJson, l.Arena.Add([]byte(`{"early":true}`)))
			if err := t.stream.Send(&materialize.TransactionResponse{Loaded: l}); err != nil {
				return err
			}
		}
		if err := t.commit(writes, prepare.FlowCheckpoint); err != nil {
			return err
		}
		if !t.is("committed-early") {
			if err := t.stream.Send(&materialize.TransactionResponse{
				DriverCommitted: &materialize.TransactionResponse_DriverCommitted{},
			}); err != nil {
				return err
			}
		}
	}
}

// loadPhase handles Acknowledge and Loads until Prepare, then sends Prepared.
func (t *session) loadPhase() (*materialize.TransactionRequest_Prepare, error) {
	var acked bool
	var staged *materialize.TransactionResponse
	var deferred []json.RawMessage // loaded documents held back by prepared-before-flush
	var last json.RawMessage
	var requested = map[string]bool{} // keys loaded in this transaction

	var stage = func(b int, doc json.RawMessage) error {
		if t.is("loaded-after-prepared") {
			last = append(last[:0], doc...) // doc's memory is reused by the next Load
		}
		if t.is("prepared-before-flush") {
			deferred = append(deferred, append(json.RawMessage(nil), doc...))
			return nil
		}
		return materialize.StageLoaded(t.stream, &staged, b, doc)
	}

	for {
		var req, err = t.recv()
		if err != nil {
			return nil, err
		}
		switch {
		case req.Acknowledge != nil:
			if acked {
				return nil, fmt.Errorf("protocol error: two Acknowledge in one transaction")
			}
			acked = true
			if err := t.flushVolatile(); err != nil {
				return nil, err
			}
			if t.is("ack-never") {
				continue
			}
			var n = 1
			if t.is("ack-twice") {
				n = 2
			}
			for ; n > 0; n-- {
				if err := t.stream.Send(&materialize.TransactionResponse{
					Acknowledged: &materialize.TransactionResponse_Acknowledged{},
				}); err != nil {
					return nil, err
				}
			}

		case req.Load != nil:
			var l = req.Load
			if int(l.Binding) >= len(t.bindings) {
				return nil, fmt.Errorf("protocol error: Load of unknown binding %d", l.Binding)
			}
			var b = t.bindings[l.Binding]
			if t.is("loads-first-binding") {
				b = t.bindings[0] // whatever the Load's binding, its table is the first's
			}
			if b.delta {
				return nil, fmt.Errorf("protocol error: Load of delta-updates binding %d", l.Binding)
			}
			if t.is("loaded-unrequested") {
				for _, s := range l.PackedKeys {
					requested[string(l.Arena.Bytes(s))] = true
				}
			}
			// Read the rows of every key under the lock, then send them.
			t.rowBuf, t.rowEnds = t.rowBuf[:0], t.rowEnds[:0]
			var counts = make([]int, len(l.PackedKeys))
			if err := t.st.read(func(s *state) error {
				var tbl = s.table(b.table)
				for k, sl := range l.PackedKeys {
					var n, err = t.lookup(tbl, t.rowKey(l.Arena.Bytes(sl)))
					if err != nil {
						return err
					}
					counts[k] = n
				}
				return nil
			}); err != nil {
				return nil, err
			}
			var row, from int
			var docs []json.RawMessage
			for k, n := range counts {
				docs = docs[:0]
				for ; n > 0; n-- {
					docs = append(docs, t.rowBuf[from:t.rowEnds[row]])
					from = t.rowEnds[row]
					row++
				}
				if len(docs) == 0 && t.is("loaded-empty") {
					docs = []json.RawMessage{json.RawMessage("{}")}
				}
				if len(docs) == 0 && t.is("left-join") {
					docs = []json.RawMessage{keyOnlyDocument(t.open.Materialization.Bindings[l.Binding].FieldSelection.Keys, l.Arena.Bytes(l.PackedKeys[k]))}
				}
				if len(docs) != 0 && k == 0 && t.is("loaded-not-json") {
					docs = []json.RawMessage{json.RawMessage("<html>oops</html>")}
				}
				for _, doc := range docs {
					if err := stage(int(l.Binding), doc); err != nil {
						return nil, err
					}
					if t.is("loaded-twice") && k == 0 {
						if err := stage(int(l.Binding), doc); err != nil {
							return nil, err
						}
					}
				}
			}

		case req.Prepare != nil:
			if !acked {
				return nil, fmt.Errorf("protocol error: Prepare before Acknowledge")
			}
			if t.is("loaded-unrequested") && len(requested) != 0 {
				var extra json.RawMessage
				if err := t.st.read(func(s *state) error {
					var docs = s.table(t.bindings[0].table).docs
					var err error
					var eachErr = docs.each(func(key, doc []byte) bool {
						if requested[string(key)] {
							return true
						}
						var rows []json.RawMessage
						if rows, err = docs.rows(append([]byte(nil), key...)); err == nil && len(rows) != 0 {
							extra = rows[0]
						}
						return false
					})
					return errors.Join(err, eachErr)
				}); err != nil {
					return nil, err
				}
				if extra != nil {
					if err := stage(0, extra); err != nil {
						return nil, err
					}
				}
			}
			if t.is("committed-early") {
				if err := t.stream.Send(&materialize.TransactionResponse{
					DriverCommitted: &materialize.TransactionResponse_DriverCommitted{},
				}); err != nil {
					return nil, err
				}
			}
			if t.is("delta-loaded") {
				for b, bb := range t.bindings {
					if bb.delta {
						if err := materialize.StageLoaded(t.stream, &staged, b, json.RawMessage(`{"loaded":"in delta mode"}`)); err != nil {
							return nil, err
						}
					}
				}
			}
			var cp = pf.DriverCheckpoint{DriverCheckpointJson: json.RawMessage(fmt.Sprintf(`{"round":%d}`, t.round))}
			if t.is("empty-checkpoint") {
				cp = pf.DriverCheckpoint{Rfc7396MergePatch: true}
			}
			if err := materialize.WritePrepared(t.stream, &staged, cp); err != nil {
				return nil, err
			}
			if t.is("loaded-after-prepared") && last != nil {
				if err := materialize.StageLoaded(t.stream, &staged, 0, last); err != nil {
					return nil, err
				}
			}
			for _, doc := range deferred {
				if err := materialize.StageLoaded(t.stream, &staged, 0, doc); err != nil {
					return nil, err
				}
			}
			if staged != nil {
				if err := t.stream.Send(staged); err != nil {
					return nil, err
				}
			}
			return req.Prepare, nil

		default:
			return nil, fmt.Errorf("protocol error: expected Acknowledge, Load or Prepare, got %v", req)
		}
	}
}

// lookup appends the stored rows of a key to t.rowBuf (ending each at t.rowEnds),
// the lazy-commit overlay first, and returns how many.
func (t *session) lookup(tbl *table, key []byte) (int, error) {
	var one = func(doc []byte) (int, error) {
		t.rowBuf = append(t.rowBuf, doc...)
		t.rowEnds = append(t.rowEnds, len(t.rowBuf))
		return 1, nil
	}
	for v := len(t.volatile) - 1; v >= 0; v-- {
		var x = t.volatile[v].writes
		for b, ws := range x.writes {
			if t.bindings[b].table != tbl.Name {
				continue
			}
			for w := len(ws) - 1; w >= 0; w-- {
				if bytes.Equal(ws[w].key, key) {
					return one(ws[w].doc)
				}
			}
		}
	}
	if t.defect == "stale-value" {
		var doc, found, err = tbl.prev.appendLatest(t.scratch[:0], key)
		t.scratch = doc[:0]
		if err != nil {
			return 0, err
		} else if found {
			return one(doc)
		}
	}
	if tbl.docs != nil && len(tbl.docs.extra) != 0 {
		var rows, err = tbl.docs.rows(key)
		for _, doc := range rows {
			one(doc)
		}
		return len(rows), err
	}
	var buf, found, err = tbl.docs.appendLatest(t.rowBuf, key)
	if !found || err != nil {
		return 0, err
	}
	t.rowBuf = buf
	t.rowEnds = append(t.rowEnds, len(buf))
	return 1, nil
}

// storePhase collects Stores until Commit.
func (t *session) storePhase(prepare *materialize.TransactionRequest_Prepare) (*txn, error) {
	var x = t.spare
	if x == nil || t.is("lazy-commit") {
		x = new(txn) // lazy-commit keeps the writes of every transaction until Acknowledge
	}
	t.spare = nil
	x.reset(len(t.bindings))
	for {
		var req, err = t.recv()
		if err != nil {
			return nil, err
		}
		switch {
		case req.Store != nil:
			var s = req.Store
			if int(s.Binding) >= len(t.bindings) {
				return nil, fmt.Errorf("protocol error: Store of unknown binding %d", s.Binding)
			}
			if t.is("crash-on-store") {
				return nil, fmt.Errorf("simulated crash while storing (defect crash-on-store)")
			}
			if s.Binding > 0 && t.is("drop-later-bindings") {
				continue
			}
			for k := range s.DocsJson {
				x.writes[s.Binding] = append(x.writes[s.Binding], write{
					key:    x.copy(t.rowKey(s.Arena.Bytes(s.PackedKeys[k]))),
					doc:    x.copy(s.Arena.Bytes(s.DocsJson[k])),
					exists: s.Exists[k],
				})
			}
		case req.Commit != nil:
			return x, nil
		default:
			return nil, fmt.Errorf("protocol error: expected Store or Commit, got %v", req)
		}
	}
}

// commit applies a transaction and its checkpoint atomically, if this stream is
// still the owner of its key range.
func (t *session) commit(writes *txn, checkpoint []byte) error {
	if t.is("lazy-commit") {
		// Acknowledge the commit, but keep it only in memory until the next Acknowledge.
		t.volatile = append(t.volatile, pendingCommit{writes: writes, checkpoint: checkpoint})
		return nil
	}
	if err := t.apply(writes, checkpoint); err != nil {
		return err
	}
	t.spare = writes
	return nil
}

func (t *session) flushVolatile() error {
	var pending = t.volatile
	t.volatile = nil
	for _, p := range pending {
		if err := t.apply(p.writes, p.checkpoint); err != nil {
			return err
		}
	}
	return nil
}

func (t *session) apply(writes *txn, checkpoint []byte) error {
	var outcome error
	var err = t.st.update(func(s *state) error {
		var row = findRow(s, t.mat, t.open.KeyBegin, t.open.KeyEnd)
		var fenced = row == nil || row.Fence != t.fence
		if fenced && !t.is("no-fence") {
			if t.is("zombie-writes") {
				if err := t.applyWrites(s, writes, 1); err != nil {
					return err
				}
			}
			outcome = errFenced
			return nil
		}
		if t.is("torn-commit") && t.round >= 3 && !s.TornDone {
			if err := t.applyWrites(s, writes, 2); err != nil {
				return err
			}
			s.TornDone = true
			outcome = fmt.Errorf("simulated crash in the middle of a commit (defect torn-commit)")
			return nil
		}
		if err := t.applyWrites(s, writes, 1); err != nil {
			return err
		}
		row.Checkpoint = checkpoint
		if row.First == nil {
			row.First = checkpoint
		}
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

// applyWrites applies every 1/part of the writes (part 2: half of them).
func (t *session) applyWrites(s *state, x *txn, part int) error {
	// The defects that need a key's current document before replacing it.
	var needOld = t.defect == "ignore-null" || t.defect == "exists-ignored" || t.defect == "stale-value"
	for b, ws := range x.writes {
		var tbl = s.table(t.bindings[b].table)
		for n, w := range ws {
			if part > 1 && n%part != 0 {
				continue
			}
			var key, doc = w.key, json.RawMessage(w.doc)
			if t.bindings[b].delta {
				if err := t.appendDelta(tbl, key, doc, n == 0); err != nil { // rows.go
					return err
				}
				continue
			}
			var docs = tbl.docTable()
			var old []byte
			var exists bool
			if needOld {
				var err error
				if old, exists, err = docs.appendLatest(t.scratch[:0], key); err != nil {
					return err
				}
				t.scratch = old[:0]
			}
			if t.defect == "ignore-new-field" && len(tbl.Fields) != 0 {
				doc = keepMembers(doc, tbl.Fields)
			}
			switch t.defect {
			case "drop-store":
				var h = fnv.New32a()
				h.Write(key)
				if h.Sum32()%10 == 0 {
					continue
				}
			case "corrupt-unicode":
				doc = mojibake(doc)
			case "truncate-strings":
				doc = rewriteJSON(doc, truncateStrings)
			case "float-precision":
				doc = rewriteJSON(doc, float32Numbers)
			case "drop-nested":
				doc = rewriteJSON(doc, stringifyNested)
			case "ignore-null":
				if exists {
					doc = keepOldOnNull(old, doc)
				}
			case "exists-ignored":
				if exists {
					if err := docs.put(key, doc, true); err != nil { // an INSERT where an UPSERT belongs
						return err
					}
					continue
				}
			}
			if exists && t.defect == "stale-value" {
				if err := tbl.prevTable().put(key, old, false); err != nil {
					return err
				}
			}
			if err := docs.put(key, doc, false); err != nil {
				return err
			}
		}
		if err := tbl.docs.maybeCompact(); err != nil {
			return err
		}
		if err := tbl.prev.maybeCompact(); err != nil {
			return err
		}
	}
	return nil
}
