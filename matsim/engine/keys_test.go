package engine

import (
	"math/bits"
	"slices"
	"testing"
)

// listChosen is how chooseKeys listed a loop's keys before they were regenerated
// on demand: the recipe must give the same keys in the same order, and leave the
// runner's generator where the listing left it.
func listChosen(g *rng, stored []uint64, first uint64, n int) []uint64 {
	var existing = 0
	if len(stored) > 0 {
		existing = min(len(stored), max(1, n/4+g.intn(n/4+1)))
	}
	var fresh = make([]uint64, n-existing)
	for k := range fresh {
		fresh[k] = first + uint64(k)
	}
	var out []uint64
	var m = len(stored)
	var at, stride = 0, 1
	if m > 0 {
		at = g.intn(m)
		stride = 1 + g.intn(m)
		for gcd(stride, m) != 1 {
			stride++
		}
	}
	var e, f = 0, 0
	for e < existing || f < len(fresh) {
		if e < existing && (f == len(fresh) || g.intn(n) < existing) {
			out = append(out, stored[at])
			at = (at + stride) % m
			e++
		} else {
			out = append(out, fresh[f])
			f++
		}
	}
	return out
}

func collect(ks keySeq) []uint64 { return slices.Collect(keysOf(ks)) }

func TestChooseKeysRegenerates(t *testing.T) {
	var src, _ = newSource(func() TestData { return new(Basic) }, 1)
	for _, c := range []struct {
		name  string
		holes bool // some allocated keys never stored (as after an aborted transaction)
	}{{"every key stored", false}, {"stored with holes", true}} {
		t.Run(c.name, func(t *testing.T) {
			var r = &runner{oracle: newOracle(src), rng: newRng(9, 0x5eed)}
			var want = newRng(9, 0x5eed)
			for loop, n := range []int{1, 7, 100, 1000, 3000} {
				var stored = slices.Collect(func(yield func(uint64) bool) {
					for i := range r.oracle.rev {
						if r.oracle.sent.get(uint64(i)) && !yield(uint64(i)) {
							return
						}
					}
				})
				var first = uint64(len(r.oracle.rev))
				var ks = r.chooseKeys(n)
				var got = collect(ks)
				var expect = listChosen(&want, stored, first, n)
				if !slices.Equal(got, expect) {
					t.Fatalf("loop %d: keys differ from the listed ones:\n got %v\nwant %v", loop, clip64(got), clip64(expect))
				}
				if again := collect(ks); !slices.Equal(again, got) {
					t.Fatalf("loop %d: a second iteration gave other keys", loop)
				}
				if r.rng != want {
					t.Fatalf("loop %d: the runner's generator is not where listing the keys left it", loop)
				}
				if loop > 1 && slices.Equal(got, slices.Sorted(slices.Values(got))) {
					t.Fatalf("loop %d: keys in ascending order; the existing ones must come in a random order", loop)
				}
				for _, i := range got {
					if !c.holes || i%3 != 0 {
						r.oracle.sent.set(i)
					}
				}
			}
		})
	}
}

func TestKeyBits(t *testing.T) {
	var g = newRng(3)
	for _, density := range []int{1, 2, 50, 99, 100} {
		var limit = uint64(5000 + g.intn(300))
		var b = make(bitset, (limit+63)/64+1)
		var want []uint64
		for i := uint64(0); i < uint64(len(b))*64; i++ {
			if g.intn(100) < density {
				b.set(i)
				if i < limit {
					want = append(want, i)
				}
			}
		}
		var ks = bitsKeys(b, limit)
		if _, isRange := ks.(keyRange); isRange != (uint64(len(want)) == limit) {
			t.Errorf("density %d%%: a range is used only when every key is set (range: %v)", density, isRange)
		}
		if got := collect(ks); !slices.Equal(got, want) || ks.count() != len(want) {
			t.Fatalf("density %d%%: iterating gives %d keys %v, want %d %v", density, ks.count(), clip64(got), len(want), clip64(want))
		}
		for r, i := range want {
			if got := ks.nth(r); got != i {
				t.Fatalf("density %d%%: nth(%d) = %d, want %d", density, r, got, i)
			}
		}
	}
}

func TestSelect64(t *testing.T) {
	var g = newRng(5)
	for n := 0; n < 2000; n++ {
		var w = g.next() & g.next()
		if n%7 == 0 {
			w = ^uint64(0)
		}
		var pos []int
		for b := 0; b < 64; b++ {
			if w&(1<<b) != 0 {
				pos = append(pos, b)
			}
		}
		for r := 0; r < bits.OnesCount64(w); r++ {
			if got := select64(w, r); got != pos[r] {
				t.Fatalf("select64(%#x, %d) = %d, want %d", w, r, got, pos[r])
			}
		}
	}
}

func TestKeySeqComposition(t *testing.T) {
	var a, b = keyRange{10, 3}, keyList{4, 2}
	var cat = catKeys(nil, a, keyRange{}, b, catKeys(keyRange{0, 1}))
	if got, want := collect(cat), []uint64{10, 11, 12, 4, 2, 0}; !slices.Equal(got, want) || cat.count() != len(want) {
		t.Errorf("catKeys: %v (count %d), want %v", got, cat.count(), want)
	}
	var p = keyPrefix{cat, 4}
	if got, want := collect(p), []uint64{10, 11, 12, 4}; !slices.Equal(got, want) {
		t.Errorf("keyPrefix: %v, want %v", got, want)
	}
	var it = cat.iter()
	if got, want := nextKeys(nextKeys(nil, it, 2), it, 3), []uint64{10, 11, 12, 4, 2}; !slices.Equal(got, want) {
		t.Errorf("nextKeys in batches: %v, want %v", got, want)
	}
	if keyCount(nil) != 0 || len(collect(nil)) != 0 {
		t.Error("a nil keySeq must be empty")
	}
}

// TestOracleStoresPending: a store is pending until its transaction commits
// (once) or aborts; meanwhile the committed document is judged without the new
// document's hash.
func TestOracleStoresPending(t *testing.T) {
	var src, _ = newSource(func() TestData { return new(Basic) }, 1)
	var o = newOracle(src)
	var ks = o.allocate(4)
	var doc = func(i uint64, rev uint32) []byte { return src.appendJSON(nil, i, rev) }
	var send = func(ks keySeq) *txnStores {
		for i := range keysOf(ks) {
			o.sendStore(i, docHash(doc(i, o.rev[i]+1)))
		}
		return &txnStores{keys: ks}
	}
	var t1 = send(ks)
	o.commit(t1)
	o.commit(t1) // again (recovery may confirm a commit the callback applied)
	for i := range keysOf(ks) {
		if o.rev[i] != 1 || o.committedSum(i) != docHash(doc(i, 1)) {
			t.Fatalf("key %d after commit: rev %d, sum known %v", i, o.rev[i], o.committedSum(i) != 0)
		}
	}
	var t2 = send(keyRange{0, 2})
	if o.committedSum(0) != 0 {
		t.Error("while a store is pending the committed document's hash must not be used")
	}
	var judge = func(i uint64, d []byte) *findings {
		var fs = newFindings("test", "")
		o.beginLoads(keyList{i})
		o.judgeLoaded(d, fs)
		o.judgeMissing(fs)
		return fs
	}
	if fs := judge(0, doc(0, 2)); fs.empty() {
		t.Error("the pending (uncommitted) revision was accepted as the committed one")
	}
	if fs := judge(0, doc(0, 1)); !fs.empty() {
		t.Errorf("the committed revision was rejected while a store was pending: %v", fs.list()[0])
	}
	o.abort(t2)
	if o.rev[0] != 1 || o.pending.get(0) || !o.sent.get(0) {
		t.Errorf("after abort: rev %d, pending %v, sent %v; want 1, false, true", o.rev[0], o.pending.get(0), o.sent.get(0))
	}
	if fs := judge(1, doc(1, 1)); !fs.empty() {
		t.Errorf("the committed revision was rejected after an abort: %v", fs.list()[0])
	}
	var fresh = o.allocate(1)
	var t3 = send(fresh)
	o.abort(t3)
	if o.sent.get(fresh.first) {
		t.Error("an aborted store of a fresh key left it marked stored")
	}
	if got := collect(o.keysNotIn(catKeys(ks, fresh))); !slices.Equal(got, []uint64{fresh.first}) {
		t.Errorf("keysNotIn: %v, want [%d]", got, fresh.first)
	}
}

func clip64(l []uint64) []uint64 { return l[:min(len(l), 12)] }
