package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The binary installs exactly what `kubectl apply -k config/default` installs: the build
// of the embedded files equals the build of the files on disk.
func TestEmbeddedBuildEqualsDisk(t *testing.T) {
	for _, dir := range Kustomizations() {
		t.Run(dir, func(t *testing.T) {
			var got, err = Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			var abs, _ = filepath.Abs(dir)
			rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
			if err != nil {
				t.Fatalf("kustomize build %s on disk: %v", dir, err)
			}
			want, err := rm.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("embedded build of config/%s differs from the files on disk:\n%s\n---\n%s", dir, got, want)
			}
		})
	}
}

// Every kustomization of config/ but the samples is offered by install.
func TestEveryKustomizationIsEmbedded(t *testing.T) {
	var onDisk []string
	_ = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" && !strings.HasPrefix(p, "samples") {
			onDisk = append(onDisk, filepath.ToSlash(filepath.Dir(p)))
		}
		return nil
	})
	slices.Sort(onDisk)
	if got := Kustomizations(); !slices.Equal(got, onDisk) {
		t.Errorf("embedded kustomizations %v, on disk %v", got, onDisk)
	}
	if _, err := os.Stat("default/kustomization.yaml"); err != nil {
		t.Fatal(err)
	}
}
