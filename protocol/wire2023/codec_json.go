package wire2023

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The JSON mapping of the current era, as its connectors read and write it (gogo's
// jsonpb with EnumsAsInts=false, EmitDefaults=false, OrigName=false on the way out
// and AllowUnknownFields=true on the way in): fields by their JSON names (either
// name is accepted when reading), unset fields left out, enums by name (numbers
// accepted), 64-bit integers as decimal strings (numbers accepted), durations as
// "1.5s", raw JSON fields (bytes fields whose name holds "_json") inline and
// compacted onto one line, other bytes as standard base64, unknown fields skipped.
//
// Reading, in detail (the rules of the codec's first, encoding/json-based
// decoder, which the tests keep as their reference): the input must be valid JSON
// (encoding/json's grammar) holding one object; a null member is a field left
// unset; a member named twice is read from its last occurrence only (a field
// named by both its names is read from both, in their order: the reference's
// order there was random); raw JSON is
// kept as it was written (not compacted); strings (and keys) are decoded as
// encoding/json decodes them (invalid UTF-8 becomes U+FFFD); a null element of a
// list or value of a map is the kind's default if the kind reads null so (a
// message, a string, base64 bytes, raw JSON "null") and an error otherwise.
//
// The decoder is one pass over the input (json_scan.go) that decodes each member
// where it finds it. Where that cannot give the reference's answer (a member
// named twice, or any error), it starts again from the beginning in a careful mode
// that first finds all members of an object, then decodes the last occurrence of
// each; syntax errors are reported with encoding/json's message, as before.

// MarshalJSON encodes m in the current era's JSON mapping, on one line.
func MarshalJSON(m proto.Message) ([]byte, error) { return appendJSON(nil, m.ProtoReflect()) }

const durationName = "google.protobuf.Duration"

func isRawJSON(fd protoreflect.FieldDescriptor) bool {
	return strings.Contains(string(fd.Name()), "_json")
}

// rawOwner is the field whose name says whether bytes are raw JSON: the map field
// for a map's value, the field itself otherwise.
func rawOwner(fd protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
	if c := fd.ContainingMessage(); c != nil && c.IsMapEntry() {
		if p, ok := c.Parent().(protoreflect.MessageDescriptor); ok {
			for i := 0; i < p.Fields().Len(); i++ {
				if f := p.Fields().Get(i); f.IsMap() && f.Message() == c {
					return f
				}
			}
		}
	}
	return fd
}

// --- What the codec knows of a message type, worked out once per descriptor.

type msgInfo struct {
	md         protoreflect.MessageDescriptor
	isDuration bool
	seconds    protoreflect.FieldDescriptor // of a Duration
	nanos      protoreflect.FieldDescriptor
	fields     []*fieldInfo        // in the descriptor's order
	byName     map[string]fieldRef // JSON names, and proto names where they differ
}

// fieldRef is a field as one of its names names it: id is 2*index for the JSON
// name and 2*index+1 for the proto name, so two members with the same id are the
// same key.
type fieldRef struct {
	fi *fieldInfo
	id int
}

type fieldInfo struct {
	fd       protoreflect.FieldDescriptor
	jsonName string
	list     bool
	isMap    bool
	msg      bool      // a message (singular or list)
	val      valueInfo // the value: of the field, an element, or a map's value
	key      valueInfo // a map's key
	member   []byte    // `"jsonName":`
}

type valueInfo struct {
	fd      protoreflect.FieldDescriptor
	kind    protoreflect.Kind
	rawDec  bool // bytes read as raw JSON
	rawEnc  bool // bytes written as raw JSON
	owner   protoreflect.FieldDescriptor
	msg     *msgInfo
	byName  map[string]protoreflect.EnumNumber // of an enum
	byValue map[protoreflect.EnumNumber]string // an enum's names, quoted
}

var (
	infoCache sync.Map // protoreflect.MessageDescriptor → *msgInfo
	infoMu    sync.Mutex
	lastInfo  atomic.Pointer[msgInfo] // the last one looked up
)

// infoOf returns md's msgInfo, building (under infoMu) the infos of md and of all
// the message types it reaches that are not yet known, all before any is shared.
func infoOf(md protoreflect.MessageDescriptor) *msgInfo {
	if mi := lastInfo.Load(); mi != nil && mi.md == md {
		return mi
	}
	if v, ok := infoCache.Load(md); ok {
		lastInfo.Store(v.(*msgInfo))
		return v.(*msgInfo)
	}
	infoMu.Lock()
	defer infoMu.Unlock()
	var building = map[protoreflect.MessageDescriptor]*msgInfo{}
	var mi = buildInfo(md, building)
	for d, i := range building {
		infoCache.Store(d, i)
	}
	return mi
}

func buildInfo(md protoreflect.MessageDescriptor, building map[protoreflect.MessageDescriptor]*msgInfo) *msgInfo {
	if v, ok := infoCache.Load(md); ok {
		return v.(*msgInfo)
	}
	if mi, ok := building[md]; ok {
		return mi
	}
	var mi = &msgInfo{md: md, isDuration: md.FullName() == durationName, byName: map[string]fieldRef{}}
	building[md] = mi
	var fields = md.Fields()
	if mi.isDuration {
		mi.seconds, mi.nanos = fields.ByName("seconds"), fields.ByName("nanos")
	}
	for i := 0; i < fields.Len(); i++ {
		var fd = fields.Get(i)
		var fi = &fieldInfo{fd: fd, jsonName: fd.JSONName(), list: fd.IsList(), isMap: fd.IsMap()}
		fi.member = append(strconv.AppendQuote(nil, fd.JSONName()), ':')
		if fi.isMap {
			fi.key = buildValue(fd.MapKey(), fd.MapKey(), building)
			fi.val = buildValue(fd.MapValue(), fd, building)
		} else {
			fi.val = buildValue(fd, fd, building)
			fi.msg = fd.Kind() == protoreflect.MessageKind
		}
		mi.fields = append(mi.fields, fi)
	}
	// A name is looked up as a JSON name first, then as a proto name.
	for i, fi := range mi.fields {
		mi.byName[string(fi.fd.Name())] = fieldRef{fi, 2*i + 1}
	}
	for i, fi := range mi.fields {
		if fields.ByJSONName(fi.jsonName) == fi.fd {
			mi.byName[fi.jsonName] = fieldRef{fi, 2 * i}
		}
	}
	return mi
}

// buildValue: fd is the field, list element or map key or value; owner is the
// field (the map field, for a map's key and value).
func buildValue(fd, owner protoreflect.FieldDescriptor, building map[protoreflect.MessageDescriptor]*msgInfo) valueInfo {
	var vi = valueInfo{fd: fd, kind: fd.Kind(), owner: owner}
	switch vi.kind {
	case protoreflect.BytesKind:
		vi.rawDec = isRawJSON(rawOwner(owner)) || isRawJSON(owner)
		vi.rawEnc = isRawJSON(rawOwner(fd))
	case protoreflect.EnumKind:
		var values = fd.Enum().Values()
		vi.byName = make(map[string]protoreflect.EnumNumber, values.Len())
		vi.byValue = make(map[protoreflect.EnumNumber]string, values.Len())
		for i := 0; i < values.Len(); i++ {
			var ev = values.Get(i)
			vi.byName[string(ev.Name())] = ev.Number()
			vi.byValue[ev.Number()] = strconv.Quote(string(values.ByNumber(ev.Number()).Name()))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		vi.msg = buildInfo(fd.Message(), building)
	}
	return vi
}

// --- Encoding.

func appendJSON(b []byte, m protoreflect.Message) ([]byte, error) {
	return appendMessage(b, m, infoOf(m.Descriptor()))
}

func appendMessage(b []byte, m protoreflect.Message, mi *msgInfo) ([]byte, error) {
	if mi.isDuration {
		var d = time.Duration(m.Get(mi.seconds).Int())*time.Second + time.Duration(m.Get(mi.nanos).Int())
		return strconv.AppendQuote(b, formatDuration(d)), nil
	}
	b = append(b, '{')
	var first = true
	for _, fi := range mi.fields {
		if !m.Has(fi.fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, fi.member...)
		var err error
		switch v := m.Get(fi.fd); {
		case fi.list:
			var l = v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = appendValue(b, &fi.val, l.Get(j)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		case fi.isMap:
			b, err = appendMap(b, fi, v.Map())
		default:
			b, err = appendValue(b, &fi.val, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendMap(b []byte, fi *fieldInfo, mp protoreflect.Map) ([]byte, error) {
	type entry struct {
		s string
		k protoreflect.MapKey
	}
	var keys = make([]entry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, entry{k.String(), k})
		return true
	})
	// Sorted keys: the same message always encodes to the same bytes.
	slices.SortFunc(keys, func(a, b entry) int { return strings.Compare(a.s, b.s) })
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k.s)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, &fi.val, mp.Get(k.k)); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendValue appends one singular value (of a field, a list or a map).
func appendValue(b []byte, vi *valueInfo, v protoreflect.Value) ([]byte, error) {
	switch vi.kind {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = strconv.AppendInt(append(b, '"'), v.Int(), 10)
		return append(b, '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = strconv.AppendUint(append(b, '"'), v.Uint(), 10)
		return append(b, '"'), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		var f = v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.AppendQuote(b, strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BytesKind:
		if vi.rawEnc {
			var out, err = appendCompact(b, v.Bytes())
			if err != nil {
				// json.Compact's own words for what is wrong.
				var e = json.Compact(new(bytes.Buffer), v.Bytes())
				if e == nil {
					e = err
				}
				return nil, fmt.Errorf("field %s holds invalid JSON: %w", rawOwner(vi.fd).FullName(), e)
			}
			return out, nil
		}
		b = base64.StdEncoding.AppendEncode(append(b, '"'), v.Bytes())
		return append(b, '"'), nil
	case protoreflect.EnumKind:
		if name, ok := vi.byValue[v.Enum()]; ok {
			return append(b, name...), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message(), vi.msg)
	}
	return nil, fmt.Errorf("field %s: unsupported kind %v", vi.fd.FullName(), vi.kind)
}

// appendString appends s as json.Marshal writes a string (with its HTML escapes):
// a string of printable ASCII that needs no escape as it is, any other through
// json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			var q, _ = json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// formatDuration writes d as protobuf's JSON mapping does: seconds with up to nine
// fractional digits, exactly ("0.25s", "-1.000000001s").
func formatDuration(d time.Duration) string {
	var sign = ""
	if d < 0 {
		sign, d = "-", -d
	}
	var s = strconv.FormatInt(int64(d/time.Second), 10)
	if ns := int64(d % time.Second); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return sign + s + "s"
}

// --- Decoding.

// UnmarshalJSON decodes one JSON object of the current era's mapping into m,
// skipping fields it does not know.
func UnmarshalJSON(data []byte, m proto.Message) error {
	proto.Reset(m)
	var rm = m.ProtoReflect()
	var mi = infoOf(rm.Descriptor())
	var d = decoder{scanner: scanner{data: data}}
	var err = d.top(rm, mi)
	if err == nil {
		return nil
	}
	// Invalid JSON, or not an object: encoding/json's words, as before.
	if mi.isDuration {
		if !json.Valid(data) {
			var s string
			return fmt.Errorf("%s: want a string like \"1.5s\": %w", mi.md.FullName(), json.Unmarshal(data, &s))
		}
	} else {
		var obj map[string]json.RawMessage
		if e := json.Unmarshal(data, &obj); e != nil {
			return fmt.Errorf("%s: %w", mi.md.FullName(), e)
		}
	}
	// A member named twice or an error: all again, in the careful mode.
	proto.Reset(m)
	d = decoder{scanner: scanner{data: data}, careful: true}
	return d.top(rm, mi)
}

type decoder struct {
	scanner
	// arena holds the bytes values decoded (raw JSON and base64) in one
	// allocation; at is where the value being decoded starts.
	arena []byte
	at    int
	// lines: data may go on past the message, which should end its line (a
	// Reader's buffer): the arena is sized to the end of the line.
	lines bool
	// careful: find an object's members first, then decode the last occurrence of
	// each; otherwise decode each member where it is found, and fail with errTwice
	// at a member named twice.
	careful bool
}

// errTwice: an object names a member twice (only outside the careful mode).
var errTwice = errors.New("a member is named twice")

func (d *decoder) top(m protoreflect.Message, mi *msgInfo) error {
	var end, err = d.message(d.ws(0), m, mi)
	if err != nil {
		return err
	}
	if end = d.ws(end); end != len(d.data) {
		return d.badAt(end, "after top-level value")
	}
	return nil
}

// value returns the extent of the value at data[i], validated.
func (d *decoder) value(i int) ([]byte, int, error) {
	d.at = i
	var end, err = d.skipValue(i)
	if err != nil {
		return nil, end, err
	}
	return d.data[i:end], end, nil
}

func (d *decoder) isNull(i int) bool {
	return i+4 <= len(d.data) && string(d.data[i:i+4]) == "null"
}

// message decodes the message at data[i] into m, which is new (or, where an
// object names a message field by both its names, holds the other's fields).
func (d *decoder) message(i int, m protoreflect.Message, mi *msgInfo) (int, error) {
	if mi.isDuration {
		return d.duration(i, m, mi)
	}
	if i < len(d.data) && d.data[i] == '{' {
		if d.careful {
			return d.objectCareful(i, m, mi)
		}
		return d.object(i, m, mi)
	}
	var raw, end, err = d.value(i)
	if err != nil || string(raw) == "null" {
		return end, err // null is a message with no fields
	}
	var obj map[string]json.RawMessage
	return end, fmt.Errorf("%s: %w", mi.md.FullName(), json.Unmarshal(raw, &obj))
}

func (d *decoder) duration(i int, m protoreflect.Message, mi *msgInfo) (int, error) {
	var raw, end, err = d.value(i)
	if err != nil {
		return end, err
	}
	var s string
	if t, ok := unquoteBytes(raw); ok {
		s = string(t)
	} else if string(raw) != "null" {
		return end, fmt.Errorf("%s: want a string like \"1.5s\": %w", mi.md.FullName(), json.Unmarshal(raw, &s))
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return end, fmt.Errorf("%s: %w", mi.md.FullName(), err)
	}
	m.Set(mi.seconds, protoreflect.ValueOfInt64(int64(dur/time.Second)))
	m.Set(mi.nanos, protoreflect.ValueOfInt32(int32(dur%time.Second)))
	return end, nil
}

// seenSet holds the fieldRef ids of the members of one object.
type seenSet struct {
	bits [2]uint64
	more []int
}

// add adds id and says whether it was there already.
func (s *seenSet) add(id int) bool {
	if id < 128 {
		var w, b = id / 64, uint64(1) << (id % 64)
		var had = s.bits[w]&b != 0
		s.bits[w] |= b
		return had
	}
	if slices.Contains(s.more, id) {
		return true
	}
	s.more = append(s.more, id)
	return false
}

// key reads the key at data[i] (which must be a string), the ':' and the
// whitespace after it, and returns the key (decoded) and the offset of its value.
func (d *decoder) key(i int) ([]byte, int, error) {
	var data = d.data
	if i >= len(data) || data[i] != '"' {
		return nil, i, d.badAt(i, "looking for beginning of object key string")
	}
	var end, _, err = d.skipString(i)
	if err != nil {
		return nil, end, err
	}
	var k, _ = unquoteBytes(data[i:end])
	if end = d.ws(end); end >= len(data) || data[end] != ':' {
		return nil, end, d.badAt(end, "after object key")
	}
	return k, d.ws(end + 1), nil
}

// next reads what follows a member or element at data[i]: more (after ',', and
// the offset of the next) or the end of the object or array (close).
func (d *decoder) next(i int, close byte) (int, bool, error) {
	if i = d.ws(i); i >= len(d.data) {
		return i, false, d.eofAt(i)
	}
	switch d.data[i] {
	case ',':
		return d.ws(i + 1), true, nil
	case close:
		d.depth--
		return i + 1, false, nil
	}
	if close == '}' {
		return i, false, d.badAt(i, "after object key:value pair")
	}
	return i, false, d.badAt(i, "after array element")
}

// object decodes the object at data[i] member by member.
func (d *decoder) object(i int, m protoreflect.Message, mi *msgInfo) (int, error) {
	if err := d.push(i); err != nil {
		return i, err
	}
	var j = d.ws(i + 1)
	if j < len(d.data) && d.data[j] == '}' {
		d.depth--
		return j + 1, nil
	}
	var seen seenSet
	for {
		var k []byte
		var err error
		if k, j, err = d.key(j); err != nil {
			return j, err
		}
		if ref, ok := mi.byName[string(k)]; !ok {
			if j, err = d.skipValue(j); err != nil { // an unknown field
				return j, err
			}
		} else if seen.add(ref.id) {
			return j, errTwice
		} else if d.isNull(j) {
			j += 4 // null is the default
		} else if j, err = d.field(j, m, ref.fi); err != nil {
			return j, fieldError(mi, ref.fi, err)
		}
		var more bool
		if j, more, err = d.next(j, '}'); err != nil || !more {
			return j, err
		}
	}
}

func fieldError(mi *msgInfo, fi *fieldInfo, err error) error {
	if _, ok := err.(*jsonSyntaxError); ok || err == errTwice {
		return err
	}
	return fmt.Errorf("%s.%s: %w", mi.md.FullName(), fi.jsonName, err)
}

type member struct {
	ref        fieldRef
	start, end int // of the value
}

// objectCareful decodes the object at data[i]: the last occurrence of each of
// its members, in their order.
func (d *decoder) objectCareful(i int, m protoreflect.Message, mi *msgInfo) (int, error) {
	var members []member
	var end, err = d.members(i, func(k []byte, start, end int) {
		if ref, ok := mi.byName[string(k)]; ok {
			members = append(members, member{ref, start, end})
		}
	})
	if err != nil {
		return end, err
	}
	var last = make([]int, 2*len(mi.fields)) // by fieldRef id: the last occurrence
	for n, mb := range members {
		last[mb.ref.id] = n
	}
	for n, mb := range members {
		if last[mb.ref.id] != n || d.isNull(mb.start) {
			continue // read from its last occurrence; null is the default
		}
		if _, err := d.field(mb.start, m, mb.ref.fi); err != nil {
			return end, fieldError(mi, mb.ref.fi, err)
		}
	}
	return end, nil
}

// members calls fn with each member of the object at data[i] (its key, and the
// extent of its value) and returns the offset past the object.
func (d *decoder) members(i int, fn func(k []byte, start, end int)) (int, error) {
	if err := d.push(i); err != nil {
		return i, err
	}
	var j = d.ws(i + 1)
	if j < len(d.data) && d.data[j] == '}' {
		d.depth--
		return j + 1, nil
	}
	for {
		var k []byte
		var err error
		if k, j, err = d.key(j); err != nil {
			return j, err
		}
		var start = j
		if j, err = d.skipValue(j); err != nil {
			return j, err
		}
		fn(k, start, j)
		var more bool
		if j, more, err = d.next(j, '}'); err != nil || !more {
			return j, err
		}
	}
}

// field decodes the value (not null) at data[i] of field fi of m.
func (d *decoder) field(i int, m protoreflect.Message, fi *fieldInfo) (int, error) {
	switch {
	case fi.list:
		return d.list(i, m, fi)
	case fi.isMap:
		return d.mapField(i, m, fi)
	case fi.msg:
		return d.message(i, m.Mutable(fi.fd).Message(), fi.val.msg)
	}
	var raw, end, err = d.value(i)
	if err != nil {
		return end, err
	}
	v, err := d.scalar(raw, &fi.val)
	if err != nil {
		return end, err
	}
	m.Set(fi.fd, v)
	return end, nil
}

func (d *decoder) list(i int, m protoreflect.Message, fi *fieldInfo) (int, error) {
	if i >= len(d.data) || d.data[i] != '[' {
		var raw, end, err = d.value(i)
		if err != nil {
			return end, err
		}
		var items []json.RawMessage
		return end, json.Unmarshal(raw, &items)
	}
	var l = m.Mutable(fi.fd).List()
	if err := d.push(i); err != nil {
		return i, err
	}
	var j = d.ws(i + 1)
	if j < len(d.data) && d.data[j] == ']' {
		d.depth--
		return j + 1, nil
	}
	for {
		var err error
		if fi.msg {
			var e = l.NewElement()
			if j, err = d.message(j, e.Message(), fi.val.msg); err != nil {
				return j, err
			}
			l.Append(e)
		} else {
			var raw []byte
			if raw, j, err = d.value(j); err != nil {
				return j, err
			}
			var v protoreflect.Value
			if v, err = d.scalar(raw, &fi.val); err != nil {
				return j, err
			}
			l.Append(v)
		}
		var more bool
		if j, more, err = d.next(j, ']'); err != nil || !more {
			return j, err
		}
	}
}

func (d *decoder) mapField(i int, m protoreflect.Message, fi *fieldInfo) (int, error) {
	if i >= len(d.data) || d.data[i] != '{' {
		var raw, end, err = d.value(i)
		if err != nil {
			return end, err
		}
		var obj map[string]json.RawMessage
		return end, json.Unmarshal(raw, &obj)
	}
	var mp = m.Mutable(fi.fd).Map()
	if !d.careful {
		// Entries in order: one named twice is set twice, the last one staying.
		var errEntry error
		var end, err = d.members(i, func(k []byte, start, end int) {
			if errEntry == nil {
				errEntry = d.mapEntry(mp, fi, k, start)
			}
		})
		if err == nil {
			err = errEntry
		}
		return end, err
	}
	type entry struct {
		k          string
		start, end int
	}
	var entries []entry
	var end, err = d.members(i, func(k []byte, start, end int) {
		entries = append(entries, entry{string(k), start, end})
	})
	if err != nil {
		return end, err
	}
	var last = make(map[string]int, len(entries))
	for n, e := range entries {
		last[e.k] = n
	}
	for n, e := range entries {
		if last[e.k] != n {
			continue // read from its last occurrence
		}
		if err := d.mapEntry(mp, fi, []byte(e.k), e.start); err != nil {
			return end, err
		}
	}
	return end, nil
}

// mapEntry decodes the entry of key k (decoded) and value at data[i] into mp.
func (d *decoder) mapEntry(mp protoreflect.Map, fi *fieldInfo, k []byte, i int) error {
	var key, err = d.mapKey(k, &fi.key)
	if err != nil {
		return err
	}
	if fi.val.kind == protoreflect.MessageKind {
		var e = mp.NewValue()
		if _, err := d.message(i, e.Message(), fi.val.msg); err != nil {
			return err
		}
		mp.Set(key, e)
		return nil
	}
	raw, _, err := d.value(i)
	if err != nil {
		return err
	}
	v, err := d.scalar(raw, &fi.val)
	if err != nil {
		return err
	}
	mp.Set(key, v)
	return nil
}

// mapKey reads a map's key as the reference did: as the value of a field of the
// key's kind, written as Go quotes the key.
func (d *decoder) mapKey(k []byte, vi *valueInfo) (protoreflect.MapKey, error) {
	if vi.kind == protoreflect.StringKind && printableASCII(k) {
		return protoreflect.ValueOfString(string(k)).MapKey(), nil
	}
	var v, err = d.scalar([]byte(strconv.Quote(string(k))), vi)
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// scalar decodes the value raw (all of one JSON value) of a field of vi's kind.
func (d *decoder) scalar(raw []byte, vi *valueInfo) (protoreflect.Value, error) {
	switch vi.kind {
	case protoreflect.BoolKind:
		switch string(raw) {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%s is not a boolean", raw)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		var n, err = parseInt(raw, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		var n, err = parseUint(raw, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var n, err = parseInt(raw, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		var n, err = parseUint(raw, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		var f, err = strconv.ParseFloat(unquote(raw), 64)
		if vi.kind == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), err
		}
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		var s, err = jsonString(raw)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BytesKind:
		if vi.rawDec {
			var b = d.alloc(len(raw))
			copy(b, raw)
			return protoreflect.ValueOfBytes(b), nil
		}
		return d.decodeBase64(raw)
	case protoreflect.EnumKind:
		if len(raw) > 0 && raw[0] == '"' {
			var s, err = jsonBytes(raw)
			if err != nil {
				return protoreflect.Value{}, err
			}
			if n, ok := vi.byName[string(s)]; ok {
				return protoreflect.ValueOfEnum(n), nil
			}
			return protoreflect.Value{}, fmt.Errorf("unknown %s value %q", vi.fd.Enum().FullName(), s)
		}
		var n, err = strconv.ParseInt(string(raw), 10, 32)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
	}
	return protoreflect.Value{}, fmt.Errorf("unsupported kind %v", vi.kind)
}

// digitsOf returns the text of a plain integer, raw itself or quoted without
// escapes, and ok; ok is false for anything else (read by strconv instead).
func digitsOf(raw []byte) ([]byte, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 || len(raw) > 18 { // 18 digits never overflow an int64
		return nil, false
	}
	for k, c := range raw {
		if c-'0' >= 10 && !(k == 0 && c == '-' && len(raw) > 1) {
			return nil, false
		}
	}
	return raw, true
}

// parseInt reads raw as strconv.ParseInt(unquote(raw), 10, bits) does.
func parseInt(raw []byte, bits int) (int64, error) {
	if t, ok := digitsOf(raw); ok {
		var neg = t[0] == '-'
		if neg {
			t = t[1:]
		}
		var n int64
		for _, c := range t {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		if bits == 64 || (n >= math.MinInt32 && n <= math.MaxInt32) {
			return n, nil
		}
	}
	return strconv.ParseInt(unquote(raw), 10, bits)
}

// parseUint reads raw as strconv.ParseUint(unquote(raw), 10, bits) does.
func parseUint(raw []byte, bits int) (uint64, error) {
	if t, ok := digitsOf(raw); ok && t[0] != '-' {
		var n uint64
		for _, c := range t {
			n = n*10 + uint64(c-'0')
		}
		if bits == 64 || n <= math.MaxUint32 {
			return n, nil
		}
	}
	return strconv.ParseUint(unquote(raw), 10, bits)
}

// unquote: a string's text (decoded), or else the value's JSON text.
func unquote(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' {
		if s, err := jsonBytes(raw); err == nil {
			return string(s)
		}
	}
	return string(raw)
}

// jsonBytes decodes a JSON value that should be a string as json.Unmarshal into
// a string does (null is ""), returning a slice of raw if it has no escapes.
func jsonBytes(raw []byte) ([]byte, error) {
	if t, ok := unquoteBytes(raw); ok {
		return t, nil
	}
	if string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func jsonString(raw []byte) (string, error) {
	var s, err = jsonBytes(raw)
	return string(s), err
}

// alloc returns n bytes of the arena. The values still to decode lie in the input
// from d.at on, and none decodes to more bytes than it takes there, so the arena
// is (at most) that big: one allocation for all of a message's bytes values.
func (d *decoder) alloc(n int) []byte {
	var l = len(d.arena)
	if cap(d.arena)-l < n {
		var size = len(d.data) - d.at
		if d.lines {
			if nl := bytes.IndexByte(d.data[d.at:], '\n'); nl >= 0 {
				size = nl
			} else {
				size = min(size, n+4096) // not a line: a bound on the waste
			}
		}
		d.arena, l = make([]byte, 0, max(n, size)), 0
	}
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}

// decodeBase64 reads a string of base64 in any of its four forms.
func (d *decoder) decodeBase64(raw []byte) (protoreflect.Value, error) {
	var s, err = jsonBytes(raw)
	if err != nil {
		return protoreflect.Value{}, err
	}
	var buf []byte
	if n := base64.RawStdEncoding.DecodedLen(len(s)); n <= len(raw) {
		buf = d.alloc(n)
	} else {
		buf = make([]byte, n) // a string with escapes
	}
	for _, enc := range base64Encodings {
		if n, err := enc.Decode(buf, s); err == nil {
			return protoreflect.ValueOfBytes(buf[:n]), nil
		}
	}
	return protoreflect.Value{}, fmt.Errorf("%q is not base64", s)
}
