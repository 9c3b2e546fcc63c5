#!/usr/bin/env bash
# Checks that the real node leaves the machine as it found it: records the
# machine state node.sh restores (sysctls, nft tables, iptables chains and
# rule count, links, routes, mounts, cgroup roots, host directories, node
# processes), brings the cluster up with the real node, runs a pod on it,
# takes the cluster down, and compares. Exit 0 iff nothing differs.
#
#   CLUSTER_PORT_OFFSET=... bash test/cluster/real-node-check.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CLUSTER_REAL_NODE=1
snap() { STATE=- BIN=- PKI=- APISERVER_PORT=0 KUBECONFIG_OUT=- NODE_IP=- SERVICE_CIDR=- bash "$HERE/node.sh" snapshot "$1"; }

before="$(mktemp)"; after="$(mktemp)"
trap 'rm -f "$before" "$after"' EXIT
bash "$HERE/cluster.sh" down >/dev/null 2>&1 || true
snap "$before"
bash "$HERE/cluster.sh" up
eval "$(bash "$HERE/cluster.sh" env)"
kubectl() { "$CLUSTER_BIN/kubectl" --kubeconfig "$CLUSTER_KUBECONFIG" "$@"; }
image="$(bash "$HERE/images.sh" workload)"
kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: real-node-check, namespace: default}
spec:
  nodeSelector: {k8s-provider.test/real-node: "true"}
  tolerations: [{key: k8s-provider.test/real-node, operator: Equal, value: "true", effect: NoSchedule}]
  containers: [{name: sleep, image: "$image", command: [sleep, "3600"]}]
YAML
kubectl wait --for=condition=Ready pod/real-node-check --timeout=60s
bash "$HERE/cluster.sh" down
snap "$after"
if diff -u "$before" "$after"; then
  echo "real-node-check: machine restored (sysctls, nft/iptables, links, routes, mounts, cgroups, dirs, processes)"
else
  echo "real-node-check: the machine differs after cluster.sh down (diff above)" >&2
  exit 1
fi
