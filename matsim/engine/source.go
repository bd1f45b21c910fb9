package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/estuary/protocols/fdb/tuple"
)

// source produces the documents of a run: document i at revision rev (rev >= 1).
// It is used from one goroutine.
type source interface {
	// appendJSON appends the canonical JSON of key i at rev.
	appendJSON(b []byte, i uint64, rev uint32) []byte
	// appendKey appends the packed key of i.
	appendKey(b []byte, i uint64) []byte
	// appendItem appends the packed key, the packed values (selected by valueIdx) and
	// the canonical JSON of key i at rev, returning where the values and document begin.
	appendItem(b []byte, i uint64, rev uint32, valueIdx []int) (out []byte, valuesAt, docAt int)
	// identify finds the key index of a loaded document.
	identify(doc []byte) (uint64, error)
	// equal judges a loaded document against key i at rev; "" when equal.
	equal(doc []byte, i uint64, rev uint32) string
	// keyString renders the key of i for messages, as a JSON array.
	keyString(i uint64) string
	// forget drops revisions above rev of key i (an aborted transaction's).
	forget(i uint64, rev uint32)
	// family finds the family of a document whose key identify did not recognise.
	family(doc []byte) (first, n uint64, ok bool)
	// twins returns the family of key i: indices [first, first+n) whose keys a
	// careless store may take for one another (n is 1 when the type has none).
	twins(i uint64) (first, n uint64)
}

// newSource picks the generated source when the type supports it.
func newSource(newTestData func() TestData, seed uint64) (source, error) {
	var proto = newTestData()
	if proto == nil {
		return nil, fmt.Errorf("newTestData returned nil")
	}
	if _, ok := proto.(Generated); ok {
		return &genSource{seed: seed, newTD: newTestData, scratch: newTestData().(Generated)}, nil
	}
	return newMemSource(newTestData, seed)
}

// ---------------------------------------------------------------------------

// genSource regenerates every document from (seed, index, revision).
type genSource struct {
	seed    uint64
	newTD   func() TestData
	scratch Generated
	buf     []byte
}

// clone returns a source that yields the same documents and can be used from
// another goroutine.
func (s *genSource) clone() *genSource {
	return &genSource{seed: s.seed, newTD: s.newTD, scratch: s.newTD().(Generated)}
}

func (s *genSource) appendJSON(b []byte, i uint64, rev uint32) []byte {
	s.scratch.Generate(s.seed, i, rev)
	return s.scratch.AppendJSON(b)
}

func (s *genSource) appendKey(b []byte, i uint64) []byte {
	if kg, ok := s.scratch.(keyGenerator); ok {
		kg.GenerateKey(s.seed, i)
	} else {
		s.scratch.Generate(s.seed, i, 1)
	}
	if ta, ok := s.scratch.(tupleAppender); ok {
		return ta.appendKeyTuple(b)
	}
	return appendTuple(b, s.scratch.Keys())
}

func (s *genSource) appendItem(b []byte, i uint64, rev uint32, valueIdx []int) ([]byte, int, int) {
	s.scratch.Generate(s.seed, i, rev)
	var valuesAt, docAt int
	if ta, ok := s.scratch.(tupleAppender); ok {
		b = ta.appendKeyTuple(b)
		valuesAt = len(b)
		b = ta.appendValuesTuple(b, valueIdx)
	} else {
		b = appendTuple(b, s.scratch.Keys())
		valuesAt = len(b)
		b = appendSelected(b, s.scratch.Values(), valueIdx)
	}
	docAt = len(b)
	return s.scratch.AppendJSON(b), valuesAt, docAt
}

func (s *genSource) identify(doc []byte) (uint64, error) {
	if sn, ok := s.scratch.(sniffer); ok {
		if i, ok := sn.SniffIndex(doc, s.seed); ok {
			return i, nil
		}
	}
	var td = s.newTD().(Generated)
	if err := json.Unmarshal(doc, td); err != nil {
		return 0, fmt.Errorf("cannot decode the document as %T: %w", td, err)
	}
	var i, ok = td.KeyIndex(s.seed)
	if !ok {
		return 0, fmt.Errorf("key %s is not a key matsim generated in this run", keyJSON(td.Keys()))
	}
	return i, nil
}

func (s *genSource) equal(doc []byte, i uint64, rev uint32) string {
	s.buf = s.appendJSON(s.buf[:0], i, rev)
	return jsonDiff(s.buf, doc)
}

func (s *genSource) keyString(i uint64) string {
	if kg, ok := s.scratch.(keyGenerator); ok {
		kg.GenerateKey(s.seed, i)
	} else {
		s.scratch.Generate(s.seed, i, 1)
	}
	return keyJSON(s.scratch.Keys())
}

func (s *genSource) forget(uint64, uint32) {}

func (s *genSource) family(doc []byte) (uint64, uint64, bool) {
	if f, ok := s.scratch.(familySniffer); ok {
		return f.SniffFamily(doc, s.seed)
	}
	return 0, 0, false
}

func (s *genSource) twins(i uint64) (uint64, uint64) {
	if t, ok := s.scratch.(twinner); ok {
		return t.Twins(i)
	}
	return i, 1
}

// ---------------------------------------------------------------------------

// memSource keeps every revision of user-supplied TestData in memory. Initial
// documents are filled deterministically from the seed; later revisions come from
// the type's UpdateValues.
type memSource struct {
	seed  uint64
	newTD func() TestData
	docs  map[uint64][]TestData // index → revisions (docs[i][rev-1])
	byKey map[string]uint64
}

func newMemSource(newTestData func() TestData, seed uint64) (*memSource, error) {
	var s = &memSource{seed: seed, newTD: newTestData, docs: map[uint64][]TestData{}, byKey: map[string]uint64{}}
	// Check the type round-trips through JSON before the run depends on it.
	var td, err = s.doc(0, 1)
	if err != nil {
		return nil, err
	}
	var b, _ = json.Marshal(td)
	var back = newTestData()
	if err := json.Unmarshal(b, back); err != nil {
		return nil, fmt.Errorf("test data type %T does not round-trip through JSON: %w", td, err)
	}
	if !td.Equal(back) {
		return nil, fmt.Errorf("test data type %T: a document is not Equal to itself after a JSON round trip (%s)", td, b)
	}
	return s, nil
}

func (s *memSource) doc(i uint64, rev uint32) (TestData, error) {
	var revs = s.docs[i]
	for uint32(len(revs)) < rev {
		var next = s.newTD()
		if len(revs) == 0 {
			var r = newRng(s.seed, i)
			if err := fillRandom(reflect.ValueOf(next), &r, i); err != nil {
				return nil, fmt.Errorf("generating test data of type %T: %w", next, err)
			}
			var k = string(next.Keys().Pack())
			if j, dup := s.byKey[k]; dup && j != i {
				return nil, fmt.Errorf("test data type %T: documents %d and %d got the same key %s; give it an integer or string key field", next, j, i, keyJSON(next.Keys()))
			}
			s.byKey[k] = i
		} else {
			var b, err = json.Marshal(revs[len(revs)-1])
			if err != nil {
				return nil, err
			}
			if err = json.Unmarshal(b, next); err != nil {
				return nil, err
			}
			var before = string(next.Keys().Pack())
			next.UpdateValues()
			if string(next.Keys().Pack()) != before {
				return nil, fmt.Errorf("test data type %T: UpdateValues changed the keys", next)
			}
		}
		revs = append(revs, next)
	}
	s.docs[i] = revs
	return revs[rev-1], nil
}

func (s *memSource) must(i uint64, rev uint32) TestData {
	var td, err = s.doc(i, rev)
	if err != nil {
		panic(err) // Checked for index 0 in newMemSource; types that fail later are broken.
	}
	return td
}

func (s *memSource) appendJSON(b []byte, i uint64, rev uint32) []byte {
	var out, err = json.Marshal(s.must(i, rev))
	if err != nil {
		panic(err)
	}
	return append(b, out...)
}

func (s *memSource) appendKey(b []byte, i uint64) []byte { return appendTuple(b, s.must(i, 1).Keys()) }

func (s *memSource) appendItem(b []byte, i uint64, rev uint32, valueIdx []int) ([]byte, int, int) {
	var td = s.must(i, rev)
	b = appendTuple(b, td.Keys())
	var valuesAt = len(b)
	b = appendSelected(b, td.Values(), valueIdx)
	var docAt = len(b)
	return s.appendJSON(b, i, rev), valuesAt, docAt
}

func (s *memSource) identify(doc []byte) (uint64, error) {
	var td = s.newTD()
	if err := json.Unmarshal(doc, td); err != nil {
		return 0, fmt.Errorf("cannot decode the document as %T: %w", td, err)
	}
	var i, ok = s.byKey[string(td.Keys().Pack())]
	if !ok {
		return 0, fmt.Errorf("key %s is not a key matsim generated in this run", keyJSON(td.Keys()))
	}
	return i, nil
}

func (s *memSource) equal(doc []byte, i uint64, rev uint32) string {
	var want = s.must(i, rev)
	var got = s.newTD()
	if err := json.Unmarshal(doc, got); err != nil {
		return fmt.Sprintf("cannot decode the document: %v", err)
	}
	if want.Equal(got) {
		return ""
	}
	var wb, _ = json.Marshal(want)
	if d := jsonDiff(wb, doc); d != "" {
		return d
	}
	return fmt.Sprintf("Equal reports a difference: expected %s, got %s", clip(string(wb), 200), clip(string(doc), 200))
}

func (s *memSource) twins(i uint64) (uint64, uint64) { return i, 1 }

func (s *memSource) family([]byte) (uint64, uint64, bool) { return 0, 0, false }

func (s *memSource) keyString(i uint64) string { return keyJSON(s.must(i, 1).Keys()) }

func (s *memSource) forget(i uint64, rev uint32) {
	if revs := s.docs[i]; uint32(len(revs)) > rev {
		s.docs[i] = revs[:rev]
	}
}

// fillRandom fills the exported fields of a struct deterministically, giving key
// fields values unique to index i.
func fillRandom(v reflect.Value, r *rng, i uint64) error {
	for v.Kind() == reflect.Ptr {
		if v.IsNil() {
			return fmt.Errorf("nil pointer")
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("not a struct")
	}
	var td, _ = v.Addr().Interface().(TestData)
	var keys = map[string]bool{}
	if td != nil {
		for _, k := range td.KeyFields() {
			keys[k] = true
		}
	}
	var uniqueSet bool
	var t = v.Type()
	for j := 0; j < t.NumField(); j++ {
		var sf = t.Field(j)
		if !sf.IsExported() {
			continue
		}
		var name = jsonName(sf)
		if name == "-" {
			continue
		}
		var fv = v.Field(j)
		if keys[name] {
			switch fv.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				if !uniqueSet && fv.Type().Bits() >= 32 {
					fv.SetInt(int64(i))
					uniqueSet = true
				} else {
					fv.SetInt(int64(i % 3))
				}
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				if !uniqueSet && fv.Type().Bits() >= 32 {
					fv.SetUint(i)
					uniqueSet = true
				} else {
					fv.SetUint(i % 3)
				}
			case reflect.String:
				if !uniqueSet {
					fv.SetString(nastyNames[i%uint64(len(nastyNames))] + "#" + strconv.FormatUint(i, 36))
					uniqueSet = true
				} else {
					fv.SetString(nastyNames[i%uint64(len(nastyNames))])
				}
			case reflect.Bool:
				fv.SetBool(i%2 == 1)
			default:
				return fmt.Errorf("key field %s has unsupported kind %s", sf.Name, fv.Kind())
			}
			continue
		}
		fillValue(fv, r, 0)
	}
	return nil
}

func jsonName(sf reflect.StructField) string {
	var tag = sf.Tag.Get("json")
	for k := 0; k < len(tag); k++ {
		if tag[k] == ',' {
			tag = tag[:k]
			break
		}
	}
	if tag == "" {
		return sf.Name
	}
	return tag
}

func fillValue(fv reflect.Value, r *rng, depth int) {
	if !fv.CanSet() {
		return
	}
	switch fv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var bitsN = fv.Type().Bits()
		fv.SetInt(int64(r.next()) >> (65 - bitsN))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fv.SetUint(r.next() >> (64 - fv.Type().Bits()))
	case reflect.Float32:
		fv.SetFloat(float64(float32((r.float() - 0.5) * 1e4)))
	case reflect.Float64:
		fv.SetFloat((r.float() - 0.5) * 1e6)
	case reflect.Bool:
		fv.SetBool(r.next()&1 == 1)
	case reflect.String:
		fv.SetString(nastyTexts[r.intn(len(nastyTexts))])
	case reflect.Ptr:
		if depth < 3 && r.intn(3) != 0 {
			var p = reflect.New(fv.Type().Elem())
			fillValue(p.Elem(), r, depth+1)
			fv.Set(p)
		} else {
			fv.Set(reflect.Zero(fv.Type()))
		}
	case reflect.Slice:
		if fv.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			fv.SetBytes(richNested(r, uint32(r.intn(9))))
			return
		}
		var n = r.intn(4)
		var sl = reflect.MakeSlice(fv.Type(), n, n)
		for k := 0; k < n && depth < 3; k++ {
			fillValue(sl.Index(k), r, depth+1)
		}
		fv.Set(sl)
	case reflect.Struct:
		for k := 0; k < fv.NumField(); k++ {
			if fv.Type().Field(k).IsExported() {
				fillValue(fv.Field(k), r, depth+1)
			}
		}
	case reflect.Map:
		if fv.Type().Key().Kind() == reflect.String && depth < 3 {
			var m = reflect.MakeMap(fv.Type())
			for k := 0; k < r.intn(3); k++ {
				var val = reflect.New(fv.Type().Elem()).Elem()
				fillValue(val, r, depth+1)
				m.SetMapIndex(reflect.ValueOf("k"+strconv.Itoa(k)).Convert(fv.Type().Key()), val)
			}
			fv.Set(m)
		}
	}
}

// appendSelected appends the packed values at valueIdx.
func appendSelected(b []byte, values tuple.Tuple, valueIdx []int) []byte {
	for _, j := range valueIdx {
		b = appendTuple(b, tuple.Tuple{values[j]})
	}
	return b
}

// keyJSON renders a key tuple as a JSON array.
func keyJSON(t tuple.Tuple) string {
	var parts = make([]interface{}, len(t))
	for k, v := range t {
		if b, ok := v.([]byte); ok {
			parts[k] = string(b)
		} else {
			parts[k] = v
		}
	}
	var b, err = json.Marshal(parts)
	if err != nil {
		return fmt.Sprint(t)
	}
	return string(b)
}
