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

// echoConfig is what a connector that echoes its config might write, in random
// pieces and encodings: the config raw, as a JSON string (in a JSON log line), URL-
// and base64-encoded, and its secrets alone in YAML-like lines; with filler between.
// It returns the config and the text.
func echoConfig(a, b, c string, filler []byte, seed uint64) (config []byte, text string) {
	config, _ = json.Marshal(map[string]any{
		"user":     "flow",
		"password": a,
		"auth":     map[string]any{"password": b, "enabled": true},
		"dsn":      "postgres://" + url.UserPassword("u", c).String() + "@h/db",
		"api_key":  a + b,
	})
	var quoted, _ = json.Marshal(string(config))
	var rng = rand.New(rand.NewPCG(seed, seed>>7))
	var parts = []func() string{
		func() string { return string(filler) },
		func() string { return "config: " + string(config) + "\n" },
		func() string { return `{"level":"info","msg":"connecting","config":` + string(quoted) + "}\n" },
		func() string { return "url " + url.QueryEscape(string(config)) + "\n" },
		func() string { return "b64 " + base64.StdEncoding.EncodeToString(config) + "\n" },
		func() string { return "password: " + a + "\nauth.password: " + b + "\n" },
		func() string { return "error: bad password " + c + " for u\n" },
	}
	var sb strings.Builder
	for n := 1 + rng.IntN(8); n > 0; n-- {
		sb.WriteString(parts[rng.IntN(len(parts))]())
	}
	return config, sb.String()
}

func jsonEsc(s string) string {
	var b, _ = json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// leaks returns the forms of secret v (encoded by the standard library, independent
// of the Redactor's own list) that out shows. A short value counts only where it
// stands quoted or alone on a line, the way the echo shows it.
func leaks(out, v string) []string {
	out = strings.ReplaceAll(out, Marker, "\x00")
	var forms []string
	if len(v) >= ShortLen {
		forms = []string{v, jsonEsc(v), jsonEsc(jsonEsc(v)), url.QueryEscape(v), url.QueryEscape(jsonEsc(v))}
	} else {
		var q = `"` + jsonEsc(v) + `"`
		forms = []string{q, jsonEsc(q), url.QueryEscape(q), ": " + v + "\n"}
	}
	var found []string
	for _, f := range forms {
		if strings.Contains(out, f) {
			found = append(found, f)
		}
	}
	return found
}

// FuzzStream: whatever a connector echoes of its config, in whatever pieces, no
// secret is shown, and the stream gives exactly what redacting the whole text at once
// gives.
func FuzzStream(f *testing.F) {
	f.Add("hunter2", "x", "hunter3", []byte("log line\n"), uint64(1))
	f.Add(`p"q\r`, "ab", "p@ss:w/rd", []byte(""), uint64(2))
	f.Add("é€😀<&>", "\n", " ", []byte("\\u00e9"), uint64(3))
	f.Fuzz(func(t *testing.T, a, b, c string, filler []byte, seed uint64) {
		var secrets []string
		for _, s := range []string{a, b, c} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || strings.Contains(s, Marker) {
				return
			}
			if s != "" {
				secrets = append(secrets, s)
			}
		}
		if bytes.IndexByte(filler, 0) >= 0 {
			return
		}
		var config, text = echoConfig(a, b, c, filler, seed)
		text += "\x00" // cannot start a secret: nothing is held back at the end
		var r = New(config)

		var rng = rand.New(rand.NewPCG(seed^0x5eed, seed))
		var out bytes.Buffer
		var w = r.Writer(&out)
		for rest := text; rest != ""; {
			var n = 1 + rng.IntN(len(rest))
			if rng.IntN(2) == 0 {
				n = 1 + rng.IntN(min(len(rest), 8))
			}
			w.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		w.Close()

		var whole = r.String(text)
		if out.String() != whole {
			t.Fatalf("stream and whole text differ:\nstream %q\nwhole  %q", out.String(), whole)
		}
		for _, v := range secrets {
			if l := leaks(whole, v); len(l) != 0 {
				t.Fatalf("secret %q shown as %q in\n%q\n(from %q)", v, l, whole, text)
			}
		}
		if b64 := base64.RawStdEncoding.EncodeToString(config); len(secrets) != 0 && strings.Contains(whole, b64) {
			t.Fatalf("base64 of the config shown: %q", whole)
		}
	})
}
