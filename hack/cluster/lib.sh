# Shared settings of the hack/cluster scripts (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
K8S_VERSION="${FLOWSIM_CLUSTER_K8S_VERSION:-1.37.2}"
COREDNS_VERSION=1.14.7
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/flowsim"
KUBE_DIR="$CACHE/cluster/k8s-$K8S_VERSION"
COREDNS_DIR="$CACHE/cluster/coredns-$COREDNS_VERSION"
ENVTEST_DIR="$CACHE/envtest/$K8S_VERSION"

log() { echo "cluster: $*" >&2; }
die() {
  echo "cluster: $*" >&2
  exit 1
}

# The cluster's state: PKI, configs, data, PIDs and every log live under one folder.
STATE="${FLOWSIM_CLUSTER_DIR:-/tmp/flowsim-cluster}"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
RUN="$STATE/run"
CONTAINERD_SOCK="$RUN/containerd.sock"
KUBECONFIG_ADMIN="$STATE/kubeconfig"

NODE_NAME=flowsim-node
NODE_IP=10.200.0.1
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
BRIDGE=flowsim0
CNI_NETWORK=flowsim
APISERVER_PORT=6443
ETCD_PORT=32379
ETCD_PEER_PORT=32380
PAUSE_IMAGE=flowsim.local/pause:1
COREDNS_IMAGE="flowsim.local/coredns:$COREDNS_VERSION"
CNI_BIN_DIR="${FLOWSIM_CNI_BIN_DIR:-/usr/lib/cni}"
RUNC="${FLOWSIM_RUNC:-/usr/sbin/runc}"

# The processes `up` starts, in start order; `down` stops them in reverse.
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy)

# kubectl: the cluster build's own, else one on PATH.
kubectl_bin() {
  if [[ -x "$KUBE_DIR/kubectl" ]]; then
    echo "$KUBE_DIR/kubectl"
  elif command -v kubectl >/dev/null; then
    command -v kubectl
  else
    die "no kubectl: run hack/cluster/build (builds one) or install kubectl"
  fi
}

kc() { "$(kubectl_bin)" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout=30s "$@"; }

pid_of() { # prints the recorded PID of a component if that process still runs
  local f="$PIDS/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(<"$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# wait_for SECONDS WHAT CMD...: polls CMD every half second until it succeeds.
wait_for() {
  local timeout="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what (logs: $LOGS)"
      return 1
    fi
    sleep 0.5
  done
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
