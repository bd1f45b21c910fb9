package proxy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTerminationLogKeepsWholeLinesOfTheEnd(t *testing.T) {
	var path = filepath.Join(t.TempDir(), "m")
	var l = newTerminationLog(path)
	for i := 0; i < 400; i++ {
		l.Write([]byte("log line " + strings.Repeat("x", i%7) + "\n"))
	}
	l.Write([]byte("last"))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	var b, _ = os.ReadFile(path)
	if len(b) > TerminationTail || len(b) < TerminationTail-20 || !bytes.HasPrefix(b, []byte("log line ")) || !bytes.HasSuffix(b, []byte("log line \nlast")) {
		t.Fatalf("got %d bytes: %q…%q", len(b), b[:min(len(b), 20)], b[max(0, len(b)-20):])
	}
}
