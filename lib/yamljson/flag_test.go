package yamljson

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlag(t *testing.T) {
	var dir = t.TempDir()
	var file = filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("address: localhost:5432\nnested: {a: [1, true, null]}\n"), 0o644)
	for _, c := range []struct{ in, want string }{
		{"", `{}`},
		{"  \n", `{}`},
		{"{a: 1, b: x}", `{"a":1,"b":"x"}`},
		{"a: 1", `{"a":1}`},
		{`{"json": "too"}`, `{"json":"too"}`},
		{file, `{"address":"localhost:5432","nested":{"a":[1,true,null]}}`},
	} {
		var got, _, err = Flag("--config", c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("Flag(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{filepath.Join(dir, "missing.yaml"), "--resource: not an inline YAML mapping"},
		{"/dev/zero", "larger than 16 MiB"},
	} {
		if _, _, err := Flag("--resource", c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Flag(%q): %v, want an error saying %q", c.in, err, c.want)
		}
	}
	var bad = filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("- a list\n"), 0o644)
	if _, _, err := Flag("--config", bad); err == nil || !strings.Contains(err.Error(), "--config: file "+bad) {
		t.Errorf("a file that is not a mapping: %v", err)
	}
}
