/**
 * `cluster.sh down` when the real node's own `down` (node.sh) reports that
 * the machine is not as it was: the rest of the cluster still goes, and the
 * command fails, so that .ci/run and real-node-check.sh see it.
 *
 * The real node.sh acts on the whole machine (iptables, cgroups, mounts), so
 * here cluster.sh runs from a copy of the scripts next to a node.sh that only
 * answers: a state directory of its own, a "control plane component" that is
 * a plain sleep process in that directory, nothing outside it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const here = import.meta.dirname;
const sleepBin = spawnSync('bash', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim();

interface Setup {
  dir: string;
  state: string;
  component: ChildProcess;
}

const setups: Setup[] = [];

afterEach(() => {
  for (const s of setups.splice(0)) {
    s.component.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

/** A copy of cluster.sh with a node.sh whose `down` exits `nodeDownCode`, and a cluster that has a real node and a running etcd. */
function setup(nodeDownCode: number): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-down-'));
  const scripts = join(dir, 'cluster');
  mkdirSync(scripts);
  for (const f of ['cluster.sh', 'lib.sh', 'versions.env']) copyFileSync(join(here, f), join(scripts, f));
  writeFileSync(
    join(scripts, 'node.sh'),
    `#!/usr/bin/env bash
[[ $1 == down ]] || exit 2
echo "node.sh down" >>"$STATE/calls"
${nodeDownCode === 0 ? 'rm -rf "$STATE/node"' : 'echo "< link stray0" >"$STATE/node-restore.diff"; rm -rf "$STATE/node"'}
exit ${nodeDownCode}
`,
  );
  const state = join(dir, 'state');
  const cdir = join(state, 'kwok', 'clusters', 'k8s-provider');
  mkdirSync(join(state, 'node'), { recursive: true });
  mkdirSync(join(cdir, 'bin'), { recursive: true });
  mkdirSync(join(cdir, 'pids'));
  // cluster.sh knows its components by pid file and by the binary they run.
  copyFileSync(sleepBin, join(cdir, 'bin', 'etcd'));
  chmodSync(join(cdir, 'bin', 'etcd'), 0o755);
  const component = spawn(join(cdir, 'bin', 'etcd'), ['300'], { stdio: 'ignore' });
  writeFileSync(join(cdir, 'pids', 'etcd.pid'), String(component.pid));
  for (const f of ['kubeconfig', 'ports.env', 'cluster.stamp']) writeFileSync(join(state, f), '');
  const s = { dir, state, component };
  setups.push(s);
  return s;
}

function down(s: Setup): { code: number; stderr: string } {
  const env = { ...process.env, CLUSTER_STATE_DIR: s.state, CLUSTER_BIN: join(s.dir, 'bin'), CLUSTER_REAL_NODE: '0' };
  const r = spawnSync('bash', [join(s.dir, 'cluster', 'cluster.sh'), 'down'], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((ok) => c.once('exit', () => ok()));

describe('cluster.sh down and the real node', () => {
  it('fails when the node reports the machine not restored, after tearing everything else down', async () => {
    const s = setup(1);
    const r = down(s);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('ERROR: the real node did not restore the machine completely');
    expect(r.stderr).toContain(join(s.state, 'node-restore.diff'));
    expect(readFileSync(join(s.state, 'calls'), 'utf8')).toBe('node.sh down\n');
    // The control plane went all the same: its process stopped, its state removed.
    await exited(s.component);
    expect(s.component.signalCode).toBe('SIGTERM');
    for (const f of ['kubeconfig', 'ports.env', 'cluster.stamp', 'kwok']) expect(existsSync(join(s.state, f)), f).toBe(false);
    // The differences stay for whoever reads the failure.
    expect(readFileSync(join(s.state, 'node-restore.diff'), 'utf8')).toContain('stray0');
  });

  it('succeeds when the node restored the machine', async () => {
    const s = setup(0);
    const r = down(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('ERROR');
    expect(readFileSync(join(s.state, 'calls'), 'utf8')).toBe('node.sh down\n');
    await exited(s.component);
    expect(s.component.signalCode).toBe('SIGTERM');
    expect(existsSync(join(s.state, 'kubeconfig'))).toBe(false);
  });

  it('without a real node, node.sh is not called', () => {
    const s = setup(1);
    rmSync(join(s.state, 'node'), { recursive: true });
    expect(down(s).code).toBe(0);
    expect(existsSync(join(s.state, 'calls'))).toBe(false);
  });
});
