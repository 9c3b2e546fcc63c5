#!/usr/bin/env bash
# The real node's images, built locally (there is no registry) as OCI
# archives and imported into the node's containerd. Each archive is named by
# the hash of its inputs, so a warm run builds nothing.
#
#   bash test/cluster/images.sh pause           build if needed; print the pause image's name
#   bash test/cluster/images.sh workload        build if needed; print the workload image's name
#   bash test/cluster/images.sh import SOCKET   build if needed; import every image not yet there
#
# pause     a static Go binary (images/pause), containerd's sandbox image.
# workload  busybox-static (Debian) with the scripts in images/workload:
#           exit-with, log-lines, hog-memory, hold-memory (see each file).
# Archives are kept in $CLUSTER_IMAGE_CACHE (default .cluster/images).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CLUSTER_IMAGE_CACHE:-${CLUSTER_STATE_DIR:-$ROOT/.cluster}/images}"
REPO=localhost/k8s-provider-test

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

sha() { sha256sum | cut -d' ' -f1; }

# oci_archive NAME ROOTFS CONFIG-JSON OUT: one-layer OCI image layout in a tar,
# reproducible (sorted, owner 0, mtime 0), with the name containerd imports it as.
oci_archive() {
  local name="$1" rootfs="$2" config="$3" out="$4"
  local work; work="$(mktemp -d)"
  mkdir -p "$work/blobs/sha256"
  tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/layer.tar" .
  local diff_id layer layer_size
  diff_id="$(sha <"$work/layer.tar")"
  gzip -n -9 <"$work/layer.tar" >"$work/layer.tgz"
  layer="$(sha <"$work/layer.tgz")"; layer_size="$(stat -c %s "$work/layer.tgz")"
  mv "$work/layer.tgz" "$work/blobs/sha256/$layer"
  rm "$work/layer.tar"
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config" "$diff_id" >"$work/config.json"
  local cfg cfg_size
  cfg="$(sha <"$work/config.json")"; cfg_size="$(stat -c %s "$work/config.json")"
  mv "$work/config.json" "$work/blobs/sha256/$cfg"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfg" "$cfg_size" "$layer" "$layer_size" >"$work/manifest.json"
  local man man_size
  man="$(sha <"$work/manifest.json")"; man_size="$(stat -c %s "$work/manifest.json")"
  mv "$work/manifest.json" "$work/blobs/sha256/$man"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$man" "$man_size" "$name" "${name##*:}" >"$work/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
  tar -C "$work" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out.tmp" oci-layout index.json blobs
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
}

# cached KIND HASH BUILDER: prints the archive path, building it when absent.
cached() {
  local kind="$1" hash="$2" builder="$3"
  local out="$CACHE/$kind-$hash.tar"
  mkdir -p "$CACHE"
  if [[ ! -s $out ]]; then
    local t0=$SECONDS
    rm -f "$CACHE/$kind"-*.tar
    "$builder" "$REPO/$kind:$hash" "$out"
    log "built $kind image $REPO/$kind:$hash in $((SECONDS - t0))s"
  fi
  echo "$out"
}

pause_hash() { { cat "$HERE/images/pause/pause.go"; go version; declare -f oci_archive build_pause; } | sha | cut -c1-12; }
build_pause() {
  local rootfs; rootfs="$(mktemp -d)"
  (cd "$HERE/images/pause" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$rootfs/pause" pause.go)
  oci_archive "$1" "$rootfs" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$2"
  rm -rf "$rootfs"
}

workload_hash() {
  { sha256sum /bin/busybox; cat "$HERE/images/workload/"*; declare -f oci_archive build_workload; } | sha | cut -c1-12
}
build_workload() {
  [[ -x /bin/busybox ]] && /bin/busybox --list >/dev/null || die "busybox-static is not installed"
  local rootfs; rootfs="$(mktemp -d)"
  mkdir -p "$rootfs"/{bin,tmp,etc,dev,proc,sys}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  cp "$HERE/images/workload/"* "$rootfs/bin/"
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  oci_archive "$1" "$rootfs" '{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]}' "$2"
  rm -rf "$rootfs"
}

archive_name() { tar -xOf "$1" index.json | grep -o '"io.containerd.image.name":"[^"]*"' | cut -d'"' -f4; }
archive_digest() { tar -xOf "$1" index.json | grep -o '"digest":"[^"]*"' | head -n1 | cut -d'"' -f4; }

pause_archive() { cached pause "$(pause_hash)" build_pause; }
workload_archive() { cached workload "$(workload_hash)" build_workload; }

import_all() {
  local sock="$1" a name digest have
  for a in "$(pause_archive)" "$(workload_archive)"; do
    name="$(archive_name "$a")"; digest="$(archive_digest "$a")"
    have="$(ctr --address "$sock" -n k8s.io images list "name==$name" 2>/dev/null | awk 'NR > 1 { print $3 }')"
    [[ $have == "$digest" ]] && continue
    log "importing $name"
    ctr --address "$sock" -n k8s.io images import "$a" >/dev/null ||
      die "ctr images import $a failed"
  done
}

case "${1:-}" in
  pause) archive_name "$(pause_archive)" ;;
  workload) archive_name "$(workload_archive)" ;;
  import) import_all "${2:?import SOCKET}" ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
