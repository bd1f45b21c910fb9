package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"
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
// come from the source, so the oracle costs ~12.5 bytes a key (revision, hash, 4 bits).
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
	sent bitset
	// pending marks keys whose store was sent and is neither committed nor aborted:
	// sum then holds the hash of that store's document (revision rev+1), not of
	// the committed one.
	pending bitset
	// unmatched holds Loaded documents of this transaction whose key is in a known
	// family but matches none of its keys exactly; judged by judgeMissing.
	unmatched [][]byte
	// suspects are unrequested or repeated documents of keys with twins, judged by
	// judgeMissing (final is set while it does).
	suspects []suspect
	final    bool
	// alt, when set, also accepts key i at revision rev[i]+1 where its bit is set —
	// the state of a transaction that an at-least-once connector may have partly
	// applied.
	alt bitset
}

func newOracle(src source) *oracle { return &oracle{src: src} }

// allocate returns n fresh key indices (never stored).
func (o *oracle) allocate(n int) keyRange {
	var first = uint64(len(o.rev))
	// Grown in place: appending a temporary slice of n would cost another 12 bytes
	// a key while the loop runs.
	o.rev = slices.Grow(o.rev, n)[:len(o.rev)+n]
	o.sum = slices.Grow(o.sum, n)[:len(o.sum)+n]
	clear(o.rev[first:])
	clear(o.sum[first:])
	o.requested.grow(uint64(len(o.rev)))
	o.got.grow(uint64(len(o.rev)))
	o.sent.grow(uint64(len(o.rev)))
	o.pending.grow(uint64(len(o.rev)))
	return keyRange{first, uint64(n)}
}

// stored is the keys stored by committed or committing transactions, as they are
// now: a bit a key, or nothing when every allocated key is stored.
func (o *oracle) stored() rankedKeys { return bitsKeys(o.sent, uint64(len(o.rev))) }

// keysNotIn returns the keys of ks that are not stored now (e.g. of an aborted
// transaction, so that a read back also proves them absent), in ascending order.
func (o *oracle) keysNotIn(ks keySeq) rankedKeys {
	var b = make(bitset, (len(o.rev)+63)/64)
	for i := range keysOf(ks) {
		if !o.sent.get(i) {
			b.set(i)
		}
	}
	return bitsKeys(b, uint64(len(o.rev)))
}

// committedSum is the hash of key i's committed document (0: unknown).
func (o *oracle) committedSum(i uint64) uint64 {
	if o.pending.get(i) {
		return 0
	}
	return o.sum[i]
}

// memBytes is the memory the oracle holds between transactions.
func (o *oracle) memBytes() int {
	return cap(o.rev)*4 + cap(o.sum)*8 + cap(o.requested)*8 + cap(o.got)*8 + cap(o.sent)*8 + cap(o.pending)*8
}

// beginLoads marks the keys requested by this transaction.
func (o *oracle) beginLoads(keys keySeq) {
	clear(o.requested)
	clear(o.got)
	o.unmatched, o.suspects = nil, nil
	for i := range keysOf(keys) {
		o.requested.set(i)
	}
}

// judgeLoaded checks one Loaded document of the current transaction.
func (o *oracle) judgeLoaded(doc []byte, fs *findings) bool {
	var i, err = o.src.identify(doc)
	if err != nil {
		// A key that is not exactly one matsim made (e.g. its string corrupted) is
		// judged at the end of the transaction as a requested key of its family that
		// nothing else answered, so that the difference is shown.
		if _, _, ok := o.src.family(doc); ok {
			o.unmatched = append(o.unmatched, append([]byte(nil), doc...))
			return false
		}
	}
	return o.judgeDoc(doc, i, err, fs)
}

type suspect struct {
	i   uint64
	doc []byte
}

// judgeSuspects decides, once every Loaded of a transaction arrived, whether an
// unrequested or repeated document of a key with twins answered a twin's Load.
func (o *oracle) judgeSuspects(fs *findings) {
	var list = o.suspects
	o.suspects = nil
	o.final = true
	defer func() { o.final = false }()
	for _, s := range list {
		if j, ok := o.mergedTwin(s.i); ok {
			o.got.set(j)
			fs.add(CheckLoadMerged, o.src.keyString(j)+" ≡ "+o.src.keyString(s.i), fmt.Sprintf(
				"a Load of key %s returned the document of key %s: the connector keeps these two distinct keys as one row (%s)",
				o.src.keyString(j), o.src.keyString(s.i), twinReason(o.src, j, s.i)))
			continue
		}
		o.judgeDoc(s.doc, s.i, nil, fs)
	}
}

// judgeUnmatched judges the documents whose key matched no generated key exactly.
func (o *oracle) judgeUnmatched(fs *findings) {
	var docs = o.unmatched
	o.unmatched = nil
	for _, doc := range docs {
		var i, err = o.src.identify(doc)
		if first, n, ok := o.src.family(doc); ok {
			for j := first; j < first+n && j < uint64(len(o.rev)); j++ {
				if o.requested.get(j) && !o.got.get(j) {
					i, err = j, nil
					break
				}
			}
		}
		o.judgeDoc(doc, i, err, fs)
	}
}

// judgeDoc judges a Loaded document as the document of key i (err: unidentified).
func (o *oracle) judgeDoc(doc []byte, i uint64, err error, fs *findings) bool {
	if err != nil {
		if !isJSON(doc) {
			fs.add(CheckLoadUndecodable, "", fmt.Sprintf("a Loaded document is not valid JSON: %s", clip(string(doc), 160)))
		} else {
			fs.add(CheckLoadUnrequested, "", fmt.Sprintf("a Loaded document matches no requested key (%v): %s", err, clip(string(doc), 160)))
		}
		return false
	}
	if i < uint64(len(o.rev)) && (!o.requested.get(i) || o.got.get(i)) && !o.final {
		if _, n := o.src.twins(i); n > 1 {
			// Decided at the end of the transaction: a twin that nothing else
			// answered means the connector merged the two keys.
			o.suspects = append(o.suspects, suspect{i, append([]byte(nil), doc...)})
			return false
		}
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
	if o.alt != nil && o.alt.get(i) && o.src.equal(doc, i, rev+1) == "" {
		return true
	}
	if rev == 0 {
		fs.add(CheckLoadPhantom, o.src.keyString(i), fmt.Sprintf("a document was returned for a key that was never committed (it must be omitted): %s "+
			"(if the resource holds documents of an earlier run with the same --seed, use a fresh resource or another seed)", clip(string(doc), 160)))
		return false
	}
	if sum := o.committedSum(i); sum != 0 && docHash(doc) == sum {
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

// judgeMissing reports requested, committed keys that no Loaded returned, in
// ascending order.
func (o *oracle) judgeMissing(fs *findings) {
	o.judgeUnmatched(fs)
	o.judgeSuspects(fs)
	for w, req := range o.requested {
		for m := req &^ o.got[w]; m != 0; m &= m - 1 {
			var i = uint64(w)*64 + uint64(bits.TrailingZeros64(m))
			if o.rev[i] == 0 {
				continue
			}
			fs.add(CheckLoadMissing, o.src.keyString(i), fmt.Sprintf("a committed document (revision %d) was requested and not returned", o.rev[i]))
		}
	}
}

func isJSON(b []byte) bool {
	var _, err = decodeJSON(bytes.TrimSpace(b))
	return err == nil
}

// txnStores are the stores of one transaction. Each was sent at the revision after
// the committed one, and the hash of its document is in sum, pending until the
// transaction commits or aborts; so nothing per document is held here.
type txnStores struct {
	keys keySeq
}

// sendStore records that key i is stored at revision rev[i]+1 with a document of
// hash sum.
func (o *oracle) sendStore(i uint64, sum uint64) {
	o.sent.set(i)
	o.pending.set(i)
	o.sum[i] = sum
}

// commit applies a transaction's stores to the expected state (once: keys whose
// stores are no longer pending are left as they are).
func (o *oracle) commit(t *txnStores) {
	for i := range keysOf(t.keys) {
		if o.pending.get(i) {
			o.pending.clear(i)
			o.rev[i]++
		}
	}
}

var hashSeed = maphash.MakeSeed()

// docHash is never 0 (0 means "no hash").
func docHash(doc []byte) uint64 { return maphash.Bytes(hashSeed, doc) | 1 }

// uncommit drops a transaction that the oracle committed but the connector did
// not (a later era's commit that failed, or was lost in a crash, after
// StartedCommit): its keys go back to their previous revision.
func (o *oracle) uncommit(t *txnStores) {
	for i := range keysOf(t.keys) {
		if !o.pending.get(i) && o.rev[i] > 0 {
			o.rev[i]--
			o.pending.set(i)
		}
	}
	o.abort(t)
}

// abort drops a transaction that did not commit.
func (o *oracle) abort(t *txnStores) {
	for i := range keysOf(t.keys) {
		if !o.pending.get(i) {
			continue
		}
		o.pending.clear(i)
		o.sum[i] = 0 // the committed document's hash was replaced: it is regenerated when needed
		o.src.forget(i, o.rev[i])
		if o.rev[i] == 0 {
			o.sent.clear(i)
		}
	}
}

// mergedTwin finds, for a Loaded document of key i that was not requested or was
// already returned, a twin of i (same family) that was requested and not returned:
// the connector answered the twin's Load with i's row.
func (o *oracle) mergedTwin(i uint64) (uint64, bool) {
	var first, n = o.src.twins(i)
	var best, found = uint64(0), false
	for j := first; j < first+n && j < uint64(len(o.rev)); j++ {
		if j == i || !o.requested.get(j) || o.got.get(j) || o.rev[j] == 0 {
			continue // only a committed twin that went unanswered shows a merge: an uncommitted one is rightly absent
		}
		// Prefer a twin whose name collides with i's under a common collation: it is
		// the one the connector most likely merged.
		if !found || collides(o.src, i, j) && !collides(o.src, i, best) {
			best, found = j, true
		}
	}
	return best, found
}

// collides reports whether the keys of a and b differ only by case, trailing spaces
// or Unicode normalisation or width.
func collides(src source, a, b uint64) bool {
	var r = twinReason(src, a, b)
	return strings.Contains(r, "; they differ only by")
}

// twinReason says how the keys of indices a and b differ, for messages.
func twinReason(src source, a, b uint64) string {
	var ka, kb []interface{}
	if json.Unmarshal([]byte(src.keyString(a)), &ka) != nil || json.Unmarshal([]byte(src.keyString(b)), &kb) != nil || len(ka) != len(kb) {
		return "they differ"
	}
	var diff []int
	for k := range ka {
		if fmt.Sprint(ka[k]) != fmt.Sprint(kb[k]) {
			diff = append(diff, k)
		}
	}
	if len(diff) != 1 {
		return "they differ in several key components"
	}
	var k = diff[0]
	var sa, oka = ka[k].(string)
	var sb, okb = kb[k].(string)
	var how = "only in key component " + strconv.Itoa(k+1)
	if k > 0 {
		how += "; keying rows on the first component only merges them"
	}
	if oka && okb {
		switch {
		case strings.EqualFold(sa, sb) || strings.ToLower(sa) == strings.ToLower(sb):
			how += "; they differ only by letter case (a case-insensitive collation merges them)"
		case strings.TrimRight(sa, " ") == strings.TrimRight(sb, " "):
			how += "; they differ only by trailing spaces (a PAD SPACE collation or trimming merges them)"
		case norm.NFKC.String(sa) == norm.NFKC.String(sb):
			how += "; they differ only by Unicode normalisation or width (NFC/NFD, full-width letters)"
		}
	}
	return "they differ " + how
}
