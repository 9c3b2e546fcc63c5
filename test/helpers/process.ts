/**
 * The daemon as its own process (`node dist/src/main.js --config FILE`), for
 * tests that must see everything it writes, or must tell whether it is
 * still alive after what they did to it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from './cluster.js';
import { peakRssOf } from './fault-figures.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = join(root, 'dist', 'src', 'main.js');

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything written to stdout and stderr, raw. */
  output(): string;
  /** The JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** null while running. */
  exitCode(): number | null;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** VmHWM (peak RSS) in bytes: read live while running, the last reading before stop() after. */
  peakRss(): number;
}

/** Newest modification time under a folder, so a stale dist/ is rebuilt before it is run. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((t, e) => Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs), 0);
}

export function ensureBuilt(): void {
  if (!existsSync(main) || statSync(main).mtimeMs < newest(join(root, 'src'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
}

export async function spawnDaemon(config: Record<string, unknown>): Promise<DaemonProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-proc-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, stringify(config));
  const child = spawn(process.execPath, [main, '--config', path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let code: number | null = null;
  let peak = 0;
  const exited = new Promise<number | null>((res) =>
    child.on('exit', (c, signal) => {
      code = c ?? (signal ? 128 : null);
      rmSync(dir, { recursive: true, force: true });
      res(code);
    }),
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const logs = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = await waitFor(
    'the daemon process to listen',
    () => {
      if (code !== null) throw new Error(`the daemon exited with ${code}:\n${out}`);
      return logs().find((l) => l.msg === 'grpc server listening');
    },
    { timeoutMs: 60_000 },
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    port: listening.port as number,
    output: () => out,
    logs,
    exitCode: () => code,
    async stop(): Promise<number | null> {
      if (code === null) {
        peak = Math.max(peak, peakRssOf(child.pid));
        child.kill('SIGTERM');
      }
      return exited;
    },
    peakRss: () => Math.max(peak, code === null ? peakRssOf(child.pid) : 0),
  };
}
