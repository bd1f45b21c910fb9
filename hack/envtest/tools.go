//go:build tools

// Package envtest is a throwaway module that builds the kube-apiserver and etcd binaries
// envtest needs, from the Go module proxy (see hack/envtest.sh and ../shared/ENVTEST.md).
// It is never imported by flowsim.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
