// Package redact removes the secrets of a connector config from everything flowsim
// prints: reports, logs, error messages, the relayed stderr of a connector and the
// termination message of a connector's container.
//
// Which values are secret:
//   - every string or number at any depth under a key that looks secret (LooksSecret:
//     password, token, secret, api_key, credential, auth, …), including every member
//     of an object or array under such a key; booleans and null never are;
//   - the password of URL userinfo (`postgres://user:PASSWORD@host/db`) in any string
//     of the config, under any key, both as written and percent-decoded;
//   - the value of `password=…` (also pwd, passwd) in a key=value connection string.
//
// Each secret is replaced by Marker wherever it appears raw, JSON-escaped (once,
// twice or three times, with or without HTML escaping, or ASCII-only), URL-encoded
// (query or path escaping, either hex case, also of the JSON-escaped form), XML- or
// HTML-escaped, and in base64 (standard or URL alphabet) both of the whole config and
// of the value at any alignment when the value is long enough to be told apart
// (7 bytes or more). A secret spanning several lines is also redacted line by line,
// so that a log tail cut at a line boundary cannot show part of it.
//
// Short values: a value of fewer than ShortLen bytes cannot be told apart from
// ordinary text. It is redacted wherever it stands as a whole word, that is not
// directly after or before an ASCII letter or digit of the surrounding text (a
// preceding %XX or \uXXXX escape or \n-style escape counts as a boundary). Such words
// are then redacted everywhere, also where they mean something else (a password `1`
// hides the number 1 in tables); ShortValues names those keys so that a report can
// say so.
//
// Writer redacts a stream: a secret written in several pieces is still found, by
// holding back the end of what was written while it could be the start of a secret.
//
// Cuts: a text is redacted before it is cut (Head for the start of a text, a Writer
// into a bounded buffer for its end), never after: a cut secret leaves a fragment
// that redaction no longer recognises. BeforeCuts is the second lock for texts that
// were cut where the secrets were not known.
//
// Structured output (JSON) is redacted as values (JSON), never as text over it: a
// short or numeric secret would otherwise turn "stored": 500 into invalid JSON.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Marker replaces every secret.
const Marker = "[REDACTED]"

// ShortLen is the length in bytes from which a secret is redacted wherever it
// appears; shorter ones only where they stand as a whole word.
const ShortLen = 4

var (
	// userinfo of a URL: scheme://USERINFO@ (the last @ before the path).
	urlUserinfo = regexp.MustCompile(`(?i)[a-z][a-z0-9+.\-]*://([^\s/?#]*)@`)
	// password=VALUE in a key=value connection string (libpq, JDBC, query strings).
	kvPassword = regexp.MustCompile(`(?i)(?:^|[\s;&?,])(?:password|passwd|pwd)\s*=\s*('(?:[^'\\]|\\.)*'|"[^"]*"|[^\s;&,]+)`)
)

// Redactor replaces the secrets of the configs it knows. The zero value and nil know
// none. It is safe for concurrent use; Learn may add configs at any time.
type Redactor struct {
	mu      sync.Mutex // serialises Learn
	configs map[string]bool
	secrets map[string]bool // raw secret values
	short   []string        // key paths of short secrets
	set     atomic.Pointer[patternSet]
}

// New returns a Redactor for the secrets of a JSON connector config.
func New(config []byte) *Redactor {
	var r = &Redactor{}
	r.Learn(config)
	return r
}

// Learn adds the secrets of another JSON config (a config that is not JSON adds
// none).
func (r *Redactor) Learn(config []byte) {
	if r == nil || len(config) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.configs[string(config)] || len(r.configs) >= 64 {
		return
	}
	var found = secretsOf(config)
	if r.configs == nil {
		r.configs, r.secrets = map[string]bool{}, map[string]bool{}
	}
	r.configs[string(config)] = true
	var changed bool
	for _, s := range found {
		if !r.secrets[s.value] {
			r.secrets[s.value], changed = true, true
			if len(s.value) < ShortLen {
				r.short = append(r.short, s.path)
			}
		}
	}
	if !changed {
		return
	}
	var values = make([]string, 0, len(r.secrets))
	for v := range r.secrets {
		values = append(values, v)
	}
	var wholes []string
	for c := range r.configs {
		if len(secretsOf([]byte(c))) != 0 {
			wholes = append(wholes, c)
		}
	}
	r.set.Store(buildSet(values, wholes))
}

// ShortValues names (by key path, e.g. `auth.password`) the secrets shorter than
// ShortLen, which are redacted only as whole words.
func (r *Redactor) ShortValues() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.short...)
}

// Any reports whether r knows a secret.
func (r *Redactor) Any() bool { return r != nil && r.set.Load() != nil }

// String returns s with every secret replaced by Marker.
func (r *Redactor) String(s string) string {
	var set = r.patterns()
	if set == nil {
		return s
	}
	var out, _ = set.scan(nil, []byte(s), 0, true)
	return string(out)
}

// Error returns err with its message redacted (nil for nil). The result does not
// unwrap: the original message is gone.
func (r *Redactor) Error(err error) error {
	if err == nil || !r.Any() {
		return err
	}
	return redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }

// Is lets errors.Is see the original error's identity (sentinels carry no secret).
func (e redactedError) Is(target error) bool {
	for err := e.err; err != nil; {
		if err == target {
			return true
		}
		if u, ok := err.(interface{ Unwrap() error }); ok {
			err = u.Unwrap()
		} else {
			return false
		}
	}
	return false
}

func (r *Redactor) patterns() *patternSet {
	if r == nil {
		return nil
	}
	return r.set.Load()
}

// Writer returns a writer that redacts what is written and passes it to w. It holds
// back the end of the stream while that could be the start of a secret (or a short
// secret that the next byte could make part of a longer word); Close writes what is
// held back (an unfinished start of a secret of 3 bytes or more as Marker).
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// Writer is a redacting stream; see Redactor.Writer.
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte // up to ctxLen bytes already passed on (for word boundaries), then pending bytes
	ctx int
}

// contextLen is how many passed-on bytes a boundary check may look back at (\uXXXX).
const contextLen = 6

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var set = w.r.patterns()
	if set == nil && len(w.buf) == w.ctx {
		// Nothing known, nothing held: pass through, remembering the context.
		w.remember(p)
		if _, err := w.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if err := w.drain(set, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is held back. The Writer may be written to again afterwards.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.drain(w.r.patterns(), true)
}

func (w *Writer) drain(set *patternSet, final bool) error {
	var out []byte
	var n int
	switch {
	case set == nil:
		out, n = w.buf[w.ctx:], len(w.buf)-w.ctx
	case !final:
		out, n = set.scan(nil, w.buf, w.ctx, false)
	default:
		out, n = set.scan(nil, w.buf, w.ctx, false)
		if rest := w.buf[w.ctx+n:]; len(rest) >= 3 && set.startsSecret(w.buf, w.ctx+n) {
			// The stream ends in the middle of a secret: hide its start.
			out = append(out, Marker...)
		} else {
			out, _ = set.scan(out, w.buf, w.ctx+n, true)
		}
		n = len(w.buf) - w.ctx
	}
	var done = w.buf[:w.ctx+n]
	var keep = len(done) - min(len(done), contextLen)
	var err error
	if len(out) != 0 {
		_, err = w.w.Write(out)
	}
	w.buf = append(w.buf[:0], w.buf[keep:]...)
	w.ctx = len(done) - keep
	return err
}

func (w *Writer) remember(p []byte) {
	if len(p) >= contextLen {
		w.buf = append(w.buf[:0], p[len(p)-contextLen:]...)
	} else {
		w.buf = append(w.buf, p...)
		if len(w.buf) > contextLen {
			w.buf = append(w.buf[:0], w.buf[len(w.buf)-contextLen:]...)
		}
	}
	w.ctx = len(w.buf)
}

// secret is a secret value and where it was found.
type secret struct{ path, value string }

func secretsOf(config []byte) []secret {
	var d = json.NewDecoder(bytes.NewReader(config))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	var out []secret
	var add = func(path, value string) {
		if value == "" {
			return
		}
		out = append(out, secret{path, value})
		// A multi-line secret (a PEM key) also line by line.
		if strings.ContainsAny(value, "\r\n") {
			for _, l := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if l = strings.TrimSpace(l); l != "" {
					out = append(out, secret{path, l})
				}
			}
		}
	}
	var walk func(path string, secretKey bool, v any)
	walk = func(path string, secretKey bool, v any) {
		switch t := v.(type) {
		case map[string]any:
			var keys = make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				var p = k
				if path != "" {
					p = path + "." + k
				}
				walk(p, secretKey || LooksSecret(k), t[k])
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), secretKey, e)
			}
		case json.Number:
			if secretKey {
				add(path, t.String())
			}
		case string:
			if secretKey {
				add(path, t)
			}
			for _, m := range urlUserinfo.FindAllStringSubmatch(t, -1) {
				if _, pass, ok := strings.Cut(m[1], ":"); ok {
					add(path+" (URL password)", pass)
					if dec, err := url.PathUnescape(pass); err == nil && dec != pass {
						add(path+" (URL password)", dec)
					}
				}
			}
			for _, m := range kvPassword.FindAllStringSubmatch(t, -1) {
				var v = m[1]
				if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
					v = v[1 : len(v)-1]
				}
				add(path+" (password=)", v)
			}
		}
	}
	walk("", false, v)
	return out
}

// pattern is one encoded form of a secret.
type pattern struct {
	s    []byte
	word bool // a short secret's form: only as a whole word
}

// patternSet finds patterns by their first byte, longest first.
type patternSet struct {
	byFirst [256][]pattern
	maxLen  int // of the longest pattern
}

func buildSet(values, wholeConfigs []string) *patternSet {
	var forms = map[string]bool{} // form → word
	for _, v := range values {
		var word = len(v) < ShortLen
		for f := range encodings(v) {
			if f != "" && !forms[f] {
				forms[f] = word
			}
		}
		if !word {
			for _, core := range base64Cores(v) {
				forms[core] = false
			}
		}
	}
	for _, c := range wholeConfigs {
		for _, b := range []string{c, c + "\n"} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				var e = enc.EncodeToString([]byte(b))
				forms[e] = false
				forms[url.QueryEscape(e)] = false
			}
		}
	}
	var set = &patternSet{}
	for f, word := range forms {
		set.byFirst[f[0]] = append(set.byFirst[f[0]], pattern{s: []byte(f), word: word})
		set.maxLen = max(set.maxLen, len(f))
	}
	for i := range set.byFirst {
		var ps = set.byFirst[i]
		sort.Slice(ps, func(a, b int) bool {
			if len(ps[a].s) != len(ps[b].s) {
				return len(ps[a].s) > len(ps[b].s)
			}
			return bytes.Compare(ps[a].s, ps[b].s) < 0
		})
	}
	return set
}

// encodings returns the forms a value may be printed in.
func encodings(v string) map[string]bool {
	var out = map[string]bool{v: true}
	var level = []string{v}
	for depth := 0; depth < 3; depth++ {
		var next []string
		for _, s := range level {
			var ts = []func(string) string{jsonHTML, jsonPlain, jsonASCII}
			if depth < 2 {
				ts = append(ts, url.QueryEscape, url.PathEscape, lowerHex(url.QueryEscape), lowerHex(url.PathEscape), xmlEscape, html.EscapeString)
			}
			for _, t := range ts {
				var e = t(s)
				if !out[e] {
					out[e] = true
					next = append(next, e)
				}
			}
		}
		level = next
	}
	return out
}

func jsonHTML(s string) string {
	var b, _ = json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func jsonPlain(s string) string {
	var buf bytes.Buffer
	var enc = json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	var b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(b[1 : len(b)-1])
}

// jsonASCII escapes as encoders with ASCII-only output do (Python's json.dumps).
func jsonASCII(s string) string {
	var b strings.Builder
	for _, r := range jsonPlain(s) {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

var hexEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerHex(f func(string) string) func(string) string {
	return func(s string) string { return hexEscape.ReplaceAllStringFunc(f(s), strings.ToLower) }
}

// base64Cores are the base64 characters that encode only bytes of v, for each of the
// three alignments v can have in a longer base64 text. Too short cores (values under
// 7 bytes) would match unrelated base64.
func base64Cores(v string) []string {
	var out []string
	for a := 0; a < 3; a++ {
		var b = append(make([]byte, a), v...)
		var from, to = (8*a + 5) / 6, 8 * (a + len(v)) / 6
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			var e = enc.EncodeToString(b)
			if to-from >= 8 {
				out = append(out, e[from:to])
			}
		}
	}
	return out
}

func isWord(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// boundaryBefore reports whether a word may start at b[i].
func boundaryBefore(b []byte, i int) bool {
	if i == 0 || !isWord(b[i-1]) {
		return true
	}
	if i >= 3 && b[i-3] == '%' && isHex(b[i-2]) && isHex(b[i-1]) {
		return true
	}
	if i >= 6 && b[i-6] == '\\' && b[i-5] == 'u' && isHex(b[i-4]) && isHex(b[i-3]) && isHex(b[i-2]) && isHex(b[i-1]) {
		return true
	}
	return i >= 2 && b[i-2] == '\\' && strings.IndexByte("nrtbf", b[i-1]) >= 0
}

// scan redacts b[from:] (b[:from] is context already passed on) and appends the
// result to dst. Unless final, it stops where more input could change the result, and
// returns how many bytes of b[from:] it consumed.
func (ps *patternSet) scan(dst, b []byte, from int, final bool) ([]byte, int) {
	var i = from
	var plain = from // start of bytes not yet copied
next:
	for i < len(b) {
		var cands = ps.byFirst[b[i]]
		if len(cands) == 0 {
			i++
			continue
		}
		for _, p := range cands {
			var n = len(p.s)
			if p.word && isWord(p.s[0]) && !boundaryBefore(b, i) {
				continue
			}
			if len(b)-i < n {
				if !final && bytes.HasPrefix(p.s, b[i:]) {
					break next // could become this (longer) secret
				}
				continue
			}
			if !bytes.Equal(b[i:i+n], p.s) {
				continue
			}
			if p.word && isWord(p.s[n-1]) {
				if i+n == len(b) && !final {
					break next // the next byte decides
				}
				if i+n < len(b) && isWord(b[i+n]) {
					continue
				}
			}
			dst = append(append(dst, b[plain:i]...), Marker...)
			i += n
			plain = i
			continue next
		}
		i++
	}
	dst = append(dst, b[plain:i]...)
	return dst, i - from
}

// startsSecret reports whether b[i:] is the unfinished start of a pattern.
func (ps *patternSet) startsSecret(b []byte, i int) bool {
	for _, p := range ps.byFirst[b[i]] {
		if len(p.s) > len(b)-i && bytes.HasPrefix(p.s, b[i:]) && (!p.word || !isWord(p.s[0]) || boundaryBefore(b, i)) {
			return true
		}
	}
	return false
}
