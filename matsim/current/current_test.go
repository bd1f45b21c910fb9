package current_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023/inproc/inproctest"
	"github.com/flowsim/flowsim/matsim/current"
)

var flowsim string // the flowsim binary built for these tests

func TestMain(m *testing.M) {
	var dir, err = os.MkdirTemp("", "flowsim-current-")
	if err != nil {
		panic(err)
	}
	flowsim = filepath.Join(dir, "flowsim")
	var build = exec.Command("go", "build", "-tags", "nozstd", "-o", flowsim, "github.com/flowsim/flowsim/cmd/flowsim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic("building flowsim: " + err.Error())
	}
	var code = m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, c *inproctest.Tiny, bin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	var code = current.RunWith(context.Background(), c, current.Options{Args: args, Flowsim: bin, Stdout: &out, Stderr: &out})
	return code, out.String()
}

// A correct connector of today's era, tested from its own process, passes.
func TestCorrectConnectorPasses(t *testing.T) {
	for _, test := range []string{"basic", "recovery"} {
		t.Run(test, func(t *testing.T) {
			var code, out = run(t, &inproctest.Tiny{}, flowsim, test, "--loops", "3")
			if code != 0 || !strings.Contains(out, "PASSED") {
				t.Fatalf("exit %d, want 0 and PASSED:\n%s", code, out)
			}
		})
	}
}

// A connector that drops its stores fails load.missing with exit 1, as it does on
// every other transport.
func TestDefectFailsItsCheck(t *testing.T) {
	var code, out = run(t, &inproctest.Tiny{DropStores: true}, flowsim, "basic", "--loops", "3")
	if code != 1 || !strings.Contains(out, "load.missing") {
		t.Fatalf("exit %d, want 1 naming load.missing:\n%s", code, out)
	}
}

// What flowsim or the user got wrong is a usage error, never the connector's fault.
func TestUsageErrors(t *testing.T) {
	for name, c := range map[string]struct {
		bin  string
		args []string
		want string
	}{
		"no test":         {flowsim, nil, "want a test first"},
		"unknown test":    {flowsim, []string{"bogus"}, "want a test first"},
		"another conn":    {flowsim, []string{"basic", "--endpoint=127.0.0.1:1"}, "--endpoint names another connector"},
		"missing flowsim": {filepath.Join(t.TempDir(), "nope"), []string{"basic"}, "cannot start"},
		"flowsim's usage": {flowsim, []string{"basic", "--loops", "x"}, "loops"},
	} {
		t.Run(name, func(t *testing.T) {
			var code, out = run(t, &inproctest.Tiny{}, c.bin, c.args...)
			if code != 2 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want 2 naming %q:\n%s", code, c.want, out)
			}
		})
	}
}

// Without $FLOWSIM and with no flowsim on $PATH, the message says how to get it.
func TestNoFlowsimOnPath(t *testing.T) {
	t.Setenv("FLOWSIM", "")
	t.Setenv("PATH", t.TempDir())
	var code, out = run(t, &inproctest.Tiny{}, "", "basic")
	if code != 2 || !strings.Contains(out, "go install github.com/flowsim/flowsim/cmd/flowsim") {
		t.Fatalf("exit %d, want 2 saying how to install flowsim:\n%s", code, out)
	}
}

// The package must link neither the engine nor the 2021 module: a connector of
// today's era links github.com/estuary/flow, and a binary with both panics at start-up.
func TestLinksNeitherEngineNor2021Module(t *testing.T) {
	var out, err = exec.Command("go", "list", "-tags", "nozstd", "-deps", "github.com/flowsim/flowsim/matsim/current").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/estuary/protocols/") || dep == "github.com/flowsim/flowsim/matsim" || strings.HasPrefix(dep, "github.com/flowsim/flowsim/matsim/engine") || strings.HasPrefix(dep, "github.com/flowsim/flowsim/matsim/cmdline") {
			t.Errorf("matsim/current links %s", dep)
		}
	}
}

// opening signals once the connector's first transactions stream opens.
type opening struct {
	*inproctest.Tiny
	once sync.Once
	open chan struct{}
}

func (o *opening) Materialize(s pm.Connector_MaterializeServer) error {
	return o.Tiny.Materialize(openWatch{s, o})
}

type openWatch struct {
	pm.Connector_MaterializeServer
	o *opening
}

func (w openWatch) Recv() (*pm.Request, error) {
	var r, err = w.Connector_MaterializeServer.Recv()
	if err == nil && r.Open != nil {
		w.o.once.Do(func() { close(w.o.open) })
	}
	return r, err
}

// SIGINT to the connector's process while the test runs is passed on to flowsim,
// which reports the run interrupted with exit 130, not a verdict.
func TestInterruptIsPassedOn(t *testing.T) {
	var c = &opening{Tiny: &inproctest.Tiny{}, open: make(chan struct{})}
	go func() {
		<-c.open
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	var out bytes.Buffer
	var code = current.RunWith(context.Background(), c, current.Options{Args: []string{"basic", "--loops", "8"}, Flowsim: flowsim, Stdout: &out, Stderr: &out})
	if code != 130 || !strings.Contains(out.String(), "INTERRUPTED") {
		t.Fatalf("exit %d, want 130 and INTERRUPTED:\n%s", code, out.String())
	}
}
