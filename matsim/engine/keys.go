package engine

import (
	"iter"
	"math/bits"
	"sort"
)

// keySeq is the distinct key indices a transaction loads or stores, in the order they
// are sent. It is a recipe rather than a list, so that a transaction of any size
// costs the driver no memory per document: keys are produced batch by batch, as often
// as they are needed, and are the same every time.
type keySeq interface {
	// count is the number of keys.
	count() int
	// iter returns an iterator from the first key.
	iter() keyIter
}

// keyIter yields the keys of a keySeq in order.
type keyIter interface {
	// next returns the next key; it is called at most count() times.
	next() uint64
}

// keyCount is the number of keys of ks (nil: none).
func keyCount(ks keySeq) int {
	if ks == nil {
		return 0
	}
	return ks.count()
}

// keysOf ranges over the keys of ks (nil: none).
func keysOf(ks keySeq) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		if ks == nil {
			return
		}
		var it = ks.iter()
		for n := ks.count(); n > 0; n-- {
			if !yield(it.next()) {
				return
			}
		}
	}
}

// nextKeys appends the next n keys of it to dst.
func nextKeys(dst []uint64, it keyIter, n int) []uint64 {
	for ; n > 0; n-- {
		dst = append(dst, it.next())
	}
	return dst
}

// rankedKeys is a keySeq in ascending order whose r-th key can be found directly.
type rankedKeys interface {
	keySeq
	nth(r int) uint64
}

// ---------------------------------------------------------------------------

// keyRange is the indices [first, first+n).
type keyRange struct{ first, n uint64 }

func (k keyRange) count() int       { return int(k.n) }
func (k keyRange) iter() keyIter    { return &rangeIter{k.first} }
func (k keyRange) nth(r int) uint64 { return k.first + uint64(r) }
func (it *rangeIter) next() uint64  { it.at++; return it.at - 1 }
func (k keyPrefix) count() int      { return k.n }
func (k keyPrefix) iter() keyIter   { return k.of.iter() }
func (k keyList) count() int        { return len(k) }
func (k keyList) iter() keyIter     { return &listIter{k} }
func (it *listIter) next() uint64   { var i = it.rest[0]; it.rest = it.rest[1:]; return i }
func (k *keyBits) count() int       { return k.n }
func (k *keyBits) iter() keyIter    { return &bitsIter{words: k.bits} }
func (c keyCat) iter() keyIter      { return &catIter{parts: c} }
func (c *chosenKeys) count() int    { return c.n }
func (c *chosenKeys) iter() keyIter { return &chosenIter{c: c, at: c.at, rng: c.rng} }
func (it *chosenIter) next() uint64 { return it.c.key(it) }

type rangeIter struct{ at uint64 }

// keyPrefix is the first n keys of another sequence.
type keyPrefix struct {
	of keySeq
	n  int
}

// keyList is an explicit list (for small sets and tests).
type keyList []uint64

type listIter struct{ rest []uint64 }

// ---------------------------------------------------------------------------

// keyCat is sequences one after the other.
type keyCat []keySeq

// catKeys concatenates sequences (nil and empty ones are dropped).
func catKeys(parts ...keySeq) keySeq {
	var c keyCat
	for _, p := range parts {
		if keyCount(p) > 0 {
			c = append(c, p)
		}
	}
	return c
}

func (c keyCat) count() int {
	var n int
	for _, p := range c {
		n += p.count()
	}
	return n
}

type catIter struct {
	parts keyCat
	cur   keyIter
	left  int
}

func (it *catIter) next() uint64 {
	for it.left == 0 {
		it.cur, it.left = it.parts[0].iter(), it.parts[0].count()
		it.parts = it.parts[1:]
	}
	it.left--
	return it.cur.next()
}

// ---------------------------------------------------------------------------

// keyBits is a set of keys held as a bitset (a bit a key index, whatever the size
// of the set), in ascending order.
type keyBits struct {
	bits bitset
	n    int
	// rank[b] counts the keys below index b*rankBlock*64, for nth.
	rank []uint32
}

const rankBlock = 8 // words a rank entry covers

// bitsKeys returns the set bits of b below limit as a rankedKeys: a copy of the
// bitset, or a keyRange when they are all set (as when every allocated key is
// stored).
func bitsKeys(b bitset, limit uint64) rankedKeys {
	var words = (limit + 63) / 64
	var own = make(bitset, words)
	copy(own, b)
	if limit%64 != 0 && words > 0 {
		own[words-1] &= 1<<(limit%64) - 1
	}
	var n int
	for _, w := range own {
		n += bits.OnesCount64(w)
	}
	if uint64(n) == limit {
		return keyRange{0, limit}
	}
	// The ranks are built now: a keyBits is never changed, so that goroutines may
	// iterate it at once.
	var k = &keyBits{bits: own, n: n}
	var c uint32
	for w := range own {
		if w%rankBlock == 0 {
			k.rank = append(k.rank, c)
		}
		c += uint32(bits.OnesCount64(own[w]))
	}
	return k
}

type bitsIter struct {
	words bitset
	base  uint64
	w     uint64
}

func (it *bitsIter) next() uint64 {
	for it.w == 0 {
		it.w = it.words[0]
		it.words = it.words[1:]
		it.base += 64
	}
	var t = bits.TrailingZeros64(it.w)
	it.w &= it.w - 1
	return it.base - 64 + uint64(t)
}

// nth returns the r-th key (from 0) in ascending order.
func (k *keyBits) nth(r int) uint64 {
	// The last block whose rank is ≤ r.
	var b = sort.Search(len(k.rank), func(b int) bool { return int(k.rank[b]) > r }) - 1
	r -= int(k.rank[b])
	for w := b * rankBlock; ; w++ {
		var c = bits.OnesCount64(k.bits[w])
		if r < c {
			return uint64(w)*64 + uint64(select64(k.bits[w], r))
		}
		r -= c
	}
}

// select64 is the position of the r-th set bit of w (r < OnesCount64(w)).
func select64(w uint64, r int) int {
	var base = 0
	for width := 32; width >= 8; width /= 2 {
		var lo = w & (1<<width - 1)
		if c := bits.OnesCount64(lo); r >= c {
			r -= c
			w >>= width
			base += width
		} else {
			w = lo
		}
	}
	for ; r > 0; r-- {
		w &= w - 1
	}
	return base + bits.TrailingZeros64(w)
}

// ---------------------------------------------------------------------------

// chosenKeys are the keys of a loop (see runner.chooseKeys): `existing` keys of the
// stored set taken by a walk with a stride coprime to its size, interleaved at
// random with the fresh keys.
type chosenKeys struct {
	n, existing int
	stored      rankedKeys // the stored keys when the loop was chosen
	at, stride  int
	fresh       keyRange
	rng         rng // the generator when the interleaving began
}

type chosenIter struct {
	c    *chosenKeys
	e, f int
	at   int
	rng  rng
}

// step decides whether the next key is an existing one, and counts it.
func (it *chosenIter) step() bool {
	var c = it.c
	if it.e < c.existing && (uint64(it.f) == c.fresh.n || it.rng.intn(c.n) < c.existing) {
		it.e++
		return true
	}
	it.f++
	return false
}

func (c *chosenKeys) key(it *chosenIter) uint64 {
	if it.step() {
		var i = c.stored.nth(it.at)
		it.at = (it.at + c.stride) % c.stored.count()
		return i
	}
	return c.fresh.first + uint64(it.f-1)
}
