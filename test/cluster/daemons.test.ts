/**
 * The background-daemon functions of lib.sh that the real node's containerd,
 * kubelet and kube-proxy are started and checked with (node.sh). Plain
 * processes stand in for them: what is tested is the pid bookkeeping, which
 * once took a kubelet still starting on a cold start for one that had exited.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const lib = join(import.meta.dirname, 'lib.sh');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-daemons-'));
const sleepBin = execFileSync('bash', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
const falseBin = execFileSync('bash', ['-c', 'command -v false'], { encoding: 'utf8' }).trim();

/** Runs a bash script with lib.sh sourced, as node.sh does (set -euo pipefail, log and die defined). */
function bash(script: string): { code: number; stdout: string; stderr: string } {
  const prelude = `set -euo pipefail
log() { printf '[test] %s\\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
PIDS=${JSON.stringify(join(dir, 'pids'))} LOGS=${JSON.stringify(join(dir, 'logs'))} CHANGED=" "
mkdir -p "$PIDS" "$LOGS"
source ${JSON.stringify(lib)}
`;
  const r = spawnSync('bash', ['-c', prelude + script], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => {
  // Whatever a failed assertion left running.
  bash(`for f in "$PIDS"/*.pid; do [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null; done; true`);
  rmSync(dir, { recursive: true, force: true });
});

describe('lib.sh background daemons', () => {
  it('start_daemon returns once the binary runs: node_pid finds it at once, every time', () => {
    // Twenty starts checked right away: with the pid taken from `$!`, a check
    // this early saw bash or setsid in the cmdline and reported "exited".
    const r = bash(`
for i in $(seq 1 20); do
  start_daemon "d$i" ${sleepBin} 300
  node_pid "d$i" ${sleepBin} >/dev/null || { echo "d$i not found right after start"; exit 3; }
done
for i in $(seq 1 20); do stop_daemon "d$i" ${sleepBin}; done
ls "$PIDS" | wc -l`);
    expect(r.stderr).not.toContain('not found');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('0');
  });

  it('waits for a late exec: a loaded machine may run the forked shell seconds after `&`', () => {
    // A setsid that takes its time stands in for a cold start on a busy
    // machine: the old pid-from-`$!` check reported such a kubelet as exited.
    const r = bash(`setsid() { sleep 1.5; command setsid "$@"; }
start_daemon late ${sleepBin} 300
node_pid late ${sleepBin} >/dev/null && echo running || echo "not found"
stop_daemon late ${sleepBin}`);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('running');
  });

  it('the pid file holds the pid of the binary itself, in its own session', () => {
    const r = bash(`start_daemon one ${sleepBin} 300
pid="$(node_pid one ${sleepBin})"
echo "$pid $(ps -o sid= -p "$pid") $(tr '\\0' ' ' </proc/$pid/cmdline)"
stop_daemon one ${sleepBin}`);
    expect(r.code).toBe(0);
    const [pid, sid, ...cmd] = r.stdout.trim().split(/\s+/);
    expect(sid).toBe(pid); // setsid: a session leader
    expect(cmd).toEqual([sleepBin, '300']);
  });

  it('a second start of a running daemon starts nothing; a changed config restarts it', () => {
    const r = bash(`start_daemon two ${sleepBin} 300
a="$(node_pid two ${sleepBin})"
start_daemon two ${sleepBin} 300
b="$(node_pid two ${sleepBin})"
CHANGED=" two "
start_daemon two ${sleepBin} 300
c="$(node_pid two ${sleepBin})"
echo "$a $b $c"
stop_daemon two ${sleepBin}`);
    expect(r.code).toBe(0);
    const [a, b, c] = r.stdout.trim().split(' ');
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('a daemon that exits at once fails start_daemon with where its log is', () => {
    const r = bash(`start_daemon dies ${falseBin}; echo unreachable`);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('unreachable');
    expect(r.stderr).toContain('dies did not start (or exited at once)');
  });

  it('node_pid refuses a pid file whose process runs another binary', () => {
    const r = bash(`start_daemon three ${sleepBin} 300
node_pid three /usr/bin/other && echo matched || echo refused
stop_daemon three ${sleepBin}`);
    expect(r.stdout.trim()).toBe('refused');
    expect(readFileSync(join(dir, 'logs', 'three.log'), 'utf8')).toBe('');
  });
});
