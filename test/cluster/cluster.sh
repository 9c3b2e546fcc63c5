#!/usr/bin/env bash
# Local, real Kubernetes control plane for the integration tests and the demo.
#
#   bash test/cluster/cluster.sh build            build/refresh the binaries in .cluster/bin
#   bash test/cluster/cluster.sh up               build if needed, create or (re)start the cluster
#   bash test/cluster/cluster.sh status           exit 0 iff the API server is healthy
#   bash test/cluster/cluster.sh down             stop every process (by pid), remove the state
#   bash test/cluster/cluster.sh stop-apiserver   stop only kube-apiserver (outage tests)
#   bash test/cluster/cluster.sh start-apiserver  start it again and wait until it is ready
#   bash test/cluster/cluster.sh env              print the paths/ports (shell syntax)
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl are
# built from k8s.io/kubernetes + go.etcd.io/etcd (test/cluster/go/kube), kwok,
# kwokctl and metrics-server from sigs.k8s.io modules (test/cluster/go/kwok).
# kwokctl (binary runtime) generates the PKI and launches the processes on
# 127.0.0.1; all of its state lives in .cluster/kwok (KWOK_WORKDIR).
# The ports, APISERVER_CERT_SANS and the *_DATA values are read through
# PORT_VARS and render() by name (${!name}), which shellcheck cannot follow.
# shellcheck disable=SC2034
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MANIFESTS="$HERE/manifests"
# KUBE_VERSION, KUBE_MINOR, METRICS_SERVER_VERSION, GO_MIN_VERSION
# shellcheck source=versions.env
source "$HERE/versions.env"
# CLUSTER_STATE_DIR / CLUSTER_PORT_OFFSET allow a second, independent cluster
# (e.g. to try the lifecycle without disturbing the one the tests use).
STATE="${CLUSTER_STATE_DIR:-$ROOT/.cluster}"
export CLUSTER_BIN="${CLUSTER_BIN:-$ROOT/.cluster/bin}"
BIN="$CLUSTER_BIN"
export KWOK_WORKDIR="$STATE/kwok"
NAME=k8s-provider
CDIR="$KWOK_WORKDIR/clusters/$NAME"
PKI="$CDIR/pki"
KUBECONFIG_OUT="$STATE/kubeconfig"
PORTS_FILE="$STATE/ports.env"
STAMP_FILE="$STATE/cluster.stamp"
LOCK_FILE="$STATE/cluster.lock"

# Fixed loopback ports (below the Linux ephemeral range). Override with env
# vars before the first `up`; a created cluster keeps the ports it was made with.
off="${CLUSTER_PORT_OFFSET:-0}"
APISERVER_PORT="${CLUSTER_APISERVER_PORT:-$((16443 + off))}"
ETCD_PORT="${CLUSTER_ETCD_PORT:-$((12379 + off))}"
ETCD_PEER_PORT="${CLUSTER_ETCD_PEER_PORT:-$((12380 + off))}"
KCM_PORT="${CLUSTER_KCM_PORT:-$((10357 + off))}"
SCHEDULER_PORT="${CLUSTER_SCHEDULER_PORT:-$((10359 + off))}"
KWOK_PORT="${CLUSTER_KWOK_PORT:-$((10347 + off))}"
METRICS_PORT="${CLUSTER_METRICS_SERVER_PORT:-$((14443 + off))}"
PORT_VARS=(APISERVER_PORT ETCD_PORT ETCD_PEER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT METRICS_PORT)
# shellcheck disable=SC1090
[[ -f $PORTS_FILE ]] && source "$PORTS_FILE"

# The opt-in real node (node.sh): containerd, kubelet and kube-proxy next to
# the fake nodes. It changes the API server's flags, so switching it on or
# off recreates the cluster.
REAL_NODE="${CLUSTER_REAL_NODE:-0}"
SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-198.19.0.0/24}"
APISERVER_CERT_SANS="[]"
if [[ $REAL_NODE == 1 ]]; then
  # The address pods reach the host at: the one of the default route's interface.
  NODE_IP="${CLUSTER_NODE_IP:-$(ip -4 -o addr show dev "$(ip -4 route show default | awk '{ print $5; exit }')" 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')}"
  [[ -n $NODE_IP ]] || { echo "[cluster] ERROR: no IPv4 default route to take the node's address from (set CLUSTER_NODE_IP)" >&2; exit 1; }
  APISERVER_CERT_SANS="[${SERVICE_CIDR%.*}.1, $NODE_IP]"
fi

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller metrics-server)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# shellcheck source=test/cluster/lib.sh
source "$HERE/lib.sh"
# fd 9 holds the cluster.sh lock: the daemons kwokctl forks must not inherit it.
kwokctl() { "$BIN/kwokctl" "$@" 9>&-; }

cluster_exists() { [[ -f $CDIR/kwok.yaml ]]; }

pid_of() { # component -> pid (empty if none)
  local f="$CDIR/pids/$1.pid"
  if [[ -f $f ]]; then tr -dc '0-9' <"$f"; fi
}

# The pid in the component's pid file, if that process is alive and really is
# this cluster's component (guards against pid reuse, e.g. after a reboot).
component_pid() {
  local pid; pid="$(pid_of "$1")"
  alive "$pid" || return 1
  local argv0; argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)"
  [[ $argv0 == "$CDIR/bin/$1" ]] || return 1
  echo "$pid"
}

component_running() { component_pid "$1" >/dev/null; }

# Removes the pid files of components that are not running, so that
# `kwokctl start cluster` (which trusts a pid file whose pid answers kill -0)
# starts them again.
clear_stale_pids() {
  local c
  for c in "${COMPONENTS[@]}"; do
    component_running "$c" || rm -f "$CDIR/pids/$c.pid"
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_tools() {
  local t
  for t in curl sha256sum flock base64; do
    command -v "$t" >/dev/null || die "'$t' is required (apt-get install curl coreutils util-linux)"
  done
}

with_lock() {
  mkdir -p "$STATE"
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    log "another cluster.sh is running; waiting for it"
    flock 9
  fi
}

# Everything that, when changed, requires a fresh cluster.
cluster_stamp() {
  { cat "$BIN"/.stamp-kube "$BIN"/.stamp-kwok "$BIN"/.stamp-metrics-server 2>/dev/null
    cat "$MANIFESTS/kwokctl.yaml" "$MANIFESTS/stages/"*.yaml "$MANIFESTS/metrics-server/"*.yaml
    [[ $REAL_NODE != 1 ]] || { echo "real node $SERVICE_CIDR"; cat "$MANIFESTS/real-node/kwokctl-patches.yaml"; }; } |
    sha256sum | cut -c1-16
}

# The kwok Stages: kwokctl's defaults, taken from the kwok module itself,
# except pod-complete, which is ours (manifests/stages/). Giving any Stage
# replaces all defaults, so the node stages kwokctl would pick (with leases)
# are listed too.
write_stages() {
  local kwok_dir
  kwok_dir="$(cd "$HERE/go/kwok" && GOFLAGS=-mod=readonly GOSUMDB=off go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)" ||
    die "cannot locate the sigs.k8s.io/kwok module (run: bash test/cluster/cluster.sh build)"
  local st="$kwok_dir/kustomize/stage" f
  for f in "$st/node/fast/node-initialize.yaml" "$st/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
           "$st/pod/fast/pod-ready.yaml" "$st/pod/fast/pod-delete.yaml" "$MANIFESTS/stages/"*.yaml; do
    printf -- '---\n'
    cat "$f"
  done
}

write_kwokctl_config() {
  mkdir -p "$KWOK_WORKDIR"
  local v
  for v in "${PORT_VARS[@]}"; do printf '%s=%s\n' "$v" "${!v}"; done >"$PORTS_FILE"
  {
    render "$MANIFESTS/kwokctl.yaml"
    [[ $REAL_NODE != 1 ]] || render "$MANIFESTS/real-node/kwokctl-patches.yaml"
    write_stages
  } >"$KWOK_WORKDIR/kwok.yaml"
}

write_kubeconfig() {
  local tmp="$KUBECONFIG_OUT.tmp"
  local CA_DATA ADMIN_CERT_DATA ADMIN_KEY_DATA
  CA_DATA="$(base64 -w0 <"$PKI/ca.crt")"
  ADMIN_CERT_DATA="$(base64 -w0 <"$PKI/admin.crt")"
  ADMIN_KEY_DATA="$(base64 -w0 <"$PKI/admin.key")"
  (umask 077 && render "$MANIFESTS/kubeconfig.yaml" >"$tmp")
  mv -f "$tmp" "$KUBECONFIG_OUT"
}

ensure_nodes() {
  kctl apply -f "$HERE/manifests/nodes.yaml" >/dev/null
}

nodes_ready() {
  local out
  out="$(kctl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null)" || return 1
  [[ $(grep -c True <<<"$out") -ge 2 ]]
}

default_sa_exists() { kctl -n default get serviceaccount default >/dev/null 2>&1; }

metrics_available() {
  [[ "$(kctl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" == True ]]
}

post_start() { # full=1 after create/restart: wait for nodes, SA and metrics
  write_kubeconfig
  ensure_nodes
  wait_for 60 "fake nodes to become Ready" nodes_ready || die "nodes not Ready (see $CDIR/logs/kwok-controller.log)"
  wait_for 60 "default service account" default_sa_exists || die "no default ServiceAccount (see $CDIR/logs/kube-controller-manager.log)"
  if ! wait_for 90 "metrics.k8s.io APIService to become Available" metrics_available; then
    log "WARNING: metrics.k8s.io is not available; see $CDIR/logs/metrics-server.log"
  fi
}

create_cluster() {
  local v
  for v in "${PORT_VARS[@]}"; do
    port_in_use "${!v}" && die "port 127.0.0.1:${!v} is already in use (set CLUSTER_*_PORT to move the cluster, see test/cluster/cluster.sh)"
  done
  rm -rf "$KWOK_WORKDIR"
  write_kwokctl_config
  log "creating cluster '$NAME' (kube-apiserver on https://127.0.0.1:$APISERVER_PORT)"
  if ! kwokctl create cluster --name "$NAME" --kubeconfig "$STATE/kwokctl.kubeconfig" --timeout 5m --wait 0s; then
    log "kwokctl create cluster failed; component logs:"
    tail -n 20 "$CDIR"/logs/*.log >&2 2>/dev/null || true
    exit 1
  fi
  cluster_stamp >"$STAMP_FILE"
}

start_stopped() {
  log "starting stopped components of cluster '$NAME'"
  clear_stale_pids
  kwokctl start cluster --name "$NAME" --timeout 3m
}

cmd_build() { bash "$HERE/build.sh"; }

real_node() { # node.sh command...
  STATE="$STATE" BIN="$BIN" PKI="$PKI" APISERVER_PORT="$APISERVER_PORT" KUBECONFIG_OUT="$KUBECONFIG_OUT" \
    NODE_IP="${NODE_IP:-127.0.0.1}" SERVICE_CIDR="$SERVICE_CIDR" bash "$HERE/node.sh" "$@" 9>&-
}
real_node_exists() { [[ -d $STATE/node ]]; }

cmd_up() {
  need_tools
  with_lock
  local t0=$SECONDS
  cmd_build
  control_plane_up "$t0"
  if [[ $REAL_NODE == 1 ]]; then
    real_node up
  elif real_node_exists; then
    real_node down
  fi
}

recreate() { # why
  log "$1: recreating it"
  do_down || die "the real node did not restore the machine (see $STATE/node-restore.diff); the cluster is down and the next up starts afresh"
}

control_plane_up() {
  local t0="$1"
  if cluster_exists && [[ "$(cat "$STAMP_FILE" 2>/dev/null)" != "$(cluster_stamp)" ]]; then
    recreate "binaries or cluster config changed since the cluster was created"
  fi
  if cluster_exists; then
    local c all=1
    for c in "${COMPONENTS[@]}"; do component_running "$c" || all=0; done
    if [[ $all == 1 ]] && apiserver_healthy; then
      [[ -f $KUBECONFIG_OUT ]] || write_kubeconfig
      ensure_nodes
      log "cluster '$NAME' is already up ($((SECONDS - t0))s); kubeconfig: $KUBECONFIG_OUT"
      return 0
    fi
    if start_stopped && wait_for 90 "kube-apiserver /readyz" apiserver_healthy; then
      post_start
      log "cluster '$NAME' restarted in $((SECONDS - t0))s; kubeconfig: $KUBECONFIG_OUT"
      return 0
    fi
    recreate "restarting the existing cluster failed"
  fi
  create_cluster
  wait_for 120 "kube-apiserver /readyz" apiserver_healthy || die "kube-apiserver not ready (see $CDIR/logs/kube-apiserver.log)"
  post_start
  log "cluster '$NAME' created in $((SECONDS - t0))s; kubeconfig: $KUBECONFIG_OUT"
}

# Stops everything even when the real node's `down` fails, then returns 1 if
# it did: a machine not put back as it was is an error, not a warning.
do_down() {
  local c p pids=() rc=0
  # The node first, while the API server can still evict its pods.
  if real_node_exists && ! real_node down; then
    log "ERROR: the real node did not restore the machine completely (see above; the differences are in $STATE/node-restore.diff)"
    rc=1
  fi
  # The pids first: kwokctl removes the pid files even when a process survives.
  for c in "${COMPONENTS[@]}"; do pids+=("$c:$(component_pid "$c" || true)"); done
  if cluster_exists; then
    kwokctl delete cluster --name "$NAME" --kubeconfig "$STATE/kwokctl.kubeconfig" || log "kwokctl delete cluster failed; stopping by pid"
  fi
  for p in "${pids[@]}"; do
    [[ -n ${p#*:} ]] && stop_pid "${p%%:*}" "${p#*:}"
  done
  rm -rf "$KWOK_WORKDIR" "$KUBECONFIG_OUT" "$STAMP_FILE" "$PORTS_FILE" "$STATE/kwokctl.kubeconfig"
  return $rc
}

cmd_down() {
  with_lock
  if ! do_down; then
    log "cluster '$NAME' removed, but the machine is not as it was before the real node started"
    return 1
  fi
  log "cluster '$NAME' removed (binaries kept in $BIN)"
}

cmd_status() {
  local c pid rc=0
  if ! cluster_exists; then
    echo "cluster '$NAME': not created"
    return 1
  fi
  for c in "${COMPONENTS[@]}"; do
    if pid="$(component_pid "$c")"; then echo "$c: running (pid $pid)"; else echo "$c: stopped"; fi
  done
  if apiserver_healthy; then
    echo "kube-apiserver: healthy at https://127.0.0.1:$APISERVER_PORT"
    echo "kubeconfig: $KUBECONFIG_OUT"
  else
    echo "kube-apiserver: NOT healthy"
    rc=1
  fi
  if [[ $REAL_NODE == 1 ]] || real_node_exists; then real_node status || rc=1; fi
  return $rc
}

cmd_stop_apiserver() {
  cluster_exists || die "no cluster; run '$0 up' first"
  local pid; pid="$(component_pid kube-apiserver || true)"
  # kube-apiserver's graceful shutdown waits up to 60s for open watches, so it
  # gets a short grace period (CLUSTER_APISERVER_STOP_GRACE, default 2s) and is
  # then killed: to clients this looks like a crashed or unreachable API server.
  if [[ -n $pid ]]; then
    stop_pid kube-apiserver "$pid" "${CLUSTER_APISERVER_STOP_GRACE:-2}"
  else
    log "kube-apiserver is not running"
  fi
  rm -f "$CDIR/pids/kube-apiserver.pid"
  wait_for 30 "port $APISERVER_PORT to close" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$APISERVER_PORT) 2>/dev/null" || true
}

cmd_start_apiserver() {
  cluster_exists || die "no cluster; run '$0 up' first"
  local t0=$SECONDS
  # Starts every component that is not running, which is kube-apiserver after
  # stop-apiserver (and anything that died meanwhile); etcd data is untouched.
  start_stopped
  wait_for 90 "kube-apiserver /readyz" apiserver_healthy || die "kube-apiserver not ready (see $CDIR/logs/kube-apiserver.log)"
  log "kube-apiserver ready in $((SECONDS - t0))s"
}

cmd_env() {
  cat <<EOF
CLUSTER_STATE_DIR=$STATE
CLUSTER_BIN=$BIN
CLUSTER_KUBECONFIG=$KUBECONFIG_OUT
CLUSTER_LOG_DIR=$CDIR/logs
CLUSTER_APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
KWOK_WORKDIR=$KWOK_WORKDIR
EOF
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop-apiserver) cmd_stop_apiserver ;;
  start-apiserver) cmd_start_apiserver ;;
  env) cmd_env ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
