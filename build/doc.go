// Package build holds the Dockerfiles of flowsim's images (built by hack/docker-build.sh,
// `make docker-build`) and a test that builds them when Docker is reachable.
package build
