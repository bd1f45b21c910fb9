package stdio

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowsim/flowsim/lib/redact"
)

// cutText is a connector's output of about size bytes: filler and the secrets a and
// b (raw and JSON-escaped) in turns chosen by seed.
func cutText(a, b string, filler []byte, seed uint64, size int) string {
	var rng = rand.New(rand.NewPCG(seed, 5))
	var qa, _ = json.Marshal(a)
	var parts = []string{string(filler), a, b, string(qa), "password " + a + " ", "\n"}
	var sb strings.Builder
	for sb.Len() < size {
		sb.WriteString(parts[rng.IntN(len(parts))])
		if len(filler) == 0 {
			sb.WriteString("..")
		}
	}
	return sb.String()
}

func redactorOf(t *testing.T, a, b string) *redact.Redactor {
	var config, err = json.Marshal(map[string]any{"password": a, "auth": map[string]any{"token": b}})
	if err != nil {
		t.Fatal(err)
	}
	return redact.New(config)
}

// FuzzStderrTail: the stderr tail an error quotes is cut from the stderr redacted,
// never redacted after the cut: it is the end of the whole stderr redacted, so no
// fragment of a secret survives (issue 21, item 10).
func FuzzStderrTail(f *testing.F) {
	f.Add("s3cr3t-Pa55word!", "x", []byte("."), uint64(1), 9000)
	f.Add("hunter2", "p\"q\\r", []byte("log line\n"), uint64(2), 5000)
	f.Add("é€😀<&>", "abc", []byte(""), uint64(3), 4097)
	f.Fuzz(func(t *testing.T, a, b string, filler []byte, seed uint64, size int) {
		if size < 0 || size > 1<<16 || !utf8.ValidString(a) || !utf8.ValidString(b) || strings.ContainsRune(a+b, 0) ||
			strings.Contains(a+b, redact.Marker) || bytes.IndexByte(filler, 0) >= 0 || !utf8.Valid(filler) || a == "" {
			return
		}
		var r = redactorOf(t, a, b)
		var text = cutText(a, b, filler, seed, size) + "\x00" // nothing held back at the end
		var passed bytes.Buffer
		var tw = newTailWriter(stderrOf{&passed, r})
		var rng = rand.New(rand.NewPCG(seed, 9))
		for rest := text; rest != ""; {
			var n = 1 + rng.IntN(min(len(rest), 3000))
			tw.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		if passed.String() != text {
			t.Fatal("stderr must pass through as written")
		}
		var tail, whole = tw.String(), r.String(text)
		if !strings.HasSuffix(whole, tail) {
			t.Fatalf("tail %q is not the end of the whole stderr redacted %q", tail, whole)
		}
		if len(tail) > StderrTail+len(redact.Marker) {
			t.Fatalf("tail of %d bytes", len(tail))
		}
	})
}

// FuzzStdoutExcerpt: the excerpt of unexpected stdout an error quotes is cut from
// the output redacted: it is the start of the whole output redacted (or of that
// with an unfinished secret at the end of what was read hidden).
func FuzzStdoutExcerpt(f *testing.F) {
	f.Add("s3cr3t-Pa55word!", "x", []byte("connecting to postgres as flow with the "), uint64(1), 300, true)
	f.Add("hunter2", "p\"q\\r", []byte("log line\n"), uint64(2), 70, false)
	f.Fuzz(func(t *testing.T, a, b string, filler []byte, seed uint64, size int, more bool) {
		if size < 0 || size > 1<<14 || !utf8.ValidString(a) || !utf8.ValidString(b) || strings.ContainsRune(a+b, 0) ||
			strings.Contains(a+b, redact.Marker) || bytes.IndexByte(filler, 0) >= 0 || a == "" {
			return
		}
		var r = redactorOf(t, a, b)
		var text = cutText(a, b, filler, seed, size)
		var rd = NewReader(strings.NewReader(""), 0, "stdout").withRedactor(r)
		var got = rd.excerpt([]byte(text), more)
		var head, err = unquoteExcerpt(got)
		if err != nil {
			t.Fatalf("excerpt %s: %v", got, err)
		}
		var whole = r.String(text + "\x00")
		if !strings.HasPrefix(whole, head) && !(more && strings.HasPrefix(whole, strings.TrimSuffix(head, redact.Marker))) {
			t.Fatalf("excerpt %q is not the start of the whole output redacted %q", head, whole)
		}
		if len(head) > showBytes {
			t.Fatalf("excerpt of %d bytes", len(head))
		}
	})
}

// unquoteExcerpt undoes excerpt's quoting (and its mark of a cut).
func unquoteExcerpt(s string) (string, error) {
	return strconv.Unquote(strings.TrimSuffix(s, "…"))
}
