package reference

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// state is everything the reference connector stores.
type state struct {
	Tables     map[string]*table
	Checkpoint map[string][]*fenceRow // materialization → rows
	// TornDone records that the torn-commit defect has fired (it fires once).
	TornDone bool

	// budget bounds the memory of the tables' documents (nil: unbounded).
	budget *budget
	// Versions is the spec version applied last, per materialization (reference.go).
	Versions map[string]string
	// ID names the store, drawn when it is first applied to: connector instances
	// that share it report the same one (connector.ReferenceStoreOf).
	ID string
}

// table is one table of the store. Its documents live in arenas (see docTable and
// rowLog); a table in a state file is encoded as tableGob.
type table struct {
	Name string
	// Fields are the fields of the spec that created the table (or last changed it).
	Fields []string

	b *budget
	// docs holds the rows of a standard binding (nil until the first store).
	docs *docTable
	// prev holds the previous document of each key (for the stale-value defect).
	prev *docTable
	// delta holds the rows of a delta-updates binding (nil until the first store).
	delta *rowLog
}

func (t *table) docTable() *docTable {
	if t.docs == nil {
		t.docs = newDocTable(t.b)
	}
	return t.docs
}

func (t *table) prevTable() *docTable {
	if t.prev == nil {
		t.prev = newDocTable(t.b)
	}
	return t.prev
}

func (t *table) rowLog() *rowLog {
	if t.delta == nil {
		t.delta = newRowLog(t.b)
	}
	return t.delta
}

// release frees the table's memory and spill files.
func (t *table) release() {
	t.docs.release()
	t.prev.release()
	t.delta.release()
	t.docs, t.prev, t.delta = nil, nil, nil
}

// tableGob is how a table is encoded in a state file.
type tableGob struct {
	Name   string
	Fields []string
	// Keys and Rows: every key of a standard table and its rows, oldest first.
	Keys [][]byte
	Rows [][]json.RawMessage
	// PrevKeys and Prev: the previous document of each key (stale-value defect).
	PrevKeys [][]byte
	Prev     []json.RawMessage
	Delta    []json.RawMessage
	// LastDelta is how many of the last rows of Delta the last commit wrote.
	LastDelta int
}

// GobEncode implements gob.GobEncoder.
func (t *table) GobEncode() ([]byte, error) {
	var g = tableGob{Name: t.Name, Fields: t.Fields}
	var err error
	var eachErr = t.docs.each(func(key, _ []byte) bool {
		var k = append([]byte(nil), key...)
		var rows, rerr = t.docs.rows(k)
		if rerr != nil {
			err = rerr
			return false
		}
		g.Keys, g.Rows = append(g.Keys, k), append(g.Rows, rows)
		return true
	})
	err = errors.Join(err, eachErr)
	if err == nil {
		err = t.prev.each(func(key, doc []byte) bool {
			g.PrevKeys = append(g.PrevKeys, append([]byte(nil), key...))
			g.Prev = append(g.Prev, append(json.RawMessage(nil), doc...))
			return true
		})
	}
	if err == nil && t.delta != nil {
		var end = t.delta.a.size()
		_, err = t.delta.eachRow(0, end, math.MaxInt, func(doc []byte) bool {
			g.Delta = append(g.Delta, append(json.RawMessage(nil), doc...))
			return true
		})
		if err == nil {
			_, err = t.delta.eachRow(t.delta.lastFrom, t.delta.lastTo, math.MaxInt, func([]byte) bool {
				g.LastDelta++
				return true
			})
		}
	}
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&g); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GobDecode implements gob.GobDecoder. The table keeps everything in memory.
func (t *table) GobDecode(b []byte) error {
	var g tableGob
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&g); err != nil {
		return err
	}
	*t = table{Name: g.Name, Fields: g.Fields}
	if len(g.Keys) != len(g.Rows) || len(g.PrevKeys) != len(g.Prev) || g.LastDelta > len(g.Delta) {
		return fmt.Errorf("decoding table %s: inconsistent lengths", g.Name)
	}
	for i, key := range g.Keys {
		for j, doc := range g.Rows[i] {
			if err := t.docTable().put(key, doc, j > 0); err != nil {
				return err
			}
		}
	}
	for i, key := range g.PrevKeys {
		if err := t.prevTable().put(key, g.Prev[i], false); err != nil {
			return err
		}
	}
	for i, doc := range g.Delta {
		var l = t.rowLog()
		if i == len(g.Delta)-g.LastDelta {
			l.lastFrom = l.a.size()
		}
		if err := l.appendRow(doc); err != nil {
			return err
		}
		if i == len(g.Delta)-1 && g.LastDelta != 0 {
			l.lastTo = l.a.size()
		}
	}
	return nil
}

// fenceRow is the checkpoint and fence of one key range of a materialization.
type fenceRow struct {
	Begin, End uint32
	Fence      int64
	Checkpoint []byte
	// First is the first checkpoint committed (for the stale-checkpoint defect).
	First []byte
}

func newState() *state {
	return &state{Tables: map[string]*table{}, Checkpoint: map[string][]*fenceRow{}}
}

func (s *state) table(name string) *table {
	if s.Tables == nil {
		s.Tables = map[string]*table{}
	}
	var t, ok = s.Tables[name]
	if !ok {
		t = &table{Name: name, b: s.budget}
		s.Tables[name] = t
	}
	return t
}

// drop deletes a table and frees what it holds.
func (s *state) drop(name string) {
	if t, ok := s.Tables[name]; ok {
		t.release()
		delete(s.Tables, name)
	}
}

// store is where state lives: process memory, or a file shared by processes.
type store interface {
	// update runs fn on the state under an exclusive lock, persisting changes.
	update(fn func(*state) error) error
	// read runs fn on the state under a lock, without persisting.
	read(fn func(*state) error) error
}

// memStore keeps state in memory, shared by every stream of one Driver.
type memStore struct {
	mu sync.Mutex
	st *state
}

func newMemStore(b *budget) *memStore {
	var st = newState()
	st.budget = b
	return &memStore{st: st}
}

func (m *memStore) update(fn func(*state) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(m.st)
}

func (m *memStore) read(fn func(*state) error) error { return m.update(fn) }

// fileStore keeps state in DIR/state.gob, locked with flock(DIR/lock), so that
// connector processes started one per call share it.
type fileStore struct {
	dir string
	// cache avoids re-reading an unchanged file.
	mu      sync.Mutex
	cached  *state
	modTime int64
	size    int64
}

func newFileStore(dir string) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state_dir: %w", err)
	}
	return &fileStore{dir: dir}, nil
}

func (f *fileStore) lock(exclusive bool) (*os.File, error) {
	var l, err = os.OpenFile(filepath.Join(f.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening state lock: %w", err)
	}
	var how = syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(l.Fd()), how); err != nil {
		l.Close()
		return nil, fmt.Errorf("locking state: %w", err)
	}
	return l, nil
}

func (f *fileStore) load() (*state, error) {
	var path = filepath.Join(f.dir, "state.gob")
	var info, err = os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return newState(), nil
	} else if err != nil {
		return nil, err
	}
	if f.cached != nil && info.ModTime().UnixNano() == f.modTime && info.Size() == f.size {
		return f.cached, nil
	}
	var b []byte
	if b, err = os.ReadFile(path); err != nil {
		return nil, err
	}
	var st = newState()
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(st); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	st.fixNil()
	f.cached, f.modTime, f.size = st, info.ModTime().UnixNano(), info.Size()
	return st, nil
}

func (f *fileStore) save(st *state) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return err
	}
	var tmp = filepath.Join(f.dir, "state.gob.tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, "state.gob")); err != nil {
		return err
	}
	f.cached = nil
	return nil
}

func (f *fileStore) update(fn func(*state) error) error {
	return f.locked(true, func(st *state) error {
		// Work on a copy so that a failed update leaves nothing behind.
		var cp = deepCopy(st)
		if err := fn(cp); err != nil {
			return err
		}
		return f.save(cp)
	})
}

func (f *fileStore) read(fn func(*state) error) error { return f.locked(false, fn) }

// locked runs fn on the loaded state while holding the process and file locks.
func (f *fileStore) locked(exclusive bool, fn func(*state) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l, err = f.lock(exclusive)
	if err != nil {
		return err
	}
	defer l.Close()
	st, err := f.load()
	if err != nil {
		return err
	}
	return fn(st)
}

func deepCopy(st *state) *state {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		panic(err)
	}
	var out = newState()
	if err := gob.NewDecoder(&buf).Decode(out); err != nil {
		panic(err)
	}
	out.fixNil()
	return out
}

var (
	stores   = map[string]*fileStore{}
	storesMu sync.Mutex
)

// fileStoreFor shares one fileStore per directory within a process.
func fileStoreFor(dir string) (*fileStore, error) {
	storesMu.Lock()
	defer storesMu.Unlock()
	var abs, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if s, ok := stores[abs]; ok {
		return s, nil
	}
	s, err := newFileStore(abs)
	if err != nil {
		return nil, err
	}
	stores[abs] = s
	return s, nil
}

// fixNil replaces maps that gob decoded as nil.
func (s *state) fixNil() {
	if s.Tables == nil {
		s.Tables = map[string]*table{}
	}
	if s.Checkpoint == nil {
		s.Checkpoint = map[string][]*fenceRow{}
	}
	for name, t := range s.Tables {
		if t == nil {
			s.Tables[name] = &table{Name: name}
		}
	}
}
