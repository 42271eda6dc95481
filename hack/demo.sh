#!/usr/bin/env bash
# make demo: kubectl carotate on a local control plane, narrated. It starts
# the cluster (or reuses one from "make cluster-up") and stops it at the end
# if it started it; KEEP_CLUSTER=1 leaves it running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/_output/bin
export PATH=$bin:$PATH
export KUBECONFIG=$root/_output/cluster/kubeconfig

bold=$(tput bold 2>/dev/null || true); reset=$(tput sgr0 2>/dev/null || true)
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$reset"; "$@"; }

started=0
if ! "$bin/cluster" up >/dev/null 2>"$root/_output/demo-cluster.log"; then
  cat "$root/_output/demo-cluster.log" >&2; exit 1
fi
grep -q "already running" "$root/_output/demo-cluster.log" || started=1
cleanup() {
  if [ "$started" = 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then
    say "Stopping the local cluster this demo started (KEEP_CLUSTER=1 keeps it)"
    "$bin/cluster" down
  fi
}
trap cleanup EXIT

say "A real control plane runs on 127.0.0.1: kube-apiserver v1.37.2, etcd, controller-manager, scheduler, and KWOK nodes"
run kubectl get nodes
say "kubectl finds the plugin on PATH"
run kubectl plugin list
run kubectl carotate version
say "The CA that the cluster runs on today: what every pod trusts (kube-system/kube-root-ca.crt)"
run kubectl get configmap kube-root-ca.crt -n kube-system -o jsonpath='{.data.ca\.crt}'
say "Demo done."
