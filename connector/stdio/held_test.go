package stdio

import (
	"bytes"
	"testing"
)

// The revision probe holds back at most its limit of stderr, then streams: a
// connector writing hundreds of megabytes while being probed does not grow memory.
func TestHeldWriterIsBounded(t *testing.T) {
	var passed bytes.Buffer
	var h = &heldWriter{pass: &passed, limit: 1000}
	var want bytes.Buffer
	var line = []byte("a log line of the connector, written to stderr\n")
	for i := 0; i < 100_000; i++ {
		if _, err := h.Write(line); err != nil {
			t.Fatal(err)
		}
		want.Write(line)
		if len(h.buf) > h.limit {
			t.Fatalf("after %d writes %d bytes are held, limit %d", i+1, len(h.buf), h.limit)
		}
	}
	h.release()
	if !bytes.Equal(passed.Bytes(), want.Bytes()) {
		t.Fatalf("passed %d bytes, want all %d in order", passed.Len(), want.Len())
	}

	// Below the limit everything is held until release, and dropped without it.
	passed.Reset()
	h = &heldWriter{pass: &passed, limit: 1000}
	_, _ = h.Write([]byte("unknown subcommand \"apply-upsert\"\n"))
	if passed.Len() != 0 {
		t.Fatalf("held bytes were passed before release: %q", passed.String())
	}
}
