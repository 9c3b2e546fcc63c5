#!/usr/bin/env bash
# Builds the k8s-provider container image.
#
#   ./build.sh [TAG] [--push] [--kind-load CLUSTER] [--load-base FILE] [--save FILE]
#
#   TAG                 image reference; default iarnet/k8s-provider:latest
#                       (or $IMAGE when set)
#   --push              push TAG to its registry after building
#   --kind-load CLUSTER load the image into the nodes of kind cluster CLUSTER
#                       (k8s-deployment.yaml uses imagePullPolicy: IfNotPresent)
#   --load-base FILE    load an image archive (the base named in BUILD_ARGS)
#                       into the builder first, for builds without a registry
#   --save FILE         write the built image to FILE as an archive
#                       (OCI for buildah and podman, docker's own for docker)
#
# The builder is $DOCKER when set, else the first of docker (with a reachable
# daemon), podman and buildah that works. Build arguments and other build
# flags go in BUILD_ARGS, e.g. BUILD_ARGS="--build-arg NODE_IMAGE=node:22-slim".
#
# Exit codes: 0 built (and pushed/loaded); 1 a tool is missing or a step
# failed; 2 usage error.
set -euo pipefail

DEFAULT_TAG=iarnet/k8s-provider:latest

# The header comment above is the help text.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'build.sh: %s\n\n' "$*" >&2; usage >&2; exit 2; }

tag=""
push=false
kind_cluster=""
load_base=""
save=""
while (($# > 0)); do
  case "$1" in
    --push) push=true ;;
    --kind-load)
      if (($# < 2)) || [[ -z $2 || $2 == -* ]]; then usage_error "--kind-load needs a kind cluster name"; fi
      kind_cluster="$2"
      shift
      ;;
    --kind-load=*) kind_cluster="${1#*=}"; [[ -n $kind_cluster ]] || usage_error "--kind-load needs a kind cluster name" ;;
    --load-base | --save)
      if (($# < 2)) || [[ -z $2 ]]; then usage_error "$1 needs a file"; fi
      if [[ $1 == --save ]]; then save="$2"; else load_base="$2"; fi
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *)
      [[ -z $tag ]] || usage_error "only one TAG may be given (got \"$tag\" and \"$1\")"
      tag="$1"
      ;;
  esac
  shift
done
tag="${tag:-${IMAGE:-$DEFAULT_TAG}}"

# Check every tool before spending minutes on a build that cannot be used.
if [[ -n ${DOCKER:-} ]]; then
  command -v "$DOCKER" >/dev/null 2>&1 || die "'$DOCKER' (\$DOCKER) not found"
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  DOCKER=docker
elif command -v podman >/dev/null 2>&1; then
  DOCKER=podman
elif command -v buildah >/dev/null 2>&1; then
  DOCKER=buildah
elif command -v docker >/dev/null 2>&1; then
  die "docker is installed but its daemon cannot be reached ('docker info' failed), and neither podman nor buildah is installed"
else
  die "no image builder: install Docker, podman or buildah"
fi
builder="$(basename "$DOCKER")"
if [[ $builder == docker ]] && ! "$DOCKER" info >/dev/null 2>&1; then
  die "'$DOCKER' is installed but its daemon cannot be reached ('$DOCKER info' failed): start it, or check DOCKER_HOST and that this user may use it"
fi
if [[ -n $kind_cluster ]]; then
  command -v kind >/dev/null 2>&1 || die "--kind-load needs the 'kind' command, which is not installed"
  clusters="$(kind get clusters 2>/dev/null || true)"
  grep -qx -- "$kind_cluster" <<<"$clusters" ||
    die "no kind cluster named '$kind_cluster' (kind get clusters: ${clusters//$'\n'/ })"
fi

cd "$(dirname "${BASH_SOURCE[0]}")"

labels=(--label "org.opencontainers.image.title=k8s-provider")
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n 1)"
[[ -n $version ]] && labels+=(--label "org.opencontainers.image.version=$version")
if revision="$(git rev-parse HEAD 2>/dev/null)"; then
  labels+=(--label "org.opencontainers.image.revision=$revision")
  # --version of the image names the commit (the build context has no .git).
  labels+=(--build-arg "GIT_COMMIT=$revision")
fi

if [[ -n $load_base ]]; then
  printf 'build.sh: loading %s into %s\n' "$load_base" "$builder" >&2
  case "$builder" in
    buildah)
      # An OCI archive keeps its name in an annotation buildah does not apply.
      base_id="$(buildah pull --quiet "oci-archive:$load_base")"
      base_name="$(tar -xOf "$load_base" index.json | grep -o '"io.containerd.image.name":"[^"]*"' | cut -d'"' -f4)"
      [[ -z $base_name ]] || buildah tag "$base_id" "$base_name"
      ;;
    *) "$DOCKER" load --input "$load_base" >/dev/null ;;
  esac
fi

extra=()
# buildah without a daemon: RUN steps in a chroot on the host's network (no
# CNI setup needed); the base is local, so never pull it.
[[ $builder != buildah ]] || extra=(--isolation chroot --network host --pull-never)
[[ $builder != podman || -z $load_base ]] || extra=(--pull=never)

printf 'build.sh: building %s with %s\n' "$tag" "$builder" >&2
# shellcheck disable=SC2086 # BUILD_ARGS is deliberately split into words
"$DOCKER" build --tag "$tag" "${labels[@]}" "${extra[@]}" ${BUILD_ARGS:-} .

if [[ -n $save ]]; then
  printf 'build.sh: saving %s to %s\n' "$tag" "$save" >&2
  rm -f "$save"
  case "$builder" in
    buildah) buildah push --quiet "$tag" "oci-archive:$save:$tag" ;;
    podman) podman save --format oci-archive --output "$save" "$tag" ;;
    *) "$DOCKER" save --output "$save" "$tag" ;;
  esac
fi

if $push; then
  printf 'build.sh: pushing %s\n' "$tag" >&2
  "$DOCKER" push "$tag"
fi
if [[ -n $kind_cluster ]]; then
  printf 'build.sh: loading %s into kind cluster %s\n' "$tag" "$kind_cluster" >&2
  kind load docker-image "$tag" --name "$kind_cluster"
fi
printf 'build.sh: done: %s\n' "$tag" >&2
