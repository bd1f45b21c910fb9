#!/usr/bin/env bash
# envtest assets without internet: builds kube-apiserver and etcd from the Go module proxy
# (nested module hack/envtest/, which says why it is a module of its own) into the user's
# cache, once (about 10 minutes of CPU on 2 cores; docs/contributing.md).
#
#   bash hack/envtest.sh ensure   build the binaries unless they are already cached
#   bash hack/envtest.sh path     print the folder to use as KUBEBUILDER_ASSETS
#
# The folder is keyed by Kubernetes version. A build goes into a temporary folder that is
# renamed into place only when every binary built, so an interrupted build is never
# mistaken for a cached one.
set -euo pipefail

K8S_VERSION="${FLOWSIM_ENVTEST_K8S_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODDIR="$ROOT/hack/envtest"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/flowsim/envtest"
DEST="$CACHE/$K8S_VERSION"
BINARIES=(kube-apiserver etcd)

usage() {
  echo "usage: $0 ensure|path" >&2
  exit 2
}

complete() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "$DEST/$b" ]] || return 1
  done
}

ensure() {
  if complete; then
    return 0
  fi
  local want
  want="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print substr($2, 2)}' "$MODDIR/go.mod")"
  if [[ "$want" != "$K8S_VERSION" ]]; then
    echo "envtest.sh: hack/envtest/go.mod requires k8s.io/kubernetes v$want, not v$K8S_VERSION" >&2
    exit 2
  fi

  mkdir -p "$CACHE"
  local tmp
  tmp="$(mktemp -d "$CACHE/.build-$K8S_VERSION.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT

  local minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done

  echo "envtest.sh: building kube-apiserver and etcd v$K8S_VERSION into $DEST (10-20 min the first time)" >&2
  (
    cd "$MODDIR"
    export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
    go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  )
  "$tmp/kube-apiserver" --version >&2

  # Another build may have finished first: keep whichever landed, drop ours.
  if ! mv -T "$tmp" "$DEST" 2>/dev/null; then
    complete || { echo "envtest.sh: $DEST exists but is incomplete; remove it and retry" >&2; exit 1; }
  fi
  trap - EXIT
  rm -rf "$tmp"
}

case "${1:-}" in
  path) echo "$DEST" ;;
  ensure) ensure ;;
  *) usage ;;
esac
