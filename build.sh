#!/usr/bin/env bash
# Builds the k8s-provider container image.
#
#   ./build.sh [TAG] [--push] [--kind-load CLUSTER]
#
#   TAG                 image reference; default iarnet/k8s-provider:latest
#                       (or $IMAGE when set)
#   --push              push TAG to its registry after building
#   --kind-load CLUSTER load the image into the nodes of kind cluster CLUSTER
#                       (k8s-deployment.yaml uses imagePullPolicy: IfNotPresent)
#
# Environment: DOCKER (default docker) names the client, e.g. DOCKER=podman;
# any other `docker build` flags can go in BUILD_ARGS.
#
# Exit codes: 0 built (and pushed/loaded); 1 a tool is missing or a step
# failed; 2 usage error.
set -euo pipefail

DEFAULT_TAG=iarnet/k8s-provider:latest
DOCKER="${DOCKER:-docker}"

# The header comment above is the help text.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'build.sh: %s\n\n' "$*" >&2; usage >&2; exit 2; }

tag=""
push=false
kind_cluster=""
while (($# > 0)); do
  case "$1" in
    --push) push=true ;;
    --kind-load)
      if (($# < 2)) || [[ -z $2 || $2 == -* ]]; then usage_error "--kind-load needs a kind cluster name"; fi
      kind_cluster="$2"
      shift
      ;;
    --kind-load=*) kind_cluster="${1#*=}"; [[ -n $kind_cluster ]] || usage_error "--kind-load needs a kind cluster name" ;;
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
command -v "$DOCKER" >/dev/null 2>&1 ||
  die "'$DOCKER' not found: install Docker (or set DOCKER=podman) to build the image"
if ! "$DOCKER" info >/dev/null 2>&1; then
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

printf 'build.sh: building %s\n' "$tag" >&2
# shellcheck disable=SC2086 # BUILD_ARGS is deliberately split into words
"$DOCKER" build --tag "$tag" "${labels[@]}" ${BUILD_ARGS:-} .

if $push; then
  printf 'build.sh: pushing %s\n' "$tag" >&2
  "$DOCKER" push "$tag"
fi
if [[ -n $kind_cluster ]]; then
  printf 'build.sh: loading %s into kind cluster %s\n' "$tag" "$kind_cluster" >&2
  kind load docker-image "$tag" --name "$kind_cluster"
fi
printf 'build.sh: done: %s\n' "$tag" >&2
