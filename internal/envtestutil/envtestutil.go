// Package envtestutil starts the envtest control plane (kube-apiserver and etcd, no
// kubelet, no controllers) with flowsim's CRDs, for the integration tests of controllers
// and internal/kubecli. Without the binaries, or with -short, those tests skip with the
// reason, except in CI (CI=true), where that is a failure.
package envtestutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Root is the repository root: the nearest folder above the working directory (a test's
// package folder) that holds go.mod.
func Root() (string, error) {
	var dir, err = os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		var up = filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}

// Assets finds kube-apiserver and etcd: KUBEBUILDER_ASSETS, else the folder
// `bash hack/envtest.sh path` names (built by `make envtest`). missing says why they
// cannot be used, or is "".
func Assets() (dir, missing string) {
	dir = os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		var root, err = Root()
		if err != nil {
			return "", err.Error()
		}
		out, err := exec.Command("bash", filepath.Join(root, "hack", "envtest.sh"), "path").Output()
		if err != nil {
			return "", fmt.Sprintf("bash hack/envtest.sh path: %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Sprintf("%s not found in %q (run `make envtest` or set KUBEBUILDER_ASSETS)", bin, dir)
		}
	}
	return dir, ""
}

// Missing says why this test process runs no control plane ("" when it can), and where
// the binaries are. Call it from TestMain after flag.Parse.
func Missing() (assets, why string) {
	assets, why = Assets()
	if testing.Short() && os.Getenv("CI") != "true" {
		why = "-short (make unit) runs no envtest control plane"
	}
	return assets, why
}

// Start starts a control plane from assets with the CRDs of config/crd/bases installed.
func Start(assets string) (*envtest.Environment, *rest.Config, error) {
	var root, err = Root()
	if err != nil {
		return nil, nil, err
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		os.Setenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", "2m") // 2 cores shared with other builds
	}
	var env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest with assets in %s: %w", assets, err)
	}
	return env, cfg, nil
}

// Require skips an integration test when the control plane is missing (why, from
// Missing), except in CI (CI=true), where that is a failure.
func Require(t testing.TB, why string) {
	t.Helper()
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("envtest is required in CI: %s", why)
	}
	t.Skipf("Skipping envtest integration test: %s", why)
}
