package reference

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// chunkSize is the unit in which an arena holds bytes in memory and spills them.
const chunkSize = 1 << 20

// DefaultMemoryBudget is how many bytes of stored documents the in-memory store of a
// Driver keeps in memory (see Options.MemoryBudget).
const DefaultMemoryBudget = 512 << 20

// budget bounds the bytes that the arenas of one store keep in memory: beyond it,
// their oldest chunks move to spill files (unlinked temporary files, removed when
// closed) in dir. A nil *budget keeps everything in memory.
type budget struct {
	limit    int64
	dir      string
	resident int64
	arenas   map[*arena]struct{}
}

func newBudget(limit int64, dir string) *budget {
	return &budget{limit: limit, dir: dir, arenas: map[*arena]struct{}{}}
}

// enforce spills chunks, the arena with the most spillable chunks first, until the
// resident bytes are within the limit or nothing more can be spilled.
func (b *budget) enforce() {
	for b.resident > b.limit {
		var most *arena
		for a := range b.arenas {
			if a.spillable() > 0 && (most == nil || a.spillable() > most.spillable()) {
				most = a
			}
		}
		if most == nil || !most.spillOne() {
			return
		}
	}
}

// arena is an append-only log of bytes, addressed by offset. Chunk i holds the
// offsets [i·chunkSize, i·chunkSize+lens[i]). Records never straddle a chunk
// boundary unless they are longer than a chunk. With a budget, the chunks
// [0, spilled) live in a spill file (at their own offsets) instead of in memory;
// the last chunk, being appended to, always stays in memory.
type arena struct {
	b       *budget
	chunks  [][]byte // nil once spilled
	lens    []int
	spilled int
	file    *os.File
	noSpill bool // creating or writing the spill file failed: keep everything in memory
}

func newArena(b *budget) *arena {
	var a = &arena{b: b}
	if b != nil {
		b.arenas[a] = struct{}{}
	}
	return a
}

// size is the offset of the next byte appended.
func (a *arena) size() int64 {
	if len(a.chunks) == 0 {
		return 0
	}
	var last = len(a.chunks) - 1
	return int64(last)*chunkSize + int64(a.lens[last])
}

// alloc reserves n bytes (zeroed) and returns where they start.
func (a *arena) alloc(n int) int64 {
	var last = len(a.chunks) - 1
	if last < 0 || a.lens[last] != 0 && a.lens[last]+n > chunkSize {
		a.newChunk() // a record that does not fit starts a chunk of its own
		last++
	}
	var off = int64(last)*chunkSize + int64(a.lens[last])
	for n > 0 {
		var c = a.chunks[last]
		var k = min(n, chunkSize-a.lens[last])
		var want = a.lens[last] + k
		if want > cap(c) {
			var grown = make([]byte, a.lens[last], min(chunkSize, max(want, 2*cap(c), 4096)))
			copy(grown, c)
			a.account(int64(cap(grown) - cap(c)))
			c = grown
		}
		a.chunks[last] = c[:want]
		a.lens[last] = want
		n -= k
		if n > 0 {
			a.newChunk()
			last++
		}
	}
	if a.b != nil {
		a.b.enforce()
	}
	return off
}

func (a *arena) newChunk() {
	a.chunks = append(a.chunks, nil)
	a.lens = append(a.lens, 0)
}

func (a *arena) account(n int64) {
	if a.b != nil {
		a.b.resident += n
	}
}

func (a *arena) spillable() int {
	if a.noSpill {
		return 0
	}
	return len(a.chunks) - 1 - a.spilled
}

// spillOne moves the oldest chunk in memory to the spill file. It returns false
// (and stops spilling this arena) if the file cannot be created or written.
func (a *arena) spillOne() bool {
	if a.file == nil {
		var f, err = os.CreateTemp(a.b.dir, "flowsim-reference-*.spill")
		if err != nil {
			a.noSpill = true
			return false
		}
		os.Remove(f.Name()) // unlinked: the space is freed when the file is closed
		a.file = f
	}
	var i = a.spilled
	if _, err := a.file.WriteAt(a.chunks[i], int64(i)*chunkSize); err != nil {
		a.noSpill = true
		return false
	}
	a.account(-int64(cap(a.chunks[i])))
	a.chunks[i] = nil
	a.spilled++
	return true
}

// release frees the arena's memory and spill file.
func (a *arena) release() {
	for i, c := range a.chunks {
		a.account(-int64(cap(c)))
		a.chunks[i] = nil
	}
	a.chunks, a.lens, a.spilled = nil, nil, 0
	if a.file != nil {
		a.file.Close()
		a.file = nil
	}
	if a.b != nil {
		delete(a.b.arenas, a)
	}
}

// rw copies between p and the arena at off: into the arena if write, else out of it.
func (a *arena) rw(p []byte, off int64, write bool) error {
	if off < 0 || off+int64(len(p)) > a.size() {
		return fmt.Errorf("reading the store: offset %d+%d is beyond its %d bytes", off, len(p), a.size())
	}
	for len(p) > 0 {
		var i, at = int(off / chunkSize), int(off % chunkSize)
		var k = min(len(p), a.lens[i]-at)
		if k <= 0 {
			return fmt.Errorf("reading the store: offset %d is in no record", off)
		}
		var err error
		switch {
		case a.chunks[i] != nil && write:
			copy(a.chunks[i][at:], p[:k])
		case a.chunks[i] != nil:
			copy(p[:k], a.chunks[i][at:])
		case write:
			_, err = a.file.WriteAt(p[:k], off)
		default:
			_, err = a.file.ReadAt(p[:k], off)
		}
		if err != nil {
			return fmt.Errorf("accessing the store's spill file: %w", err)
		}
		p, off = p[k:], off+int64(k)
	}
	return nil
}

// view returns the n bytes at off: the arena's own memory when they lie in one
// chunk in memory (valid until the next write), else a copy in scratch.
func (a *arena) view(off int64, n int, scratch *[]byte) ([]byte, error) {
	var i, at = int(off / chunkSize), int(off % chunkSize)
	if i < len(a.chunks) && a.chunks[i] != nil && at+n <= a.lens[i] {
		return a.chunks[i][at : at+n], nil
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	var p = (*scratch)[:n]
	return p, a.rw(p, off, false)
}

// Records. A document record is
//
//	[recDoc] [uvarint key length] [uint32 capacity] [uint32 length] [key] [document, capacity bytes]
//
// (a later revision of the key that fits the capacity is written in place); a row
// record (delta updates) is [recRow] [uvarint length] [document].
const (
	recDoc = 1
	recRow = 2
)

// maxHeader is the longest record header.
const maxHeader = 1 + binary.MaxVarintLen64 + 8

var errBadRecord = errors.New("the store holds a malformed record")

// docCapacity is the room a document of n bytes is given: later revisions are
// often a little longer (three in four of matsim's fit in an eighth more).
func docCapacity(n int) int { return (n + n/8 + 7) &^ 7 }

// appendDocRecord appends a document record and returns its offset and length.
func (a *arena) appendDocRecord(key, doc []byte) (int64, int, error) {
	var hdr [maxHeader]byte
	hdr[0] = recDoc
	var h = 1 + binary.PutUvarint(hdr[1:], uint64(len(key)))
	var c = docCapacity(len(doc))
	binary.LittleEndian.PutUint32(hdr[h:], uint32(c))
	binary.LittleEndian.PutUint32(hdr[h+4:], uint32(len(doc)))
	h += 8
	var n = h + len(key) + c
	var off = a.alloc(n)
	var err = a.rw(hdr[:h], off, true)
	if err == nil {
		err = a.rw(key, off+int64(h), true)
	}
	if err == nil {
		err = a.rw(doc, off+int64(h+len(key)), true)
	}
	return off, n, err
}

// docRecord is a parsed document record.
type docRecord struct {
	key, doc []byte
	hdr      int // header length
	capacity int
}

func (r docRecord) size() int { return r.hdr + len(r.key) + r.capacity }

func parseDocHeader(p []byte) (keyLen, capacity, docLen, hdr int, err error) {
	if len(p) < 1 || p[0] != recDoc {
		return 0, 0, 0, 0, errBadRecord
	}
	var k, n = binary.Uvarint(p[1:])
	if n <= 0 || len(p) < 1+n+8 {
		return 0, 0, 0, 0, errBadRecord
	}
	hdr = 1 + n + 8
	capacity = int(binary.LittleEndian.Uint32(p[1+n:]))
	docLen = int(binary.LittleEndian.Uint32(p[1+n+4:]))
	if docLen > capacity {
		return 0, 0, 0, 0, errBadRecord
	}
	return int(k), capacity, docLen, hdr, nil
}

// guessRead is how much of a record in a spill file one read fetches.
const guessRead = 1024

// docRecordAt reads the document record at off (views valid until the next write).
func (a *arena) docRecordAt(off int64, scratch *[]byte) (docRecord, error) {
	var i, at = int(off / chunkSize), int(off % chunkSize)
	if off < 0 || i >= len(a.chunks) || at >= a.lens[i] {
		return docRecord{}, fmt.Errorf("reading the store: offset %d is in no record", off)
	}
	// In memory: the rest of the chunk, without copying. Spilled: one read that
	// most records fit in.
	var first = a.lens[i] - at
	if a.chunks[i] == nil {
		first = min(first, guessRead)
	}
	var p, err = a.view(off, first, scratch)
	if err != nil {
		return docRecord{}, err
	}
	keyLen, capacity, docLen, hdr, err := parseDocHeader(p)
	if err != nil {
		return docRecord{}, fmt.Errorf("reading the store at %d: %w", off, err)
	}
	if n := hdr + keyLen + docLen; n > len(p) {
		if p, err = a.view(off, n, scratch); err != nil {
			return docRecord{}, err
		}
	}
	return docRecord{key: p[hdr : hdr+keyLen], doc: p[hdr+keyLen : hdr+keyLen+docLen], hdr: hdr, capacity: capacity}, nil
}

// rewriteDoc writes doc in place of the record at off, which has room for it.
func (a *arena) rewriteDoc(off int64, r docRecord, doc []byte) error {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(doc)))
	if err := a.rw(n[:], off+int64(r.hdr-4), true); err != nil {
		return err
	}
	return a.rw(doc, off+int64(r.hdr+len(r.key)), true)
}

// appendRow appends a row record.
func (a *arena) appendRow(doc []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = recRow
	var h = 1 + binary.PutUvarint(hdr[1:], uint64(len(doc)))
	var off = a.alloc(h + len(doc))
	if err := a.rw(hdr[:h], off, true); err != nil {
		return err
	}
	return a.rw(doc, off+int64(h), true)
}

// scanner reads the records of an arena in order, a chunk at a time.
type scanner struct {
	a       *arena
	off     int64
	buf     []byte // a spilled chunk, read whole
	bufIdx  int    // which chunk buf holds, -1: none
	scratch []byte // a record longer than a chunk
}

func (a *arena) scan(from int64) *scanner { return &scanner{a: a, off: from, bufIdx: -1} }

// next returns the offset and bytes of the next record (views valid until the next
// call or write), or io.EOF after the last one or at end.
func (s *scanner) next(end int64) (int64, []byte, error) {
	for {
		if s.off >= end {
			return 0, nil, io.EOF
		}
		var i, at = int(s.off / chunkSize), int(s.off % chunkSize)
		if at >= s.a.lens[i] {
			s.off = int64(i+1) * chunkSize
			continue
		}
		var chunk, err = s.chunk(i)
		if err != nil {
			return 0, nil, err
		}
		var n int
		switch chunk[at] {
		case recDoc:
			keyLen, capacity, _, hdr, err := parseDocHeader(chunk[at:])
			if err != nil {
				return 0, nil, fmt.Errorf("reading the store at %d: %w", s.off, err)
			}
			n = hdr + keyLen + capacity
		case recRow:
			var l, k = binary.Uvarint(chunk[at+1:])
			if k <= 0 {
				return 0, nil, fmt.Errorf("reading the store at %d: %w", s.off, errBadRecord)
			}
			n = 1 + k + int(l)
		default:
			return 0, nil, fmt.Errorf("reading the store at %d: %w", s.off, errBadRecord)
		}
		var off, rec = s.off, []byte(nil)
		if at+n <= len(chunk) {
			rec = chunk[at : at+n]
		} else {
			// Longer than what is left of its chunk: it spans chunks.
			if cap(s.scratch) < n {
				s.scratch = make([]byte, n)
			}
			rec = s.scratch[:n]
			if err := s.a.rw(rec, off, false); err != nil {
				return 0, nil, err
			}
		}
		s.off += int64(n)
		return off, rec, nil
	}
}

func (s *scanner) chunk(i int) ([]byte, error) {
	if c := s.a.chunks[i]; c != nil {
		return c, nil
	}
	if s.bufIdx != i {
		if cap(s.buf) < chunkSize {
			s.buf = make([]byte, chunkSize)
		}
		s.buf = s.buf[:s.a.lens[i]]
		if _, err := s.a.file.ReadAt(s.buf, int64(i)*chunkSize); err != nil {
			s.bufIdx = -1
			return nil, fmt.Errorf("reading the store's spill file: %w", err)
		}
		s.bufIdx = i
	}
	return s.buf, nil
}

// parseRow returns the document of a row record.
func parseRow(rec []byte) []byte {
	var _, k = binary.Uvarint(rec[1:])
	return rec[1+k:]
}
