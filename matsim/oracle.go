package matsim

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
)

// bitset over key indices.
type bitset []uint64

func (b *bitset) grow(n uint64) {
	for uint64(len(*b))*64 < n {
		*b = append(*b, 0)
	}
}
func (b bitset) get(i uint64) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) set(i uint64)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) clear(i uint64)    { b[i>>6] &^= 1 << (i & 63) }

// oracle is the expected state of the store: for each key index the revision last
// committed (0: never stored). It judges every Loaded document. Documents themselves
// come from the source, so the oracle costs ~4 bytes a key.
type oracle struct {
	src source
	rev []uint32 // committed revision per key index
	// sum is a hash of the canonical JSON of each key's committed document: a Loaded
	// document with the same hash is that document, with no need to regenerate it.
	sum []uint64

	// The transaction being judged.
	requested bitset
	got       bitset
	// sent marks keys whose stores were sent in a transaction that was not aborted:
	// committed, or about to be (its DriverCommitted may be pending).
	sent    bitset
	reqList []uint64
	// alt, when set, also accepts key i at revision alt[i] (0: absent) — the state of
	// a transaction that an at-least-once connector may have partly applied.
	alt map[uint64]uint32
}

func newOracle(src source) *oracle { return &oracle{src: src} }

// allocate returns n fresh key indices (never stored).
func (o *oracle) allocate(n int) []uint64 {
	var first = uint64(len(o.rev))
	var out = make([]uint64, n)
	for k := range out {
		out[k] = first + uint64(k)
	}
	// Grown in place: appending a temporary slice of n would cost another 12 bytes
	// a key while the loop runs.
	o.rev = slices.Grow(o.rev, n)[:len(o.rev)+n]
	o.sum = slices.Grow(o.sum, n)[:len(o.sum)+n]
	clear(o.rev[first:])
	clear(o.sum[first:])
	o.requested.grow(uint64(len(o.rev)))
	o.got.grow(uint64(len(o.rev)))
	o.sent.grow(uint64(len(o.rev)))
	return out
}

// stored lists keys stored by committed or committing transactions.
func (o *oracle) stored() []uint64 {
	var n int
	for _, w := range o.sent {
		n += bits.OnesCount64(w)
	}
	var out = make([]uint64, 0, n) // exact: appending would hold up to twice as much
	for i := range o.rev {
		if o.sent.get(uint64(i)) {
			out = append(out, uint64(i))
		}
	}
	return out
}

// memBytes is the memory the oracle holds between transactions.
func (o *oracle) memBytes() int {
	return cap(o.rev)*4 + cap(o.sum)*8 + cap(o.requested)*8 + cap(o.got)*8 + cap(o.sent)*8
}

// beginLoads marks the keys requested by this transaction.
func (o *oracle) beginLoads(keys []uint64) {
	for _, i := range o.reqList {
		o.requested.clear(i)
		o.got.clear(i)
	}
	o.reqList = keys // not a copy (8 bytes a key): a plan's keys are never changed
	for _, i := range keys {
		o.requested.set(i)
	}
}

// judgeLoaded checks one Loaded document of the current transaction.
func (o *oracle) judgeLoaded(doc []byte, fs *findings) bool {
	var i, err = o.src.identify(doc)
	if err != nil {
		if !isJSON(doc) {
			fs.add(CheckLoadUndecodable, "", fmt.Sprintf("a Loaded document is not valid JSON: %s", clip(string(doc), 160)))
		} else {
			fs.add(CheckLoadUnrequested, "", fmt.Sprintf("a Loaded document matches no requested key (%v): %s", err, clip(string(doc), 160)))
		}
		return false
	}
	if i >= uint64(len(o.rev)) || !o.requested.get(i) {
		fs.add(CheckLoadUnrequested, o.src.keyString(i), "a Loaded document for a key matsim did not request in this transaction")
		return false
	}
	if o.got.get(i) {
		fs.add(CheckLoadDuplicate, o.src.keyString(i), "the same key was returned more than once in one transaction")
		return false
	}
	o.got.set(i)
	var rev = o.rev[i]
	if a, ok := o.alt[i]; ok && a > 0 && o.src.equal(doc, i, a) == "" {
		return true
	}
	if rev == 0 {
		fs.add(CheckLoadPhantom, o.src.keyString(i), fmt.Sprintf("a document was returned for a key that was never committed (it must be omitted): %s "+
			"(if the resource holds documents of an earlier run with the same --seed, use a fresh resource or another seed)", clip(string(doc), 160)))
		return false
	}
	if o.sum[i] != 0 && docHash(doc) == o.sum[i] {
		return true
	}
	if d := o.src.equal(doc, i, rev); d != "" {
		var stale string
		if rev > 1 && o.src.equal(doc, i, rev-1) == "" {
			stale = fmt.Sprintf(" — it is revision %d, the previous one (stale value)", rev-1)
		}
		fs.add(CheckLoadValue, o.src.keyString(i), fmt.Sprintf("the document differs from revision %d, the last committed: %s%s", rev, d, stale))
		return false
	}
	return true
}

// judgeMissing reports requested, committed keys that no Loaded returned.
func (o *oracle) judgeMissing(fs *findings) {
	for _, i := range o.reqList {
		if a, ok := o.alt[i]; ok && a == 0 {
			continue // absence is acceptable too
		}
		if o.rev[i] > 0 && !o.got.get(i) {
			fs.add(CheckLoadMissing, o.src.keyString(i), fmt.Sprintf("a committed document (revision %d) was requested and not returned", o.rev[i]))
		}
	}
}

func isJSON(b []byte) bool {
	var _, err = decodeJSON(bytes.TrimSpace(b))
	return err == nil
}

// txnStores are the stores of one transaction: key indices, their new revisions and
// the hashes of their documents.
type txnStores struct {
	keys []uint64
	revs []uint32
	sums []uint64
}

// commit applies a transaction's stores to the expected state.
func (o *oracle) commit(t *txnStores) {
	for k, i := range t.keys {
		o.rev[i] = t.revs[k]
		o.sum[i] = t.sums[k]
	}
}

var hashSeed = maphash.MakeSeed()

// docHash is never 0 (0 means "no hash").
func docHash(doc []byte) uint64 { return maphash.Bytes(hashSeed, doc) | 1 }

// abort drops a transaction that did not commit.
func (o *oracle) abort(t *txnStores) {
	for k, i := range t.keys {
		o.src.forget(i, t.revs[k]-1)
		if o.rev[i] == 0 {
			o.sent.clear(i)
		}
	}
}
