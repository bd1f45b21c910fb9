package wire2023

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// errWouldBlock ends a test stream where a pipe would block: a Reader that reads
// it has read further than the message it returns needed.
var errWouldBlock = errors.New("the reader would block here")

// chunkReader returns data in reads of the sizes given (in turn; all of what is
// left if none), fails once with hiccup (if set) once hiccupAt bytes are read,
// then returns end.
type chunkReader struct {
	data     []byte
	sizes    []int
	reads    int
	read     int
	hiccupAt int
	hiccup   error
	end      error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	if c.hiccup != nil && c.read == c.hiccupAt {
		var err = c.hiccup
		c.hiccup = nil
		return 0, err
	}
	if len(c.data) == 0 {
		return 0, c.end
	}
	var n = len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, max(1, c.sizes[c.reads%len(c.sizes)]))
	}
	if c.hiccup != nil && c.read < c.hiccupAt {
		n = min(n, c.hiccupAt-c.read)
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	c.read += n
	return n, nil
}

// short is m in a line of at most 200 characters.
func short(m proto.Message) string {
	var s = fmt.Sprint(m)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// compareReaders reads the stream that mk returns with the Reader and with the
// reference (json.Decoder) reader, and fails at the first read whose message or
// error differs, until both have returned the same error three times.
func compareReaders(t *testing.T, what string, maxFrame int, mk func() io.Reader) {
	t.Helper()
	var ref = newRefReader(mk(), maxFrame, UnmarshalJSON)
	var rd = NewReader(mk(), JSON, maxFrame)
	var repeats = 0
	for i := 0; i < 10000 && repeats < 3; i++ {
		var want, got Request
		var wantErr, gotErr = ref.Read(&want), rd.Read(&got)
		if errText(gotErr) != errText(wantErr) || !proto.Equal(&got, &want) {
			t.Fatalf("%s: read %d:\n got %s (%v)\nwant %s (%v)", what, i, short(&got), gotErr, short(&want), wantErr)
		}
		if errors.Is(gotErr, io.EOF) != errors.Is(wantErr, io.EOF) {
			t.Fatalf("%s: read %d: %v is io.EOF and %v is not", what, i, gotErr, wantErr)
		}
		if wantErr != nil && !errors.Is(wantErr, ErrFrameTooLarge) && !strings.Contains(wantErr.Error(), "flowsim.wire2023.") {
			repeats++ // the stream's error, for good
		}
	}
}

func readerStreams() map[string]string {
	var lines, pretty, noNewline strings.Builder
	for i := 0; i < 40; i++ {
		var b, _ = MarshalJSON(benchStore(i))
		lines.Write(b)
		lines.WriteByte('\n')
		noNewline.Write(b)
		var l, _ = MarshalJSON(&Request{Load: &Request_Load{Binding: uint32(i), KeyJson: []byte(fmt.Sprintf("[%d]", i))}})
		lines.Write(l)
		lines.WriteString("\n")
		noNewline.Write(l)
		pretty.WriteString(fmt.Sprintf("\n\t {\n  \"load\" :\n {\"binding\": %d, \"key\": [ %d ,\n\"x\" ] }\r\n}  \n\n", i, i))
	}
	var big = func(n int) string {
		var b, _ = MarshalJSON(&Request{Store: &Request_Store{DocJson: []byte(`{"s":"` + strings.Repeat("x", n) + `"}`), Exists: true}})
		return string(b) + "\n"
	}
	return map[string]string{
		"lines":                   lines.String(),
		"no newlines":             noNewline.String(),
		"pretty":                  pretty.String(),
		"big":                     `{"flush":{}}` + "\n" + big(70000) + big(200) + big(150000) + `{"load":{"binding":3}}`,
		"bigger than 64K at once": big(1 << 17),
		"empty":                   "",
		"whitespace":              " \n\t\r\n ",
		"values":                  `5 6 "x" [1] {} {"load":{}} true null -1.5e3` + "\n" + `{"load":{"binding":1}}7`,
		"number last":             `{"load":{}} 12`,
		"garbage":                 `{"load":{"binding":1}}` + "\n" + `{"load" x}` + "\n" + `{"load":{}}`,
		"garbage late":            strings.Repeat(`{"load":{"binding":1}}`+"\n", 30) + `{"store":{"doc":{"a":[1,2,}}}` + "\n" + `{"load":{}}`,
		"bad top":                 `}{"load":{}}`,
		"bad string":              "{\"load\":{\"key\":[\"a\x01\"]}}\n",
		"deep":                    `{"unknown":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + "}\n" + `{"load":{}}`,
		"truncated":               `{"load":{}}` + "\n" + `{"load":{"binding":`,
		"truncated ws":            `{"load":{}}` + "\n" + `{"load":{"binding": 1 `,
		"truncated lit":           `{"load":{}} tru`,
		"decode errors":           `{"load":{"binding":"x"}}` + "\n" + `{"load":{"binding":2}}` + "\n" + `[]` + "\n" + `{"load":{"binding":3}}`,
		"frames":                  `{"load":{"binding":1}}` + "\n" + big(300) + `{"load":{"binding":2}}`,
		"bom":                     "\xef\xbb\xbf{}",
		"objects packed":          `{"load":{}}{"flush":{}}{"acknowledge":{}}`,
	}
}

// TestReaderAsTheReference: the Reader returns the messages and errors that the
// json.Decoder it replaced returned, for streams of every shape, read in chunks
// of every size, with a read error on the way, and ending at EOF or where a pipe
// would block (so it reads no further than it needs).
func TestReaderAsTheReference(t *testing.T) {
	for name, stream := range readerStreams() {
		for _, sizes := range [][]int{nil, {1}, {7, 100, 3}, {4096}, {1 << 16, 9}, {2, 1 << 17}} {
			for _, end := range []error{io.EOF, errWouldBlock} {
				for _, maxFrame := range []int{0, 256} {
					for _, hiccupAt := range []int{-1, 0, 5, 1000, 70001} {
						var what = fmt.Sprintf("%s, reads of %v, max %d, end %v, a read fails at byte %d", name, sizes, maxFrame, end, hiccupAt)
						compareReaders(t, what, maxFrame, func() io.Reader {
							var c = &chunkReader{data: []byte(stream), sizes: sizes, end: end, hiccupAt: hiccupAt}
							if hiccupAt >= 0 {
								c.hiccup = errors.New("a passing failure")
							}
							return c
						})
					}
				}
			}
		}
	}
}

// FuzzReader: any stream, read in chunks of any size, ending where a pipe would
// block, reads as with the json.Decoder.
func FuzzReader(f *testing.F) {
	for _, s := range readerStreams() {
		if len(s) < 8192 {
			f.Add([]byte(s), uint8(0), uint16(0))
			f.Add([]byte(s), uint8(3), uint16(20))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, maxFrame uint16) {
		var sizes []int
		if chunk > 0 {
			sizes = []int{int(chunk), int(chunk) * 7, 1}
		}
		compareReaders(t, fmt.Sprintf("%q", data), int(maxFrame), func() io.Reader {
			return &chunkReader{data: bytes.Clone(data), sizes: sizes, end: errWouldBlock}
		})
	})
}
