package reference

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
)

// appendDelta appends one stored document to a delta-updates table; first is true
// for the first write of the table in a commit.
func (t *session) appendDelta(tbl *table, key []byte, doc json.RawMessage, first bool) error {
	var l = tbl.rowLog()
	if first {
		if t.is("delta-marker-rows") {
			if err := l.appendRow(fmt.Appendf(nil, `{"flow_txn":%d}`, t.round)); err != nil {
				return err
			}
		}
		l.lastFrom, l.lastTo = l.a.size(), l.a.size()
	}
	switch t.defect {
	case "delta-drop-rows":
		var h = fnv.New32a()
		h.Write(key)
		if h.Sum32()%10 == 0 {
			return nil
		}
	case "delta-truncate-values":
		doc = rewriteJSON(doc, truncateStrings)
	}
	if err := l.appendRow(doc); err != nil {
		return err
	}
	l.lastTo = l.a.size()
	return nil
}

// replayDelta appends the last commit's rows of every delta-updates binding again.
func (t *session) replayDelta(s *state) error {
	for _, b := range t.bindings {
		if !b.delta || s.table(b.table).delta == nil {
			continue
		}
		var l = s.table(b.table).delta
		var rows []json.RawMessage
		if _, err := l.eachRow(l.lastFrom, l.lastTo, math.MaxInt, func(doc []byte) bool {
			rows = append(rows, append(json.RawMessage(nil), doc...))
			return true
		}); err != nil {
			return err
		}
		l.lastFrom = l.a.size()
		for _, doc := range rows {
			if err := l.appendRow(doc); err != nil {
				return err
			}
		}
		l.lastTo = l.a.size()
	}
	return nil
}

// deltaBatch is how many bytes of rows DeltaRows reads under the store's lock at a
// time.
const deltaBatch = 1 << 20

// DeltaRows calls fn with every row of the delta-updates table named table in the
// store that config (the endpoint config: {state_dir: DIR} or the Driver's memory)
// selects. It is how flowsim verifies what the reference connector stored. fn is
// called without the store's lock, with rows read a batch at a time.
func (d *Driver) DeltaRows(config json.RawMessage, table string, fn func(doc []byte) error) error {
	var cfg, err = parseConfig(config)
	if err != nil {
		return err
	}
	st, err := d.storeFor(cfg)
	if err != nil {
		return err
	}
	var buf []byte
	var ends []int
	for from, done := int64(0), false; !done; {
		buf, ends = buf[:0], ends[:0]
		if err := st.read(func(s *state) error {
			var tbl, ok = s.Tables[table]
			if !ok {
				return fmt.Errorf("no table %q", table)
			}
			if tbl.delta == nil {
				done = true
				return nil
			}
			var end = tbl.delta.a.size()
			if from > end {
				return fmt.Errorf("table %q changed while its rows were read", table)
			}
			var next, err = tbl.delta.eachRow(from, end, deltaBatch, func(doc []byte) bool {
				buf = append(buf, doc...)
				ends = append(ends, len(buf))
				return true
			})
			from, done = next, next >= end
			return err
		}); err != nil {
			return err
		}
		var start int
		for _, end := range ends {
			if err := fn(buf[start:end]); err != nil {
				return err
			}
			start = end
		}
	}
	return nil
}
