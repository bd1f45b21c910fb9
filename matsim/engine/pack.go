package engine

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/estuary/protocols/fdb/tuple"
)

// appendTuple appends the FoundationDB tuple encoding of t to b, exactly as
// t.Pack() would, without its allocations for the element types documents use.
// Other element types fall back to Pack.
func appendTuple(b []byte, t tuple.Tuple) []byte {
	for _, e := range t {
		switch v := e.(type) {
		case nil:
			b = append(b, 0x00)
		case int64:
			b = appendTupleInt(b, v)
		case int:
			b = appendTupleInt(b, int64(v))
		case uint64:
			b = appendTupleUint(b, v)
		case string:
			b = appendTupleBytes(b, 0x02, v)
		case []byte:
			b = appendTupleBytes(b, 0x01, string(v))
		case bool:
			if v {
				b = append(b, 0x27)
			} else {
				b = append(b, 0x26)
			}
		case float64:
			b = appendTupleDouble(b, v)
		default:
			b = append(b, tuple.Tuple{e}.Pack()...)
		}
	}
	return b
}

func appendTupleBytes(b []byte, code byte, s string) []byte {
	b = append(b, code)
	for {
		var i = indexZero(s)
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, 0xff)
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, 0x00)
}

func indexZero(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

// intBytes is the number of bytes needed for u.
func intBytes(u uint64) int {
	var n = 0
	for u != 0 {
		n++
		u >>= 8
	}
	return n
}

func appendTupleUint(b []byte, u uint64) []byte {
	if u == 0 {
		return append(b, 0x14)
	}
	var n = intBytes(u)
	var scratch [8]byte
	binary.BigEndian.PutUint64(scratch[:], u)
	b = append(b, byte(0x14+n))
	return append(b, scratch[8-n:]...)
}

func appendTupleInt(b []byte, i int64) []byte {
	if i >= 0 {
		return appendTupleUint(b, uint64(i))
	}
	var n = intBytes(uint64(-i))
	var limit = uint64(1)<<(8*uint(n)) - 1
	if n == 8 {
		limit = math.MaxUint64
	}
	var scratch [8]byte
	binary.BigEndian.PutUint64(scratch[:], uint64(int64(limit)+i))
	b = append(b, byte(0x14-n))
	return append(b, scratch[8-n:]...)
}

func appendTupleDouble(b []byte, f float64) []byte {
	var scratch [8]byte
	binary.BigEndian.PutUint64(scratch[:], math.Float64bits(f))
	if scratch[0]&0x80 != 0 {
		for k := range scratch {
			scratch[k] ^= 0xff
		}
	} else {
		scratch[0] ^= 0x80
	}
	b = append(b, 0x21)
	return append(b, scratch[:]...)
}

var _ = bytes.IndexByte
