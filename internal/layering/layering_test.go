package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/flowsim/flowsim"

// Floors, lowest first.
const (
	leaf = iota
	transports
	engine
	cmdline
	apps
)

var floorNames = []string{"leaf", "transports", "engine", "cmdline", "apps"}

// floors assigns every package of the module (path relative to the module, "x/..." for x
// and everything under it) to a floor. The most specific entry wins. A new package that
// matches no entry fails TestEveryPackageHasAFloor: give it one here.
var floors = map[string]int{
	"lib/...":         leaf,
	"protocol/...":    leaf,
	"matsim/result":   leaf,
	"api/...":         leaf,
	"config":          leaf,
	"internal/pgtest": leaf,
	"connector/...":   transports,
	// The conformance suite drives every transport with the engine and a fault
	// connector: a test-support package above the engine (nothing below imports it).
	"connector/conformance/...":              engine,
	"examples/materialize-postgres/pgdriver": transports,
	// matsim → matsim/cmdline → matsim/engine: the library entry point, the
	// command-line layer (flags, files, exit codes), the engine.
	"matsim":          cmdline,
	"matsim/cmdline":  cmdline,
	"matsim/engine":   engine,
	"matsim/verifier": engine,
	"matsim/current":  engine,
	"internal/...":    apps,
	"controllers":     apps,
	"cmd/...":         apps,
	"examples/...":    apps,
	"test/...":        apps,
	"hack/...":        apps,
}

// allowed lists today's upward imports that another change removes; each names the
// helper responsible. When an entry's import is gone the test says so: delete the entry.
// The lead empties this list after merging.
var allowed = []struct{ from, to, who string }{}

// forbidden are imports that point down but are still wrong.
var forbidden = []struct{ from, to, why string }{
	{"matsim/engine", "connector/reference", "the engine must not link the reference connector (only tests use it)"},
	{"matsim/cmdline", "connector/reference", "matsim.Run must not link the reference connector (only tests use it)"},
	{"controllers", "internal/sweepreport", "a run's outcome is decided once, in the API package; the controller does not need the report package"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	var cmd = exec.Command("go", append([]string{"list", "-tags", "nozstd", "-json"}, args...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	var r, ok = strings.CutPrefix(path, module+"/")
	return r, ok
}

// floorOf returns the floor of the most specific entry matching a package.
func floorOf(p string) (int, bool) {
	var best, floor = -1, 0
	for pattern, f := range floors {
		var n int
		if base, ok := strings.CutSuffix(pattern, "/..."); ok {
			if p != base && !strings.HasPrefix(p, base+"/") {
				continue
			}
			n = len(base)
		} else if p == pattern {
			n = len(pattern) + 1 // an exact entry beats a "/..." entry of the same path
		} else {
			continue
		}
		if n > best {
			best, floor = n, f
		}
	}
	return floor, best >= 0
}

func TestEveryPackageHasAFloor(t *testing.T) {
	for _, p := range list(t, "./...") {
		var r, _ = rel(p.ImportPath)
		if _, ok := floorOf(r); !ok {
			t.Errorf("package %s has no floor: add it to the floors table in %s", r, "internal/layering/layering_test.go")
		}
	}
}

func TestImportsPointDown(t *testing.T) {
	var seen = map[[2]string]bool{}
	for _, p := range list(t, "./...") {
		var from, _ = rel(p.ImportPath)
		var ff, _ = floorOf(from)
		for _, imp := range p.Imports {
			var to, ours = rel(imp)
			if !ours {
				continue
			}
			var tf, _ = floorOf(to)
			var edge = [2]string{from, to}
			var bad string
			if tf > ff {
				bad = fmt.Sprintf("%s (%s) imports %s (%s): imports must point down or sideways",
					from, floorNames[ff], to, floorNames[tf])
			}
			for _, f := range forbidden {
				if f.from == from && f.to == to {
					bad = fmt.Sprintf("%s imports %s: %s", from, to, f.why)
				}
			}
			if bad == "" {
				continue
			}
			if slices.ContainsFunc(allowed, func(a struct{ from, to, who string }) bool { return a.from == from && a.to == to }) {
				seen[edge] = true
				continue
			}
			t.Error(bad)
		}
	}
	for _, a := range allowed {
		if !seen[[2]string{a.from, a.to}] {
			t.Errorf("allow-list entry %s -> %s (%s) is no longer needed: delete it", a.from, a.to, a.who)
		}
	}
}

// TestCLIDoesNotLinkTheOperator: `flowsim` (and so a newcomer's first `go run ./cmd/flowsim
// matsim basic`) compiles API types and client-go, not the operator.
func TestCLIDoesNotLinkTheOperator(t *testing.T) {
	var p = list(t, "./cmd/flowsim")
	if len(p) != 1 {
		t.Fatalf("go list ./cmd/flowsim: %d packages", len(p))
	}
	for _, bad := range []string{
		"sigs.k8s.io/controller-runtime/pkg/manager",
		module + "/controllers",
		module + "/cmd/manager",
	} {
		if slices.Contains(p[0].Deps, bad) {
			t.Errorf("cmd/flowsim depends on %s; keep names the CLI needs in api/v1alpha1 (names.go)", bad)
		}
	}
}

// The table itself: checked so that a typo in a pattern cannot hide a package.
// The engine knows no command line and no Kubernetes: flags, signals, report files
// and exit codes are matsim/cmdline's, so the engine runs the same from a
// connector's main, the flowsim CLI and a pod.
func TestEngineKnowsNoCommandLine(t *testing.T) {
	var pkgs = list(t, module+"/matsim/engine")
	if len(pkgs) != 1 {
		t.Fatalf("go list matsim/engine: %d packages", len(pkgs))
	}
	for _, imp := range pkgs[0].Imports {
		switch {
		case imp == "flag", imp == "os/signal", strings.HasPrefix(imp, "github.com/spf13/"),
			strings.HasPrefix(imp, module+"/matsim/cmdline"), strings.HasPrefix(imp, module+"/internal/"):
			t.Errorf("matsim/engine imports %s: command-line code belongs in matsim/cmdline", imp)
		}
	}
	for _, dep := range pkgs[0].Deps {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
			t.Errorf("matsim/engine links %s: the engine imports no Kubernetes", dep)
		}
	}
}

func TestFloorOf(t *testing.T) {
	for p, want := range map[string]int{
		"matsim":              cmdline,
		"matsim/cmdline":      cmdline,
		"matsim/engine":       engine,
		"matsim/result":       leaf,
		"matsim/verifier":     engine,
		"connector/stdio":     transports,
		"lib/redact":          leaf,
		"internal/kubecli":    apps,
		"internal/pgtest":     leaf,
		"api/v1alpha1":        leaf,
		"cmd/flowsim":         apps,
		"examples/x/pgdriver": apps,
	} {
		if got, ok := floorOf(p); !ok || got != want {
			t.Errorf("floorOf(%s) = %d, %v; want %d", p, got, ok, want)
		}
	}
}
