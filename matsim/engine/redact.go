package engine

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/matsim/result"
)

// Redact replaces the secrets of the connector config in every string of the
// report (messages, keys, notes, the connector's target, what Validate returned), so
// that each output written from it (text, JSON, JUnit, the result file) starts clean,
// before any truncation could cut a secret in two.
func (rep *Report) Redact(r *redact.Redactor) {
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
			// Then hide what a cut the engine made before (clip) left of a secret.
			v.SetString(r.BeforeCuts(r.String(v.String()), "…"))
		}
	}
}

// Structured output (--report json, the result file, JUnit, FLOWSIM-PROGRESS lines)
// is redacted as values, never as text over JSON or XML: a short or numeric secret
// ("500") would otherwise turn "stored": 500 into "stored": [REDACTED].

// writeRedacted writes p, already redacted as values, to w, past the text redaction
// of a *redact.Writer (in order with what it holds back).
func writeRedacted(w io.Writer, p []byte) error {
	var err error
	if rw, ok := w.(*redact.Writer); ok {
		_, err = rw.WriteRedacted(p)
	} else {
		_, err = w.Write(p)
	}
	return err
}

// WriteJSONRedacted writes the JSON report to w, redacted as values (a
// *redact.Writer's text redaction is bypassed, in order with what it holds back).
func (rep *Report) WriteJSONRedacted(w io.Writer, red *redact.Redactor) error {
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		return err
	}
	return writeRedacted(w, red.JSON(b.Bytes()))
}

// RedactedProgress is an Options.Progress that writes FLOWSIM-PROGRESS lines (one
// per Write) to w with their JSON redacted as values; anything else goes through w
// as it is.
func RedactedProgress(red *redact.Redactor, w io.Writer) io.Writer { return progressLines{red, w} }

type progressLines struct {
	red *redact.Redactor
	w   io.Writer
}

func (p progressLines) Write(b []byte) (int, error) {
	var line, ok = bytes.CutPrefix(b, []byte(result.ProgressPrefix))
	if !ok {
		return p.w.Write(b)
	}
	var nl = bytes.HasSuffix(line, []byte("\n"))
	var out = append([]byte(result.ProgressPrefix), p.red.JSON(bytes.TrimSuffix(line, []byte("\n")))...)
	if nl {
		out = append(out, '\n')
	}
	if err := writeRedacted(p.w, out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// RedactedJSONLines is an Options.Output that writes NDJSON documents (delta's
// --output -, one or more whole lines per Write) to w, each line redacted as values.
func RedactedJSONLines(red *redact.Redactor, w io.Writer) io.Writer { return jsonLines{red, w} }

type jsonLines struct {
	red *redact.Redactor
	w   io.Writer
}

func (j jsonLines) Write(b []byte) (int, error) {
	if !j.red.Any() {
		return j.w.Write(b)
	}
	var out []byte
	for rest := b; len(rest) != 0; {
		var line, tail, nl = bytes.Cut(rest, []byte("\n"))
		out = append(out, j.red.JSON(line)...)
		if nl {
			out = append(out, '\n')
		}
		rest = tail
	}
	if err := writeRedacted(j.w, out); err != nil {
		return 0, err
	}
	return len(b), nil
}
