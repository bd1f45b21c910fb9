//go:build tools

// Package envtest is a throwaway module that builds the kube-apiserver and etcd binaries
// envtest needs, from the Go module proxy (hack/envtest.sh). `go install
// k8s.io/kubernetes/cmd/kube-apiserver@v1.N.P` refuses because k8s.io/kubernetes replaces
// its staging modules with ./staging/...; this module requires k8s.io/kubernetes and
// replaces each staging module by its published v0.N.P instead. The blank imports below
// must exist before `go mod tidy`, or the build fails with "missing go.sum entry". It is
// never imported by flowsim; docs/contributing.md says what it costs.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
