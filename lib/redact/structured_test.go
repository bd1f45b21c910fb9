package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONRedactsValues(t *testing.T) {
	var r = New([]byte(`{"password":"500","token":12345678,"api_key":"hunter2"}`))
	for _, c := range []struct{ in, want string }{
		// Numbers are the output's own: they stay numbers (as text they became [REDACTED]).
		{`{"stored":500,"seed":12345678,"msg":"password 500 and hunter2"}`, `{"stored":500,"seed":12345678,"msg":"password [REDACTED] and [REDACTED]"}`},
		{"{\n  \"a\": [500, \"500\", true, null],\n  \"b\": \"x\"\n}\n", "{\n  \"a\": [500, \"[REDACTED]\", true, null],\n  \"b\": \"x\"\n}\n"},
		// Under a key that looks secret, every string and number, at any depth.
		{`{"auth":{"pin":7,"on":true,"list":["a",1.5]},"password":42}`, `{"auth":{"pin":"[REDACTED]","on":true,"list":["[REDACTED]","[REDACTED]"]},"password":"[REDACTED]"}`},
		// A key holding a secret; an escaped secret.
		{`{"hunter2":"\u0068unter2"}`, `{"[REDACTED]":"[REDACTED]"}`},
		// Not JSON: as text.
		{`"stored":500`, `"stored":[REDACTED]`},
	} {
		var got = string(r.JSON([]byte(c.in)))
		if got != c.want {
			t.Errorf("JSON(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	var none *Redactor
	if string(none.JSON([]byte(`{"a":1}`))) != `{"a":1}` {
		t.Error("no secrets must change nothing")
	}
}

func TestHeadRedactsBeforeCutting(t *testing.T) {
	var r = New([]byte(`{"password":"s3cr3t-Pa55word!"}`))
	var text = []byte(`{"level":"info","msg":"connecting","password":"s3cr3t-Pa55word!","host":"db"}`)
	var head, cut = r.Head(text, 56, false)
	if !cut || head != `{"level":"info","msg":"connecting","password":"` {
		t.Errorf("Head = %q, %v (a Marker is never cut: it would read as the text's own)", head, cut)
	}
	// A whole Marker at the end stays.
	if head, cut = r.Head(text, 57, false); !cut || head != `{"level":"info","msg":"connecting","password":"[REDACTED]` {
		t.Errorf("Head = %q, %v", head, cut)
	}
	// The text read so far ends in the start of the secret: hidden.
	head, cut = r.Head([]byte("login with s3cr3t-Pa"), 64, true)
	if cut || head != "login with [REDACTED]" {
		t.Errorf("Head of an unfinished secret = %q, %v", head, cut)
	}
	// When the text is all there is, an unfinished start is just text.
	if head, _ = r.Head([]byte("login with s3cr3t-Pa"), 64, false); head != "login with s3cr3t-Pa" {
		t.Errorf("Head of a complete text = %q", head)
	}
	if head, cut = r.Head([]byte("é"), 1, false); head != "" || !cut {
		t.Errorf("Head must cut on a rune boundary: %q", head)
	}
}

func TestWriteRedactedPassesStructuredOutputAsIs(t *testing.T) {
	var r = New([]byte(`{"password":"500","token":"hunter2"}`))
	var out bytes.Buffer
	var w = r.Writer(&out)
	w.Write([]byte("relayed 500 hun"))
	w.WriteRedacted([]byte(`FLOWSIM-PROGRESS {"docs":500}` + "\n"))
	w.Write([]byte("500\n"))
	w.Close()
	if want := "relayed [REDACTED] [REDACTED]FLOWSIM-PROGRESS {\"docs\":500}\n[REDACTED]\n"; out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// randomJSON builds a JSON value from rng whose strings and numbers are drawn from
// vals (and from ordinary words), under keys of which some look secret.
func randomJSON(rng *rand.Rand, vals []string, depth int) any {
	var pick = func() string {
		if rng.IntN(2) == 0 && len(vals) != 0 {
			return vals[rng.IntN(len(vals))]
		}
		return []string{"x", "stored", "500", "a b", "é"}[rng.IntN(5)]
	}
	switch k := rng.IntN(6); {
	case depth > 3 || k == 0:
		var s = pick()
		if s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s)) && strings.TrimSpace(s) == s && rng.IntN(2) == 0 {
			return json.Number(s)
		}
		return "at " + s + " and " + pick()
	case k == 1:
		return rng.IntN(2) == 0
	case k < 4:
		var m = map[string]any{}
		for n := rng.IntN(4); n > 0; n-- {
			var key = []string{"stored", "password", "seed", "message", "auth", pick()}[rng.IntN(6)]
			m[key] = randomJSON(rng, vals, depth+1)
		}
		return m
	default:
		var a []any
		for n := rng.IntN(4); n > 0; n-- {
			a = append(a, randomJSON(rng, vals, depth+1))
		}
		return a
	}
}

// FuzzJSON: structured output redacted as values stays valid JSON with the same
// shape, keeps every number outside secret keys, and shows no secret in any string.
func FuzzJSON(f *testing.F) {
	f.Add("500", "12345678", "hunter2", uint64(1), true)
	f.Add("1", "x", `p"q\r`, uint64(2), false)
	f.Add("-0.5e3", "é€", "[]{}", uint64(3), true)
	f.Fuzz(func(t *testing.T, a, b, c string, seed uint64, indent bool) {
		var secrets []string
		for _, s := range []string{a, b, c} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || strings.Contains(s, Marker) || strings.Contains(Marker, s) {
				return
			}
			if s != "" {
				secrets = append(secrets, s)
			}
		}
		var config, _ = json.Marshal(map[string]any{"password": a, "auth": map[string]any{"token": b}, "api_key": c})
		var r = New(config)
		var rng = rand.New(rand.NewPCG(seed, 7))
		var v = randomJSON(rng, secrets, 0)
		var in, err = json.Marshal(v)
		if indent {
			in, err = json.MarshalIndent(v, "", "  ")
		}
		if err != nil {
			t.Fatal(err)
		}
		var out = r.JSON(in)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON:\n%s\nfrom\n%s", out, in)
		}
		// Same shape; numbers outside secret keys unchanged; strings without secrets.
		var got any
		var d = json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		if err := d.Decode(&got); err != nil {
			t.Fatal(err)
		}
		var walk func(want, got any, secret bool)
		walk = func(want, got any, secret bool) {
			switch w := want.(type) {
			case map[string]any:
				var g, ok = got.(map[string]any)
				if !ok {
					t.Fatalf("object became %T:\n%s\nfrom\n%s", got, out, in)
				}
				for k, wv := range w {
					if r.String(k) != k {
						continue // a redacted key: several may have become Marker
					}
					if gv, ok := g[k]; ok {
						walk(wv, gv, secret || LooksSecret(k))
					} else {
						t.Fatalf("key %q lost:\n%s", k, out)
					}
				}
			case []any:
				var g, ok = got.([]any)
				if !ok || len(g) != len(w) {
					t.Fatalf("array became %v:\n%s\nfrom\n%s", got, out, in)
				}
				for i := range w {
					walk(w[i], g[i], secret)
				}
			case json.Number:
				if secret {
					if got != Marker {
						t.Fatalf("number %s under a secret key shown as %v", w, got)
					}
				} else if got != w {
					t.Fatalf("number %s became %v:\n%s", w, got, out)
				}
			case string:
				if secret && got != Marker {
					t.Fatalf("string %q under a secret key shown as %v", w, got)
				}
				var g, _ = got.(string)
				for _, s := range secrets {
					if l := leaks(g+"\n", s); len(l) != 0 && !(len(s) < ShortLen && !strings.Contains(w, s)) {
						t.Fatalf("secret %q shown as %q in %q (from %q)", s, l, g, w)
					}
				}
			case bool:
				if got != w {
					t.Fatalf("bool %v became %v", w, got)
				}
			}
		}
		var want any
		d = json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		_ = d.Decode(&want)
		walk(want, got, false)
	})
}

// FuzzHead: an excerpt cut from a connector's output shows no fragment of a secret:
// whatever the cut, it is the start of the whole text redacted (the cut comes after
// the redaction), and when the text read so far ends in the start of a secret, the
// start of that text redacted with the rest of the secret.
func FuzzHead(f *testing.F) {
	f.Add("s3cr3t-Pa55word!", "x", "hunter3", []byte("log line\n"), uint64(1), 64, false)
	f.Add("hunter2", "ab", "p@ss:w/rd", []byte("password "), uint64(2), 20, true)
	f.Add("é€😀<&>", "\n", " ", []byte("\\u00e9"), uint64(3), 5, true)
	f.Fuzz(func(t *testing.T, a, b, c string, filler []byte, seed uint64, n int, more bool) {
		var secrets []string
		for _, s := range []string{a, b, c} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || strings.Contains(s, Marker) {
				return
			}
			if s != "" {
				secrets = append(secrets, s)
			}
		}
		if bytes.IndexByte(filler, 0) >= 0 || n < 0 || n > 1<<16 {
			return
		}
		var config, text = echoConfig(a, b, c, filler, seed)
		var r = New(config)
		// Stop reading anywhere, also within a secret.
		var rng = rand.New(rand.NewPCG(seed, 3))
		var read = text[:rng.IntN(len(text)+1)]
		var head, cut = r.Head([]byte(read), n, more)
		var full, _ = r.Head([]byte(read), 1<<30, more)
		if !strings.HasPrefix(full, head) {
			t.Fatalf("Head(%q, %d) = %q is not the start of %q", read, n, head, full)
		}
		if len(head) > n || !more && cut != (len(r.String(read)) > n) {
			t.Fatalf("Head(%q, %d) = %q, %v", read, n, head, cut)
		}
		for _, v := range secrets {
			if l := leaks(full+"\x00", v); len(l) != 0 {
				t.Fatalf("secret %q shown as %q in %q", v, l, head)
			}
		}
		// A text cut before it was redacted, then redacted and its cut checked by
		// BeforeCuts, does not end in the start of a secret.
		var second = strings.TrimSuffix(r.BeforeCuts(r.String(read+"…"), "…"), "…")
		for _, v := range secrets {
			for k := 3; k < len(v); k++ {
				if strings.HasSuffix(second, v[:k]) && utf8.ValidString(v[:k]) && !strings.Contains(Marker, v[:k]) {
					t.Fatalf("BeforeCuts leaves %q of %q in %q", v[:k], v, second)
				}
			}
		}
		// The head is the start of the redaction of the whole text, or of that start
		// with an unfinished end hidden; whether the text ends there or goes on with the
		// rest of whatever secret (or echoed form of the config) it ends in.
		var wholes = []string{r.String(read + "\x00")}
		if more {
			var forms = []string{string(config), jsonEsc(string(config)), url.QueryEscape(string(config)), base64.StdEncoding.EncodeToString(config)}
			for _, v := range secrets {
				forms = append(forms, v, jsonEsc(v), jsonEsc(jsonEsc(v)), url.QueryEscape(v), url.QueryEscape(jsonEsc(v)), url.PathEscape(v))
			}
			for _, form := range forms {
				for k := 1; k < len(form); k++ {
					if strings.HasSuffix(read, form[:k]) {
						wholes = append(wholes, r.String(read+form[k:]+"\x00"))
					}
				}
			}
		}
		for _, w := range wholes {
			if !strings.HasPrefix(w, full) && !(more && strings.HasSuffix(full, Marker) && strings.HasPrefix(w, strings.TrimSuffix(full, Marker))) {
				t.Fatalf("head %q of %q (more %v) is not the start of %q, the whole text redacted", full, read, more, w)
			}
		}
	})
}

func TestBeforeCutsHidesTheStartOfACutSecret(t *testing.T) {
	var r = New([]byte(`{"password":"s3cr3t-Pa55word!","token":"abc"}`))
	for _, c := range []struct{ in, want string }{
		{`got {"password":"s3cr3t-Pa…`, `got {"password":"[REDACTED]…`},
		{`a s3…, b s3c… and s3cr3t-Pa55word!`, `a s3…, b [REDACTED]… and s3cr3t-Pa55word!`}, // whole secrets are String's
		{`ab… hello…`, `ab… hello…`},
	} {
		if got := r.BeforeCuts(c.in, "…"); got != c.want {
			t.Errorf("BeforeCuts(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
