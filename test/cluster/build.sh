#!/usr/bin/env bash
# Builds the local control-plane binaries from the wrapper Go modules under
# test/cluster/go/ into $CLUSTER_BIN (default .cluster/bin). A module is
# rebuilt only when its go.mod/go.sum, the Go version or the flags below change
# (stamp file per module); Go's own module and build caches are used as usual.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLUSTER_BIN="${CLUSTER_BIN:-$ROOT/.cluster/bin}"

# KUBE_VERSION, KUBE_MINOR, METRICS_SERVER_VERSION, GO_MIN_VERSION
# shellcheck source=versions.env
source "$HERE/versions.env"

export GOFLAGS="-buildvcs=false -mod=readonly"
# go.sum is committed, so nothing new needs the checksum database.
export GOSUMDB="${GOSUMDB:-off}"
export CGO_ENABLED=0

log() { printf '[cluster build] %s\n' "$*" >&2; }

if ! command -v go >/dev/null; then
  if ls "$CLUSTER_BIN"/.stamp-kube "$CLUSTER_BIN"/.stamp-kwok "$CLUSTER_BIN"/.stamp-metrics-server >/dev/null 2>&1; then
    log "go is not installed; using the binaries already in $CLUSTER_BIN"
    exit 0
  fi
  log "go is not installed (need Go >= $GO_MIN_VERSION)"
  exit 1
fi

mkdir -p "$CLUSTER_BIN"

kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$KUBE_MINOR"

stamp_of() { # module-dir extra...
  { cat "$1/go.mod" "$1/go.sum"; go version; shift; printf '%s\n' "$@"; } | sha256sum | cut -c1-16
}

build_module() { # name dir ldflags "bin=pkg"...
  local name="$1" dir="$2" ldflags="$3"; shift 3
  local stamp; stamp="$(stamp_of "$dir" "$ldflags" "$@")"
  local stampfile="$CLUSTER_BIN/.stamp-$name" missing=0 spec
  for spec in "$@"; do [[ -x "$CLUSTER_BIN/${spec%%=*}" ]] || missing=1; done
  if [[ $missing == 0 && -f $stampfile && "$(cat "$stampfile")" == "$stamp" ]]; then
    log "$name: up to date ($stamp)"; return 0
  fi
  rm -f "$stampfile"
  local start=$SECONDS
  log "$name: downloading modules"
  (cd "$dir" && go mod download)
  for spec in "$@"; do
    local bin="${spec%%=*}" pkg="${spec#*=}" t=$SECONDS
    log "$name: building $bin ($pkg)"
    (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$CLUSTER_BIN/$bin.tmp" "$pkg")
    mv -f "$CLUSTER_BIN/$bin.tmp" "$CLUSTER_BIN/$bin"
    log "$name: built $bin in $((SECONDS - t))s"
  done
  echo "$stamp" > "$stampfile"
  log "$name: done in $((SECONDS - start))s"
}

# kubectl is needed by kwokctl itself (readiness checks, kustomize) and by cluster.sh.
build_module kube "$HERE/go/kube" "$kube_ldflags" \
  etcd=go.etcd.io/etcd/server/v3 \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl
build_module kwok "$HERE/go/kwok" "-s -w" \
  kwok=sigs.k8s.io/kwok/cmd/kwok \
  kwokctl=sigs.k8s.io/kwok/cmd/kwokctl
build_module metrics-server "$HERE/go/kwok" "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
  metrics-server=sigs.k8s.io/metrics-server/cmd/metrics-server
# The real node (CLUSTER_REAL_NODE=1, see node.sh): kubelet and kube-proxy
# from their own wrapper module at the control plane's release, so the
# control plane's go.sum and cached build stay as they are without it.
if [[ ${CLUSTER_REAL_NODE:-0} == 1 ]]; then
  build_module node "$HERE/go/node" "$kube_ldflags" \
    kubelet=k8s.io/kubernetes/cmd/kubelet \
    kube-proxy=k8s.io/kubernetes/cmd/kube-proxy
fi
