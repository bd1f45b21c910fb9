#!/usr/bin/env bash
# `make e2e`: the end-to-end suite on a real single-node cluster (hack/cluster/), run the way
# a user runs flowsim's operator:
#   cluster up -> make docker-build -> load the images -> flowsim kube install, then
#   kubectl apply -k config/default over it
#   -> go test -tags e2e ./test/e2e/ (tests, then benchmarks once each) -> cluster down.
# The cluster goes down also when a step fails or the script is interrupted; its logs stay
# in $FLOWSIM_CLUSTER_DIR/logs (default /tmp/flowsim-cluster/logs). FLOWSIM_E2E_KEEP=1
# leaves the cluster up for a look (take it down with hack/cluster/down).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source hack/cluster/lib.sh

IMAGES=(flowsim/flowsim:dev flowsim/manager:dev flowsim/materialize-postgres:dev)
E2E_TIMEOUT="${FLOWSIM_E2E_TIMEOUT:-30m}"
# FLOWSIM_E2E_RUN narrows the suite to the tests matching it (go test -run; the
# benchmarks then do not run): e.g. FLOWSIM_E2E_RUN=TestSweepNightAfterNight make e2e.
E2E_RUN="${FLOWSIM_E2E_RUN:-.}"
E2E_BENCH=.
[[ "$E2E_RUN" == . ]] || E2E_BENCH=NONE
T0=$SECONDS
step() { echo "e2e: [$((SECONDS - T0))s] $*" >&2; }

diagnose() {
  [[ -f "$KUBECONFIG_ADMIN" ]] || return 0
  mkdir -p "$LOGS"
  {
    kc get nodes -o wide
    kc get pods -A -o wide
    kc get matsimruns -A
    kc get events -A --sort-by=.lastTimestamp
  } >"$LOGS/e2e-diagnostics.txt" 2>&1 || true
  kc -n flowsim-system logs deploy/flowsim-manager --all-containers --tail=-1 >"$LOGS/manager.log" 2>&1 || true
  kc -n flowsim-system logs deploy/flowsim-manager --all-containers --previous --tail=-1 >"$LOGS/manager-previous.log" 2>&1 || true
  step "diagnostics in $LOGS (e2e-diagnostics.txt, manager.log, one log per component); last manager lines:"
  tail -n 40 "$LOGS/manager.log" >&2 || true
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  ((rc == 0)) || diagnose
  if [[ "${FLOWSIM_E2E_KEEP:-}" == 1 ]]; then
    step "FLOWSIM_E2E_KEEP=1: the cluster stays up (KUBECONFIG=$KUBECONFIG_ADMIN; hack/cluster/down to stop it)"
  else
    step "taking the cluster down"
    bash hack/cluster/down || rc=1
  fi
  step "done: exit $rc after $((SECONDS - T0))s"
  exit "$rc"
}
# On a machine that cannot run the cluster (not root, no containerd, no Docker engine...)
# the suite skips with the reason, as the other integration tests do; with CI=true that
# is an error instead.
if ! why="$(bash hack/cluster/up check 2>&1)"; then
  if [[ "${CI:-}" == true ]]; then
    echo "e2e: this machine cannot run the local cluster: $why" >&2
    exit 1
  fi
  echo "e2e: SKIPPED: this machine cannot run the local cluster: $why (with CI=true this fails)" >&2
  exit 0
fi

trap finish EXIT
trap 'exit 130' INT TERM

step "cluster up"
bash hack/cluster/up
export KUBECONFIG="$KUBECONFIG_ADMIN"

step "make docker-build"
make --no-print-directory docker-build
step "loading ${IMAGES[*]}"
bash hack/cluster/load "${IMAGES[@]}"

# Both ways users install: `flowsim kube install` (server-side apply of the manifests built
# into the binary), then `kubectl apply -k config/default` over it, which must find the same
# objects (kubectl diff exits 0 only when the cluster already matches the directory).
step "installing the operator: flowsim kube install"
bin/flowsim kube install
kc -n flowsim-system rollout status deploy/flowsim-manager --timeout=180s
step "kubectl apply -k config/default over it: nothing may differ"
kc apply -k config/default
if ! kc diff -k config/default >"$LOGS/install-diff.txt" 2>&1; then
  cat "$LOGS/install-diff.txt" >&2
  echo "e2e: the cluster differs from config/default after flowsim kube install + kubectl apply -k" >&2
  exit 1
fi
kc -n flowsim-system rollout status deploy/flowsim-manager --timeout=180s

step "go test -tags e2e ./test/e2e/ (timeout $E2E_TIMEOUT)"
set +e
go test -tags "nozstd,e2e" -count=1 -timeout "$E2E_TIMEOUT" -v -run "$E2E_RUN" -bench "$E2E_BENCH" -benchtime 1x ./test/e2e/ 2>&1 |
  tee "$LOGS/e2e-test.log"
rc=${PIPESTATUS[0]}
set -e
grep -E '^Benchmark' "$LOGS/e2e-test.log" >&2 || true
exit "$rc"
