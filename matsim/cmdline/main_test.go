package cmdline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim/engine"
)

func TestResolveYAML(t *testing.T) {
	var dir = t.TempDir()
	var file = filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("address: localhost:5432\nnested: {a: [1, true, null]}\n"), 0o644)
	for _, c := range []struct{ in, want string }{
		{"", `{}`},
		{"{a: 1, b: x}", `{"a":1,"b":"x"}`},
		{"a: 1", `{"a":1}`},
		{`{"json": "too"}`, `{"json":"too"}`},
		{file, `{"address":"localhost:5432","nested":{"a":[1,true,null]}}`},
	} {
		var got, err = resolveYAML("--config", c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("resolveYAML(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestRunLibraryEntryPoint(t *testing.T) {
	var out, errOut bytes.Buffer
	var args = []string{"my-connector", "fence", "--start", "20", "--seed", "5"}
	if code := Main(context.Background(), reference.New(), func() engine.TestData { return new(engine.Basic) }, args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "matsim fence: PASSED") {
		t.Fatalf("no report:\n%s", out.String())
	}
	out.Reset()
	errOut.Reset()
	args = []string{"my-connector", "basic", "--image", "x"}
	if code := Main(context.Background(), reference.New(), nil, args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown flag: --image") {
		t.Fatalf("transport flags make no sense with an in-process server: exit %d, %s", code, errOut.String())
	}
}

// A setup error is explained by the report; stderr gets no second copy of it.
func TestSetupErrorIsReportedOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	var args = []string{"my-connector", "basic", "--config", "{defect: no-such-defect}"}
	if code := Main(context.Background(), reference.New(), nil, args, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2:\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "SETUP ERROR") || strings.Contains(errOut.String(), "setup failed") || strings.Contains(errOut.String(), "my-connector:") {
		t.Fatalf("want the report once (stdout) and no copy on stderr:\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
}
