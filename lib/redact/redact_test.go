package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// issueConfig is the config of issue 11, as `--config` turns it into JSON.
const issueConfig = `{"api_key":"p\"q\\r","auth":{"password":"x"},"dsn":"postgres://u:hunter3@h/db","password":"hunter2","token":"abc"}`

func TestSecretsOf(t *testing.T) {
	for _, c := range []struct {
		config string
		want   []string // path=value
	}{
		{issueConfig, []string{`api_key=p"q\r`, "auth.password=x", "dsn (URL password)=hunter3", "password=hunter2", "token=abc"}},
		{`{"user":"flow","port":5432,"ssl":true}`, nil},
		{`{"credentials":{"type":"sa","key":"k-1"},"tls":{"private_key":"-----BEGIN-----\nMIIE\n-----END-----"}}`,
			[]string{"credentials.key=k-1", "credentials.type=sa", "tls.private_key=-----BEGIN-----\nMIIE\n-----END-----",
				"tls.private_key=-----BEGIN-----", "tls.private_key=MIIE", "tls.private_key=-----END-----"}},
		{`{"pin":{"password":12345678901234567890123},"auth_enabled":true,"token":null}`, []string{"pin.password=12345678901234567890123"}},
		{`{"hosts":["https://a:p%40ss@x","mysql://root@y"]}`, []string{"hosts[0] (URL password)=p%40ss", "hosts[0] (URL password)=p@ss"}},
		{`{"conn":"host=h user=u password='s3 cr' sslmode=disable"}`, []string{"conn (password=)=s3 cr"}},
		{`{"jdbc":"jdbc:sqlserver://h;user=u;password=pw1;db=d"}`, []string{"jdbc (password=)=pw1"}},
		{`not json`, nil},
	} {
		var got []string
		for _, s := range secretsOf([]byte(c.config)) {
			got = append(got, s.path+"="+s.value)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("secretsOf(%s):\n got %q\nwant %q", c.config, got, c.want)
		}
	}
}

func TestString(t *testing.T) {
	var r = New([]byte(issueConfig))
	for _, c := range []struct{ in, want string }{
		{"password hunter2 and hunter3", "password [REDACTED] and [REDACTED]"},
		{"config " + issueConfig, `config {"api_key":"[REDACTED]","auth":{"password":"[REDACTED]"},"dsn":"postgres://u:[REDACTED]@h/db","password":"[REDACTED]","token":"[REDACTED]"}`},
		// The short value x only as a word; abc (3 bytes) too.
		{"x marks, max, x-ray, 0x1, abc, abcd", "[REDACTED] marks, max, [REDACTED]-ray, 0x1, [REDACTED], abcd"},
		{`p"q\r`, Marker},
		{`"p\"q\\r"`, `"[REDACTED]"`},
		{`"{\"api_key\":\"p\\\"q\\\\r\"}"`, `"{\"api_key\":\"[REDACTED]\"}"`},
		{url.QueryEscape(issueConfig), "%7B%22api_key%22%3A%22[REDACTED]%22%2C%22auth%22%3A%7B%22password%22%3A%22[REDACTED]%22%7D%2C%22dsn%22%3A%22postgres%3A%2F%2Fu%3A[REDACTED]%40h%2Fdb%22%2C%22password%22%3A%22[REDACTED]%22%2C%22token%22%3A%22[REDACTED]%22%7D"},
		{"b64 " + base64.StdEncoding.EncodeToString([]byte(issueConfig)) + " end", "b64 [REDACTED] end"},
		{"b64 " + base64.URLEncoding.EncodeToString([]byte(issueConfig+"\n")), "b64 [REDACTED]"},
		{`p&#34;q\r and p%22q%5Cr and p%22q%5cr`, "[REDACTED] and [REDACTED] and [REDACTED]"},
		{`\u0022x\u0022 and \nx`, `\u0022[REDACTED]\u0022 and \n[REDACTED]`},
	} {
		if got := r.String(c.in); got != c.want {
			t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	if got := r.ShortValues(); fmt.Sprint(got) != "[auth.password token]" {
		t.Errorf("ShortValues = %v", got)
	}
	var none *Redactor
	if none.String("hunter2") != "hunter2" || New([]byte(`{"user":"u"}`)).String("u") != "u" || none.Any() {
		t.Error("no secrets must change nothing")
	}
}

func TestBase64AnyAlignment(t *testing.T) {
	var r = New([]byte(`{"token":"a-long-token-value"}`))
	for _, prefix := range []string{"", "a", "ab", "abc"} {
		var enc = base64.StdEncoding.EncodeToString([]byte(prefix + "a-long-token-value" + "tail"))
		var got = r.String(enc)
		if !strings.Contains(got, Marker) {
			t.Errorf("base64 of %q: %s not redacted", prefix+"…", enc)
		}
	}
}

func TestErrorKeepsIdentity(t *testing.T) {
	var sentinel = errors.New("failed")
	var r = New([]byte(`{"password":"hunter2"}`))
	var err = r.Error(fmt.Errorf("%w: connecting with hunter2", sentinel))
	if err.Error() != "failed: connecting with [REDACTED]" || !errors.Is(err, sentinel) {
		t.Fatalf("got %v (is sentinel: %v)", err, errors.Is(err, sentinel))
	}
}

// writeSplit writes s to a fresh Writer in pieces at the given cut points.
func writeSplit(r *Redactor, s string, cuts ...int) string {
	var out bytes.Buffer
	var w = r.Writer(&out)
	var last = 0
	for _, c := range cuts {
		w.Write([]byte(s[last:c]))
		last = c
	}
	w.Write([]byte(s[last:]))
	w.Close()
	return out.String()
}

func TestWriterAcrossWrites(t *testing.T) {
	var r = New([]byte(issueConfig))
	for _, c := range []struct {
		in   string
		cuts []int
		want string
	}{
		{"hunter2\n", []int{3}, "[REDACTED]\n"},
		{"a hunter2 b\n", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "a [REDACTED] b\n"},
		{"x\n", []int{1}, "[REDACTED]\n"},
		{"xy\n", []int{1}, "xy\n"},
		{"ax\n", []int{1}, "ax\n"},
		{"max x", []int{4}, "max [REDACTED]"},
		{"hunt", []int{2}, Marker}, // the stream ends in a secret: its start is hidden
		{"hu", nil, "hu"},          // too short to mean anything
	} {
		if got := writeSplit(r, c.in, c.cuts...); got != c.want {
			t.Errorf("%q cut at %v:\n got %q\nwant %q", c.in, c.cuts, got, c.want)
		}
	}
}

func TestWriterPassesThroughLive(t *testing.T) {
	var r = New([]byte(`{"password":"hunter2"}`))
	var out bytes.Buffer
	var w = r.Writer(&out)
	w.Write([]byte("loading…\npartial line "))
	if out.String() != "loading…\npartial line " {
		t.Fatalf("text that cannot start a secret must pass at once, got %q", out.String())
	}
	w.Write([]byte("hun"))
	if out.String() != "loading…\npartial line " {
		t.Fatalf("the start of a secret must be held back, got %q", out.String())
	}
	w.Write([]byte("ter2 ok"))
	if out.String() != "loading…\npartial line [REDACTED] ok" {
		t.Fatalf("got %q", out.String())
	}
}

func TestWriterLearnsLater(t *testing.T) {
	var r = &Redactor{}
	var out bytes.Buffer
	var w = r.Writer(&out)
	w.Write([]byte("spec: no secret known yet, hunter2\n"))
	r.Learn([]byte(`{"password":"hunter2"}`))
	w.Write([]byte("validate: hunter2\n"))
	w.Close()
	if out.String() != "spec: no secret known yet, hunter2\nvalidate: [REDACTED]\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestNumbersStayExact(t *testing.T) {
	var r = New([]byte(`{"password":12345678901234567890123}`))
	if got := r.String("n=12345678901234567890123"); got != "n="+Marker {
		t.Fatalf("got %q", got)
	}
	var b, _ = json.Marshal(map[string]any{"a": 1})
	_ = b
}
