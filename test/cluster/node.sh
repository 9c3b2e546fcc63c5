#!/usr/bin/env bash
# The real node of the test cluster (CLUSTER_REAL_NODE=1): containerd + runc
# with a bridge CNI network, kubelet and kube-proxy (iptables mode), next to
# the KWOK fake nodes. Called by cluster.sh, which exports the cluster's
# paths and ports; needs root.
#
#   bash test/cluster/node.sh up      install packages, start the node, wait until Ready
#   bash test/cluster/node.sh down    stop it and restore the machine as it was before `up`
#   bash test/cluster/node.sh status  exit 0 iff the node's processes run and it is Ready
#   bash test/cluster/node.sh snapshot FILE   write the machine state down restores (see check)
#
# Only one real node can exist on a machine (host ports 10250/10256,
# iptables, the bridge, sysctls). Everything it owns lives under
# $STATE/node; what it changes outside (sysctls, iptables, the bridge, the
# cgroup root in each hierarchy, /run/containerd/s, /run/netns,
# /var/log/containers) is recorded before `up` changes it and put back by
# `down`. The host's cgroup hierarchies are never remounted.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MANIFESTS="$HERE/manifests"
: "${STATE:?node.sh is run by cluster.sh}" "${BIN:?}" "${PKI:?}" "${APISERVER_PORT:?}" "${KUBECONFIG_OUT:?}"
: "${NODE_IP:?}" "${SERVICE_CIDR:?}"

NODE_DIR="$STATE/node"
NODE_NAME=k8s-provider-real-node
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
CNI_BIN_DIR=/usr/lib/cni
BRIDGE=kprov0
POD_CIDR="${CLUSTER_POD_CIDR:-198.18.0.0/24}"
CGROUP_ROOT=/k8s-provider-node
SAVED="$NODE_DIR/saved"   # the machine as it was before the first `up`
PIDS="$NODE_DIR/pids"
LOGS="$NODE_DIR/logs"
PAUSE_IMAGE_FILE="$NODE_DIR/pause-image"
# The label and NoSchedule taint the real node registers with; workloads
# that must run there carry a matching nodeSelector and toleration.
NODE_LABEL=k8s-provider.test/real-node
# buildah builds the daemon's image where neither docker nor podman is there.
APT_PACKAGES=(containerd runc containernetworking-plugins iptables nftables conntrack busybox-static mmdebstrap buildah)
# What the kubelet, the bridge plugin and up itself set, and what kube-proxy
# would set with other settings: restored by `down` (README lists which is which).
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait)
# Host paths the node's processes use whatever their configuration says:
# containerd's shim sockets, the kubelet's log links and device-plugin
# socket, libcni's result cache. Removed by `down` when they were not there
# before (only what the node wrote in them).
HOST_DIRS=(/run/containerd /run/netns /var/log/containers /var/lib/kubelet /var/lib/cni)

log() { printf '[node] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# shellcheck source=test/cluster/lib.sh
source "$HERE/lib.sh"

# ---- preconditions -------------------------------------------------------

need_root() {
  [[ $(id -u) == 0 ]] || die "the real node needs root (containerd, cgroups, iptables); run without CLUSTER_REAL_NODE on this machine"
}

# Idempotent: installs only what is missing, with one `apt-get update` first.
install_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} (apt)"
  apt-get update -q >"$LOGS/apt.log" 2>&1 || die "apt-get update failed, see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
    die "apt-get install ${missing[*]} failed, see $LOGS/apt.log"
}

need_binaries() {
  local b
  for b in kubelet kube-proxy; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing (CLUSTER_REAL_NODE=1 bash test/cluster/build.sh builds it)"
  done
  for b in containerd containerd-shim-runc-v2 runc ctr iptables-save nft ip; do
    command -v "$b" >/dev/null || die "'$b' is not installed"
  done
  [[ -x $CNI_BIN_DIR/bridge && -x $CNI_BIN_DIR/host-local && -x $CNI_BIN_DIR/loopback ]] ||
    die "CNI plugins missing in $CNI_BIN_DIR (apt-get install containernetworking-plugins)"
}

# ---- machine state: recorded before, restored after ------------------------

cgroup_mounts() { awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts; }

# One line per fact `down` must restore; two snapshots are equal iff the
# machine is back as it was. Counters and addresses that change by
# themselves are left out.
snapshot() (
  # Facts, not checks: an empty grep is no error here.
  set +e +o pipefail
  local k
  for k in "${SYSCTLS[@]}"; do
    [[ -e /proc/sys/${k//.//} ]] && echo "sysctl $k=$(sysctl -n "$k")"
  done
  nft list tables 2>/dev/null | sed 's/^/nft /'
  { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -E '^[*:]' | sed -E 's/ \[[0-9]+:[0-9]+\]$//; s/^/iptables /'
  echo "iptables rules: $({ iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -c '^-A' || true)"
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
  ip -4 route show table all 2>/dev/null | grep -v ' proto kernel ' | sed 's/^/route /' || true
  awk '{ print "mount " $2 " " $3 }' /proc/self/mounts
  local m
  for m in $(cgroup_mounts); do
    [[ -d $m$CGROUP_ROOT ]] && echo "cgroup $m$CGROUP_ROOT"
  done
  for k in "${HOST_DIRS[@]}"; do [[ -e $k ]] && echo "dir $k"; done
  # A stopped daemon whose parent was not init can linger as a zombie until
  # something reaps it: that is not a running process.
  local p
  for k in containerd containerd-shim kubelet kube-proxy; do
    for p in $(pgrep -x "$k"); do alive "$p" && echo "process $k $p"; done
  done
)

sysctl_set() { # key value: set it, remembering the first original
  [[ -e /proc/sys/${1//.//} ]] || return 0
  [[ $(sysctl -n "$1") == "$2" ]] || sysctl -qw "$1=$2"
}

record_machine() {
  [[ -f $SAVED/complete ]] && return 0
  rm -rf "$SAVED"
  mkdir -p "$SAVED"
  local k
  for k in "${SYSCTLS[@]}"; do
    [[ -e /proc/sys/${k//.//} ]] && printf '%s=%s\n' "$k" "$(sysctl -n "$k")"
  done >"$SAVED/sysctl"
  nft list tables >"$SAVED/nft-tables" 2>/dev/null || true
  iptables-save >"$SAVED/iptables" 2>/dev/null || true
  ip6tables-save >"$SAVED/ip6tables" 2>/dev/null || true
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' >"$SAVED/links"
  ls /run/netns 2>/dev/null >"$SAVED/netns" || true
  for k in "${HOST_DIRS[@]}"; do [[ -e $k ]] && echo "$k"; done >"$SAVED/dirs"
  snapshot >"$SAVED/snapshot"
  touch "$SAVED/complete"
}

restore_sysctls() {
  [[ -f $SAVED/sysctl ]] || return 0
  local line
  while IFS= read -r line; do
    [[ $(sysctl -n "${line%%=*}") == "${line#*=}" ]] || { log "restoring $line"; sysctl -qw "$line" || true; }
  done <"$SAVED/sysctl"
}

# Tables the node's components created are deleted whole; in tables that
# existed before, only chains that did not exist are removed, with the rules
# that jump to them. (The fence's rules in built-in chains: unfence_network.)
restore_iptables() {
  [[ -f $SAVED/nft-tables ]] || return 0
  local fam name
  while read -r _ fam name; do
    [[ -n $name ]] || continue
    grep -qx "table $fam $name" "$SAVED/nft-tables" && continue
    log "deleting nft table $fam $name"
    nft delete table "$fam" "$name" || true
  done < <(nft list tables 2>/dev/null)
  local tool saved
  for tool in iptables ip6tables; do
    saved="$SAVED/$tool"
    local t chain
    for t in $(grep -E '^\*' "$saved" | tr -d '*'); do
      for chain in $("$tool-save" -t "$t" 2>/dev/null | sed -n 's/^:\([^ ]*\).*/\1/p'); do
        awk -v t="*$t" -v c=":$chain" '$1 == t { in_t = 1; next } /^\*/ { in_t = 0 } in_t && $1 == c { found = 1 } END { exit !found }' "$saved" && continue
        "$tool-save" -t "$t" | awk -v c="$chain" '$1 == "-A" && ($2 == c || / -j / && $0 ~ ("-j " c "( |$)") || $0 ~ ("-g " c "( |$)")) && $2 != c' |
          while IFS= read -r rule; do
            # shellcheck disable=SC2086
            eval "$tool -t $t -D ${rule#-A }" 2>/dev/null || true
          done
        "$tool" -t "$t" -F "$chain" 2>/dev/null || true
        "$tool" -t "$t" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

restore_links() {
  [[ -f $SAVED/links ]] || return 0
  local l
  for l in $(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    grep -qx "$l" "$SAVED/links" && continue
    if [[ $l == "$BRIDGE" || $l == veth* ]]; then
      log "deleting link $l"
      ip link delete "$l" 2>/dev/null || true
    fi
  done
}

# ---- processes --------------------------------------------------------------

# node_pid, start_daemon and stop_daemon are in lib.sh (tested by test/cluster/daemons.test.ts).

# containerd's shims outlive containerd; they are ours when they serve our socket.
our_shims() {
  local p
  for p in $(pgrep -x containerd-shim 2>/dev/null || true); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-address $CONTAINERD_SOCK"; then echo "$p"; fi
  done
}

# Every process still in the node's cgroups (containers whose shim died).
cgroup_procs() {
  local m
  for m in $(cgroup_mounts); do
    [[ -d $m$CGROUP_ROOT ]] && find "$m$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

# ---- up steps ----------------------------------------------------------------

prepare_dirs() {
  mkdir -p "$NODE_DIR"/{containerd,cni/net.d,cni/ipam,kubelet,pki,pod-logs} "$PIDS" "$LOGS"
}

# The node's own client certificate (system:node:NAME in system:nodes), a
# serving certificate for its kubelet, and kube-proxy's client certificate
# (system:kube-proxy, bound to system:node-proxier), all signed by the
# cluster CA that kwokctl generated.
write_certs() {
  sign_cert() { # name subject [ip-san]
    local key="$NODE_DIR/pki/$1.key" crt="$NODE_DIR/pki/$1.crt" ext="$NODE_DIR/pki/$1.ext"
    [[ -s $crt ]] && openssl verify -CAfile "$PKI/ca.crt" "$crt" >/dev/null 2>&1 && return 0
    openssl genrsa -out "$key" 2048 2>/dev/null
    if [[ -n ${3:-} ]]; then
      printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$3" "$NODE_NAME" >"$ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' >"$ext"
    fi
    openssl req -new -key "$key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 -extfile "$ext" -out "$crt" 2>/dev/null
    chmod 600 "$key"
  }
  sign_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME"
  sign_cert kubelet-serving "/CN=$NODE_NAME" "$NODE_IP"
  sign_cert kube-proxy "/CN=system:kube-proxy"
}

# Replaces FILE with stdin only when the content differs, in one rename:
# kube-proxy exits when its config file changes, even to the same content.
# Returns 0 when it changed.
write_if_changed() {
  local file="$1" tmp="$1.tmp"
  cat >"$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$file"
}

# Components whose config changed since they started: restarted by start_*.
CHANGED=" "
write_configs() {
  PAUSE_IMAGE="$(cat "$PAUSE_IMAGE_FILE")"
  export NODE_DIR NODE_NAME NODE_IP CONTAINERD_SOCK CNI_BIN_DIR BRIDGE POD_CIDR CGROUP_ROOT PAUSE_IMAGE PKI APISERVER_PORT
  render "$MANIFESTS/real-node/containerd.toml" | write_if_changed "$NODE_DIR/containerd/config.toml" && CHANGED+="containerd "
  render "$MANIFESTS/real-node/cni.conflist" | write_if_changed "$NODE_DIR/cni/net.d/10-k8s-provider.conflist" || true
  render "$MANIFESTS/real-node/kubelet.yaml" | write_if_changed "$NODE_DIR/kubelet.yaml" && CHANGED+="kubelet "
  render "$MANIFESTS/real-node/kube-proxy.yaml" | write_if_changed "$NODE_DIR/kube-proxy.yaml" && CHANGED+="kube-proxy "
  CLIENT_CERT="$NODE_DIR/pki/kubelet-client.crt" CLIENT_KEY="$NODE_DIR/pki/kubelet-client.key" \
    render "$MANIFESTS/real-node/node-kubeconfig.yaml" | write_if_changed "$NODE_DIR/kubelet.kubeconfig" || true
  CLIENT_CERT="$NODE_DIR/pki/kube-proxy.crt" CLIENT_KEY="$NODE_DIR/pki/kube-proxy.key" \
    render "$MANIFESTS/real-node/node-kubeconfig.yaml" | write_if_changed "$NODE_DIR/kube-proxy.kubeconfig" || true
}

# The kubelet's cgroup root in every hierarchy (it creates only what is
# below it); cpuset needs cpus and mems before a task can join.
prepare_cgroups() {
  local m
  for m in $(cgroup_mounts); do
    mkdir -p "$m$CGROUP_ROOT"
    if [[ -f $m/cpuset.cpus ]]; then
      [[ -s $m$CGROUP_ROOT/cpuset.cpus ]] || cat "$m/cpuset.cpus" >"$m$CGROUP_ROOT/cpuset.cpus"
      [[ -s $m$CGROUP_ROOT/cpuset.mems ]] || cat "$m/cpuset.mems" >"$m$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

# Pods must never reach past the machine: traffic from the bridge to
# anywhere but the bridge is dropped, and so is traffic from the host to a
# Service address that kube-proxy did not translate (filter runs after the
# nat table's DNAT, so translated packets no longer match).
# The rules go in built-in chains, which restore_iptables leaves alone when
# their table existed before `up`. So each rule `up` adds is written to
# $SAVED/fence first (before adding it: a failed `up` leaves nothing
# unrecorded), and `down` deletes exactly those. A rule that was already
# there, say from another tool, is neither recorded nor deleted.
FENCE_RULES=("-I FORWARD -i $BRIDGE ! -o $BRIDGE -j DROP" "-A OUTPUT -d $SERVICE_CIDR -j REJECT")
fence_network() {
  local rule
  for rule in "${FENCE_RULES[@]}"; do
    # shellcheck disable=SC2086 # a rule is its words
    iptables -C ${rule#-? } 2>/dev/null && continue
    echo "${rule#-? }" >>"$SAVED/fence"
    # shellcheck disable=SC2086
    iptables $rule
  done
}

unfence_network() {
  [[ -f $SAVED/fence ]] || return 0
  local rule
  while IFS= read -r rule; do
    # shellcheck disable=SC2086 # a rule is its words
    if iptables -C $rule 2>/dev/null; then
      log "deleting iptables rule $rule"
      # shellcheck disable=SC2086
      iptables -D $rule || true
    fi
  done <"$SAVED/fence"
}

containerd_ready() { ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }

start_containerd() {
  start_daemon containerd "$(command -v containerd)" --config "$NODE_DIR/containerd/config.toml"
  wait_for 60 "containerd" containerd_ready || die "containerd did not start, see $LOGS/containerd.log"
}

start_kubelet() {
  start_daemon kubelet "$BIN/kubelet" \
    --config "$NODE_DIR/kubelet.yaml" \
    --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
    --root-dir "$NODE_DIR/kubelet" \
    --cert-dir "$NODE_DIR/pki" \
    --hostname-override "$NODE_NAME" \
    --node-ip "$NODE_IP" \
    --node-labels "$NODE_LABEL=true" \
    --v 1
}

start_kube_proxy() {
  start_daemon kube-proxy "$BIN/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml" --v 1
}

# Ready, or fails at once when the kubelet has exited.
node_ready_or_dead() {
  node_pid kubelet "$BIN/kubelet" >/dev/null || { log "the kubelet exited"; return 2; }
  node_ready
}

node_ready() {
  [[ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

cmd_up() {
  need_root
  prepare_dirs
  install_packages
  need_binaries
  local t0=$SECONDS
  record_machine
  # The control plane kwokctl made must be the one this node joins.
  [[ -f $PKI/ca.key ]] || die "no cluster CA in $PKI (cluster.sh up first)"
  write_certs
  bash "$HERE/images.sh" pause >"$PAUSE_IMAGE_FILE"
  write_configs
  prepare_cgroups
  sysctl_set net.bridge.bridge-nf-call-iptables 1
  fence_network
  start_containerd
  bash "$HERE/images.sh" import "$CONTAINERD_SOCK"
  start_kubelet
  start_kube_proxy
  if ! wait_for 120 "node $NODE_NAME to become Ready" node_ready_or_dead; then
    tail -n 30 "$LOGS/kubelet.log" >&2 || true
    die "node $NODE_NAME not Ready (logs in $LOGS)"
  fi
  log "real node $NODE_NAME Ready in $((SECONDS - t0))s (label $NODE_LABEL=true, taint $NODE_LABEL=true:NoSchedule)"
}

# ---- down ------------------------------------------------------------------

# The kubelet tears pods down properly (CNI DEL, unmounts) when they leave.
# Cordoned first, so controllers' replacements are not placed here.
evict_pods() {
  apiserver_healthy || return 0
  node_pid kubelet "$BIN/kubelet" >/dev/null || return 0
  kctl get node "$NODE_NAME" >/dev/null 2>&1 || return 0
  kctl cordon "$NODE_NAME" >/dev/null 2>&1 || true
  kctl delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" --grace-period=1 --wait=false >/dev/null 2>&1 || true
  # Stopped sandboxes (network already torn down) wait for the kubelet's
  # garbage collection; running tasks are what matters.
  nothing_running() { ! ctr_ tasks list 2>/dev/null | awk 'NR > 1 { print $3 }' | grep -qx RUNNING; }
  wait_for 60 "the node's pods to stop" nothing_running || log "WARNING: containers still running; killing them directly"
}

remove_containers() {
  containerd_ready || return 0
  local c
  for c in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
  sleep 1
  for c in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true; done
  for c in $(ctr_ containers list -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
}

kill_leftovers() {
  local p
  for p in $(our_shims) $(cgroup_procs); do
    alive "$p" && { log "killing leftover process $p"; kill -KILL "$p" 2>/dev/null || true; }
  done
  sleep 0.5
}

unmount_ours() {
  local m
  # Deepest first; lazily if something still holds one.
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "WARNING: cannot unmount $m"
  done < <(awk '{ print $2 }' /proc/self/mounts | grep -E "^($NODE_DIR|/run/netns/cni-|/run/containerd/)" | sort -r)
  local n
  for n in /run/netns/cni-*; do
    [[ -e $n ]] || continue
    grep -qx "${n#/run/netns/}" "$SAVED/netns" 2>/dev/null || rm -f "$n"
  done
}

remove_cgroups() {
  local m d
  for m in $(cgroup_mounts); do
    [[ -d $m$CGROUP_ROOT ]] || continue
    # Children before parents.
    while IFS= read -r d; do rmdir "$d" 2>/dev/null || log "WARNING: cannot remove cgroup $d"; done \
      < <(find "$m$CGROUP_ROOT" -depth -type d)
  done
}

remove_host_dirs() {
  local d
  # The kubelet's log links point into the node's pod-logs directory.
  find /var/log/containers -maxdepth 1 -lname "$NODE_DIR/*" -delete 2>/dev/null || true
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  rm -f /var/lib/cni/results/k8s-provider-real-node-* /var/lib/cni/results/cni-loopback-*
  for d in "${HOST_DIRS[@]}"; do
    [[ -e $d ]] || continue
    grep -qx "$d" "$SAVED/dirs" 2>/dev/null && continue
    # Only what the node left: empty directories (and containerd's shim socket dir).
    find "$d" -depth -type d -empty -delete 2>/dev/null || true
    if [[ -e $d ]]; then log "WARNING: $d is not empty; left in place"; fi
  done
}

cmd_down() {
  [[ -d $NODE_DIR ]] || return 0
  need_root
  evict_pods
  stop_daemon kube-proxy "$BIN/kube-proxy"
  stop_daemon kubelet "$BIN/kubelet"
  remove_containers
  stop_daemon containerd "$(command -v containerd || echo containerd)"
  kill_leftovers
  unmount_ours
  remove_cgroups
  restore_links
  unfence_network
  restore_iptables
  restore_sysctls
  remove_host_dirs
  if apiserver_healthy; then kctl delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1 || true; fi
  if [[ -f $SAVED/snapshot ]] && ! diff <(snapshot) "$SAVED/snapshot" >"$NODE_DIR/restore.diff"; then
    log "ERROR: the machine differs from before the node started:"
    cat "$NODE_DIR/restore.diff" >&2
    cp "$NODE_DIR/restore.diff" "$STATE/node-restore.diff"
    rm -rf "$NODE_DIR"
    return 1
  fi
  rm -rf "$NODE_DIR" "$STATE/node-restore.diff"
  log "real node removed; machine restored"
}

cmd_status() {
  local rc=0 n b
  for n in containerd:"$(command -v containerd)" kubelet:"$BIN/kubelet" kube-proxy:"$BIN/kube-proxy"; do
    if b="$(node_pid "${n%%:*}" "${n#*:}")"; then echo "${n%%:*}: running (pid $b)"; else echo "${n%%:*}: stopped"; rc=1; fi
  done
  if node_ready; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: NOT Ready"; rc=1; fi
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  snapshot) snapshot >"${2:?snapshot FILE}" ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
