package reference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// loadAll loads keys [0, n) in one transaction that stores nothing.
func loadAll(t *testing.T, s *stream, n int) []json.RawMessage {
	t.Helper()
	var loaded, err = s.txn(testKeys(0, n), 0, nil)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	return loaded
}

// checkLoaded fails unless loaded are exactly the documents of keys [0, n) at the
// revisions rev(i).
func checkLoaded(t *testing.T, loaded []json.RawMessage, n int, rev func(i int) []byte) {
	t.Helper()
	if len(loaded) != n {
		t.Fatalf("loaded %d documents of %d keys", len(loaded), n)
	}
	for i, got := range loaded {
		if want := rev(i); !bytes.Equal(got, want) {
			t.Fatalf("key %d: loaded %.80q…, want %.80q…", i, got, want)
		}
	}
}

// grownDoc is a revision longer than the room of every earlier one.
func grownDoc(i, rev int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"rev":%d,"pad":%q}`, i, rev, strings.Repeat("x", 300*(rev+1)+i%50))
}

// TestSpilledStoreReturnsTheBytesStored: with a budget of one byte every full chunk
// goes to the spill file, and loads still return exactly the bytes stored, the
// latest revision of each key.
func TestSpilledStoreReturnsTheBytesStored(t *testing.T) {
	var d = NewWithOptions(Options{MemoryBudget: 1, SpillDir: t.TempDir()})
	var spec = testSpec("m", `{}`, "t0")
	apply(t, d, spec)
	var s = open(t, d, spec, 0, math.MaxUint32)
	const n = 12000
	for from := 0; from < n; from += 1000 {
		if _, err := s.txn(testKeys(from, from+1000), 0, testDocs(from, from+1000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Later revisions of every other key: some fit the room of the first, some don't.
	var updates []doc
	for i := 0; i < n; i += 2 {
		updates = append(updates, doc{testKey(i), testDoc(i, 1)})
	}
	if _, err := s.txn(nil, 0, updates); err != nil {
		t.Fatal(err)
	}
	checkLoaded(t, loadAll(t, s, n), n, func(i int) []byte { return testDoc(i, 1-i%2) })

	var a = d.mem.st.Tables["t0"].docs.a
	if a.spilled == 0 || a.file == nil {
		t.Fatalf("nothing was spilled: %d chunks, %d spilled", len(a.chunks), a.spilled)
	}
	if d.mem.st.budget.resident > 2*chunkSize {
		t.Errorf("%d bytes in memory with a budget of 1 (at most the chunk being appended to)", d.mem.st.budget.resident)
	}
}

// TestCompaction: revisions that outgrow their room are appended; once the garbage
// outweighs the live records they are copied to a new arena, in memory or spilled,
// and loads return the latest revisions.
func TestCompaction(t *testing.T) {
	for _, budget := range []int64{0, 1} {
		t.Run(fmt.Sprintf("budget=%d", budget), func(t *testing.T) {
			var d = NewWithOptions(Options{MemoryBudget: budget, SpillDir: t.TempDir()})
			var spec = testSpec("m", `{}`, "t0")
			apply(t, d, spec)
			var s = open(t, d, spec, 0, math.MaxUint32)
			const n, revs = 12000, 4
			for rev := 0; rev < revs; rev++ {
				var stores []doc
				for i := 0; i < n; i++ {
					stores = append(stores, doc{testKey(i), grownDoc(i, rev)})
				}
				if _, err := s.txn(nil, 0, stores); err != nil {
					t.Fatal(err)
				}
			}
			checkLoaded(t, loadAll(t, s, n), n, func(i int) []byte { return grownDoc(i, revs-1) })
			var docs = d.mem.st.Tables["t0"].docs
			// Without compaction the arena holds every revision: 2.5 times the last.
			if size := docs.a.size(); size > 2*docs.live+2*chunkSize {
				t.Errorf("the arena holds %d bytes for %d bytes of live records (%d of garbage)", size, docs.live, docs.garbage)
			}
		})
	}
}

// TestIndex: keys are found among many (the index grows several times), absent keys
// are not, and each key's latest document is the one returned.
func TestIndex(t *testing.T) {
	var d = newDocTable(nil)
	const n = 100000
	for i := 0; i < n; i++ {
		if err := d.put(testKey(i), []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 3 {
		if err := d.put(testKey(i), []byte(fmt.Sprint(-i)), false); err != nil {
			t.Fatal(err)
		}
	}
	if d.idx.n != n || len(d.idx.lo) < n*4/3 {
		t.Fatalf("the index holds %d keys in %d slots, want %d in at least %d", d.idx.n, len(d.idx.lo), n, n*4/3)
	}
	for i := 0; i < n+1000; i++ {
		var got, found, err = d.appendLatest(nil, testKey(i))
		var want = fmt.Sprint(i)
		if i%3 == 0 {
			want = fmt.Sprint(-i)
		}
		switch {
		case err != nil:
			t.Fatal(err)
		case i >= n && found:
			t.Fatalf("key %d was never stored, but is found: %q", i, got)
		case i < n && (!found || string(got) != want):
			t.Fatalf("key %d: found %v %q, want %q", i, found, got, want)
		}
	}
}

// TestStateFileKeepsEverything: a table survives its encoding in a state file:
// every row of every key (more than one with exists-ignored), previous revisions
// (stale-value), delta rows and which of them the last commit wrote.
func TestStateFileKeepsEverything(t *testing.T) {
	var st = newState()
	var tbl = st.table("t")
	for i := 0; i < 3000; i++ {
		var err = tbl.docTable().put(testKey(i), testDoc(i, 0), false)
		if err == nil && i%5 == 0 {
			err = tbl.docTable().put(testKey(i), testDoc(i, 1), true)
		}
		if err == nil && i%7 == 0 {
			err = tbl.prevTable().put(testKey(i), testDoc(i, 2), false)
		}
		if err == nil {
			err = tbl.rowLog().appendRow(testDoc(i, 3))
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 2990 {
			tbl.delta.lastFrom = tbl.delta.a.size()
		}
	}
	tbl.delta.lastTo = tbl.delta.a.size()

	var cp = deepCopy(st).Tables["t"]
	for i := 0; i < 3000; i++ {
		var rows, err = cp.docs.rows(testKey(i))
		if err != nil {
			t.Fatal(err)
		}
		var want = []json.RawMessage{testDoc(i, 0)}
		if i%5 == 0 {
			want = append(want, testDoc(i, 1))
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("key %d: rows %q, want %q", i, rows, want)
		}
		var prev, found, _ = cp.prev.appendLatest(nil, testKey(i))
		if found != (i%7 == 0) || found && !bytes.Equal(prev, testDoc(i, 2)) {
			t.Fatalf("key %d: previous revision %v %q", i, found, prev)
		}
	}
	var rows, last []string
	cp.delta.eachRow(0, cp.delta.a.size(), math.MaxInt, func(doc []byte) bool { rows = append(rows, string(doc)); return true })
	cp.delta.eachRow(cp.delta.lastFrom, cp.delta.lastTo, math.MaxInt, func(doc []byte) bool { last = append(last, string(doc)); return true })
	if len(rows) != 3000 || rows[1234] != string(testDoc(1234, 3)) {
		t.Fatalf("%d delta rows, want 3000", len(rows))
	}
	if fmt.Sprint(last) != fmt.Sprint(rows[2991:]) {
		t.Fatalf("the last commit's rows are %d rows, want the last 9", len(last))
	}
}

// TestStoresAgree runs one scenario against the store in memory, spilled, and in a
// state file, with no defect and with every defect that changes what is stored or
// loaded: every Load and every delta row must be the same, so the compact store
// neither hides a defect nor invents one. Without a defect they must be exactly
// the bytes stored.
func TestStoresAgree(t *testing.T) {
	var defects = []string{""}
	for _, d := range Defects {
		if d.Class == "data" || d.Name == "delta-replay-on-open" || d.Name == "lazy-commit" {
			defects = append(defects, d.Name)
		}
	}
	for _, defect := range defects {
		t.Run("defect="+defect, func(t *testing.T) {
			var runs []string
			for _, store := range []string{"memory", "spilled", "file"} {
				var d = New()
				var config = fmt.Sprintf(`{"defect":%q}`, defect)
				switch store {
				case "spilled":
					d = NewWithOptions(Options{MemoryBudget: 1, SpillDir: t.TempDir()})
				case "file":
					config = fmt.Sprintf(`{"defect":%q,"state_dir":%q}`, defect, t.TempDir())
				}
				if defect == "" {
					config = strings.Replace(config, `"defect":"",`, "", 1)
					config = strings.Replace(config, `{"defect":""}`, `{}`, 1)
				}
				runs = append(runs, scenario(t, d, config))
			}
			for i, store := range []string{"spilled", "file"} {
				if runs[i+1] != runs[0] {
					t.Errorf("the store %s answers differently from the store in memory:\n%s\nvs\n%s", store, short(runs[i+1]), short(runs[0]))
				}
			}
		})
	}
}

func short(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// scenario stores, updates, loads and appends delta rows, reopens the stream, and
// returns everything loaded and the delta rows. Without a defect it checks them.
func scenario(t *testing.T, d *Driver, config string) string {
	t.Helper()
	var spec = testSpec("m", config, "t0", "d1")
	apply(t, d, spec)
	var out strings.Builder
	var s = open(t, d, spec, 0, math.MaxUint32)
	var txns int
	var step = func(loads [][]byte, binding int, stores []doc) {
		txns++
		var loaded, err = s.txn(loads, binding, stores)
		if err != nil { // a commit that fails ends the stream: open another
			s = open(t, d, spec, 0, math.MaxUint32)
		}
		fmt.Fprintf(&out, "txn %d: %v\n", txns, err)
		for _, doc := range loaded {
			fmt.Fprintf(&out, "%s\n", doc)
		}
	}
	step(testKeys(0, 2000), 0, testDocs(0, 2000, 0))
	step(testKeys(0, 3000), 0, testDocs(1000, 3000, 1))
	step(testKeys(0, 3000), 1, testDocs(0, 1500, 2))
	step(testKeys(0, 3000), 1, testDocs(1500, 3000, 3))
	s.close()
	s = open(t, d, spec, 0, math.MaxUint32)
	step(testKeys(0, 3000), 0, testDocs(0, 10, 4))
	var loaded = loadAll(t, s, 3000)
	s.close()
	var rows []string
	if err := d.DeltaRows(json.RawMessage(config), "d1", func(doc []byte) error {
		rows = append(rows, string(doc))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "delta rows:\n%s\n", strings.Join(rows, "\n"))
	if !strings.Contains(config, "defect") {
		checkLoaded(t, loaded, 3000, func(i int) []byte {
			if i < 10 {
				return testDoc(i, 4)
			} else if i < 1000 {
				return testDoc(i, 0)
			}
			return testDoc(i, 1)
		})
		if len(rows) != 3000 || rows[0] != string(testDoc(0, 2)) || rows[2999] != string(testDoc(2999, 3)) {
			t.Fatalf("%d delta rows, want the 3000 stored", len(rows))
		}
	}
	return out.String()
}
