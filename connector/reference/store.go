package reference

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
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
	// Versions is the spec version applied last, per materialization (reference.go).
	Versions map[string]string
}

type table struct {
	Name string
	// Docs maps a packed key to its documents: one, unless a defect duplicates rows.
	Docs map[string][]json.RawMessage
	// Prev holds the previous document of each key (for the stale-value defect).
	Prev  map[string]json.RawMessage
	Delta []json.RawMessage
	// Fields are the fields of the spec that created the table (or last changed it).
	Fields []string
	// LastDelta holds the delta rows of the last commit (for delta-replay-on-open).
	LastDelta []json.RawMessage
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
		t = &table{Name: name}
		s.Tables[name] = t
	}
	// gob decodes empty maps as nil.
	if t.Docs == nil {
		t.Docs = map[string][]json.RawMessage{}
	}
	if t.Prev == nil {
		t.Prev = map[string]json.RawMessage{}
	}
	return t
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

func newMemStore() *memStore { return &memStore{st: newState()} }

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
	for name := range s.Tables {
		s.table(name)
	}
}
