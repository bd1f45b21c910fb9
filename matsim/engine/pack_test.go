package engine

import (
	"bytes"
	"math"
	"testing"

	"github.com/estuary/protocols/fdb/tuple"
)

func TestAppendTupleMatchesPack(t *testing.T) {
	var values = []interface{}{
		nil, true, false, "", "a", "with\x00nul\x00", "日本語🚀", []byte{}, []byte{0, 1, 0}, []byte(`{"a":1}`),
		0.0, -0.0, 1.5, -1.5, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300,
		uint64(0), uint64(1), uint64(math.MaxUint64), 0, 1, -1, 255, 256, -255, -256,
	}
	for _, v := range []int64{0, 1, -1, 127, 128, -128, 255, 256, -255, -256, 65535, -65536, MaxSafeInteger, -MaxSafeInteger,
		math.MaxInt64, math.MinInt64 + 1, 1 << 40, -(1 << 40)} {
		values = append(values, v)
	}
	var r = newRng(1)
	for k := 0; k < 2000; k++ {
		values = append(values, int64(r.next())>>uint(r.intn(64)), math.Float64frombits(r.next()>>1), uint64(r.next()>>uint(r.intn(64))))
	}
	for _, v := range values {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		var want = tuple.Tuple{v, "k"}.Pack()
		var got = appendTuple([]byte("prefix"), tuple.Tuple{v, "k"})
		if !bytes.Equal(got[6:], want) {
			t.Fatalf("appendTuple(%#v) = %x, Pack = %x", v, got[6:], want)
		}
	}
}
