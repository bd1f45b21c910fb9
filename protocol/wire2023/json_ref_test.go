package wire2023

// The codec of the current era's JSON mapping as it was before the single-pass
// scanner (encoding/json into map[string]json.RawMessage at every level): kept,
// unchanged but for its names, as the reference the differential tests and fuzz
// targets compare the codec with; and at the end, the JSON Reader as it was (a
// json.Decoder). Its map iteration order is random, so where one object names a
// field twice (by JSON and proto name) its result may vary.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// refMarshalJSON encodes m in the current era's JSON mapping, on one line.
func refMarshalJSON(m proto.Message) ([]byte, error) { return refAppendJSON(nil, m.ProtoReflect()) }

const refDurationName = "google.protobuf.Duration"

func refIsRawJSON(fd protoreflect.FieldDescriptor) bool {
	return strings.Contains(string(fd.Name()), "_json")
}

func refAppendJSON(b []byte, m protoreflect.Message) ([]byte, error) {
	var md = m.Descriptor()
	if md.FullName() == refDurationName {
		var f = md.Fields()
		var d = time.Duration(m.Get(f.ByName("seconds")).Int())*time.Second + time.Duration(m.Get(f.ByName("nanos")).Int())
		return strconv.AppendQuote(b, refFormatDuration(d)), nil
	}
	b = append(b, '{')
	var first = true
	var fields = md.Fields()
	for i := 0; i < fields.Len(); i++ {
		var fd = fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendQuote(b, fd.JSONName())
		b = append(b, ':')
		var err error
		switch v := m.Get(fd); {
		case fd.IsList():
			var l = v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = refAppendValue(b, fd, l.Get(j)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		case fd.IsMap():
			b, err = refAppendMap(b, fd, v.Map())
		default:
			b, err = refAppendValue(b, fd, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func refAppendMap(b []byte, fd protoreflect.FieldDescriptor, mp protoreflect.Map) ([]byte, error) {
	var keys []protoreflect.MapKey
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
	// Sorted keys: the same message always encodes to the same bytes.
	refSortMapKeys(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k.String())
		b = append(b, ':')
		var err error
		if b, err = refAppendValue(b, fd.MapValue(), mp.Get(k)); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func refSortMapKeys(keys []protoreflect.MapKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].String() < keys[j-1].String(); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// refAppendValue appends one singular value of field fd (for a map, fd is its value
// field, and raw JSON is decided by the map field's name through the caller's fd).
func refAppendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendQuote(b, strconv.FormatInt(v.Int(), 10)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendQuote(b, strconv.FormatUint(v.Uint(), 10)), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		var f = v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.AppendQuote(b, strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case protoreflect.StringKind:
		var s, _ = json.Marshal(v.String())
		return append(b, s...), nil
	case protoreflect.BytesKind:
		if refIsRawJSON(refRawOwner(fd)) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, v.Bytes()); err != nil {
				return nil, fmt.Errorf("field %s holds invalid JSON: %w", refRawOwner(fd).FullName(), err)
			}
			return append(b, buf.Bytes()...), nil
		}
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(v.Bytes())), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return strconv.AppendQuote(b, string(ev.Name())), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return refAppendJSON(b, v.Message())
	}
	return nil, fmt.Errorf("field %s: unsupported kind %v", fd.FullName(), fd.Kind())
}

// refRawOwner is the field whose name says whether bytes are raw JSON: the map field
// for a map's value, the field itself otherwise.
func refRawOwner(fd protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
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

// refFormatDuration writes d as protobuf's JSON mapping does: seconds with up to nine
// fractional digits, exactly ("0.25s", "-1.000000001s").
func refFormatDuration(d time.Duration) string {
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

// refUnmarshalJSON decodes one JSON object of the current era's mapping into m,
// skipping fields it does not know.
func refUnmarshalJSON(data []byte, m proto.Message) error {
	proto.Reset(m)
	return refDecodeMessage(data, m.ProtoReflect())
}

func refDecodeMessage(data []byte, m protoreflect.Message) error {
	var md = m.Descriptor()
	if md.FullName() == refDurationName {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("%s: want a string like \"1.5s\": %w", md.FullName(), err)
		}
		var d, err = time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %w", md.FullName(), err)
		}
		var f = md.Fields()
		m.Set(f.ByName("seconds"), protoreflect.ValueOfInt64(int64(d/time.Second)))
		m.Set(f.ByName("nanos"), protoreflect.ValueOfInt32(int32(d%time.Second)))
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%s: %w", md.FullName(), err)
	}
	var fields = md.Fields()
	for name, raw := range obj {
		var fd = fields.ByJSONName(name)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(name))
		}
		if fd == nil || refIsNull(raw) {
			continue // unknown fields are skipped; null is the default
		}
		if err := refDecodeField(raw, m, fd); err != nil {
			return fmt.Errorf("%s.%s: %w", md.FullName(), fd.JSONName(), err)
		}
	}
	return nil
}

func refIsNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func refDecodeField(raw json.RawMessage, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	switch {
	case fd.IsList():
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		var l = m.Mutable(fd).List()
		for _, it := range items {
			if fd.Kind() == protoreflect.MessageKind {
				var e = l.NewElement()
				if err := refDecodeMessage(it, e.Message()); err != nil {
					return err
				}
				l.Append(e)
				continue
			}
			var v, err = refDecodeScalar(it, fd, fd)
			if err != nil {
				return err
			}
			l.Append(v)
		}
	case fd.IsMap():
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return err
		}
		var mp = m.Mutable(fd).Map()
		for k, it := range obj {
			var key, err = refMapKey(k, fd.MapKey())
			if err != nil {
				return err
			}
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				var e = mp.NewValue()
				if err := refDecodeMessage(it, e.Message()); err != nil {
					return err
				}
				mp.Set(key, e)
				continue
			}
			v, err := refDecodeScalar(it, fd.MapValue(), fd)
			if err != nil {
				return err
			}
			mp.Set(key, v)
		}
	case fd.Kind() == protoreflect.MessageKind:
		return refDecodeMessage(raw, m.Mutable(fd).Message())
	default:
		var v, err = refDecodeScalar(raw, fd, fd)
		if err != nil {
			return err
		}
		m.Set(fd, v)
	}
	return nil
}

func refMapKey(k string, fd protoreflect.FieldDescriptor) (protoreflect.MapKey, error) {
	var v, err = refDecodeScalar(json.RawMessage(strconv.Quote(k)), fd, fd)
	return v.MapKey(), err
}

// refDecodeScalar decodes a value of field fd; owner decides raw JSON (see refRawOwner).
func refDecodeScalar(raw json.RawMessage, fd, owner protoreflect.FieldDescriptor) (protoreflect.Value, error) {
	raw = bytes.TrimSpace(raw)
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch string(raw) {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%s is not a boolean", raw)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		var n, err = strconv.ParseInt(refUnquote(raw), 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		var n, err = strconv.ParseUint(refUnquote(raw), 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var n, err = strconv.ParseInt(refUnquote(raw), 10, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		var n, err = strconv.ParseUint(refUnquote(raw), 10, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		var f, err = strconv.ParseFloat(refUnquote(raw), 64)
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), err
		}
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		var s, err = refJsonString(raw)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BytesKind:
		if refIsRawJSON(refRawOwner(owner)) || refIsRawJSON(owner) {
			return protoreflect.ValueOfBytes(append([]byte(nil), raw...)), nil
		}
		var s, err = refJsonString(raw)
		if err != nil {
			return protoreflect.Value{}, err
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				return protoreflect.ValueOfBytes(b), nil
			}
		}
		return protoreflect.Value{}, fmt.Errorf("%q is not base64", s)
	case protoreflect.EnumKind:
		if len(raw) > 0 && raw[0] == '"' {
			var s, err = refJsonString(raw)
			if err != nil {
				return protoreflect.Value{}, err
			}
			if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), nil
			}
			return protoreflect.Value{}, fmt.Errorf("unknown %s value %q", fd.Enum().FullName(), s)
		}
		var n, err = strconv.ParseInt(string(raw), 10, 32)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
	}
	return protoreflect.Value{}, fmt.Errorf("unsupported kind %v", fd.Kind())
}

func refUnquote(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' {
		if s, err := refJsonString(raw); err == nil {
			return s
		}
	}
	return string(raw)
}

// refJsonString decodes a JSON string; one without escapes is taken as it is.
func refJsonString(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		var body = raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && bytes.IndexByte(body, '"') < 0 && !refHasControl(body) && utf8.Valid(body) {
			return string(body), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

func refHasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// refReader is the JSON Reader as it was before it found values in place: a
// json.Decoder over a bufio.Reader, each value decoded by decode.
type refReader struct {
	dec    *json.Decoder
	max    int
	decode func([]byte, proto.Message) error
}

func newRefReader(r io.Reader, maxFrame int, decode func([]byte, proto.Message) error) *refReader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &refReader{dec: json.NewDecoder(bufio.NewReaderSize(r, 1<<16)), max: maxFrame, decode: decode}
}

func (r *refReader) Read(m proto.Message) error {
	proto.Reset(m)
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err == io.EOF {
		return io.EOF
	} else if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading JSON message: %w", err)
	}
	if len(raw) > r.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(raw), r.max)
	}
	return r.decode(raw, m)
}
