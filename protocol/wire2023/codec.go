package wire2023

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// Codec is how messages are framed on a connector's stdin and stdout.
type Codec string

const (
	// Proto: each message is preceded by its length as a little-endian uint32.
	Proto Codec = "proto"
	// JSON: one object per line, protobuf's JSON mapping (camelCase names, enums by
	// name, 64-bit integers as strings, raw JSON fields inline, other bytes base64).
	JSON Codec = "json"
)

// CodecEnv is the environment variable through which the runtime tells a current
// era connector its codec; a connector defaults to Proto when it is unset.
const CodecEnv = "FLOW_RUNTIME_CODEC"

// DefaultMaxFrame caps one message read by a Reader (both codecs).
const DefaultMaxFrame = 64 << 20

// ParseCodec accepts the values of FLOW_RUNTIME_CODEC ("" is Proto).
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "", "proto":
		return Proto, nil
	case "json":
		return JSON, nil
	}
	return "", fmt.Errorf("unknown %s %q (want proto or json)", CodecEnv, s)
}

// ErrFrameTooLarge is returned (wrapped) for a message over the Reader's limit.
var ErrFrameTooLarge = errors.New("message exceeds the maximum frame size")

// Reader reads messages (Request or Response) in one codec. Read returns io.EOF
// only at a clean end: the stream ended between two messages. An end inside a
// message is io.ErrUnexpectedEOF.
type Reader struct {
	codec Codec
	max   int
	br    *bufio.Reader
	buf   []byte
	// JSON: the bytes a json.Decoder read past the value it returned (read before
	// br), and the error that ended the stream (every later Read returns it, as
	// json.Decoder's Decode did).
	pending []byte
	err     error
}

// NewReader reads messages from r; maxFrame <= 0 means DefaultMaxFrame.
func NewReader(r io.Reader, codec Codec, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if codec == JSON {
		r = &stickyReader{r: r}
	}
	return &Reader{codec: codec, max: maxFrame, br: bufio.NewReaderSize(r, 1<<16)}
}

// Read decodes the next message into m (which it resets first).
func (r *Reader) Read(m proto.Message) error {
	proto.Reset(m)
	if r.codec == JSON {
		return r.readJSON(m)
	}
	var hdr [4]byte
	if n, err := io.ReadFull(r.br, hdr[:]); err == io.EOF {
		return io.EOF
	} else if err != nil {
		if n > 0 {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading message length: %w", err)
	}
	var size = binary.LittleEndian.Uint32(hdr[:])
	if uint64(size) > uint64(r.max) {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, r.max)
	}
	if cap(r.buf) < int(size) {
		r.buf = make([]byte, size)
	}
	var b = r.buf[:size]
	if _, err := io.ReadFull(r.br, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading a message of %d bytes: %w", size, err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decoding %T: %w", m, err)
	}
	return nil
}

// Writer writes messages in one codec, each with one Write call on the
// underlying writer (so a message is never interleaved with another writer's).
type Writer struct {
	codec Codec
	w     io.Writer
	buf   []byte
}

// NewWriter writes messages to w.
func NewWriter(w io.Writer, codec Codec) *Writer { return &Writer{codec: codec, w: w} }

// Write encodes m and writes it.
func (w *Writer) Write(m proto.Message) error {
	var b []byte
	if w.codec == JSON {
		var err error
		if b, err = appendJSON(w.buf[:0], m.ProtoReflect()); err != nil {
			return fmt.Errorf("encoding %T as JSON: %w", m, err)
		}
		b = append(b, '\n')
	} else {
		var size = proto.Size(m)
		b = binary.LittleEndian.AppendUint32(w.buf[:0], uint32(size))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, m); err != nil {
			return fmt.Errorf("encoding %T: %w", m, err)
		}
	}
	w.buf = b[:0]
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return nil
}

// readJSON reads the next message of a JSON stream into m (reset).
func (r *Reader) readJSON(m proto.Message) error {
	var raw, decoded, consume, err = r.nextJSON(m)
	if err == io.EOF {
		return io.EOF
	} else if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading JSON message: %w", err)
	}
	defer consume()
	if len(raw) > r.max {
		proto.Reset(m)
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(raw), r.max)
	}
	if decoded {
		return nil
	}
	return UnmarshalJSON(raw, m)
}

// maxRefills bounds the reads nextJSON makes for one value before it leaves the
// value to a json.Decoder (each read, it scans the value again from its start).
const maxRefills = 8

// nextJSON returns the next JSON value of the stream (decoded into m already, if
// decoded), and consume, to call once done with it. It reads the stream as the
// json.Decoder it replaces did (the same values, the same errors, no read more),
// but a value that is an object lying whole in the bytes already read (or
// arriving in a few more reads) it finds in place, and decodes as it finds it;
// anything else it leaves to a json.Decoder.
func (r *Reader) nextJSON(m proto.Message) (raw []byte, decoded bool, consume func(), err error) {
	if r.err != nil {
		return nil, false, nil, r.err
	}
	if len(r.pending) > 0 {
		var s = scanner{data: r.pending}
		if r.pending = r.pending[s.ws(0):]; len(r.pending) > 0 {
			if r.pending[0] == '{' {
				var end, decoded, err = inPlace(r.pending, m)
				if err == nil {
					return r.pending[:end], decoded, func() { r.pending = r.pending[end:] }, nil
				}
			}
			return r.decodeJSON()
		}
	}
	for refills := 0; ; {
		var n = r.br.Buffered()
		if n == 0 {
			if _, err := r.br.Peek(1); err != nil {
				r.err = err
				return nil, false, nil, err
			}
			continue
		}
		var b, _ = r.br.Peek(n)
		var s = scanner{data: b}
		if i := s.ws(0); i > 0 {
			_, _ = r.br.Discard(i)
			continue
		}
		if b[0] != '{' {
			break
		}
		var end, decoded, err = inPlace(b, m)
		if err == nil {
			return b[:end], decoded, func() { _, _ = r.br.Discard(end) }, nil
		}
		if !isTruncated(err) || n == r.br.Size() || refills == maxRefills {
			break
		}
		refills++
		if _, err := r.br.Peek(n + 1); err != nil {
			break // for the json.Decoder to meet (stickyReader keeps it)
		}
	}
	return r.decodeJSON()
}

// inPlace finds the object at the start of data (which may go on past it) and
// decodes it into m (reset) in the same pass where it can (decoded); where it
// cannot (an error, or a member named twice), it returns the object's extent for
// UnmarshalJSON (its rules, its errors), and m reset. An error is a syntax error,
// or the end of data inside the object (isTruncated).
func inPlace(data []byte, m proto.Message) (end int, decoded bool, err error) {
	var rm = m.ProtoReflect()
	var d = decoder{scanner: scanner{data: data}, lines: true}
	if end, err = d.message(0, rm, infoOf(rm.Descriptor())); err == nil {
		return end, true, nil
	}
	proto.Reset(m)
	if isTruncated(err) {
		return end, false, err
	}
	var s = scanner{data: data}
	end, err = s.skipObject(0)
	return end, false, err
}

// decodeJSON reads the next value with a json.Decoder, as the Reader always did
// before it found values in place; what the decoder read past it is kept.
func (r *Reader) decodeJSON() ([]byte, bool, func(), error) {
	var src io.Reader = r.br
	if len(r.pending) > 0 {
		src = io.MultiReader(bytes.NewReader(r.pending), r.br)
	}
	var dec = json.NewDecoder(src)
	var raw json.RawMessage
	var err = dec.Decode(&raw)
	r.pending, _ = io.ReadAll(dec.Buffered())
	if err != nil {
		r.err = err
		return nil, false, nil, err
	}
	return raw, false, func() {}, nil
}

// stickyReader returns the first error of r for good (json.Decoder, which the
// JSON Reader once read through, never read again after an error).
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	var n, err = s.r.Read(p)
	s.err = err
	return n, err
}
