// Package podlayout tests the layout of the pods the operator builds without a cluster:
// Docker plays the kubelet and runs the exact containers of a run's pod (install, the
// connector behind its proxy, the driver in the connector's network namespace) from the
// images `make docker-build` builds (Dockerfiles in images/). test/e2e runs the same pods
// on a real cluster.
package podlayout
