// Package e2e is flowsim's end-to-end suite: Go tests against a real cluster (a real
// kubelet, scheduler, Job controller, garbage collector, CoreDNS and kube-proxy) with the
// operator installed the two ways users install it (`flowsim kube install`, then
// `kubectl apply -k config/default` over it, which must change nothing).
//
// The tests carry the build tag e2e and read KUBECONFIG. `make e2e` brings up the local
// cluster (hack/cluster/up), builds and loads the images, installs the operator, runs
// this package and takes the cluster down again, also when a test fails:
//
//	make e2e
//
// By hand, against a cluster that already runs the operator and holds the images
// flowsim/flowsim:dev and flowsim/materialize-postgres:dev:
//
//	KUBECONFIG=/tmp/flowsim-cluster/kubeconfig go test -tags nozstd,e2e -count=1 ./test/e2e/
//
// The fence test reaches a throwaway PostgreSQL server on the host through a selector-less
// Service and an EndpointSlice pointing at the node IP (FLOWSIM_E2E_NODE_IP, default the
// local cluster's 10.200.0.1).
package e2e
