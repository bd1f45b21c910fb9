package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// docTable holds the rows of a standard table: the latest document of each key in
// an arena, found through an index (about 12–32 bytes a key in memory, plus the
// arena's chunks that its budget keeps in memory). A revision that fits the room of
// the one it replaces is written over it; one that does not is appended and the old
// record becomes garbage, which compaction reclaims once it outweighs the live
// records. Records are the bytes stored, copied in and out: nothing is regenerated.
type docTable struct {
	a             *arena
	idx           index
	live, garbage int64 // bytes of records
	// extra holds the earlier rows of a key that has more than one (only the
	// exists-ignored defect inserts a second row).
	extra   map[string][]json.RawMessage
	scratch []byte
}

func newDocTable(b *budget) *docTable { return &docTable{a: newArena(b), idx: newIndex()} }

// compactMin is the garbage below which a table is never compacted.
const compactMin = 4 * chunkSize

// find returns the slot of key (or, if absent, the empty slot where it goes) and
// its record (views valid until the next write).
func (d *docTable) find(key []byte, h uint64) (slot int, off int64, rec docRecord, found bool, err error) {
	if len(d.idx.lo) == 0 {
		return -1, 0, docRecord{}, false, nil
	}
	var hi, lo = tags(h)
	for i := d.idx.home(h); ; i = d.idx.next(i) {
		var empty, same, off = d.idx.probe(i, hi, lo)
		if empty {
			return i, 0, docRecord{}, false, nil
		}
		if !same {
			continue
		}
		var r, err = d.a.docRecordAt(off, &d.scratch)
		if err != nil {
			return 0, 0, docRecord{}, false, err
		}
		if bytes.Equal(r.key, key) {
			return i, off, r, true, nil
		}
	}
}

// appendLatest appends the latest document of key to dst.
func (d *docTable) appendLatest(dst, key []byte) ([]byte, bool, error) {
	if d == nil {
		return dst, false, nil
	}
	var _, _, r, found, err = d.find(key, d.idx.hash(key))
	if !found || err != nil {
		return dst, false, err
	}
	return append(dst, r.doc...), true, nil
}

// rows returns copies of every row of key, oldest first.
func (d *docTable) rows(key []byte) ([]json.RawMessage, error) {
	var latest, found, err = d.appendLatest(nil, key)
	if !found || err != nil {
		return nil, err
	}
	var out = append([]json.RawMessage(nil), d.extra[string(key)]...)
	return append(out, latest), nil
}

// put makes doc the only row of key; with insert, it adds doc as a further row.
func (d *docTable) put(key, doc []byte, insert bool) error {
	d.idx.reserve()
	var h = d.idx.hash(key)
	var slot, off, r, found, err = d.find(key, h)
	if err != nil {
		return err
	}
	var hi, lo = tags(h)
	if found {
		if insert {
			if d.extra == nil {
				d.extra = map[string][]json.RawMessage{}
			}
			d.extra[string(key)] = append(d.extra[string(key)], append(json.RawMessage(nil), r.doc...))
		} else if d.extra != nil {
			delete(d.extra, string(key))
		}
		if len(doc) <= r.capacity {
			return d.a.rewriteDoc(off, r, doc)
		}
		d.garbage += int64(r.size())
		d.live -= int64(r.size())
	}
	newOff, n, err := d.a.appendDocRecord(key, doc)
	if err != nil {
		return err
	}
	d.live += int64(n)
	return d.idx.set(slot, hi, lo, newOff)
}

// slotOf returns the slot that points at the record at off, holding key, or -1.
func (d *docTable) slotOf(key []byte, off int64) int {
	var h = d.idx.hash(key)
	var hi, lo = tags(h)
	for i := d.idx.home(h); ; i = d.idx.next(i) {
		var empty, same, o = d.idx.probe(i, hi, lo)
		if empty {
			return -1
		}
		if same && o == off {
			return i
		}
	}
}

// each calls fn with every key and its latest row (views valid during the call),
// in the order they were first stored, until fn returns false.
func (d *docTable) each(fn func(key, doc []byte) bool) error {
	if d == nil {
		return nil
	}
	var s, end = d.a.scan(0), d.a.size()
	for {
		var off, rec, err = s.next(end)
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		keyLen, _, docLen, hdr, err := parseDocHeader(rec)
		if err != nil {
			return err
		}
		var key = rec[hdr : hdr+keyLen]
		if d.slotOf(key, off) < 0 {
			continue // garbage
		}
		if !fn(key, rec[hdr+keyLen:hdr+keyLen+docLen]) {
			return nil
		}
	}
}

// maybeCompact copies the live records to a new arena once the garbage outweighs
// them, so that the arena is at most about twice the live records.
func (d *docTable) maybeCompact() error {
	if d == nil || d.garbage < compactMin || d.garbage < d.live {
		return nil
	}
	var na = newArena(d.a.b)
	var s, end = d.a.scan(0), d.a.size()
	for {
		var off, rec, err = s.next(end)
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			na.release()
			return err
		}
		keyLen, _, _, hdr, err := parseDocHeader(rec)
		if err != nil {
			na.release()
			return err
		}
		var slot = d.slotOf(rec[hdr:hdr+keyLen], off)
		if slot < 0 {
			continue
		}
		var to = na.alloc(len(rec))
		if err := na.rw(rec, to, true); err != nil {
			na.release()
			return err
		}
		var hi, lo = d.idx.hi[slot], d.idx.lo[slot] &^ offMask
		if err := d.idx.set(slot, hi, lo, to); err != nil {
			na.release()
			return err
		}
	}
	d.a.release()
	d.a, d.garbage = na, 0
	return nil
}

func (d *docTable) release() {
	if d != nil {
		d.a.release()
	}
}

// memory is what the table holds in memory, beyond the arena's chunks.
func (d *docTable) memory() int64 {
	if d == nil {
		return 0
	}
	return d.idx.bytes()
}

// rowLog holds the rows of a delta-updates table, appended in order.
type rowLog struct {
	a *arena
	// [lastFrom, lastTo) are the rows of the last commit (for delta-replay-on-open).
	lastFrom, lastTo int64
}

func newRowLog(b *budget) *rowLog { return &rowLog{a: newArena(b)} }

func (l *rowLog) appendRow(doc []byte) error { return l.a.appendRow(doc) }

// eachRow calls fn with the rows from offset from (views valid during the call)
// until end, fn returns false, or limit bytes of rows were passed; it returns where
// to continue.
func (l *rowLog) eachRow(from, end int64, limit int, fn func(doc []byte) bool) (int64, error) {
	if l == nil {
		return from, nil
	}
	var s = l.a.scan(from)
	for passed := 0; passed < limit; {
		var _, rec, err = s.next(end)
		if errors.Is(err, io.EOF) {
			return end, nil
		} else if err != nil {
			return s.off, err
		}
		if rec[0] != recRow {
			return s.off, errBadRecord
		}
		var doc = parseRow(rec)
		passed += len(doc)
		if !fn(doc) {
			break
		}
	}
	return s.off, nil
}

func (l *rowLog) release() {
	if l != nil {
		l.a.release()
	}
}
