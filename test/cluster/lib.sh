# Helpers shared by cluster.sh and node.sh (which define log and die).
# shellcheck shell=bash

# Alive and not a zombie (the forked daemons are reparented to pid 1, which may
# reap them late; kill -0 alone would count a killed one as running).
alive() {
  local pid="${1:-}" st
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

apiserver_healthy() {
  [[ -f $PKI/admin.crt ]] || return 1
  local out
  out="$(curl -sS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" || return 1
  [[ $out == ok ]]
}

wait_for() { # timeout-seconds description command... (exit 2 from it: give up at once)
  local timeout="$1" what="$2" rc; shift 2
  local deadline=$((SECONDS + timeout))
  while true; do
    rc=0; "$@" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) && return 1
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# Prints a manifest template with every ${VAR} replaced by the value of the
# shell variable VAR; a placeholder without a value is an error.
render() {
  local text name var
  text="$(<"$1")"
  # shellcheck disable=SC2013,SC2016 # placeholder names are single words; the pattern is literal
  for name in $(grep -o '\${[A-Z_][A-Z0-9_]*}' "$1" | sort -u); do
    var="${name:2:${#name}-3}"
    [[ -v $var ]] || die "$1: no value for $name"
    text="${text//"$name"/"${!var}"}"
  done
  printf '%s\n' "$text"
}

stop_pid() { # name pid [grace-seconds]: SIGTERM, then SIGKILL after the grace period
  local name="$1" pid="$2" grace="${3:-10}" i
  alive "$pid" || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do alive "$pid" || return 0; sleep 0.2; done
  log "$name (pid $pid) still running after ${grace}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.2; done
  log "WARNING: $name (pid $pid) is still alive"
}
