package stdio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/flowsim/flowsim/lib/redact"
)

// DefaultMaxFrame is the default cap on one frame's payload: generous, since
// upstream runtimes capped a message at 8 MiB and a connector may legitimately
// send large Loaded documents.
const DefaultMaxFrame = 64 << 20

// headerSize is the 4-byte little-endian uint32 length prefix of every frame.
const headerSize = 4

// showBytes is how many leading bytes of a non-protocol stream an error shows.
const showBytes = 64

// Message is what the framing reads and writes: every gogo-protobuf message of the
// materialize protocol implements it.
type Message interface {
	ProtoSize() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

// Error kinds of a FrameError, for errors.Is.
var (
	// ErrTruncated: the stream ended inside a frame's header or payload.
	ErrTruncated = errors.New("truncated frame")
	// ErrOversize: a frame declares more bytes than the configured cap.
	ErrOversize = errors.New("frame larger than the cap")
	// ErrNotProtocol: the bytes are not a length-prefixed protobuf message, most often
	// because a connector logged to stdout.
	ErrNotProtocol = errors.New("non-protocol bytes")
)

// FrameError describes a frame that could not be read.
type FrameError struct {
	Kind  error  // ErrTruncated, ErrOversize or ErrNotProtocol
	Frame int    // 1-based index of the frame in the stream
	Msg   string // the full, human-readable description
}

func (e *FrameError) Error() string        { return e.Msg }
func (e *FrameError) Is(target error) bool { return target == e.Kind }

// Reader reads length-prefixed protobuf frames.
type Reader struct {
	r      *bufio.Reader
	max    int
	buf    []byte
	frames int
	what   string
	red    *redact.Redactor // of what errors quote (withRedactor); nil: none
}

// NewReader reads frames from r, refusing any frame larger than maxFrame bytes
// (DefaultMaxFrame when maxFrame <= 0). what names the stream in errors, for example
// "connector stdout".
func NewReader(r io.Reader, maxFrame int, what string) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if what == "" {
		what = "stream"
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: maxFrame, what: what}
}

// Frames is the number of complete frames read so far.
func (r *Reader) Frames() int { return r.frames }

// Read decodes the next frame into m. It returns io.EOF, and only io.EOF, when the
// stream ends cleanly between frames; any other failure is a *FrameError or a read
// error of the underlying stream.
func (r *Reader) Read(m Message) error {
	var b, err = r.Next()
	if err != nil {
		return err
	}
	if err = m.Unmarshal(b); err != nil {
		return &FrameError{Kind: ErrNotProtocol, Frame: r.frames,
			Msg: fmt.Sprintf("%s: frame #%d (%d bytes) is not a valid %T message: %v; it begins %s",
				r.what, r.frames, len(b), m, err, r.excerpt(b, false))}
	}
	return nil
}

// Next returns the payload of the next frame. The slice is valid until the next call.
func (r *Reader) Next() ([]byte, error) {
	var n = r.frames + 1
	var hdr, err = r.r.Peek(headerSize)
	if len(hdr) == 0 && err == io.EOF {
		return nil, io.EOF
	} else if err == io.EOF {
		return nil, &FrameError{Kind: ErrTruncated, Frame: n,
			Msg: fmt.Sprintf("%s: truncated frame #%d: the stream ended after %d of the 4 length-prefix bytes (%s)",
				r.what, n, len(hdr), r.excerpt(hdr, false))}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.what, err)
	}
	var size = binary.LittleEndian.Uint32(hdr)

	if looksLikeText(hdr) {
		var peek = r.peekBuffered()
		return nil, &FrameError{Kind: ErrNotProtocol, Frame: n,
			Msg: fmt.Sprintf("%s: non-protocol bytes where frame #%d should begin: %s "+
				"(a connector logging to stdout is a common bug: logs belong on stderr)",
				r.what, n, r.excerpt(peek, true))}
	}
	if uint64(size) > uint64(r.max) {
		var peek = r.peekBuffered()
		return nil, &FrameError{Kind: ErrOversize, Frame: n,
			Msg: fmt.Sprintf("%s: frame #%d declares %d bytes, more than the cap of %d bytes (raise it with --max-frame); it begins %s",
				r.what, n, size, r.max, r.excerpt(peek, true))}
	}
	_, _ = r.r.Discard(headerSize)

	if cap(r.buf) < int(size) {
		r.buf = make([]byte, size, max(int(size), 2*cap(r.buf)))
	}
	r.buf = r.buf[:size]
	var got int
	got, err = io.ReadFull(r.r, r.buf)
	if err == io.ErrUnexpectedEOF || (err == io.EOF && size > 0) {
		return nil, &FrameError{Kind: ErrTruncated, Frame: n,
			Msg: fmt.Sprintf("%s: truncated frame #%d: the stream ended after %d of its %d bytes",
				r.what, n, got, size)}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.what, err)
	}
	r.frames = n
	return r.buf, nil
}

// peekBuffered returns up to excerptPeek bytes already buffered, without blocking
// for more: a connector that logged a line may then wait for input forever.
func (r *Reader) peekBuffered() []byte {
	var b, _ = r.r.Peek(min(excerptPeek, r.r.Buffered()))
	return b
}

// Writer writes length-prefixed protobuf frames through a buffer: call Flush when
// the peer must see what was written.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter writes frames to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write encodes m as one frame into the buffer.
func (w *Writer) Write(m Message) error {
	var size = m.ProtoSize()
	if size > int(^uint32(0)) {
		return fmt.Errorf("message of %d bytes is too large for a frame", size)
	}
	var total = headerSize + size
	if cap(w.buf) < total {
		w.buf = make([]byte, total, max(total, 2*cap(w.buf)))
	}
	var b = w.buf[:total]
	binary.LittleEndian.PutUint32(b, uint32(size))
	if _, err := m.MarshalToSizedBuffer(b[headerSize:]); err != nil {
		return fmt.Errorf("encoding %T: %w", m, err)
	}
	_, err := w.w.Write(b)
	return err
}

// WriteRaw writes b, an encoded message, as one frame into the buffer.
func (w *Writer) WriteRaw(b []byte) error {
	if uint64(len(b)) > uint64(^uint32(0)) {
		return fmt.Errorf("message of %d bytes is too large for a frame", len(b))
	}
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(b)
	return err
}

// Flush writes buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// WriteFlush writes m and flushes.
func (w *Writer) WriteFlush(m Message) error {
	if err := w.Write(m); err != nil {
		return err
	}
	return w.Flush()
}

// looksLikeText reports whether a length prefix is printable ASCII: as a length it
// would be at least 0x09090909 (151 MB), so it is text that is not a frame.
func looksLikeText(hdr []byte) bool {
	for _, c := range hdr {
		if !(c >= 0x20 && c < 0x7f) && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Printable renders at most n leading bytes of b as a quoted Go string, with a
// marker when b is longer.
func Printable(b []byte, n int) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:n])) + "…"
}
