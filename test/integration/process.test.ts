/**
 * The daemon as operators run it: `node dist/src/main.js --config FILE`.
 * Config errors stop it before it listens; SIGTERM drains and exits 0.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, makeClient } from '../helpers/daemon.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = join(root, 'dist', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-'));

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  exit: Promise<number | null>;
}

function run(config: string): Run {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, config);
  const child = spawn(process.execPath, [main, '--config', path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = { child, stdout: [], stderr: '', exit: new Promise((res) => child.on('exit', (code) => res(code))) };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    r.stdout.push(...lines);
  });
  child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  return r;
}

const logs = (r: Run): Array<Record<string, unknown>> => r.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Newest modification time under a folder, so a stale dist/ is rebuilt before it is run. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

beforeAll(() => {
  if (!existsSync(main) || statSync(main).mtimeMs < newest(join(root, 'src'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
});

describe('start-up errors', () => {
  it('lists every invalid key with its path and exits non-zero before listening', async () => {
    const r = run('server: {port: 99999}\nresource: {cpu: lots, memory: 1Gi}\njobs: {cleanup_policy: Never}\n');
    expect(await r.exit).toBe(2);
    expect(r.stderr).toContain('server.port: Too big');
    expect(r.stderr).toContain('resource.cpu: "lots" is not a Kubernetes quantity');
    expect(r.stderr).toContain('jobs.cleanup_policy: Invalid option');
    expect(r.stdout).toEqual([]);
  });

  it('names a missing config file', async () => {
    const child = spawn(process.execPath, [main, '--config', join(dir, 'absent.yaml')], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((res) => child.on('exit', res))).toBe(2);
    expect(stderr).toContain(`cannot read ${join(dir, 'absent.yaml')}: file not found`);
  });

  it('refuses a namespace that does not exist', async () => {
    const r = run(
      `kubernetes: {kubeconfig: ${kubeconfigPath()}, namespace: no-such-ns-k8sp}\nresource: {cpu: 1000, memory: 1Gi}\nserver: {port: 0}\nprometheus: {port: 0}\n`,
    );
    expect(await r.exit).toBe(1);
    expect(logs(r).find((l) => l.msg === 'start-up failed')).toMatchObject({
      kind: 'FAILED_PRECONDITION',
      err: 'namespace "no-such-ns-k8sp" does not exist (kubernetes.namespace)',
    });
  });
});

describe('running daemon', () => {
  let ns: TestNamespace;
  beforeAll(async () => {
    ns = await createTestNamespace('process');
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it('serves, then drains on SIGTERM and exits 0', async () => {
    const r = run(
      `server: {host: 127.0.0.1, port: 0}\nprometheus: {port: 0}\nkubernetes: {kubeconfig: ${kubeconfigPath()}, namespace: ${ns.name}}\nresource: {cpu: 2000, memory: 2Gi}\n`,
    );
    const listening = await waitFor('the daemon to listen', () => logs(r).find((l) => l.msg === 'grpc server listening'), { timeoutMs: 60_000 });
    const client = makeClient(listening.port as number);
    expect(await call(client, 'Connect', { providerId: 'cp' })).toMatchObject({ success: true });
    // Deploys in flight when SIGTERM arrives still complete: send a batch,
    // and signal once the first has answered (so all have reached the server).
    const deploys = Array.from({ length: 30 }, (_, i) =>
      call<{ error: string }>(client, 'Deploy', { providerId: 'cp', instanceId: `drain-${i}`, image: 'x', resourceRequest: { cpu: 10, memory: 1 << 20 } }),
    );
    await Promise.race(deploys);
    r.child.kill('SIGTERM');
    const answers = await Promise.all(deploys);
    expect(answers.map((a) => a.error)).toEqual(Array(30).fill(''));
    expect(await r.exit).toBe(0);
    client.close();
    const lines = logs(r).map((l) => l.msg);
    expect(lines).toContain('stopping: draining in-flight calls');
    expect(lines).toContain('daemon stopped');
    // Log lines are buffered: every call's line still reaches stdout before the process ends.
    expect(logs(r).filter((l) => l.msg === 'rpc' && l.method === 'Deploy')).toHaveLength(30);
  });

  // At several moments of start-up, the end of it included: a SIGTERM that
  // arrived as start-up ended used to be lost (the daemon kept running).
  it.each([0, 150, 300, 450, 600, 750, 900])(
    'stopped while starting (SIGTERM %i ms after "starting"), it exits at once and its log lines are written',
    async (delayMs) => {
      const r = run(
        `server: {host: 127.0.0.1, port: 0}\nprometheus: {port: 0}\nkubernetes: {kubeconfig: ${kubeconfigPath()}, namespace: ${ns.name}}\nresource: {cpu: 2000, memory: 2Gi}\n`,
      );
      await waitFor('the daemon to start', () => logs(r).find((l) => l.msg === 'starting'), { timeoutMs: 60_000 });
      await new Promise((res) => setTimeout(res, delayMs));
      r.child.kill('SIGTERM');
      const code = await Promise.race([r.exit, new Promise<string>((res) => setTimeout(() => res('still running 30 s after SIGTERM'), 30_000))]);
      if (typeof code === 'string') r.child.kill('SIGKILL');
      const lines = logs(r).map((l) => l.msg);
      // Either it was still starting (143, and says so) or it had just finished starting and drained (0).
      if (code === 143) expect(lines).toContain('stopped during start-up');
      else expect([code, lines.includes('daemon stopped')]).toEqual([0, true]);
    },
  );
});
