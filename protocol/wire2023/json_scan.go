package wire2023

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass JSON scanner over a byte slice: it finds the extent of each value
// once and validates it with exactly encoding/json's grammar (RFC 8259: the same
// whitespace, escapes, number syntax, literals, bytes below 0x20 refused in
// strings, any other byte accepted there, and the same nesting limit), so that
// what it accepts, encoding/json accepts, and the other way round.

// maxNestingDepth is encoding/json's limit on nested objects and arrays.
const maxNestingDepth = 10000

// jsonSyntaxError is a syntax error at an offset of the scanned input. eof says
// that the input ended inside a value (more input might complete it).
type jsonSyntaxError struct {
	off int
	msg string
	eof bool
}

func (e *jsonSyntaxError) Error() string {
	if e.eof {
		return fmt.Sprintf("unexpected end of JSON input (at offset %d)", e.off)
	}
	return fmt.Sprintf("%s (at offset %d)", e.msg, e.off)
}

// isTruncated: err says the input ended inside a value.
func isTruncated(err error) bool {
	var se, ok = err.(*jsonSyntaxError)
	return ok && se.eof
}

// strPlain marks the bytes a string's body holds as they are (not '"', '\\' or a
// byte below 0x20).
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type scanner struct {
	data  []byte
	depth int  // of the objects and arrays open
	space bool // whitespace was skipped (outside strings) since it was last cleared
}

func (s *scanner) eofAt(i int) error { return &jsonSyntaxError{off: i, eof: true} }

func (s *scanner) badAt(i int, context string) error {
	if i >= len(s.data) {
		return s.eofAt(i)
	}
	return &jsonSyntaxError{off: i, msg: fmt.Sprintf("invalid character %s %s", quoteChar(s.data[i]), context)}
}

// quoteChar formats c as encoding/json's syntax errors name a character: a Go
// character literal of the byte taken as a rune ('x', '\”, '\x01', 'ÿ').
func quoteChar(c byte) string { return strconv.QuoteRune(rune(c)) }

// ws returns the offset of the first byte at or after i that is not whitespace.
func (s *scanner) ws(i int) int {
	if i < len(s.data) && s.data[i] > ' ' {
		return i
	}
	return s.wsSlow(i)
}

func (s *scanner) wsSlow(i int) int {
	var j = i
	for j < len(s.data) {
		switch s.data[j] {
		case ' ', '\t', '\n', '\r':
			j++
			continue
		}
		break
	}
	if j != i {
		s.space = true
	}
	return j
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain8 says whether none of the 8 bytes of x is special in a string ('"',
// '\\' or below 0x20). A byte's test borrows from the next only where it is
// special itself, so the answer for all 8 is exact.
func plain8(x uint64) bool {
	var q = x ^ (lsb * '"')
	var b = x ^ (lsb * '\\')
	return ((q-lsb)&^q|(b-lsb)&^b|(x-lsb*0x20)&^x)&msb == 0
}

// skipValue validates the value that starts at data[i] (not whitespace) and
// returns the offset just past it.
func (s *scanner) skipValue(i int) (int, error) {
	if i >= len(s.data) {
		return i, s.eofAt(i)
	}
	switch c := s.data[i]; {
	case c == '{':
		return s.skipObject(i)
	case c == '[':
		return s.skipArray(i)
	case c == '"':
		var end, _, err = s.skipString(i)
		return end, err
	case c == '-' || c-'0' < 10:
		return s.skipNumber(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	}
	return i, s.badAt(i, "looking for beginning of value")
}

func (s *scanner) literal(i int, lit string) (int, error) {
	for k := 1; k < len(lit); k++ {
		if i+k >= len(s.data) {
			return i + k, s.eofAt(i + k)
		}
		if s.data[i+k] != lit[k] {
			return i + k, s.badAt(i+k, "in literal "+lit+" (expecting "+quoteChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

// skipString validates the string that starts at data[i] ('"') and returns the
// offset just past it, and whether it holds an escape.
func (s *scanner) skipString(i int) (end int, escaped bool, err error) {
	var data = s.data
	var j = i + 1
	for {
		for j+8 <= len(data) && plain8(binary.LittleEndian.Uint64(data[j:])) {
			j += 8
		}
		for j < len(data) && strPlain[data[j]] {
			j++
		}
		if j >= len(data) {
			return j, escaped, s.eofAt(j)
		}
		switch data[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			if j+1 >= len(data) {
				return j + 1, escaped, s.eofAt(j + 1)
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(data) {
						return k, escaped, s.eofAt(k)
					}
					if !isHex(data[k]) {
						return k, escaped, s.badAt(k, "in \\u hexadecimal character escape")
					}
				}
				j += 6
			default:
				return j + 1, escaped, s.badAt(j+1, "in string escape code")
			}
		default: // a control character
			return j, escaped, s.badAt(j, "in string literal")
		}
	}
}

func isHex(c byte) bool {
	return c-'0' < 10 || c-'a' < 6 || c-'A' < 6
}

func (s *scanner) digits(j int) int {
	for j < len(s.data) && s.data[j]-'0' < 10 {
		j++
	}
	return j
}

// skipNumber validates the number that starts at data[i]. A number that runs to
// the end of the input is complete.
func (s *scanner) skipNumber(i int) (int, error) {
	var data = s.data
	var j = i
	if data[j] == '-' {
		j++
		if j >= len(data) {
			return j, s.eofAt(j)
		}
	}
	switch c := data[j]; {
	case c == '0':
		j++
	case c-'1' < 9:
		j = s.digits(j + 1)
	default:
		return j, s.badAt(j, "in numeric literal")
	}
	if j < len(data) && data[j] == '.' {
		j++
		if j >= len(data) {
			return j, s.eofAt(j)
		}
		if data[j]-'0' >= 10 {
			return j, s.badAt(j, "after decimal point in numeric literal")
		}
		j = s.digits(j + 1)
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		if j >= len(data) {
			return j, s.eofAt(j)
		}
		if data[j]-'0' >= 10 {
			return j, s.badAt(j, "in exponent of numeric literal")
		}
		j = s.digits(j + 1)
	}
	return j, nil
}

// push enters an object or array at data[i].
func (s *scanner) push(i int) error {
	s.depth++
	if s.depth > maxNestingDepth {
		return &jsonSyntaxError{off: i, msg: "exceeded max depth"}
	}
	return nil
}

func (s *scanner) skipObject(i int) (int, error) {
	if err := s.push(i); err != nil {
		return i, err
	}
	var data = s.data
	var j = s.ws(i + 1)
	if j < len(data) && data[j] == '}' {
		s.depth--
		return j + 1, nil
	}
	for {
		if j >= len(data) || data[j] != '"' {
			return j, s.badAt(j, "looking for beginning of object key string")
		}
		var err error
		if j, _, err = s.skipString(j); err != nil {
			return j, err
		}
		if j = s.ws(j); j >= len(data) || data[j] != ':' {
			return j, s.badAt(j, "after object key")
		}
		if j, err = s.skipValue(s.ws(j + 1)); err != nil {
			return j, err
		}
		if j = s.ws(j); j >= len(data) {
			return j, s.eofAt(j)
		}
		switch data[j] {
		case ',':
			j = s.ws(j + 1)
		case '}':
			s.depth--
			return j + 1, nil
		default:
			return j, s.badAt(j, "after object key:value pair")
		}
	}
}

func (s *scanner) skipArray(i int) (int, error) {
	if err := s.push(i); err != nil {
		return i, err
	}
	var data = s.data
	var j = s.ws(i + 1)
	if j < len(data) && data[j] == ']' {
		s.depth--
		return j + 1, nil
	}
	for {
		var err error
		if j, err = s.skipValue(j); err != nil {
			return j, err
		}
		if j = s.ws(j); j >= len(data) {
			return j, s.eofAt(j)
		}
		switch data[j] {
		case ',':
			j = s.ws(j + 1)
		case ']':
			s.depth--
			return j + 1, nil
		default:
			return j, s.badAt(j, "after array element")
		}
	}
}

// appendCompact appends src, which must hold exactly one JSON value (whitespace
// around it allowed), without its insignificant whitespace: json.Compact's
// output. Most values have none and are appended as they are.
func appendCompact(dst, src []byte) ([]byte, error) {
	var s = scanner{data: src}
	var end, err = s.skipValue(s.ws(0))
	if err != nil {
		return dst, err
	}
	if s.ws(end) != len(src) {
		return dst, s.badAt(s.ws(end), "after top-level value")
	}
	if !s.space {
		return append(dst, src...), nil
	}
	var inString = false
	for i := 0; i < len(src); i++ {
		var c = src[i]
		if inString {
			var j = i
			for j < len(src) && strPlain[src[j]] {
				j++
			}
			dst = append(dst, src[i:j]...)
			if i = j; i >= len(src) {
				break
			}
			c = src[i]
			dst = append(dst, c)
			if c == '\\' {
				i++
				dst = append(dst, src[i]) // the escaped byte (a valid escape: no '"' closes here)
			} else if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst, nil
}

// unquoteBytes decodes the JSON string token s (its quotes included) to the bytes
// encoding/json gives for it: escapes resolved, and invalid UTF-8, lone surrogates
// and surrogate pairs that do not pair up each become U+FFFD. ok is false when s is
// not a string token. A string with no escape and no invalid UTF-8 comes back as a
// slice of s, without copying.
func unquoteBytes(s []byte) (t []byte, ok bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	var body = s[1 : len(s)-1]
	var clean = 0 // the prefix that needs no decoding
	for clean < len(body) {
		var c = body[clean]
		if c >= utf8.RuneSelf {
			var r, n = utf8.DecodeRune(body[clean:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			clean += n
			continue
		}
		if !strPlain[c] {
			break
		}
		clean++
	}
	if clean == len(body) {
		return body, true
	}
	var out = append(make([]byte, 0, len(body)), body[:clean]...)
	for i := clean; i < len(body); {
		var c = body[i]
		switch {
		case c == '\\':
			if i+1 == len(body) {
				return nil, false
			}
			if b, simple := simpleEscapes[body[i+1]]; simple {
				out, i = append(out, b), i+2
				continue
			}
			if body[i+1] != 'u' {
				return nil, false
			}
			var r, rok = hex4(body[i+2:])
			if !rok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair takes the next escape with it; anything else leaves it be.
				if i+1 < len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if r2, ok2 := hex4(body[i+2:]); ok2 {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							out, i = utf8.AppendRune(out, pair), i+6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		case c == '"' || c < 0x20:
			return nil, false
		case c < utf8.RuneSelf:
			out, i = append(out, c), i+1
		default:
			var r, n = utf8.DecodeRune(body[i:]) // invalid UTF-8: RuneError, one byte
			out, i = utf8.AppendRune(out, r), i+n
		}
	}
	return out, true
}

// simpleEscapes are JSON's one-letter escapes and the byte each stands for.
var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads the four hex digits that start b (those of a \u escape).
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var v, err = strconv.ParseUint(string(c), 16, 8)
		if err != nil {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
