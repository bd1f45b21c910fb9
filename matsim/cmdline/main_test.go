package cmdline

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim/engine"
)

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
