package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheckedInManifestsAreCurrent regenerates the CRDs and the manager's RBAC role with
// controller-gen into a temporary folder and compares them with config/. Fix a failure
// with `make manifests`.
func TestCheckedInManifestsAreCurrent(t *testing.T) {
	var root = filepath.Join("..", "..")
	var script = filepath.Join(root, "hack", "manifests.sh")

	if out, err := exec.Command("bash", script, "--tool").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building controller-gen failed in CI: %v\n%s", err, out)
		}
		t.Skipf("Skipping: controller-gen could not be built (offline?): %v\n%s", err, out)
	}
	var gen = t.TempDir()
	if out, err := exec.Command("bash", script, gen).CombinedOutput(); err != nil {
		t.Fatalf("controller-gen failed: %v\n%s", err, out)
	}

	for _, dir := range []string{filepath.Join("crd", "bases"), filepath.Join("rbac", "generated")} {
		var want, got = readDir(t, filepath.Join(gen, dir)), readDir(t, filepath.Join(root, "config", dir))
		if len(want) == 0 {
			t.Fatalf("controller-gen generated nothing in %s", dir)
		}
		for name, w := range want {
			var g, ok = got[name]
			switch {
			case !ok:
				t.Errorf("config/%s/%s is missing; run `make manifests`", dir, name)
			case !bytes.Equal(w, g):
				t.Errorf("config/%s/%s is stale; run `make manifests` (-generated +checked in):\n%s", dir, name, cmp.Diff(string(w), string(g)))
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("config/%s/%s is not generated any more; delete it", dir, name)
			}
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	var files = map[string][]byte{}
	var entries, err = os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("reading %s: %v", dir, err)
	}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			t.Fatalf("reading %s: %v", e.Name(), err)
		} else {
			files[e.Name()] = b
		}
	}
	return files
}
