package redact

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON redacts a JSON text as values, never as text: the result is valid JSON
// whenever b is. Every string, object keys included, is decoded, redacted as String
// does and encoded again (left byte for byte when it holds no secret); every string
// and number at any depth under a key that looks secret (LooksSecret) becomes the
// string Marker, as in a config; other numbers, true, false, null, punctuation and
// white space are left as they are. A number outside a secret key is the output's own
// (a count, a seed, a duration), and replacing it would make the output unreadable by
// its parser: "stored": 500 stays a number even when a password is 500. A b that is
// not JSON is redacted as text.
func (r *Redactor) JSON(b []byte) []byte {
	var set = r.patterns()
	if set == nil {
		return b
	}
	if !json.Valid(b) {
		var out, _ = set.scan(nil, b, 0, true)
		return out
	}
	type level struct {
		object, secret bool
		key            string // the key of the value being read (objects)
		expectKey      bool
	}
	var stack []level
	var marker = strconv.Quote(Marker)
	var out = make([]byte, 0, len(b)+len(b)/8)
	// valueSecret: is the value starting now under a secret key?
	var valueSecret = func() bool {
		if len(stack) == 0 {
			return false
		}
		var top = stack[len(stack)-1]
		return top.secret || top.object && LooksSecret(top.key)
	}
	for i := 0; i < len(b); {
		var c = b[i]
		switch c {
		case ' ', '\t', '\n', '\r', ':':
			out = append(out, c)
			i++
		case ',':
			if len(stack) != 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].expectKey = true
			}
			out = append(out, c)
			i++
		case '{', '[':
			stack = append(stack, level{object: c == '{', secret: valueSecret(), expectKey: c == '{'})
			out = append(out, c)
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			out = append(out, c)
			i++
		case '"':
			var j = i + 1
			for b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			var tok = b[i : j+1]
			i = j + 1
			var s string
			_ = json.Unmarshal(tok, &s) // valid JSON: cannot fail
			if len(stack) != 0 && stack[len(stack)-1].expectKey {
				stack[len(stack)-1].key, stack[len(stack)-1].expectKey = s, false
			} else if valueSecret() {
				out = append(out, marker...)
				continue
			}
			var red, _ = set.scan(nil, []byte(s), 0, true)
			if string(red) == s {
				out = append(out, tok...)
			} else {
				out = appendJSONString(out, red)
			}
		default: // a number, true, false or null
			var j = i
			for j < len(b) && !isDelim(b[j]) {
				j++
			}
			if (c == '-' || c >= '0' && c <= '9') && valueSecret() {
				out = append(out, marker...)
			} else {
				out = append(out, b[i:j]...)
			}
			i = j
		}
	}
	return out
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// appendJSONString appends s as a JSON string (invalid UTF-8 as U+FFFD, no HTML
// escaping).
func appendJSONString(dst, s []byte) []byte {
	if !utf8.Valid(s) {
		s = []byte(string([]rune(string(s))))
	}
	return append(append(append(dst, '"'), jsonPlain(string(s))...), '"')
}

// Head redacts b, then returns at most n bytes of the result, cut on a rune
// boundary and never within a Marker, and whether it cut anything: redacting first means that the cut never
// leaves a fragment of a secret that redaction would no longer recognise. more says
// that b is the start of a longer text that was not read: an end of b that could be
// the unfinished start of a secret is then hidden as Marker.
func (r *Redactor) Head(b []byte, n int, more bool) (head string, cut bool) {
	var out = b
	if set := r.patterns(); set != nil {
		var k int
		out, k = set.scan(nil, b, 0, !more)
		if rest := b[k:]; len(rest) != 0 {
			if set.startsSecret(b, k) {
				out = append(out, Marker...)
			} else {
				out, _ = set.scan(out, b, k, true)
			}
		}
	}
	if len(out) <= n {
		return string(out), false
	}
	var end = n
	for end > 0 && !utf8.RuneStart(out[end]) {
		end--
	}
	// Nor is a Marker cut: "…0001[R" would read as text of the connector's.
	for k := 1; k < len(Marker) && k <= end; k++ {
		if bytes.HasPrefix(out[end-k:], []byte(Marker)) {
			end -= k
			break
		}
	}
	return string(out[:end]), true
}

// WriteRedacted writes p, which holds no secret (it was redacted as values, for
// example by Redactor.JSON), as it is: after what w holds back, which it writes as
// Close does. Text redaction over structured output would break it ("stored":
// [REDACTED] where a password is 500).
func (w *Writer) WriteRedacted(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > w.ctx {
		if err := w.drain(w.r.patterns(), true); err != nil {
			return 0, err
		}
	}
	w.remember(p)
	if _, err := w.w.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// BeforeCuts hides, before each mark in s (where a text was cut: "…"), the
// unfinished start of a secret (3 bytes or more) as Marker. A text cut before it was
// redacted may end in part of a secret that redaction no longer recognises; cutting
// after redacting (Head, Writer) avoids that, BeforeCuts is the second lock for
// texts cut where the secrets were not known.
func (r *Redactor) BeforeCuts(s, mark string) string {
	var set = r.patterns()
	if set == nil || mark == "" || !strings.Contains(s, mark) {
		return s
	}
	var out strings.Builder
	for rest := s; ; {
		var i = strings.Index(rest, mark)
		if i < 0 {
			out.WriteString(rest)
			return out.String()
		}
		var head = []byte(rest[:i])
		for j := max(0, len(head)-set.maxLen); j <= len(head)-3; j++ {
			if set.startsSecret(head, j) {
				head = append(head[:j], Marker...)
				break
			}
		}
		out.Write(head)
		out.WriteString(mark)
		rest = rest[i+len(mark):]
	}
}
