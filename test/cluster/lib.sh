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

# ---- background daemons (node.sh) ------------------------------------------
# The caller sets PIDS and LOGS (directories) and CHANGED (" name name ": the
# daemons whose configuration changed and so need a restart).

node_pid() { # name binary -> pid, if that daemon runs the binary
  local f="$PIDS/$1.pid" pid
  [[ -f $f ]] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  alive "$pid" || return 1
  [[ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)" == "$2" ]] || return 1
  echo "$pid"
}

# 0 once the daemon's process runs the binary, 2 if it has exited, else 1.
daemon_started() { # name binary
  local pid
  node_pid "$1" "$2" >/dev/null && return 0
  [[ -f $PIDS/$1.pid ]] || return 1 # not written yet
  pid="$(tr -dc '0-9' <"$PIDS/$1.pid")"
  alive "$pid" || return 2
  return 1 # still the shell, before its exec
}

# Starts a daemon in the background in its own session, logging to
# $LOGS/NAME.log, and returns once it runs the binary. The pid file is written
# by the process that then execs the binary, not taken from `$!`: that pid is
# the binary's only when setsid does not fork, and for a moment after `&` its
# cmdline is still bash's or setsid's, so a check right after the start (the
# kubelet's, under load on a cold start) took a daemon still starting for one
# that had exited.
start_daemon() { # name binary args...
  local name="$1"; shift
  if [[ ${CHANGED:-} == *" $name "* ]]; then stop_daemon "$name" "$1"; fi
  if node_pid "$name" "$1" >/dev/null; then return 0; fi
  log "starting $name"
  rm -f "$PIDS/$name.pid"
  # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0.new" && mv -f "$0.new" "$0" && exec "$@"' "$PIDS/$name.pid" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
  wait_for 60 "$name to start" daemon_started "$name" "$1" || die "$name did not start (or exited at once), see $LOGS/$name.log"
}

stop_daemon() { # name binary
  local pid
  pid="$(node_pid "$1" "$2")" || { rm -f "$PIDS/$1.pid"; return 0; }
  stop_pid "$1" "$pid" 15
  rm -f "$PIDS/$1.pid"
}
