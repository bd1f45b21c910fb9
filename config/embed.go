// Package config embeds the operator's kustomize manifests (this folder) in the flowsim
// binary, for `flowsim kube install`. The files are the ones `kubectl apply -k` reads: there
// is no second copy to keep in step.
package config

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// FS holds this folder: every kustomization (a new overlay is picked up without an edit
// here) and the samples, which Kustomizations leaves out.
//
//go:embed *
var FS embed.FS

// Default is the kustomization `kubectl apply -k config/default` installs.
const Default = "default"

// Namespaced is the overlay of the namespaced install mode, when this build has it.
const Namespaced = "namespaced"

// Build runs kustomize over the embedded kustomization dir (e.g. Default) and returns
// the resulting manifests as one multi-document YAML stream, in kustomize's order.
func Build(dir string) ([]byte, error) {
	var mem = filesys.MakeFsInMemory()
	var err = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var b, rerr = FS.ReadFile(p)
		if rerr != nil {
			return rerr
		}
		return mem.WriteFile(path.Join("/", p), b)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded manifests: %w", err)
	}
	var k = krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(mem, path.Join("/", dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/%s: %w", dir, err)
	}
	return rm.AsYaml()
}

// Kustomizations lists the embedded folders that hold a kustomization.yaml.
func Kustomizations() []string {
	var out []string
	_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Base(p) == "kustomization.yaml" && path.Dir(p) != "samples" {
			out = append(out, path.Dir(p))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
