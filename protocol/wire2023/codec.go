package wire2023

import (
	"bufio"
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
	dec   *json.Decoder
	buf   []byte
}

// NewReader reads messages from r; maxFrame <= 0 means DefaultMaxFrame.
func NewReader(r io.Reader, codec Codec, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	var rd = &Reader{codec: codec, max: maxFrame, br: bufio.NewReaderSize(r, 1<<16)}
	if codec == JSON {
		rd.dec = json.NewDecoder(rd.br)
	}
	return rd
}

// Read decodes the next message into m (which it resets first).
func (r *Reader) Read(m proto.Message) error {
	proto.Reset(m)
	if r.codec == JSON {
		var raw json.RawMessage
		if err := r.dec.Decode(&raw); err == io.EOF {
			return io.EOF
		} else if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading JSON message: %w", err)
		}
		if len(raw) > r.max {
			return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(raw), r.max)
		}
		return UnmarshalJSON(raw, m)
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
