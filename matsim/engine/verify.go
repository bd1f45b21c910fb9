package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Verifier reads back the rows a delta-updates binding holds, so that delta (and
// recovery on a delta binding) can compare them with what was committed. The
// protocol has no Load for delta bindings: without a verifier nothing the connector
// stored is checked. Package matsim/verifier has a command and a PostgreSQL one.
type Verifier interface {
	// Rows calls fn with every row of the binding at resourcePath, as a JSON
	// document, in any order. doc is only valid during the call. An error from fn
	// ends Rows and is returned.
	Rows(ctx context.Context, resourcePath []string, fn func(doc []byte) error) error
	// String describes the verifier for reports, without secrets.
	String() string
}

// VerifierFunc adapts a function to a Verifier.
type VerifierFunc struct {
	Name string
	Fn   func(ctx context.Context, resourcePath []string, fn func(doc []byte) error) error
}

// Rows implements Verifier.
func (v VerifierFunc) Rows(ctx context.Context, resourcePath []string, fn func(doc []byte) error) error {
	return v.Fn(ctx, resourcePath, fn)
}

func (v VerifierFunc) String() string { return v.Name }

// rowRef is one committed document: revision rev of key index i.
type rowRef struct {
	i   uint64
	rev uint32
}

// deltaTally compares the rows read back from a delta binding with the committed
// documents as a multiset. What was committed is the oracle's: every revision
// 1..rev[i] of key i was stored by exactly one committed transaction, and each is
// regenerated from the seed when a row needs it. The tally keeps a bitmask of the
// revisions seen and a count of unmatched rows per key (9 bytes a key), never the
// documents, so its memory is bounded by the oracle's and not by the rows.
type deltaTally struct {
	o   *oracle
	src source
	fs  *findings
	// seen has bit rev-1 set when revision rev of key i was read back; seenHi holds
	// revisions above 64.
	seen   []uint64
	seenHi map[rowRef]bool
	// changed counts (saturating) rows of key i that match none of its revisions.
	changed []uint8
	// twice are documents that may be read back twice: an at-least-once connector's
	// transaction replayed after a crash. The value counts the rows seen.
	twice map[rowRef]int
	// dups counts the rows of the first duplicated documents, for the report.
	dups     map[rowRef]int
	dupOrder []rowRef
	dupRows  int
	rows     int64
	matched  int64
	buf      []byte
}

func newDeltaTally(o *oracle, phase, binding string) *deltaTally {
	return &deltaTally{
		o: o, src: o.src, fs: newFindings(phase, binding),
		seen: make([]uint64, len(o.rev)), changed: make([]uint8, len(o.rev)),
		seenHi: map[rowRef]bool{}, dups: map[rowRef]int{},
	}
}

func (d *deltaTally) isSeen(k rowRef) bool {
	if k.rev > 64 {
		return d.seenHi[k]
	}
	return d.seen[k.i]&(1<<(k.rev-1)) != 0
}

func (d *deltaTally) markSeen(k rowRef) {
	if k.rev > 64 {
		d.seenHi[k] = true
		return
	}
	d.seen[k.i] |= 1 << (k.rev - 1)
}

// matches reports whether doc is revision rev of key i: byte for byte (the usual
// case, checked first through the oracle's hash for the last revision), or
// semantically when semantic is set.
func (d *deltaTally) matches(doc []byte, hash uint64, i uint64, rev uint32, semantic bool) bool {
	if sum := d.o.committedSum(i); rev == d.o.rev[i] && sum != 0 && !semantic {
		return hash == sum
	}
	if semantic {
		return d.src.equal(doc, i, rev) == ""
	}
	d.buf = d.src.appendJSON(d.buf[:0], i, rev)
	return bytes.Equal(d.buf, doc)
}

// row judges one row read back.
func (d *deltaTally) row(doc []byte) {
	d.rows++
	doc = bytes.TrimSpace(doc)
	var i, err = d.src.identify(doc)
	if err != nil {
		if !isJSON(doc) {
			d.fs.add(CheckDeltaExtra, "", fmt.Sprintf("a row is not a JSON document: %s", clip(string(doc), 160)))
		} else {
			d.fs.add(CheckDeltaExtra, "", fmt.Sprintf("a row matches no document matsim committed (%v): %s "+
				"(if the table holds rows of an earlier run, use a fresh table)", err, clip(string(doc), 160)))
		}
		return
	}
	if i >= uint64(len(d.o.rev)) {
		d.fs.add(CheckDeltaExtra, d.src.keyString(i), "a row for a key that no transaction of this run stored (if the table holds rows of an earlier run with the same --seed, use a fresh table or another seed)")
		return
	}
	var n = d.o.rev[i]
	var hash = docHash(doc)
	var dupOf uint32
	for _, semantic := range []bool{false, true} {
		for rev := n; rev >= 1; rev-- {
			if !d.matches(doc, hash, i, rev, semantic) {
				continue
			}
			var k = rowRef{i, rev}
			if !d.isSeen(k) {
				d.markSeen(k)
				d.matched++
				return
			}
			if dupOf == 0 {
				dupOf = rev
			}
		}
		if dupOf != 0 {
			break
		}
	}
	if dupOf != 0 {
		d.duplicate(rowRef{i, dupOf})
		return
	}
	// A document of a transaction that did not commit is the next revision.
	if d.src.equal(doc, i, n+1) == "" {
		d.fs.add(CheckDeltaExtra, d.src.keyString(i), fmt.Sprintf("a row holds revision %d of the key, stored by a transaction that did not commit (aborted, crashed or fenced); %d revision(s) were committed", n+1, n))
		return
	}
	if n == 0 {
		d.fs.add(CheckDeltaExtra, d.src.keyString(i), fmt.Sprintf("a row for a key that no committed transaction stored: %s", clip(string(doc), 160)))
		return
	}
	if d.changed[i] < 255 {
		d.changed[i]++
	}
	// The closest revision: the first not yet read back, else the last.
	var want = n
	for rev := uint32(1); rev <= n; rev++ {
		if !d.isSeen(rowRef{i, rev}) {
			want = rev
			break
		}
	}
	d.fs.add(CheckDeltaValue, d.src.keyString(i), fmt.Sprintf("a row matches none of the key's %d committed revision(s); against revision %d: %s", n, want, d.src.equal(doc, i, want)))
}

func (d *deltaTally) duplicate(k rowRef) {
	if c, ok := d.twice[k]; ok {
		d.twice[k] = c + 1
		if c+1 <= 2 {
			return // replayed by the runtime: at-least-once
		}
	}
	d.dupRows++
	if _, ok := d.dups[k]; !ok && len(d.dupOrder) < maxKeysShown {
		d.dupOrder = append(d.dupOrder, k)
		d.dups[k] = 1
	}
	if _, ok := d.dups[k]; ok {
		d.dups[k]++
	}
}

// finish reports duplicates and the committed documents that were not read back,
// and returns the failures, most severe first.
func (d *deltaTally) finish() []*Failure {
	if d.dupRows > 0 {
		var f = &Failure{Check: CheckDeltaDuplicate, Phase: d.fs.phase, Binding: d.fs.binding, Count: d.dupRows}
		var shown []string
		for _, k := range d.dupOrder {
			shown = append(shown, fmt.Sprintf("%s revision %d ×%d", d.src.keyString(k.i), k.rev, d.dups[k]))
			f.Keys = append(f.Keys, d.src.keyString(k.i))
		}
		f.Message = fmt.Sprintf("committed documents were read back more than once (a committed transaction written twice, e.g. replayed after a restart): %s", strings.Join(shown, ", "))
		d.fs.byCheck[CheckDeltaDuplicate] = f
		d.fs.order = append(d.fs.order, CheckDeltaDuplicate)
	}
	for i, n := range d.o.rev {
		var missing = 0
		var first uint32
		for rev := uint32(1); rev <= n; rev++ {
			if !d.isSeen(rowRef{uint64(i), rev}) {
				missing++
				if first == 0 {
					first = rev
				}
			}
		}
		// Rows with changed values stand for some of the missing revisions.
		missing -= min(missing, int(d.changed[i]))
		if missing > 0 {
			var key = d.src.keyString(uint64(i))
			d.fs.add(CheckDeltaMissing, key, fmt.Sprintf("a committed document was not read back: revision %d of %d committed revision(s) of key %s", first, n, key))
			d.fs.byCheck[CheckDeltaMissing].Count += missing - 1
		}
	}
	if d.fs.empty() {
		return nil
	}
	return d.fs.list()
}

// verifyDelta reads the binding back through the verifier and compares it with the
// committed documents. Documents of r.deltaTwice may be read back twice. remap,
// when set, reports every finding under that check (recovery.state), naming the
// delta check in the message.
func (r *runner) verifyDelta(ctx context.Context, phase string, remap Check) error {
	var v = r.opts.Verifier
	var tally = newDeltaTally(r.oracle, phase, r.binding)
	tally.twice = make(map[rowRef]int, len(r.deltaTwice))
	for k := range r.deltaTwice {
		tally.twice[k] = 0
	}
	var vctx, cancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	var err = v.Rows(vctx, r.rep.ResourcePath, func(doc []byte) error {
		if len(bytes.TrimSpace(doc)) == 0 {
			return nil
		}
		tally.row(doc)
		return nil
	})
	if err != nil {
		if errors.Is(vctx.Err(), context.DeadlineExceeded) {
			return failf(CheckSetupVerify, phase, "%s did not finish within --call-timeout %s", v, r.opts.CallTimeout)
		}
		return failf(CheckSetupVerify, phase, "reading the destination back with %s: %v", v, err)
	}
	r.rep.verifiedRows += tally.matched
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%s: read back %d row(s) with %s, %d matched", phase, tally.rows, v, tally.matched))
	var list = tally.finish()
	if len(list) == 0 {
		return nil
	}
	if remap != "" {
		for _, f := range list {
			f.Message = fmt.Sprintf("%s (%s)", f.Message, f.Check)
			f.Check = remap
		}
	}
	r.rep.Failures = append(r.rep.Failures, list...)
	return list[0]
}
