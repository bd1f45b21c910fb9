package matsim

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/flowsim/flowsim/lib/redact"
)

// redactReport replaces the secrets of the connector config in every string of the
// report (messages, keys, notes, the connector's target, what Validate returned), so
// that each output written from it (text, JSON, JUnit, the result file) starts clean,
// before any truncation could cut a secret in two.
func redactReport(r *redact.Redactor, rep *Report) {
	if short := r.ShortValues(); len(short) != 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("config value(s) %s shorter than %d characters: redacted wherever they stand as a whole word, also where the word means something else",
			strings.Join(short, ", "), redact.ShortLen))
	}
	if r.Any() {
		redactStrings(r, reflect.ValueOf(rep))
	}
}

// redactStrings redacts every settable string reachable from v.
func redactStrings(r *redact.Redactor, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactStrings(r, v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				redactStrings(r, v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			redactStrings(r, v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			var e = reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			redactStrings(r, e)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(r.String(v.String()))
		}
	}
}
