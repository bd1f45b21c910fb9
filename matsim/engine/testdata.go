package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/estuary/protocols/fdb/tuple"
)

// TestData is a document type that matsim materializes. The collection schema,
// keys and projections are derived from the Go type: its exported fields with `json`
// tags, and a `flowsim:"name,key"` or `flowsim:"name,required"` tag (see Schema).
//
//   - KeyFields: the JSON names of the key fields, in key order.
//   - RequiredFields: the fields that must be present in every document (keys included).
//   - Keys: the key values, in KeyFields order.
//   - Values: the values of every non-key field, in sorted field-name order (the
//     order of FieldSelection.Values).
//   - UpdateValues: change every non-key value, keeping the keys.
//   - Equal: whether two documents are the same.
//
// Documents travel as JSON (encoding/json, so types may implement json.Marshaler).
type TestData interface {
	KeyFields() []string
	RequiredFields() []string
	Keys() tuple.Tuple
	Values() tuple.Tuple
	UpdateValues()
	Equal(TestData) bool
}

// Generated is implemented by test data types that generate themselves from a seed,
// a key index and a revision, and can recover the key index from a document's keys.
// matsim then keeps no documents in memory: it regenerates the expected document of
// any key from its index and the revision it last stored (4 bytes a key). Rich and
// Basic implement it; types that don't are kept in memory.
type Generated interface {
	TestData
	// Generate overwrites the receiver with the document of key index i at revision rev.
	Generate(seed, i uint64, rev uint32)
	// KeyIndex returns the key index of the receiver's keys, or false when these keys
	// are not ones Generate makes for this seed.
	KeyIndex(seed uint64) (uint64, bool)
	// AppendJSON appends the canonical JSON encoding of the receiver.
	AppendJSON(b []byte) []byte
}

// keyGenerator is optionally implemented by Generated types to set only the key
// fields of key index i (cheaper than Generate when only the key is needed).
type keyGenerator interface {
	GenerateKey(seed, i uint64)
}

// tupleAppender is optionally implemented by Generated types to append their packed
// keys and selected values without boxing them in a tuple.Tuple.
type tupleAppender interface {
	appendKeyTuple(b []byte) []byte
	appendValuesTuple(b []byte, valueIdx []int) []byte
}

// twinner is optionally implemented by Generated types whose keys come in families
// of "twins" (keys a careless store could take for one another): key i's family is
// the indices [first, first+n).
type twinner interface {
	Twins(i uint64) (first, n uint64)
}

// familySniffer is optionally implemented by twinner types: the family of a
// document whose key is not exactly one of the family's (e.g. a corrupted name).
type familySniffer interface {
	SniffFamily(doc []byte, seed uint64) (first, n uint64, ok bool)
}

// sniffer is optionally implemented by Generated types to find the key index of a
// canonical JSON document without decoding it (the fast path of verification).
type sniffer interface {
	SniffIndex(doc []byte, seed uint64) (uint64, bool)
}

// ---------------------------------------------------------------------------
// Deterministic randomness.

// mix64 is the splitmix64 finalizer: a bijection of uint64 with good avalanche.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is a tiny deterministic generator (splitmix64 stream).
type rng struct{ s uint64 }

func newRng(parts ...uint64) rng {
	var s uint64 = 0x6a09e667f3bcc909
	for _, p := range parts {
		s = mix64(s ^ p)
	}
	return rng{s}
}

func (r *rng) next() uint64 { r.s += 0x9e3779b97f4a7c15; return mix64(r.s) }

// intn returns a value in [0, n).
func (r *rng) intn(n int) int {
	var hi, _ = bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// ---------------------------------------------------------------------------
// Basic: a small document with a compound key.

// Basic is a simple document: an integer+string compound key and three values.
type Basic struct {
	ID      int64   `json:"id" flowsim:"id,key"`
	Key     string  `json:"key" flowsim:"key,key"`
	Boolean bool    `json:"boolean" flowsim:"boolean,required"`
	Integer int64   `json:"integer" flowsim:"integer,required"`
	Number  float64 `json:"number" flowsim:"number,required"`
	String  string  `json:"string" flowsim:"string,required"`

	rev uint32
}

func (d *Basic) KeyFields() []string { return []string{"id", "key"} }
func (d *Basic) RequiredFields() []string {
	return []string{"id", "key", "boolean", "integer", "number", "string"}
}
func (d *Basic) Keys() tuple.Tuple { return tuple.Tuple{d.ID, d.Key} }
func (d *Basic) Values() tuple.Tuple {
	return tuple.Tuple{d.Boolean, d.Integer, d.Number, d.String}
}
func (d *Basic) UpdateValues() {
	var r = newRng(uint64(d.ID), uint64(d.rev)+1)
	d.rev++
	d.fill(&r)
}
func (d *Basic) Equal(o TestData) bool {
	var b, ok = o.(*Basic)
	return ok && d.ID == b.ID && d.Key == b.Key && d.Boolean == b.Boolean &&
		d.Integer == b.Integer && d.Number == b.Number && d.String == b.String
}

func (d *Basic) fill(r *rng) {
	d.Boolean = r.next()&1 == 1
	d.Integer = int64(r.next()>>20) - 1<<43
	d.Number = math.Round((r.float()-0.5)*1e6) / 1e3
	d.String = "basic-" + strconv.FormatUint(r.next()>>32, 36)
}

// Generate implements Generated.
func (d *Basic) Generate(seed, i uint64, rev uint32) {
	*d = Basic{ID: int64(i) + int64(seedOffset(seed)), Key: "k" + strconv.FormatUint(i%7, 10), rev: rev}
	var r = newRng(seed, i, uint64(rev))
	d.fill(&r)
}

// GenerateKey implements keyGenerator.
func (d *Basic) GenerateKey(seed, i uint64) {
	d.ID, d.Key = int64(i)+int64(seedOffset(seed)), "k"+strconv.FormatUint(i%7, 10)
}

// KeyIndex implements Generated.
func (d *Basic) KeyIndex(seed uint64) (uint64, bool) {
	var i = d.ID - int64(seedOffset(seed))
	if i < 0 || d.Key != "k"+strconv.FormatUint(uint64(i)%7, 10) {
		return 0, false
	}
	return uint64(i), true
}

// AppendJSON implements Generated.
func (d *Basic) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, d.ID, 10)
	b = append(b, `,"key":`...)
	b = appendString(b, d.Key)
	b = append(b, `,"boolean":`...)
	b = strconv.AppendBool(b, d.Boolean)
	b = append(b, `,"integer":`...)
	b = strconv.AppendInt(b, d.Integer, 10)
	b = append(b, `,"number":`...)
	b = appendFloat(b, d.Number)
	b = append(b, `,"string":`...)
	b = appendString(b, d.String)
	return append(b, '}')
}

// MarshalJSON encodes the canonical form.
func (d *Basic) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil), nil }

// seedOffset moves the key space of a seed, so that runs with different seeds
// against the same resource don't collide. It is below 2^40.
func seedOffset(seed uint64) uint64 { return mix64(seed) >> 24 }

// ---------------------------------------------------------------------------
// Rich: the default document, built to break connectors.

// MaxSafeInteger is 2^53-1, the largest integer a float64 holds exactly.
const MaxSafeInteger = 1<<53 - 1

// Optional is a JSON value that may be absent (omitted), null, or a string.
type Optional struct {
	Present bool
	Null    bool
	Value   string
}

// IsZero reports absence, for `omitzero`.
func (o Optional) IsZero() bool { return !o.Present }

func (o Optional) MarshalJSON() ([]byte, error) {
	if o.Null || !o.Present {
		return []byte("null"), nil
	}
	return appendString(nil, o.Value), nil
}

func (o *Optional) UnmarshalJSON(b []byte) error {
	*o = Optional{Present: true}
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// Rich is the default document. Its compound key is an integer near ±2^53 (or small,
// or negative) and a unicode string that may be empty. Its values hold integers near
// ±2^53, floats from tiny to huge, booleans, unicode text with quotes, backslashes,
// control characters, emoji and newlines (sometimes empty, sometimes long), an
// optional field that is a string, null or absent, and a nested object with arrays.
type Rich struct {
	ID     int64           `json:"id" flowsim:"id,key"`
	Name   string          `json:"name" flowsim:"name,key"`
	Rev    int64           `json:"rev" flowsim:"rev,required"`
	Count  int64           `json:"count" flowsim:"count,required"`
	Ratio  float64         `json:"ratio" flowsim:"ratio,required"`
	Flag   bool            `json:"flag" flowsim:"flag,required"`
	Text   string          `json:"text" flowsim:"text,required"`
	Note   Optional        `json:"note,omitzero" flowsim:"note,type=string|null"`
	Nested json.RawMessage `json:"nested" flowsim:"nested,required,type=object"`

	seed uint64
	nbuf []byte // reused by Generate for Nested
}

func (d *Rich) KeyFields() []string { return []string{"id", "name"} }
func (d *Rich) RequiredFields() []string {
	return []string{"id", "name", "rev", "count", "ratio", "flag", "text", "nested"}
}
func (d *Rich) Keys() tuple.Tuple { return tuple.Tuple{d.ID, d.Name} }

// Values are in sorted field order: count, flag, nested, note, ratio, rev, text.
func (d *Rich) Values() tuple.Tuple {
	var note interface{}
	if d.Note.Present && !d.Note.Null {
		note = d.Note.Value
	}
	return tuple.Tuple{d.Count, d.Flag, []byte(d.Nested), note, d.Ratio, d.Rev, d.Text}
}

func (d *Rich) appendKeyTuple(b []byte) []byte {
	return appendTupleBytes(appendTupleInt(b, d.ID), 0x02, d.Name)
}

func (d *Rich) appendValuesTuple(b []byte, valueIdx []int) []byte {
	for _, j := range valueIdx {
		switch j {
		case 0:
			b = appendTupleInt(b, d.Count)
		case 1:
			if d.Flag {
				b = append(b, 0x27)
			} else {
				b = append(b, 0x26)
			}
		case 2:
			b = appendTupleBytes(b, 0x01, string(d.Nested))
		case 3:
			if d.Note.Present && !d.Note.Null {
				b = appendTupleBytes(b, 0x02, d.Note.Value)
			} else {
				b = append(b, 0x00)
			}
		case 4:
			b = appendTupleDouble(b, d.Ratio)
		case 5:
			b = appendTupleInt(b, d.Rev)
		case 6:
			b = appendTupleBytes(b, 0x02, d.Text)
		}
	}
	return b
}

func (d *Rich) UpdateValues() {
	var i, ok = d.KeyIndex(d.seed)
	if !ok {
		i = uint64(d.ID)
	}
	d.Generate(d.seed, i, uint32(d.Rev)+1)
}

func (d *Rich) Equal(o TestData) bool {
	var r, ok = o.(*Rich)
	if !ok {
		return false
	}
	var a, b = d.AppendJSON(nil), r.AppendJSON(nil)
	if string(a) == string(b) {
		return true
	}
	return jsonDiff(a, b) == ""
}

// nastyNames are key components: empty, multi-byte, emoji (with ZWJ), quotes,
// backslashes, newlines, control characters, trailing space, RTL text.
var nastyNames = []string{
	"",
	"plain",
	"naïve café",
	"日本語のキー",
	"emoji 🚀 👩‍👩‍👧‍👦",
	`quote " and 'single'`,
	`back\slash \\ \u0041`,
	"new\nline\ttab\r\n",
	"ctl \u0001\u001f\u007f",
	"trailing space ",
	"עברית RTL",
	"Zürich/ß/İ",
	"<script>&amp;</script>",
	"\u2028\u2029 separators",
}

var nastyTexts = []string{
	"",
	"hello, world",
	"Grüße aus Köln — ∑ ≠ ∞",
	"中文字符与标点。",
	"🦀🐹🐍 emoji, skin tones 👍🏽, flags 🇳🇿",
	`JSON-ish {"a": [1, 2]} \"escaped\" \\ backslash`,
	"multi\nline\ntext\n",
	"tabs\tand\rreturns",
	"zero width\u200bjoiner\u200d and BOM \ufeff",
	"SQL '; DROP TABLE x; -- ",
	"   leading and trailing   ",
	"surrogate-range 𝄞 music 𝄞",
}

var longRunes = []string{"ä", "€", "𝄞", "x", " ", "\\", "\""}

// longTexts are strings over 1000 bytes of mixed multi-byte runes, made once.
var longTexts = func() []string {
	var out []string
	var r = newRng(0x1017)
	for k := 0; k < 16; k++ {
		var long = make([]byte, 0, 1200)
		for len(long) < 1000 {
			long = append(long, longRunes[r.intn(len(longRunes))]...)
		}
		out = append(out, "long:"+string(long)+":end")
	}
	return out
}()

// notes[rev%8][j] is the optional note's value: it changes with the revision.
var notes = func() [][]string {
	var out = make([][]string, 8)
	for rev := range out {
		for _, t := range nastyTexts {
			out[rev] = append(out[rev], "note r"+strconv.Itoa(rev)+" "+t)
		}
	}
	return out
}()

// longTextEvery is how often a document is long enough to break VARCHAR(255) columns.
const longTextEvery = 16

// Generate implements Generated.
func (d *Rich) Generate(seed, i uint64, rev uint32) {
	var nbuf = d.nbuf[:0]
	*d = Rich{seed: seed, ID: richID(seed, i/keyFamilySize), Name: familyName(i), Rev: int64(rev)}
	var r = newRng(seed, i, uint64(rev))

	switch r.intn(6) {
	case 0:
		d.Count = MaxSafeInteger - int64(r.intn(3))
	case 1:
		d.Count = -MaxSafeInteger + int64(r.intn(3))
	case 2:
		d.Count = 0
	case 3:
		d.Count = int64(r.next()>>12) - 1<<51
	default:
		d.Count = int64(r.intn(2000)) - 1000
	}
	switch r.intn(8) {
	case 0:
		d.Ratio = 0.1
	case 1:
		d.Ratio = 1e-300 * (1 + r.float())
	case 2:
		d.Ratio = -1.7976931348623157e308 * r.float()
	case 3:
		d.Ratio = float64(r.intn(100)) // integral: connectors may return 7 for 7.0
	case 4:
		d.Ratio = math.Pi * float64(rev+1)
	case 5:
		d.Ratio = float64(MaxSafeInteger) * 0.5
	default:
		d.Ratio = (r.float() - 0.5) * 1e6
	}
	d.Flag = r.next()&1 == 1

	var text = nastyTexts[r.intn(len(nastyTexts))]
	if r.intn(longTextEvery) == 0 {
		text = longTexts[r.intn(len(longTexts))]
	}
	d.Text = text

	switch r.intn(3) {
	case 0:
		d.Note = Optional{} // absent
	case 1:
		d.Note = Optional{Present: true, Null: true}
	default:
		d.Note = Optional{Present: true, Value: notes[int(rev)%len(notes)][r.intn(len(nastyTexts))]}
	}
	d.Nested = appendNested(nbuf, &r, rev)
	d.nbuf = d.Nested
}

// GenerateKey implements keyGenerator.
func (d *Rich) GenerateKey(seed, i uint64) {
	d.seed, d.ID, d.Name = seed, richID(seed, i/keyFamilySize), familyName(i)
}

// richNested builds a nested object with arrays, nulls, unicode keys and numbers.
func richNested(r *rng, rev uint32) json.RawMessage {
	return appendNested(make([]byte, 0, 160), r, rev)
}

func appendNested(b []byte, r *rng, rev uint32) json.RawMessage {
	b = append(b, `{"tags":[`...)
	var n = r.intn(4)
	for j := 0; j < n; j++ {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendString(b, nastyNames[r.intn(len(nastyNames))])
	}
	b = append(b, `],"attrs":{"rev":`...)
	b = strconv.AppendUint(b, uint64(rev), 10)
	b = append(b, `,"ключ":`...)
	b = appendFloat(b, float64(r.intn(1000))/8)
	b = append(b, `,"big":`...)
	b = strconv.AppendInt(b, MaxSafeInteger-int64(r.intn(10)), 10)
	b = append(b, `},"deep":{"list":[1,"two",null,true,{"x":[]}],"empty":{}`...)
	if r.intn(2) == 0 {
		b = append(b, `,"maybe":null`...)
	}
	b = append(b, `}}`...)
	return b
}

// keyFamilySize is how many consecutive key indices share one integer key
// component (a family): their names are "collation twins", distinct strings that
// common database collations compare as equal (case, trailing spaces, Unicode
// normalisation, ß/ss, full width), so a connector that keys rows on the first key
// component only or compares keys with such a collation merges them.
const keyFamilySize = 8

// keyFamilies are the names of a family's members; family f uses familySet(f).
// Together they hold every nastyName.
var keyFamilies = [4][keyFamilySize]string{
	{"plain", "Plain", "PLAIN", "plain ", "plain  ", "", "naïve café", "nai\u0308ve cafe\u0301"},
	{"Zürich/ß/İ", "Zu\u0308rich/ß/İ", "straße", "STRASSE", "strasse", "Straße ", "ＦＵＬＬ ｗｉｄｔｈ", "FULL width"},
	{"emoji 🚀 👩‍👩‍👧‍👦", "EMOJI 🚀 👩‍👩‍👧‍👦", "trailing space ", "trailing space", `quote " and 'single'`, `QUOTE " AND 'SINGLE'`, `back\slash \\ \u0041`, "new\nline\ttab\r\n"},
	{"日本語のキー", "日本語のキー ", "עברית RTL", "עברית rtl", "ctl \u0001\u001f\u007f", "<script>&amp;</script>", "<SCRIPT>&amp;</SCRIPT>", "\u2028\u2029 separators"},
}

// familyJSON holds the canonical JSON encodings of keyFamilies.
var familyJSON = func() (out [len(keyFamilies)][keyFamilySize]string) {
	for s := range keyFamilies {
		for m, n := range keyFamilies[s] {
			out[s][m] = string(appendString(nil, n))
		}
	}
	return out
}()

// familySet picks the names of family f; it varies independently of the class of
// f's integer (richID cycles classes with f%4).
func familySet(f uint64) uint64 { return f / 4 % uint64(len(keyFamilies)) }

// familyName is the name component of key index i.
func familyName(i uint64) string {
	return keyFamilies[familySet(i/keyFamilySize)][i%keyFamilySize]
}

// richID maps a family index to an integer key component, bijectively for a seed:
// indices cycle through values just below 2^53, just above -2^53, small
// non-negative values and small negative values.
func richID(seed, i uint64) int64 {
	var k = int64(i/4 + seedOffset(seed))
	switch i % 4 {
	case 0:
		return MaxSafeInteger - k
	case 1:
		return -MaxSafeInteger + k
	case 2:
		return k
	default:
		return -k - 1
	}
}

func richIndex(seed uint64, id int64) (uint64, bool) {
	const half = 1 << 52
	var k int64
	var r uint64
	switch {
	case id > half:
		k, r = MaxSafeInteger-id, 0
	case id < -half:
		k, r = id+MaxSafeInteger, 1
	case id >= 0:
		k, r = id, 2
	default:
		k, r = -id-1, 3
	}
	k -= int64(seedOffset(seed))
	if k < 0 || k >= half/4 {
		return 0, false
	}
	return uint64(k)*4 + r, true
}

// KeyIndex implements Generated.
func (d *Rich) KeyIndex(seed uint64) (uint64, bool) {
	var f, ok = richIndex(seed, d.ID)
	if !ok {
		return 0, false
	}
	var names = &keyFamilies[familySet(f)]
	for m := range names {
		if names[m] == d.Name {
			return f*keyFamilySize + uint64(m), true
		}
	}
	return 0, false
}

// Twins implements twinner: the keys of i's family share its integer component and
// have names that collide in common collations.
func (d *Rich) Twins(i uint64) (first, n uint64) {
	return i / keyFamilySize * keyFamilySize, keyFamilySize
}

// SniffFamily implements familySniffer: the family of a canonical document's
// integer key, whatever its name.
func (d *Rich) SniffFamily(doc []byte, seed uint64) (first, n uint64, ok bool) {
	const prefix = `{"id":`
	if len(doc) < len(prefix)+2 || string(doc[:len(prefix)]) != prefix {
		return 0, 0, false
	}
	var j = len(prefix)
	for j < len(doc) && (doc[j] == '-' || doc[j] >= '0' && doc[j] <= '9') {
		j++
	}
	var id, err = strconv.ParseInt(string(doc[len(prefix):j]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	var f, fok = richIndex(seed, id)
	return f * keyFamilySize, keyFamilySize, fok
}

// SniffIndex implements sniffer for documents in canonical form.
func (d *Rich) SniffIndex(doc []byte, seed uint64) (uint64, bool) {
	const prefix, name = `{"id":`, `,"name":`
	if len(doc) < len(prefix)+2 || string(doc[:len(prefix)]) != prefix {
		return 0, false
	}
	var j = len(prefix)
	for j < len(doc) && (doc[j] == '-' || doc[j] >= '0' && doc[j] <= '9') {
		j++
	}
	var id, err = strconv.ParseInt(string(doc[len(prefix):j]), 10, 64)
	if err != nil {
		return 0, false
	}
	var f, ok = richIndex(seed, id)
	if !ok || len(doc) < j+len(name) || string(doc[j:j+len(name)]) != name {
		return 0, false
	}
	var rest = doc[j+len(name):]
	// An encoded JSON string ends at its first unescaped quote, so a prefix match
	// of a whole encoded name is that name.
	var encoded = &familyJSON[familySet(f)]
	for m := range encoded {
		if len(rest) >= len(encoded[m]) && string(rest[:len(encoded[m])]) == encoded[m] {
			return f*keyFamilySize + uint64(m), true
		}
	}
	return 0, false
}

// AppendJSON implements Generated: fields in declaration order, `note` omitted when absent.
func (d *Rich) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, d.ID, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, d.Name)
	b = append(b, `,"rev":`...)
	b = strconv.AppendInt(b, d.Rev, 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, d.Count, 10)
	b = append(b, `,"ratio":`...)
	b = appendFloat(b, d.Ratio)
	b = append(b, `,"flag":`...)
	b = strconv.AppendBool(b, d.Flag)
	b = append(b, `,"text":`...)
	b = appendString(b, d.Text)
	if d.Note.Present {
		b = append(b, `,"note":`...)
		if d.Note.Null {
			b = append(b, "null"...)
		} else {
			b = appendString(b, d.Note.Value)
		}
	}
	b = append(b, `,"nested":`...)
	if len(d.Nested) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, d.Nested...)
	}
	return append(b, '}')
}

// MarshalJSON encodes the canonical form.
func (d *Rich) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil), nil }

// ---------------------------------------------------------------------------
// JSON encoding helpers.

const hexDigits = "0123456789abcdef"

// needsEscape marks the bytes a JSON string must escape.
var needsEscape = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// appendString appends s as a JSON string, escaping quotes, backslashes and
// control characters and leaving other UTF-8 as is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	var start = 0
	for i := 0; i < len(s); i++ {
		var c = s[i]
		if !needsEscape[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends f in the shortest form that round-trips. Finite only.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic(fmt.Sprintf("non-finite float %v in a document", f))
	}
	var abs = math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
