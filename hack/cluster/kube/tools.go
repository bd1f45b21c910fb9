//go:build tools

// Package kube is a throwaway module that builds the node and control-plane binaries of the
// local test cluster (hack/cluster/) from the Go module proxy. Its require and replace lines
// are hack/envtest's, so the two builds share the Go build cache. It is never imported by
// flowsim.
package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
