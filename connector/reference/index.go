package reference

import (
	"fmt"
	"hash/maphash"
)

// index maps keys to the offsets of their records, by open addressing with linear
// probing over two parallel arrays of 12 bytes a slot (no pointers, so the garbage
// collector never scans it): the top 56 bits of the key's hash and the record's
// offset. The hash bits grow the table without reading a key back; a lookup
// compares keys only when 56 bits of hash match.
type index struct {
	seed  maphash.Seed
	hi    []uint32 // bits 32–63 of the hash
	lo    []uint64 // offset+1 in the low offBits (0: empty); bits 8–31 of the hash above
	n     int
	shift uint // 64 − log2(len(hi)): a hash's home slot is its top bits
}

const (
	offBits = 40
	offMask = 1<<offBits - 1
	// maxArena is the largest arena an index can address.
	maxArena = offMask - 1
	// minSlots is the size of a new index.
	minSlots = 64
)

func newIndex() index { return index{seed: maphash.MakeSeed()} }

func (x *index) hash(key []byte) uint64 { return maphash.Bytes(x.seed, key) }

// tags are what a slot holds of a hash.
func tags(h uint64) (uint32, uint64) { return uint32(h >> 32), (h >> 8 & 0xffffff) << offBits }

// home is the first slot probed for h.
func (x *index) home(h uint64) int { return int(h >> x.shift) }

func (x *index) next(i int) int { return (i + 1) & (len(x.lo) - 1) }

// probe returns whether slot i is empty, and else whether its hash bits are h's and
// the offset it holds.
func (x *index) probe(i int, hi uint32, lo uint64) (empty, same bool, off int64) {
	var l = x.lo[i]
	if l == 0 {
		return true, false, 0
	}
	return false, x.hi[i] == hi && l&^offMask == lo, int64(l&offMask) - 1
}

// set makes slot i hold h's bits and off.
func (x *index) set(i int, hi uint32, lo uint64, off int64) error {
	if off > maxArena {
		return fmt.Errorf("the store is larger than %d bytes", int64(maxArena))
	}
	if x.lo[i] == 0 {
		x.n++
	}
	x.hi[i], x.lo[i] = hi, lo|uint64(off+1)
	return nil
}

// reserve makes room for one more key (at most 3/4 of the slots are used), moving
// every slot when the table doubles. It must be called before probing for a slot
// to fill.
func (x *index) reserve() {
	if len(x.lo) != 0 && 4*(x.n+1) <= 3*len(x.lo) {
		return
	}
	var size = max(minSlots, 2*len(x.lo))
	var old = *x
	x.hi, x.lo = make([]uint32, size), make([]uint64, size)
	x.shift = 64 - uint(log2(size))
	for i, l := range old.lo {
		if l == 0 {
			continue
		}
		var h = uint64(old.hi[i])<<32 | (l>>offBits)<<8
		var j = x.home(h)
		for x.lo[j] != 0 {
			j = x.next(j)
		}
		x.hi[j], x.lo[j] = old.hi[i], l
	}
}

// bytes is the memory the index holds.
func (x *index) bytes() int64 { return int64(len(x.hi))*4 + int64(len(x.lo))*8 }

func log2(n int) int {
	var k int
	for 1<<k < n {
		k++
	}
	return k
}
