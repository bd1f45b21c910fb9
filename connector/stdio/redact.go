package stdio

import (
	"bytes"
	"io"
	"strconv"

	"github.com/flowsim/flowsim/lib/redact"
)

// What an error quotes of a connector's output (the end of its stderr, the start of
// what it wrote to stdout instead of a frame) is redacted with Options.Redactor
// before it is cut: a secret cut first would leave a fragment that redaction no
// longer recognises ("password s3cr3t-Pa…", "55word!").

// excerptPeek is how much of a connector's stdout is read to quote its first
// showBytes: enough for a secret that starts within them to be recognised whole.
const excerptPeek = 4 << 10

// stderrOf is the stderr of a process: pass receives it as written, the tail an
// error quotes is redacted by red first.
type stderrOf struct {
	pass io.Writer
	red  *redact.Redactor
}

func (s stderrOf) Write(p []byte) (int, error) { return s.pass.Write(p) }

// newTailWriter keeps the tail of a process's stderr: w is its pass-through, or a
// stderrOf that also says how to redact the tail.
func newTailWriter(w io.Writer) *tailWriter {
	var t = &tailWriter{pass: w}
	if s, ok := w.(stderrOf); ok {
		t.pass = s.pass
		if s.red.Any() {
			t.red = s.red.Writer(tailKeeper{t})
		}
	}
	return t
}

// tailKeeper keeps what the tail's redacting writer passes on (t.mu is held).
type tailKeeper struct{ t *tailWriter }

func (k tailKeeper) Write(p []byte) (int, error) {
	k.t.keep(p)
	return len(p), nil
}

// withRedactor makes the reader's errors quote the stream redacted.
func (r *Reader) withRedactor(red *redact.Redactor) *Reader {
	r.red = red
	return r
}

// excerpt quotes the start of b: redacted, then cut to showBytes. more says that b
// is the start of what the stream holds (an unfinished secret at its end is hidden).
func (r *Reader) excerpt(b []byte, more bool) string {
	var head, cut = r.red.Head(b, showBytes, more)
	var s = strconv.Quote(head)
	if cut {
		s += "…"
	}
	return s
}

// wholeMarker gives a redacted tail cut within a Marker ("ACTED]…") its whole Marker
// back.
func wholeMarker(b []byte) []byte {
	for k := 1; k <= len(redact.Marker)-3; k++ {
		if bytes.HasPrefix(b, []byte(redact.Marker[k:])) {
			return append([]byte(redact.Marker[:k]), b...)
		}
	}
	return b
}
