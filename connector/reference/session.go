package reference

import (
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

type write struct {
	key    string
	doc    json.RawMessage
	exists bool
}

// pendingCommit is a commit the lazy-commit defect holds in memory only.
type pendingCommit struct {
	writes     [][]write
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
			t.replayDelta(s) // rows.go
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
		last = doc
		if t.is("prepared-before-flush") {
			deferred = append(deferred, doc)
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
			var found [][]json.RawMessage
			if err := t.st.read(func(s *state) error {
				var tbl = s.table(b.table)
				found = make([][]json.RawMessage, len(l.PackedKeys))
				for k, sl := range l.PackedKeys {
					found[k] = t.lookup(tbl, t.rowKey(l.Arena.Bytes(sl)))
				}
				return nil
			}); err != nil {
				return nil, err
			}
			for k, docs := range found {
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
					for key, docs := range s.table(t.bindings[0].table).Docs {
						if !requested[key] && len(docs) != 0 {
							extra = docs[0]
							break
						}
					}
					return nil
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

// lookup returns the stored documents of a key, the lazy-commit overlay first.
func (t *session) lookup(tbl *table, key []byte) []json.RawMessage {
	for v := len(t.volatile) - 1; v >= 0; v-- {
		for b, ws := range t.volatile[v].writes {
			if t.bindings[b].table != tbl.Name {
				continue
			}
			for w := len(ws) - 1; w >= 0; w-- {
				if ws[w].key == string(key) {
					return []json.RawMessage{ws[w].doc}
				}
			}
		}
	}
	if t.defect == "stale-value" {
		if prev, ok := tbl.Prev[string(key)]; ok {
			return []json.RawMessage{prev}
		}
	}
	return tbl.Docs[string(key)]
}

// storePhase collects Stores until Commit.
func (t *session) storePhase(prepare *materialize.TransactionRequest_Prepare) ([][]write, error) {
	var writes = make([][]write, len(t.bindings))
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
				var doc = append(json.RawMessage(nil), s.Arena.Bytes(s.DocsJson[k])...)
				writes[s.Binding] = append(writes[s.Binding], write{
					key:    string(t.rowKey(s.Arena.Bytes(s.PackedKeys[k]))),
					doc:    doc,
					exists: s.Exists[k],
				})
			}
		case req.Commit != nil:
			return writes, nil
		default:
			return nil, fmt.Errorf("protocol error: expected Store or Commit, got %v", req)
		}
	}
}

// commit applies a transaction and its checkpoint atomically, if this stream is
// still the owner of its key range.
func (t *session) commit(writes [][]write, checkpoint []byte) error {
	if t.is("lazy-commit") {
		// Acknowledge the commit, but keep it only in memory until the next Acknowledge.
		t.volatile = append(t.volatile, pendingCommit{writes: writes, checkpoint: checkpoint})
		return nil
	}
	return t.apply(writes, checkpoint)
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

func (t *session) apply(writes [][]write, checkpoint []byte) error {
	var outcome error
	var err = t.st.update(func(s *state) error {
		var row = findRow(s, t.mat, t.open.KeyBegin, t.open.KeyEnd)
		var fenced = row == nil || row.Fence != t.fence
		if fenced && !t.is("no-fence") {
			if t.is("zombie-writes") {
				t.applyWrites(s, writes, 1)
			}
			outcome = errFenced
			return nil
		}
		if t.is("torn-commit") && t.round >= 3 && !s.TornDone {
			t.applyWrites(s, writes, 2)
			s.TornDone = true
			outcome = fmt.Errorf("simulated crash in the middle of a commit (defect torn-commit)")
			return nil
		}
		t.applyWrites(s, writes, 1)
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
func (t *session) applyWrites(s *state, writes [][]write, part int) {
	for b, ws := range writes {
		var tbl = s.table(t.bindings[b].table)
		for n, w := range ws {
			if part > 1 && n%part != 0 {
				continue
			}
			if t.bindings[b].delta {
				t.appendDelta(tbl, w, n == 0) // rows.go
				continue
			}
			var old = tbl.Docs[w.key]
			var doc = w.doc
			if t.defect == "ignore-new-field" && len(tbl.Fields) != 0 {
				doc = keepMembers(doc, tbl.Fields)
			}
			switch t.defect {
			case "drop-store":
				var h = fnv.New32a()
				h.Write([]byte(w.key))
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
				if len(old) != 0 {
					doc = keepOldOnNull(old[len(old)-1], doc)
				}
			case "exists-ignored":
				if len(old) != 0 {
					tbl.Docs[w.key] = append(old, doc) // an INSERT where an UPSERT belongs
					continue
				}
			}
			if len(old) != 0 && t.defect == "stale-value" {
				tbl.Prev[w.key] = old[len(old)-1]
			}
			if len(old) == 1 {
				old[0] = doc // reuse the one-element slice: no allocation
			} else {
				tbl.Docs[w.key] = []json.RawMessage{doc}
			}
		}
	}
}
