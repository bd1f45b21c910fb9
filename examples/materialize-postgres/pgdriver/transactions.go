package pgdriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
)

const (
	// flushRows is how many staged load keys or store rows are buffered per
	// binding before they are copied into the database.
	flushRows = 10_000
	// loadedDocs and loadedBytes bound one Loaded response.
	loadedDocs  = 1_000
	loadedBytes = 1 << 20
)

// Transactions runs the transactions stream. The database is authoritative:
//
//   - Open fences every other stream of this materialization whose key range
//     overlaps ours and returns the Flow checkpoint stored for our range.
//   - Loads are staged in a temporary key table (COPY) and answered, at Prepare,
//     by one semi-join against the target table.
//   - Stores are copied into a temporary table and upserted at Commit, in the
//     same database transaction as the new Flow checkpoint, which is written only
//     if our fence still stands. Delta-updates bindings append rows instead.
//
// Every request is validated, and the Acknowledge/Prepare ordering is enforced:
// exactly one Acknowledge per round, before Prepare.
func (d *Driver) Transactions(stream pm.Driver_TransactionsServer) error {
	var ctx, cancel = context.WithCancel(stream.Context())
	defer cancel() // stops the request reader
	var reqs = newRequests(ctx, stream)
	var req, err = reqs.recv()
	if err == io.EOF {
		return nil // Closed before Open: nothing to do.
	} else if err != nil {
		return err
	} else if req.Open == nil {
		return fmt.Errorf("protocol error: expected Open, got %s", describe(req))
	}

	t, err := open(ctx, d.Log, req.Open)
	if err != nil {
		return err
	}
	defer t.close()

	if err = send(stream, &pm.TransactionResponse{Opened: &pm.TransactionResponse_Opened{FlowCheckpoint: t.opened}}); err != nil {
		return err
	}
	if err = t.run(ctx, reqs, stream); err != nil {
		t.log.Error(err, "Transactions failed", "round", t.round)
		return err
	}
	return nil
}

// transactor is the state of one Transactions stream.
type transactor struct {
	log             logr.Logger
	conn            *pgx.Conn
	cfg             Config
	materialization string
	keyBegin        int64
	keyEnd          int64
	fence           int64
	opened          []byte // Flow checkpoint returned in Opened
	tables          []*table

	round      int
	checkpoint []byte                         // Flow checkpoint of the round being prepared
	prepare    *pm.TransactionRequest_Prepare // of the round; its checkpoint is read at Commit
	tx         pgx.Tx                         // open database transaction of the load or store phase
	keys       [][][]any                      // staged load keys, by binding
	rows       [][][]any                      // staged store rows, by binding
	loads      []int                          // load keys staged this round, by binding
	stores     []int                          // store rows staged this round, by binding
	seq        int64                          // orders store rows: the last one of a key wins
	upserts    []string                       // INSERT ... ON CONFLICT of each standard binding
	loadsSQL   []string                       // the semi-join of each standard binding
	loaded     int                            // documents sent in Loaded this round, for logs
	roundStart time.Time
}

func open(ctx context.Context, log logr.Logger, o *pm.TransactionRequest_Open) (*transactor, error) {
	var cfg, tables, err = resolve(o.Materialization)
	if err != nil {
		return nil, err
	}
	var t = &transactor{
		log:             log.WithValues("materialization", o.Materialization.Materialization, "keyBegin", o.KeyBegin, "keyEnd", o.KeyEnd),
		cfg:             cfg,
		materialization: string(o.Materialization.Materialization),
		keyBegin:        int64(o.KeyBegin),
		keyEnd:          int64(o.KeyEnd),
		tables:          tables,
		keys:            make([][][]any, len(tables)),
		rows:            make([][][]any, len(tables)),
		loads:           make([]int, len(tables)),
		stores:          make([]int, len(tables)),
		upserts:         make([]string, len(tables)),
		loadsSQL:        make([]string, len(tables)),
	}
	if t.conn, err = cfg.Connect(ctx); err != nil {
		return nil, err
	}
	if err = t.setup(ctx); err != nil {
		t.close()
		return nil, err
	}
	if err = t.fenceOff(ctx); err != nil {
		t.close()
		return nil, err
	}
	t.log.Info("Opened transactions stream", "fence", t.fence, "checkpointBytes", len(t.opened))
	return t, nil
}

// setup creates the session's temporary tables and prepares the statements.
func (t *transactor) setup(ctx context.Context) error {
	// Room for a transaction's temporary tables and the DISTINCT ON sort in memory
	// (the defaults, 8MB and 4MB, spill a 100k-document transaction to disk).
	for _, set := range []string{"SET temp_buffers = '256MB'", "SET work_mem = '64MB'"} {
		if _, err := t.conn.Exec(ctx, set); err != nil {
			return fmt.Errorf("%s: %w", set, err)
		}
	}
	for _, tb := range t.tables {
		if tb.delta {
			continue
		}
		var keyDefs, keyNames, on, allDefs, allNames, updates []string
		for _, c := range tb.keys {
			keyDefs = append(keyDefs, c.ident()+" "+c.kind.sqlType())
			keyNames = append(keyNames, c.ident())
			on = append(on, fmt.Sprintf("k.%s = t.%s", c.ident(), c.ident()))
		}
		allDefs = append(allDefs, "flow_seq BIGINT")
		for _, c := range tb.columns() {
			allDefs = append(allDefs, c.ident()+" "+c.kind.sqlType())
			allNames = append(allNames, c.ident())
			if !c.key {
				updates = append(updates, fmt.Sprintf("%s = EXCLUDED.%s", c.ident(), c.ident()))
			}
		}
		var loadTmp, storeTmp = loadTable(tb.index), storeTable(tb.index)
		for _, ddl := range []string{
			fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s) ON COMMIT DELETE ROWS", loadTmp, strings.Join(keyDefs, ", ")),
			fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s) ON COMMIT DELETE ROWS", storeTmp, strings.Join(allDefs, ", ")),
		} {
			if _, err := t.conn.Exec(ctx, ddl); err != nil {
				return fmt.Errorf("creating temporary table: %w", err)
			}
		}
		t.loadsSQL[tb.index] = fmt.Sprintf(
			"SELECT t.%s FROM %s AS t WHERE EXISTS (SELECT 1 FROM %s AS k WHERE %s)",
			tb.document.ident(), tb.ident, loadTmp, strings.Join(on, " AND "))

		var conflict = "DO NOTHING"
		if len(updates) != 0 {
			conflict = "DO UPDATE SET " + strings.Join(updates, ", ")
		}
		// DISTINCT ON keeps the last row of a key stored twice in one round.
		t.upserts[tb.index] = fmt.Sprintf(
			"INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, flow_seq DESC ON CONFLICT (%s) %s",
			tb.ident, strings.Join(allNames, ", "),
			strings.Join(keyNames, ", "), strings.Join(allNames, ", "), storeTmp,
			strings.Join(keyNames, ", "), strings.Join(keyNames, ", "), conflict)
	}
	return nil
}

func loadTable(i int) string {
	return pgx.Identifier{"pg_temp", fmt.Sprintf("flow_load_%d", i)}.Sanitize()
}
func storeTable(i int) string {
	return pgx.Identifier{"pg_temp", fmt.Sprintf("flow_store_%d", i)}.Sanitize()
}

func (t *transactor) ckptIdent() string {
	return pgx.Identifier{t.cfg.Schema, checkpointsTable}.Sanitize()
}

// fenceOff bumps the fence of every checkpoint row of this materialization whose
// [key_begin, key_end] overlaps ours, reads the checkpoint of the narrowest row
// covering our range, and upserts our exact-range row, taking its fence. All in
// one transaction; rows are locked in a fixed order so concurrent Opens don't
// deadlock.
func (t *transactor) fenceOff(ctx context.Context) error {
	var ckpt = t.ckptIdent()
	return pgx.BeginFunc(ctx, t.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT 1 FROM %s
			WHERE materialization = $1 AND key_end >= $2 AND key_begin <= $3
			ORDER BY key_begin, key_end FOR UPDATE`, ckpt),
			t.materialization, t.keyBegin, t.keyEnd); err != nil {
			return fmt.Errorf("locking checkpoints (did apply-upsert run?): %w", err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET fence = fence + 1
			WHERE materialization = $1 AND key_end >= $2 AND key_begin <= $3`, ckpt),
			t.materialization, t.keyBegin, t.keyEnd); err != nil {
			return fmt.Errorf("fencing overlapping streams: %w", err)
		}
		var covering []byte
		var err = tx.QueryRow(ctx, fmt.Sprintf(`SELECT checkpoint FROM %s
			WHERE materialization = $1 AND key_begin <= $2 AND key_end >= $3
			ORDER BY key_end - key_begin LIMIT 1`, ckpt),
			t.materialization, t.keyBegin, t.keyEnd).Scan(&covering)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reading the stored checkpoint: %w", err)
		}
		if covering == nil {
			covering = []byte{}
		}
		if err = tx.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s AS c (materialization, key_begin, key_end, fence, checkpoint)
			VALUES ($1, $2, $3, 1, $4)
			ON CONFLICT (materialization, key_begin, key_end) DO UPDATE SET fence = c.fence + 1
			RETURNING fence, checkpoint`, ckpt),
			t.materialization, t.keyBegin, t.keyEnd, covering).Scan(&t.fence, &t.opened); err != nil {
			return fmt.Errorf("writing our checkpoint row: %w", err)
		}
		if len(t.opened) == 0 {
			t.opened = nil
		}
		return nil
	})
}

func (t *transactor) close() {
	var ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if t.tx != nil {
		t.tx.Rollback(ctx)
		t.tx = nil
	}
	t.conn.Close(ctx)
}

// run loops over rounds until the runtime closes the stream.
func (t *transactor) run(ctx context.Context, reqs *requests, stream pm.Driver_TransactionsServer) error {
	for t.round = 0; ; t.round++ {
		if done, err := t.loadPhase(ctx, reqs, stream); err != nil || done {
			return err
		}
		if err := t.storePhase(ctx, reqs, stream); err != nil {
			return err
		}
	}
}

// loadPhase reads Loads and the round's Acknowledge until Prepare, then answers
// the loads and Prepare. done is true when the stream ended cleanly.
func (t *transactor) loadPhase(ctx context.Context, reqs *requests, stream pm.Driver_TransactionsServer) (done bool, _ error) {
	var acked bool
	t.roundStart = time.Now()
	t.loaded = 0
	for {
		var req, err = reqs.recv()
		if err == io.EOF {
			return true, nil // Between transactions: a clean end. Staged loads are dropped.
		} else if err != nil {
			return false, err
		}
		switch {
		case req.Acknowledge != nil:
			if acked {
				return false, fmt.Errorf("protocol error: second Acknowledge in round %d", t.round)
			}
			acked = true
			// Commits are synchronous: the previous round is durable already.
			if err = send(stream, &pm.TransactionResponse{Acknowledged: &pm.TransactionResponse_Acknowledged{}}); err != nil {
				return false, err
			}
		case req.Load != nil:
			if err = t.stageLoad(ctx, req.Load); err != nil {
				return false, err
			}
		case req.Prepare != nil:
			if !acked {
				return false, fmt.Errorf("protocol error: Prepare before Acknowledge in round %d", t.round)
			}
			// The checkpoint is read when committing: served in a later era
			// (era2021.Server), this Prepare receives it with StartCommit.
			t.prepare = req.Prepare
			if err = t.evaluateLoads(ctx, stream); err != nil {
				return false, err
			}
			var prepared = pf.DriverCheckpoint{DriverCheckpointJson: json.RawMessage("{}"), Rfc7396MergePatch: true}
			return false, send(stream, &pm.TransactionResponse{Prepared: &prepared})
		default:
			return false, fmt.Errorf("protocol error: unexpected %s in the load phase of round %d", describe(req), t.round)
		}
	}
}

// storePhase reads Stores until Commit, then commits.
func (t *transactor) storePhase(ctx context.Context, reqs *requests, stream pm.Driver_TransactionsServer) error {
	for {
		var req, err = reqs.recv()
		if err == io.EOF {
			return fmt.Errorf("stream ended in the store phase of round %d: rolled back", t.round)
		} else if err != nil {
			return err
		}
		switch {
		case req.Store != nil:
			if err = t.stageStore(ctx, req.Store); err != nil {
				return err
			}
		case req.Commit != nil:
			t.checkpoint = append([]byte(nil), t.prepare.FlowCheckpoint...)
			if err = t.commit(ctx); err != nil {
				return err
			}
			t.log.V(1).Info("Committed round", "round", t.round, "loaded", t.loaded,
				"stored", sum(t.stores), "took", time.Since(t.roundStart).String())
			return send(stream, &pm.TransactionResponse{DriverCommitted: &pm.TransactionResponse_DriverCommitted{}})
		default:
			return fmt.Errorf("protocol error: unexpected %s in the store phase of round %d", describe(req), t.round)
		}
	}
}

func (t *transactor) binding(i uint32) (*table, error) {
	if int(i) >= len(t.tables) {
		return nil, fmt.Errorf("protocol error: binding %d doesn't exist (%d bindings)", i, len(t.tables))
	}
	return t.tables[i], nil
}

// begin opens the phase's database transaction if it isn't open yet.
func (t *transactor) begin(ctx context.Context) error {
	if t.tx != nil {
		return nil
	}
	var tx, err = t.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	t.tx = tx
	return nil
}

func (t *transactor) stageLoad(ctx context.Context, l *pm.TransactionRequest_Load) error {
	var tb, err = t.binding(l.Binding)
	if err != nil {
		return err
	}
	if tb.delta {
		return fmt.Errorf("protocol error: Load for binding %d, which is delta-updates", tb.index)
	}
	for _, packed := range l.PackedKeys {
		var key, err = unpackKey(tb, l.Arena.Bytes(packed))
		if err != nil {
			return fmt.Errorf("load request for binding %d: %w", tb.index, err)
		}
		t.keys[tb.index] = append(t.keys[tb.index], key)
	}
	t.loads[tb.index] += len(l.PackedKeys)
	if len(t.keys[tb.index]) >= flushRows {
		return t.flushKeys(ctx, tb)
	}
	return nil
}

func unpackKey(tb *table, packed []byte) ([]any, error) {
	var tup, err = tuple.Unpack(packed)
	if err != nil {
		return nil, fmt.Errorf("unpacking key: %w", err)
	}
	if len(tup) != len(tb.keys) {
		return nil, fmt.Errorf("key has %d elements, want %d (%v)", len(tup), len(tb.keys), tb.columnNames()[:len(tb.keys)])
	}
	var row = make([]any, len(tup))
	for i, c := range tb.keys {
		if row[i], err = convertKey(c.kind, c.field, tup[i]); err != nil {
			return nil, err
		}
	}
	return row, nil
}

// flushKeys copies staged keys of tb into its temporary key table.
func (t *transactor) flushKeys(ctx context.Context, tb *table) error {
	var keys = t.keys[tb.index]
	if len(keys) == 0 {
		return nil
	}
	if err := t.begin(ctx); err != nil {
		return err
	}
	var names []string
	for _, c := range tb.keys {
		names = append(names, c.field)
	}
	if _, err := t.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", fmt.Sprintf("flow_load_%d", tb.index)},
		names, pgx.CopyFromRows(keys)); err != nil {
		return fmt.Errorf("copying load keys of binding %d: %w", tb.index, err)
	}
	t.keys[tb.index] = keys[:0]
	return nil
}

// evaluateLoads answers every staged key with one query per binding and sends
// the documents found as Loaded responses.
func (t *transactor) evaluateLoads(ctx context.Context, stream pm.Driver_TransactionsServer) error {
	for _, tb := range t.tables {
		if err := t.flushKeys(ctx, tb); err != nil {
			return err
		}
	}
	for _, tb := range t.tables {
		if t.loads[tb.index] == 0 {
			continue
		}
		if err := t.queryLoads(ctx, stream, tb); err != nil {
			return err
		}
	}
	for i := range t.loads {
		t.loads[i] = 0
	}
	if t.tx != nil {
		// Commit (nothing was written) so that ON COMMIT DELETE ROWS empties the key tables.
		var err = t.tx.Commit(ctx)
		t.tx = nil
		if err != nil {
			return fmt.Errorf("ending the load transaction: %w", err)
		}
	}
	return nil
}

func (t *transactor) queryLoads(ctx context.Context, stream pm.Driver_TransactionsServer, tb *table) error {
	if _, err := t.tx.Exec(ctx, "ANALYZE "+loadTable(tb.index)); err != nil {
		return fmt.Errorf("analyzing load keys of binding %d: %w", tb.index, err)
	}
	var rows, err = t.tx.Query(ctx, t.loadsSQL[tb.index])
	if err != nil {
		return fmt.Errorf("loading binding %d from %s: %w", tb.index, tb.ident, err)
	}
	defer rows.Close()

	var loaded = &pm.TransactionResponse_Loaded{Binding: uint32(tb.index)}
	var flush = func() error {
		if len(loaded.DocsJson) == 0 {
			return nil
		}
		t.loaded += len(loaded.DocsJson)
		var err = send(stream, &pm.TransactionResponse{Loaded: loaded})
		loaded = &pm.TransactionResponse_Loaded{Binding: uint32(tb.index)}
		return err
	}
	for rows.Next() {
		var doc = rows.RawValues()[0]
		if doc == nil {
			return fmt.Errorf("loading binding %d from %s: a row has a NULL document", tb.index, tb.ident)
		}
		loaded.DocsJson = append(loaded.DocsJson, loaded.Arena.Add(doc))
		if len(loaded.DocsJson) >= loadedDocs || len(loaded.Arena) >= loadedBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loading binding %d from %s: %w", tb.index, tb.ident, err)
	}
	return flush()
}

func (t *transactor) stageStore(ctx context.Context, s *pm.TransactionRequest_Store) error {
	var tb, err = t.binding(s.Binding)
	if err != nil {
		return err
	}
	for i := range s.DocsJson {
		var row []any
		if !tb.delta {
			t.seq++
			row = append(row, t.seq)
		}
		key, err := unpackKey(tb, s.Arena.Bytes(s.PackedKeys[i]))
		if err != nil {
			return fmt.Errorf("store request for binding %d, document %d: %w", tb.index, i, err)
		}
		row = append(row, key...)

		values, err := tuple.Unpack(s.Arena.Bytes(s.PackedValues[i]))
		if err != nil {
			return fmt.Errorf("store request for binding %d, document %d: unpacking values: %w", tb.index, i, err)
		} else if len(values) != len(tb.values) {
			return fmt.Errorf("store request for binding %d, document %d: %d values, want %d", tb.index, i, len(values), len(tb.values))
		}
		for j, c := range tb.values {
			var v, err = convert(c.kind, c.field, values[j])
			if err != nil {
				return fmt.Errorf("store request for binding %d, document %d: %w", tb.index, i, err)
			}
			row = append(row, v)
		}
		if tb.document != nil {
			var doc = s.Arena.Bytes(s.DocsJson[i])
			if len(doc) == 0 {
				return fmt.Errorf("store request for binding %d, document %d: empty document", tb.index, i)
			}
			row = append(row, json.RawMessage(append([]byte(nil), doc...)))
		}
		t.rows[tb.index] = append(t.rows[tb.index], row)
	}
	t.stores[tb.index] += len(s.DocsJson)
	if len(t.rows[tb.index]) >= flushRows {
		return t.flushRows(ctx, tb)
	}
	return nil
}

// flushRows copies staged rows of tb: into its temporary table, or straight into
// the target table of a delta-updates binding.
func (t *transactor) flushRows(ctx context.Context, tb *table) error {
	var rows = t.rows[tb.index]
	if len(rows) == 0 {
		return nil
	}
	if err := t.begin(ctx); err != nil {
		return err
	}
	var target pgx.Identifier
	var names = tb.columnNames()
	if tb.delta {
		target = pgx.Identifier{t.cfg.Schema, tb.name}
	} else {
		target = pgx.Identifier{"pg_temp", fmt.Sprintf("flow_store_%d", tb.index)}
		names = append([]string{"flow_seq"}, names...)
	}
	if _, err := t.tx.CopyFrom(ctx, target, names, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copying stored documents of binding %d into %s: %w", tb.index, target.Sanitize(), err)
	}
	t.rows[tb.index] = rows[:0]
	return nil
}

// commit writes the round's documents and its Flow checkpoint in one database
// transaction, provided our fence still stands.
func (t *transactor) commit(ctx context.Context) error {
	if err := t.begin(ctx); err != nil {
		return err
	}
	for _, tb := range t.tables {
		if err := t.flushRows(ctx, tb); err != nil {
			return t.abort(ctx, err)
		}
	}
	// First, so that the checkpoint row stays locked until we commit: a newer
	// Open waits for us, then fences us.
	var tag, err = t.tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET checkpoint = $1
		WHERE materialization = $2 AND key_begin = $3 AND key_end = $4 AND fence = $5`, t.ckptIdent()),
		t.checkpoint, t.materialization, t.keyBegin, t.keyEnd, t.fence)
	if err != nil {
		return t.abort(ctx, fmt.Errorf("writing the checkpoint: %w", err))
	} else if tag.RowsAffected() == 0 {
		return t.abort(ctx, fmt.Errorf("%w: another stream of %s opened key range [%08x, %08x] after us (our fence %d); nothing of round %d was written",
			errFenced, t.materialization, t.keyBegin, t.keyEnd, t.fence, t.round))
	}
	for _, tb := range t.tables {
		if tb.delta || t.stores[tb.index] == 0 {
			continue
		}
		if _, err := t.tx.Exec(ctx, t.upserts[tb.index]); err != nil {
			return t.abort(ctx, fmt.Errorf("upserting binding %d into %s: %w", tb.index, tb.ident, err))
		}
	}
	err = t.tx.Commit(ctx)
	t.tx = nil
	if err != nil {
		return fmt.Errorf("committing round %d: %w", t.round, err)
	}
	for i := range t.stores {
		t.stores[i] = 0
	}
	return nil
}

func (t *transactor) abort(ctx context.Context, err error) error {
	if t.tx != nil {
		t.tx.Rollback(context.WithoutCancel(ctx))
		t.tx = nil
	}
	return err
}

// requests reads a stream's requests in a goroutine, so that a cancelled context
// ends the stream even when the transport's Recv doesn't watch it (the in-process
// adapter doesn't).
type requests struct {
	ctx context.Context
	ch  chan received
}

type received struct {
	req *pm.TransactionRequest
	err error
}

func newRequests(ctx context.Context, stream pm.Driver_TransactionsServer) *requests {
	var r = &requests{ctx: ctx, ch: make(chan received)}
	go func() {
		for {
			var req, err = stream.Recv()
			select {
			case r.ch <- received{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// recv returns the next request, validated, or io.EOF when the stream ended cleanly.
func (r *requests) recv() (*pm.TransactionRequest, error) {
	var got received
	select {
	case got = <-r.ch:
	case <-r.ctx.Done():
		return nil, fmt.Errorf("transactions stream: %w", context.Cause(r.ctx))
	}
	if got.err != nil {
		return nil, got.err
	}
	if err := got.req.Validate(); err != nil {
		return nil, fmt.Errorf("invalid TransactionRequest: %w", err)
	}
	return got.req, nil
}

func send(stream pm.Driver_TransactionsServer, resp *pm.TransactionResponse) error {
	if err := resp.Validate(); err != nil {
		return fmt.Errorf("building TransactionResponse: %w", err)
	}
	if err := stream.Send(resp); err != nil {
		return fmt.Errorf("sending %s: %w", describeResponse(resp), err)
	}
	return nil
}

func describe(req *pm.TransactionRequest) string {
	switch {
	case req.Open != nil:
		return "Open"
	case req.Load != nil:
		return "Load"
	case req.Prepare != nil:
		return "Prepare"
	case req.Store != nil:
		return "Store"
	case req.Commit != nil:
		return "Commit"
	case req.Acknowledge != nil:
		return "Acknowledge"
	}
	return "empty request"
}

func describeResponse(resp *pm.TransactionResponse) string {
	switch {
	case resp.Opened != nil:
		return "Opened"
	case resp.Loaded != nil:
		return "Loaded"
	case resp.Prepared != nil:
		return "Prepared"
	case resp.DriverCommitted != nil:
		return "DriverCommitted"
	case resp.Acknowledged != nil:
		return "Acknowledged"
	}
	return "empty response"
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}
