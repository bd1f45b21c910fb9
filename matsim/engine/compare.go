package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// jsonDiff compares two JSON documents semantically: object key order is irrelevant,
// numbers compare by value (1 equals 1.0 and 1e0), everything else exactly, and an
// absent member differs from a null one. It returns "" when they are equal, or a
// description of the first difference with its JSON pointer.
func jsonDiff(want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	var w, g interface{}
	var err error
	if w, err = decodeJSON(want); err != nil {
		return fmt.Sprintf("expected document is not JSON (%v)", err)
	}
	if g, err = decodeJSON(got); err != nil {
		return fmt.Sprintf("document is not valid JSON: %v: %s", err, clip(string(got), 120))
	}
	return diffValue("", w, g)
}

func decodeJSON(b []byte) (interface{}, error) {
	var d = json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the document")
	}
	return v, nil
}

func diffValue(ptr string, w, g interface{}) string {
	var at = ptr
	if at == "" {
		at = "/"
	}
	switch wv := w.(type) {
	case map[string]interface{}:
		var gv, ok = g.(map[string]interface{})
		if !ok {
			return fmt.Sprintf("%s: expected an object, got %s", at, show(g))
		}
		var keys = make([]string, 0, len(wv))
		for k := range wv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var gk, ok = gv[k]
			if !ok {
				return fmt.Sprintf("%s: missing member (expected %s)", ptr+"/"+escapePtr(k), show(wv[k]))
			}
			if d := diffValue(ptr+"/"+escapePtr(k), wv[k], gk); d != "" {
				return d
			}
		}
		var extra []string
		for k := range gv {
			if _, ok := wv[k]; !ok {
				extra = append(extra, k)
			}
		}
		if len(extra) != 0 {
			sort.Strings(extra)
			return fmt.Sprintf("%s: unexpected member (got %s)", ptr+"/"+escapePtr(extra[0]), show(gv[extra[0]]))
		}
		return ""
	case []interface{}:
		var gv, ok = g.([]interface{})
		if !ok {
			return fmt.Sprintf("%s: expected an array, got %s", at, show(g))
		}
		if len(wv) != len(gv) {
			return fmt.Sprintf("%s: expected an array of %d items, got %d: %s", at, len(wv), len(gv), show(g))
		}
		for i := range wv {
			if d := diffValue(ptr+"/"+strconv.Itoa(i), wv[i], gv[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		var gv, ok = g.(json.Number)
		if !ok || !numbersEqual(wv, gv) {
			return fmt.Sprintf("%s: expected %s, got %s", at, show(w), show(g))
		}
		return ""
	default: // string, bool, nil
		if w != g {
			if ws, ok := w.(string); ok {
				if gs, ok := g.(string); ok && show(w) == show(g) {
					return fmt.Sprintf("%s: expected %s (%d bytes), got %d bytes", at, show(w), len(ws), len(gs))
				}
			}
			return fmt.Sprintf("%s: expected %s, got %s", at, show(w), show(g))
		}
		return ""
	}
}

// numbersEqual compares JSON numbers by value. Integers compare exactly at any size;
// anything with a fraction or exponent compares as the nearest float64, which is what
// a JSON number means to nearly every store.
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	var ai, aerr = strconv.ParseInt(string(a), 10, 64)
	var bi, berr = strconv.ParseInt(string(b), 10, 64)
	if aerr == nil && berr == nil {
		return ai == bi
	}
	var af, err1 = strconv.ParseFloat(string(a), 64)
	var bf, err2 = strconv.ParseFloat(string(b), 64)
	if err1 == nil && err2 == nil && af == bf {
		// Exact check when either side is a large integer beyond float64 precision.
		if isInteger(a) && isInteger(b) {
			var x, _ = new(big.Int).SetString(string(a), 10)
			var y, _ = new(big.Int).SetString(string(b), 10)
			return x != nil && y != nil && x.Cmp(y) == 0
		}
		return true
	}
	return false
}

func isInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

func escapePtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// show renders a decoded JSON value briefly for messages.
func show(v interface{}) string {
	var b, _ = json.Marshal(v)
	return clip(string(b), 120)
}

// clip shortens s to about n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	var cut = n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
