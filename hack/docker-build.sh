#!/usr/bin/env bash
# Builds flowsim's images FROM scratch from the static binaries in ./bin (`make build`):
#   ${IMAGE_PREFIX}/flowsim:${TAG}               flowsim (+ reference connector if built)
#   ${IMAGE_PREFIX}/manager:${TAG}               the operator
#   ${IMAGE_PREFIX}/materialize-postgres:${TAG}  the example connector, if built
# Nothing is pulled. Usage: [BIN=bin] [TAG=dev] [IMAGE_PREFIX=flowsim] bash hack/docker-build.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-bin}"
[[ "$BIN" = /* ]] || BIN="$ROOT/$BIN"
TAG="${TAG:-dev}"
PREFIX="${IMAGE_PREFIX:-flowsim}"
DOCKER="${DOCKER:-docker}"

for b in flowsim manager; do
  if [[ ! -x "$BIN/$b" ]]; then
    echo "docker-build.sh: $BIN/$b is missing; run \`make build\` first" >&2
    exit 2
  fi
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

build() { # build NAME DOCKERFILE CONTEXT
  echo "docker-build.sh: building $PREFIX/$1:$TAG" >&2
  "$DOCKER" build --quiet -f "$ROOT/images/$2" -t "$PREFIX/$1:$TAG" "$3"
}

mkdir -p "$stage/flowsim/flowsim" "$stage/flowsim/connector"
cp "$BIN/flowsim" "$stage/flowsim/flowsim/flowsim"
if [[ -x "$BIN/reference-connector" ]]; then
  cp "$BIN/reference-connector" "$stage/flowsim/connector/connector"
fi
build flowsim flowsim.Dockerfile "$stage/flowsim"

mkdir -p "$stage/manager"
cp "$BIN/manager" "$stage/manager/manager"
build manager manager.Dockerfile "$stage/manager"

if [[ -x "$BIN/materialize-postgres" ]]; then
  mkdir -p "$stage/postgres"
  cp "$BIN/materialize-postgres" "$stage/postgres/connector"
  build materialize-postgres connector.Dockerfile "$stage/postgres"
fi
