#!/usr/bin/env bash
# Regenerates the deepcopy functions, the CRDs and the manager's RBAC role with
# controller-gen (built once from the Go module proxy into the user's cache), and the
# inline-secrets admission policy with hack/gentables.
#
#   bash hack/manifests.sh            regenerate in place
#   bash hack/manifests.sh OUTDIR     write CRDs and RBAC under OUTDIR/{crd,rbac} instead
#                                     (the staleness test compares them with config/)
#   bash hack/manifests.sh --tool     only build controller-gen and print its path
set -euo pipefail

CONTROLLER_TOOLS_VERSION="v0.23.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/flowsim/tools/controller-tools-$CONTROLLER_TOOLS_VERSION"
GEN="$TOOLS/controller-gen"

if [[ ! -x "$GEN" ]]; then
  mkdir -p "$TOOLS"
  tmp="$(mktemp -d "$TOOLS/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # Outside the repository so flowsim's go.mod does not constrain the tool's dependencies.
  (cd "$tmp" && CGO_ENABLED=0 GOFLAGS= GOBIN="$tmp" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION")
  mv -f "$tmp/controller-gen" "$GEN"
fi

if [[ "${1:-}" == "--tool" ]]; then
  echo "$GEN"
  exit 0
fi

OUT="${1:-$ROOT/config}"
cd "$ROOT"
if [[ $# -eq 0 ]]; then
  "$GEN" object paths="./api/..."
  # The admission policy of what looks secret, from lib/redact's one pattern.
  go run -tags nozstd ./hack/gentables -policy
fi
"$GEN" crd:maxDescLen=400 paths="./api/..." output:crd:artifacts:config="$OUT/crd/bases"
"$GEN" rbac:roleName=flowsim-manager paths="./controllers/..." output:rbac:artifacts:config="$OUT/rbac/generated"
