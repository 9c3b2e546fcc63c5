#!/usr/bin/env bash
# Builds the command-line tools the tests use (helm, promtool) from the wrapper
# Go modules under test/tools/go/ into $TOOLS_BIN (default .tools/bin), the
# same way test/cluster/build.sh builds the control plane: pinned in go.mod,
# checksummed in go.sum, rebuilt only when go.mod/go.sum, the Go version or the
# flags change (one stamp file per module).
#
#   bash test/tools/build.sh            build every tool that is missing or stale
#   bash test/tools/build.sh helm       only helm
#   bash test/tools/build.sh promtool   only promtool
#   bash test/tools/build.sh crds       the prometheus-operator CRDs (ServiceMonitor,
#                                       PrometheusRule) into $TOOLS_BIN/crds
#
# Prints nothing on stdout; progress and build times go to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS_BIN="${TOOLS_BIN:-$ROOT/.tools/bin}"

# HELM_VERSION, HELM_KUBE_MINOR, PROMETHEUS_VERSION, PROMTOOL_VERSION, PROMETHEUS_OPERATOR_VERSION
# shellcheck source=versions.env
source "$HERE/versions.env"

export GOFLAGS="-buildvcs=false -mod=readonly"
# go.sum is committed, so nothing new needs the checksum database.
export GOSUMDB="${GOSUMDB:-off}"
export CGO_ENABLED=0

log() { printf '[tools build] %s\n' "$*" >&2; }

mkdir -p "$TOOLS_BIN"
# Test files that need the same tool may start at the same time; one builds.
exec 9>"$TOOLS_BIN/.build.lock"
flock 9

stamp_of() { # module-dir extra...
  { cat "$1/go.mod" "$1/go.sum"; go version; shift; printf '%s\n' "$@"; } | sha256sum | cut -c1-16
}

build_tool() { # name pkg ldflags tags
  local name="$1" pkg="$2" ldflags="$3" tags="$4" dir="$HERE/go/$1"
  local stampfile="$TOOLS_BIN/.stamp-$name"
  if ! command -v go >/dev/null; then
    if [[ -x $TOOLS_BIN/$name && -f $stampfile ]]; then
      log "go is not installed; using $TOOLS_BIN/$name as it is"; return 0
    fi
    log "go is not installed (need Go >= 1.26)"; return 1
  fi
  local stamp; stamp="$(stamp_of "$dir" "$pkg" "$ldflags" "$tags")"
  if [[ -x $TOOLS_BIN/$name && -f $stampfile && "$(cat "$stampfile")" == "$stamp" ]]; then
    log "$name: up to date ($stamp)"; return 0
  fi
  rm -f "$stampfile"
  local start=$SECONDS
  log "$name: downloading modules"
  (cd "$dir" && go mod download)
  local t=$SECONDS
  log "$name: building $pkg"
  (cd "$dir" && go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$TOOLS_BIN/$name.tmp" "$pkg")
  mv -f "$TOOLS_BIN/$name.tmp" "$TOOLS_BIN/$name"
  echo "$stamp" > "$stampfile"
  log "$name: built in $((SECONDS - t))s (with downloads $((SECONDS - start))s)"
}

fetch_crds() { # copies the CRDs out of the pinned module (nothing to compile)
  local dir="$HERE/go/prometheus-operator" out="$TOOLS_BIN/crds" stampfile="$TOOLS_BIN/.stamp-crds"
  local files=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)
  if ! command -v go >/dev/null; then
    [[ -f $stampfile ]] && { log "go is not installed; using $out as it is"; return 0; }
    log "go is not installed (need Go >= 1.26)"; return 1
  fi
  local stamp; stamp="$(stamp_of "$dir" "${files[@]}")"
  if [[ -f $stampfile && "$(cat "$stampfile")" == "$stamp" ]]; then
    log "crds: up to date ($stamp)"; return 0
  fi
  rm -f "$stampfile"
  local src
  src="$(cd "$dir" && go mod download -json github.com/prometheus-operator/prometheus-operator | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
  [[ -d $src ]] || { log "crds: go mod download gave no directory"; return 1; }
  mkdir -p "$out"
  for f in "${files[@]}"; do cp -f "$src/example/prometheus-operator-crd/$f" "$out/$f"; chmod 0644 "$out/$f"; done
  echo "$stamp" > "$stampfile"
  log "crds: prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs in $out"
}

# As helm's own release build: `helm version` reports the release, and
# `helm template` assumes the Kubernetes version of its client-go (not v1.20).
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR"
# promtool needs no service-discovery plug-ins to check metrics and rules;
# remove_all_sd leaves out the cloud SDKs (AWS, Azure, GCE, ...), which are most of its build.
prom_ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMTOOL_VERSION -X github.com/prometheus/common/version.Branch=release"

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(helm promtool crds)
check_pin() { # module-dir module version
  grep -Eq "^(require )?[[:space:]]*$2 $3( |\$)" "$HERE/go/$1/go.mod" || { log "test/tools/go/$1/go.mod does not require $2 $3"; exit 1; }
}
check_pin helm helm.sh/helm/v3 "$HELM_VERSION"
check_pin promtool github.com/prometheus/prometheus "$PROMETHEUS_VERSION"
check_pin prometheus-operator github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION"
for t in "${targets[@]}"; do
  case "$t" in
    helm) build_tool helm helm.sh/helm/v3/cmd/helm "$helm_ldflags" "" ;;
    promtool) build_tool promtool github.com/prometheus/prometheus/cmd/promtool "$prom_ldflags" remove_all_sd ;;
    crds) fetch_crds ;;
    *) log "unknown tool: $t (helm, promtool, crds)"; exit 2 ;;
  esac
done
