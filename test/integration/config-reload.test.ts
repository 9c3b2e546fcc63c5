/**
 * The config as operators meet it, on the built daemon: `--check-config`
 * names every problem with its line, every setting can come from a
 * K8S_PROVIDER_* variable, and SIGHUP or an edit of the file changes the
 * quota lent (admission follows at once) and the log level without a
 * restart, while a broken edit changes nothing.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, makeClient, statusOf } from '../helpers/daemon.js';
import { freePort } from '../helpers/net.js';
import { removeWorkloads } from '../helpers/workloads.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = join(root, 'dist', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-config-'));

function newest(d: string): number {
  return readdirSync(d, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

function checkConfig(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [main, '--check-config', file], { env: { PATH: process.env.PATH, ...env } }, (err, stdout) =>
      res({ code: typeof err?.code === 'number' ? err.code : 0, stdout }),
    );
  });
}

beforeAll(() => {
  if (!existsSync(main) || statSync(main).mtimeMs < newest(join(root, 'src'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('k8s-provider --check-config', () => {
  it('prints every problem with its file line (or variable), in file order, and exits 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        '# a config with four mistakes',
        'server:',
        '  port: 70000',
        'resource:',
        '  cpu: lots',
        '  memory: 1Gi',
        '  gpus: 1',
        'jobs: {cleanup_policy: Never}',
        '',
      ].join('\n'),
    );
    const r = await checkConfig(file, { K8S_PROVIDER_LOG_LEVEL: 'loud', K8S_PROVIDER_SERVR_PORT: '1' });
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      `${file}:3: server.port: Too big: expected number to be <=65535`,
      `${file}:5: resource.cpu: "lots" is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi, 128974848, 129e6)`,
      `${file}:7: resource.gpus: unknown key (check the spelling)`,
      `${file}:8: jobs.cleanup_policy: Invalid option: expected one of "Always"|"OnSuccess"|"OnFailure"`,
      'K8S_PROVIDER_LOG_LEVEL: log.level: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"|"silent"',
      'warning: K8S_PROVIDER_SERVR_PORT names no setting (ignored)',
      `5 problems in ${file}`,
    ]);
  });

  it('says ok and exits 0 for a valid file, the repository config.yaml included', async () => {
    const r = await checkConfig(join(root, 'config.yaml'));
    expect(r).toEqual({ code: 0, stdout: `${join(root, 'config.yaml')}: ok\n` });
  });
});

describe('a running daemon', () => {
  let ns: TestNamespace;
  let child: ChildProcess | undefined;
  const out: string[] = [];
  const logs = (): Array<Record<string, unknown>> => out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const file = join(dir, 'config.yaml');
  const write = (config: object): void => writeFileSync(file, stringify(config));
  let port: number;
  let base: Record<string, Record<string, unknown>>;

  beforeAll(async () => {
    ns = await createTestNamespace('config-reload');
    port = await freePort();
    // The file carries no capacity, no port and no namespace: variables give them, as a container's env would.
    base = { kubernetes: { kubeconfig: kubeconfigPath() }, prometheus: { port: 0 }, log: { level: 'info' }, resource: { memory: '1Gi' } };
    write(base);
    child = spawn(process.execPath, [main, '--config', file], {
      cwd: root,
      env: {
        ...process.env,
        K8S_PROVIDER_SERVER_HOST: '127.0.0.1',
        K8S_PROVIDER_SERVER_PORT: String(port),
        K8S_PROVIDER_KUBERNETES_NAMESPACE: ns.name,
        K8S_PROVIDER_RESOURCE_CPU: '1000',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      out.push(...lines);
    });
    await waitFor('the daemon to listen', () => logs().some((l) => l.msg === 'grpc server listening'));
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
  });

  const capacityCpu = async (client: ReturnType<typeof makeClient>): Promise<number> =>
    Number((await call<{ capacity: { total: { cpu: string } } }>(client, 'GetCapacity', { providerId: 'cp-reload' })).capacity.total.cpu);

  it('takes its settings from the variables', async () => {
    const client = makeClient(port);
    try {
      expect(await capacityCpu(client)).toBe(1000);
    } finally {
      client.close();
    }
  });

  it('SIGHUP re-reads the file and applies the new quota at once; the variables still win over the file', async () => {
    const client = makeClient(port);
    const memory = async (): Promise<number> =>
      Number((await call<{ capacity: { total: { memory: string } } }>(client, 'GetCapacity', { providerId: 'cp-reload' })).capacity.total.memory);
    try {
      expect(await memory()).toBe(2 ** 30);
      // The file now lends 4 cores and 2Gi, but K8S_PROVIDER_RESOURCE_CPU (1000 millicores) is still set and wins.
      write({ ...base, resource: { cpu: 4000, memory: '2Gi' } });
      child!.kill('SIGHUP');
      await waitFor('the SIGHUP reload', () => logs().find((l) => l.trigger === 'SIGHUP'));
      expect(logs().find((l) => l.trigger === 'SIGHUP')).toMatchObject({ msg: 'config reloaded', applied: ['resource.memory'], needRestart: [] });
      expect(await memory()).toBe(2 * 2 ** 30);
      expect(await capacityCpu(client)).toBe(1000);
    } finally {
      client.close();
    }
  });

  it('an edit of the file is picked up by itself; a broken edit changes nothing; other keys wait for a restart', async () => {
    // A second daemon without the cpu variable, so the file decides. Its own
    // namespace: in the first one it would be the standby of the first daemon.
    const ns2 = await createTestNamespace('config-reload-2');
    const port2 = await freePort();
    const file2 = join(dir, 'config2.yaml');
    const config2 = {
      kubernetes: { kubeconfig: kubeconfigPath(), namespace: ns2.name },
      server: { host: '127.0.0.1', port: port2 },
      prometheus: { port: 0 },
      resource: { cpu: 1000, memory: '1Gi' },
      log: { level: 'info' },
    };
    writeFileSync(file2, stringify(config2));
    const d2 = spawn(process.execPath, [main, '--config', file2], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let buf = '';
    d2.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    const log2 = (): Array<Record<string, unknown>> => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const client = makeClient(port2);
    try {
      await waitFor('the second daemon to listen', () => log2().some((l) => l.msg === 'grpc server listening'));
      await call(client, 'Connect', { providerId: 'cp-reload' });
      const deploy = (instanceId: string): Promise<{ error: string }> =>
        call(client, 'Deploy', { providerId: 'cp-reload', instanceId, image: 'busybox', resourceRequest: { cpu: 1500, memory: 2 ** 26, gpu: 0 } });
      expect((await deploy('file-big-1')).error).toMatch(/^RESOURCE_EXHAUSTED/);

      writeFileSync(
        file2,
        stringify({ ...config2, resource: { cpu: '2', memory: '1Gi' }, log: { level: 'warn' }, server: { host: '127.0.0.1', port: port2 + 1 } }),
      );
      await waitFor('the file change to be applied', async () => (await capacityCpu(client)) === 2000, { timeoutMs: 15_000 });
      expect((await deploy('file-big-2')).error).toBe('');
      // The new capacity is served before the asynchronous logger has written the reload's line.
      const reloaded = await waitFor('the reload to be logged', () => log2().find((l) => l.msg === 'config reloaded'));
      expect(reloaded).toMatchObject({ trigger: 'file changed', applied: ['log.level', 'resource.cpu'], needRestart: ['server.port'] });
      expect(log2().find((l) => l.msg === 'changed config keys take effect only after a restart')).toMatchObject({ keys: ['server.port'] });
      // At warn, a successful call (logged at info) leaves no line; a refused one (warn) does, after it.
      const infoRpcs = (): number => log2().filter((l) => l.msg === 'rpc' && l.level === 30).length;
      const before = infoRpcs();
      await capacityCpu(client);
      expect(await statusOf(call(client, 'GetCapacity', { providerId: 'someone-else' }))).toMatch(/^PERMISSION_DENIED/);
      await waitFor('the refused call to be logged', () => log2().some((l) => l.msg === 'rpc' && l.level === 40));
      expect(infoRpcs()).toBe(before);

      // A broken file is refused with its problems; the running quota stays.
      writeFileSync(file2, 'resource: {cpu: lots, memory: 1Gi}\n');
      d2.kill('SIGHUP');
      await waitFor('the refusal', () => log2().find((l) => l.msg === 'config reload refused: the running config stays'));
      expect(String(log2().find((l) => l.msg === 'config reload refused: the running config stays')!.err)).toContain(
        'resource.cpu: "lots" is not a Kubernetes quantity',
      );
      expect(await capacityCpu(client)).toBe(2000);
    } finally {
      client.close();
      d2.kill('SIGTERM');
      await new Promise((r) => d2.once('exit', r));
      await ns2.cleanup();
    }
  });
});
