#!/usr/bin/env bash
# Builds ghz, the gRPC load generator npm run bench drives the daemon with,
# from the pinned wrapper module test/tools/go/ghz into $TOOLS_BIN (default
# .tools/bin). Rebuilt only when go.mod/go.sum or the Go version change (a stamp
# file beside the binary, as test/cluster/build.sh does for the cluster).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS_BIN="${TOOLS_BIN:-$ROOT/.tools/bin}"
DIR="$HERE/go/ghz"

log() { printf '[tools build] %s\n' "$*" >&2; }

if ! command -v go >/dev/null; then
  if [[ -x $TOOLS_BIN/ghz ]]; then log "go is not installed; using $TOOLS_BIN/ghz"; exit 0; fi
  log "go is not installed: ghz cannot be built"; exit 1
fi

export GOFLAGS="-buildvcs=false -mod=readonly"
# go.sum is committed, so nothing new needs the checksum database.
export GOSUMDB="${GOSUMDB:-off}"
export CGO_ENABLED=0

mkdir -p "$TOOLS_BIN"
stamp="$({ cat "$DIR/go.mod" "$DIR/go.sum"; go version; } | sha256sum | cut -c1-16)"
stampfile="$TOOLS_BIN/.stamp-ghz"
if [[ -x $TOOLS_BIN/ghz && -f $stampfile && "$(cat "$stampfile")" == "$stamp" ]]; then
  log "ghz: up to date ($stamp)"; exit 0
fi
rm -f "$stampfile"
start=$SECONDS
log "ghz: building from $DIR"
(cd "$DIR" && go build -trimpath -ldflags "-s -w" -o "$TOOLS_BIN/ghz.tmp" github.com/bojand/ghz/cmd/ghz)
mv -f "$TOOLS_BIN/ghz.tmp" "$TOOLS_BIN/ghz"
echo "$stamp" > "$stampfile"
log "ghz: built in $((SECONDS - start))s"
