package reference

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
)

// appendDelta appends one stored document to a delta-updates table; first is true
// for the first write of the table in a commit.
func (t *session) appendDelta(tbl *table, w write, first bool) {
	if first {
		tbl.LastDelta = nil
		if t.is("delta-marker-rows") {
			tbl.Delta = append(tbl.Delta, json.RawMessage(fmt.Sprintf(`{"flow_txn":%d}`, t.round)))
		}
	}
	var doc = w.doc
	switch t.defect {
	case "delta-drop-rows":
		var h = fnv.New32a()
		h.Write([]byte(w.key))
		if h.Sum32()%10 == 0 {
			return
		}
	case "delta-truncate-values":
		doc = rewriteJSON(doc, truncateStrings)
	}
	tbl.Delta = append(tbl.Delta, doc)
	if t.is("delta-replay-on-open") {
		tbl.LastDelta = append(tbl.LastDelta, doc)
	}
}

// replayDelta appends the last commit's rows of every delta-updates binding again.
func (t *session) replayDelta(s *state) {
	for _, b := range t.bindings {
		if b.delta {
			var tbl = s.table(b.table)
			tbl.Delta = append(tbl.Delta, tbl.LastDelta...)
		}
	}
}

// DeltaRows calls fn with every row of the delta-updates table named table in the
// store that config (the endpoint config: {state_dir: DIR} or the Driver's memory)
// selects. It is how flowsim verifies what the reference connector stored.
func (d *Driver) DeltaRows(config json.RawMessage, table string, fn func(doc []byte) error) error {
	var cfg, err = parseConfig(config)
	if err != nil {
		return err
	}
	st, err := d.storeFor(cfg)
	if err != nil {
		return err
	}
	var rows []json.RawMessage
	if err := st.read(func(s *state) error {
		var tbl, ok = s.Tables[table]
		if !ok {
			return fmt.Errorf("no table %q", table)
		}
		rows = append(rows, tbl.Delta...) // the documents themselves are never modified
		return nil
	}); err != nil {
		return err
	}
	for _, doc := range rows {
		if err := fn(doc); err != nil {
			return err
		}
	}
	return nil
}
