package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSONDiff: comparing a document with itself, or with its re-encoding by
// encoding/json (member order and number spelling may change), finds no difference,
// and nothing panics on arbitrary input.
func FuzzJSONDiff(f *testing.F) {
	var d Rich
	for i := uint64(0); i < 8; i++ {
		d.Generate(3, i, uint32(i)+1)
		f.Add(d.AppendJSON(nil), []byte(`{"a":1}`))
	}
	f.Add([]byte(`{"a":1.0,"b":[1e2,null,{"c":"\u00e9"}]}`), []byte(`{"b":[100,null,{"c":"é"}],"a":1}`))
	f.Add([]byte(`[9007199254740993]`), []byte(`[9007199254740992]`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_ = jsonDiff(a, b) // must not panic
		var v interface{}
		if json.Unmarshal(a, &v) != nil {
			return
		}
		if d := jsonDiff(a, a); d != "" {
			t.Fatalf("a document differs from itself: %s", d)
		}
		var re, err = json.Marshal(v)
		if err != nil {
			return
		}
		if d := jsonDiff(a, re); d != "" && !lossyFloat(a) {
			t.Fatalf("re-encoding changed %s into %s: %s", a, re, d)
		}
	})
}

// lossyFloat reports documents whose numbers encoding/json itself rounds (it decodes
// into float64), where a difference is real.
func lossyFloat(b []byte) bool {
	var v interface{}
	var dec = json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return true
	}
	var lossy bool
	var walk func(interface{})
	walk = func(v interface{}) {
		switch t := v.(type) {
		case map[string]interface{}:
			for _, e := range t {
				walk(e)
			}
		case []interface{}:
			for _, e := range t {
				walk(e)
			}
		case json.Number:
			if _, err := t.Int64(); err != nil {
				lossy = true
			} else if i, _ := t.Int64(); i > 1<<53 || i < -(1<<53) {
				lossy = true
			}
		}
	}
	walk(v)
	return lossy
}
