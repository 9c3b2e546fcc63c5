/**
 * Packaging: `npm pack` makes a tarball that installs with `npm install -g`
 * into a clean prefix, whose two commands work from there: --version names
 * the package version and the commit of the build, and the installed daemon
 * serves the installed CLI against the test cluster.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { freePort } from '../helpers/net.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** Newest modification time under a folder, so a stale dist/ is rebuilt before it is packed. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

describe('npm package', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'k8s-provider-pack-'));
  const prefix = join(tmp, 'prefix');
  const bin = (name: string): string => join(prefix, 'bin', name);
  let files: string[];
  let head: string;

  beforeAll(async () => {
    // `npm pack` alone builds first (prepack). Here the build is skipped while dist/ is current, as
    // `npm test` has just built it: a rebuild would regenerate files other test files may be reading.
    if (!existsSync(join(root, 'dist', 'build-info.json')) || statSync(join(root, 'dist', 'src', 'main.js')).mtimeMs < newest(join(root, 'src'))) {
      expect((await run('npm', ['run', 'build'])).code).toBe(0);
    }
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp]);
    expect(pack.code, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    files = info!.files.map((f) => f.path);
    const install = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', join(tmp, info!.filename)], {
      cwd: tmp,
    });
    expect(install.code, install.stderr).toBe(0);
    head = (await run('git', ['rev-parse', 'HEAD'])).stdout.trim();
  }, 600_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('ships the compiled program, the protos and the README, and nothing of the sources or tests', () => {
    for (const f of [
      'package.json',
      'README.md',
      'config.yaml',
      'config.schema.json',
      'dist/build-info.json',
      'dist/src/main.js',
      'dist/src/cli/main.js',
      'proto/provider/provider.proto',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => /(^src\/|^test\/|\.test\.js$|\.ts$|^\.cluster|^\.tools|^node_modules)/.test(f))).toEqual([]);
  });

  it('both commands print the package version and the commit of the build', async () => {
    // The working tree may have uncommitted changes while tests run; the build says so.
    const commit = new RegExp(`^${head}(-dirty)?$`);
    for (const [command, args] of [
      ['k8s-provider', ['--version']],
      ['k8s-provider-cli', ['--version']],
      ['k8s-provider-cli', ['version']],
    ] as const) {
      const r = await run(bin(command), [...args], { cwd: tmp });
      expect(r.code, r.stderr).toBe(0);
      const m = /^(\S+) (\S+) \(commit (\S+)\)\n$/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect([m![1], m![2]]).toEqual([command, version]);
      expect(m![3]).toMatch(commit);
    }
    expect((await run(bin('k8s-provider'), ['--help'], { cwd: tmp })).stdout).toContain('--config FILE');
  });

  it('records "unknown" as the commit when built without git, or the commit it is given', async () => {
    const elsewhere = join(tmp, 'no-git');
    mkdirSync(join(elsewhere, 'scripts'), { recursive: true });
    copyFileSync(join(root, 'package.json'), join(elsewhere, 'package.json'));
    copyFileSync(join(root, 'scripts', 'build-info.mjs'), join(elsewhere, 'scripts', 'build-info.mjs'));
    const env = { ...process.env, GIT_CEILING_DIRECTORIES: tmp, GIT_COMMIT: '' };
    expect((await run(process.execPath, ['scripts/build-info.mjs'], { cwd: elsewhere, env })).code).toBe(0);
    expect(JSON.parse(readFileSync(join(elsewhere, 'dist', 'build-info.json'), 'utf8'))).toEqual({ version, commit: 'unknown' });
    await run(process.execPath, ['scripts/build-info.mjs'], { cwd: elsewhere, env: { ...env, GIT_COMMIT: 'f00dfeed' } });
    expect(JSON.parse(readFileSync(join(elsewhere, 'dist', 'build-info.json'), 'utf8'))).toEqual({ version, commit: 'f00dfeed' });
  });

  describe('installed, against the test cluster', () => {
    let ns: TestNamespace;
    let daemon: ChildProcess | undefined;
    let output = '';

    beforeAll(async () => {
      ns = await createTestNamespace('package');
    });

    afterAll(async () => {
      daemon?.kill('SIGKILL');
      await ns?.cleanup();
    });

    it('the installed daemon starts from its config and answers the installed CLI, then stops on SIGTERM', async () => {
      const port = await freePort();
      const config = join(tmp, 'config.yaml');
      writeFileSync(
        config,
        stringify({
          server: { host: '127.0.0.1', port, shutdown_grace_seconds: 2 },
          kubernetes: { kubeconfig: kubeconfigPath(), namespace: ns.name },
          resource: { cpu: 3000, memory: '3Gi', gpu: 0 },
          prometheus: { port: 0 },
        }),
      );
      // Run from an unrelated directory: nothing may depend on the checkout.
      daemon = spawn(bin('k8s-provider'), ['--config', config], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      daemon.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      daemon.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((resolve) => daemon!.once('exit', (code) => resolve(code)));

      const cli = (...args: string[]): Promise<Run> => run(bin('k8s-provider-cli'), [...args, '--addr', `127.0.0.1:${port}`], { cwd: tmp });
      await waitFor('the installed daemon to serve', async () => (await cli('probe')).code === 0, { timeoutMs: 60_000 });
      const capacity = await cli('capacity', '--json');
      expect(capacity.code, capacity.stderr).toBe(0);
      expect(JSON.parse(capacity.stdout)).toMatchObject({ total: { cpu: 3000, memory: 3 * 2 ** 30 } });
      const start = JSON.parse(output.split('\n').find((l) => l.includes('"starting"'))!) as { version: string; commit: string };
      expect(start).toMatchObject({ version, commit: expect.stringMatching(new RegExp(`^${head}`)) });

      daemon.kill('SIGTERM');
      expect(await exited).toBe(0);
      daemon = undefined;
    });
  });
});
