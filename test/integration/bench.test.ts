/**
 * The load bench's smoke profile (`npm run bench -- --smoke`) runs end to end
 * against the test cluster and writes a complete JSON result. Nothing here is
 * timed: the checks are that every section and every comparison is there, and
 * that the daemon answered every call the bench made.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigPath } from '../helpers/cluster.js';
import { DAEMON_NODE_FLAGS } from '../../scripts/bench/procs.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const RPCS = ['HealthCheck', 'GetCapacity', 'GetAvailable', 'GetRealTimeUsage'];
const CONCURRENCY = [1, 16, 64];

interface Load {
  calls: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
}
interface Result {
  profile: string;
  machine: { cpu_model: string; cores: number; node: string };
  settings: { podLevels: number[]; deploys: number; restartSamples: number };
  rpc: {
    rounds: number;
    rows: Record<string, { daemon: Load; bare: Load; rps_ratio: number; p50_ratio: number; p99_ratio: number; rps_ratios_by_round: number[] }>;
    control: { method: string; rows: Record<string, { control: Load; rps_ratio: number; p99_ratio: number }> };
  };
  deploy: { rounds: number; rows: Record<string, { daemon: Load; direct: Load; rps_ratio: number; rps_ratios_by_round: number[] }> };
  memory: { floor_rss_mib: number; at_pods: Record<string, { rss_mib: number; to_floor_ratio: number }> };
  memory_calls: {
    calls: number;
    start_rss_mib: number;
    warm_rss_mib: number;
    after_rss_mib: number;
    after_to_start_ratio: number;
    after_to_warm_ratio: number;
    bare: { start_rss_mib: number; warm_rss_mib: number; after_rss_mib: number; after_to_start_ratio: number; after_to_warm_ratio: number };
  };
  restart: { load_libraries_ms: number; at_pods: Record<string, { ms: number; samples_ms: number[] }> };
  api: { daemon_idle_per_min: number; daemon_polled_per_min: number; naive_per_min: number; polled_to_idle_ratio: number; polled_to_naive_ratio: number };
  books: { samples: number; p50_ms: number; p99_ms: number; apply: { events: number; mean_us: number; p99_le_ms: number } };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Every key ending in _ratio, anywhere in the result, with its path. */
function ratios(value: unknown, path = ''): Array<[string, unknown]> {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k.endsWith('_ratio') ? [[`${path}${k}`, v] as [string, unknown]] : ratios(v, `${path}${k}.`)));
}

describe('npm run bench -- --smoke', () => {
  let result: Result;
  let stdout = '';
  beforeAll(async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'k8s-provider-bench-test-')), 'result.json');
    stdout = await new Promise<string>((done, fail) => {
      execFile(
        process.execPath,
        ['--expose-gc', 'scripts/bench.mjs', '--smoke', '--out', out],
        { cwd: root, env: { ...process.env, TEST_KUBECONFIG: kubeconfigPath() }, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
        (err, so, se) => (err ? fail(new Error(`bench failed: ${err.message}\n${se.slice(-3000)}`)) : done(so)),
      );
    });
    result = JSON.parse(readFileSync(out, 'utf8')) as Result;
  }, 660_000);

  it('measures the daemon with the V8 flags it ships with', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const flag of DAEMON_NODE_FLAGS) {
      expect(dockerfile).toMatch(new RegExp(`ENTRYPOINT \\[.*"${flag}"`));
      expect(pkg.scripts.start).toContain(flag);
    }
  });

  it('records the machine it ran on', () => {
    expect(result.profile).toBe('smoke');
    expect(result.machine.cpu_model).not.toBe('');
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.node).toBe(process.version);
  });

  it('measures every control RPC at every concurrency beside the bare server, and the daemon answered every call', () => {
    const keys = RPCS.flatMap((m) => CONCURRENCY.map((c) => `${m} c${c}`));
    expect(Object.keys(result.rpc.rows).sort()).toEqual([...keys].sort());
    for (const row of Object.values(result.rpc.rows)) {
      for (const side of [row.daemon, row.bare]) {
        expect(side.calls).toBeGreaterThan(0);
        expect(side.errors).toBe(0);
        expect(side.p99_ms).toBeGreaterThanOrEqual(side.p50_ms);
      }
      // Each ratio is the median of the rounds' ratios (two rounds in this profile: their mean).
      expect(row.rps_ratios_by_round).toHaveLength(result.rpc.rounds);
      expect(row.rps_ratio).toBeCloseTo(median(row.rps_ratios_by_round), 2);
    }
  });

  it('measures the noise floor: a second, identical bare server against the first for HealthCheck at every concurrency', () => {
    expect(result.rpc.control.method).toBe('HealthCheck');
    expect(Object.keys(result.rpc.control.rows).sort()).toEqual(CONCURRENCY.map((c) => `HealthCheck c${c}`).sort());
    for (const row of Object.values(result.rpc.control.rows)) {
      expect(row.control.calls).toBeGreaterThan(0);
      expect(row.control.errors).toBe(0);
      expect(row.rps_ratio).toBeGreaterThan(0);
      expect(row.p99_ratio).toBeGreaterThan(0);
    }
  });

  it('deploys at 1, 8 and 32 in flight beside direct creation, every Deploy accepted', () => {
    expect(Object.keys(result.deploy.rows).sort()).toEqual(['c1', 'c32', 'c8']);
    for (const row of Object.values(result.deploy.rows)) {
      expect(row.daemon.errors).toBe(0);
      expect(row.daemon.calls).toBe(result.settings.deploys);
      expect(row.direct.calls).toBe(result.settings.deploys);
      expect(row.rps_ratios_by_round).toHaveLength(result.deploy.rounds);
      expect(row.rps_ratio).toBeCloseTo(median(row.rps_ratios_by_round), 2);
    }
  });

  it('reads memory against the floor at every pod level, restart times, API cost and book latency', () => {
    const levels = result.settings.podLevels.map(String);
    expect(Object.keys(result.memory.at_pods).sort()).toEqual([...levels].sort());
    expect(Object.keys(result.restart.at_pods).sort()).toEqual([...levels].sort());
    expect(result.restart.load_libraries_ms).toBeGreaterThan(0);
    // Each level restarts restartSamples times and reports the median sample.
    for (const r of Object.values(result.restart.at_pods)) {
      expect(r.samples_ms).toHaveLength(result.settings.restartSamples);
      expect([...r.samples_ms].sort((a, b) => a - b)[Math.floor(r.samples_ms.length / 2)]).toBe(r.ms);
    }
    expect(result.memory.floor_rss_mib).toBeGreaterThan(0);
    expect(result.memory_calls.after_rss_mib).toBeGreaterThan(0);
    expect(result.memory_calls.warm_rss_mib).toBeGreaterThan(0);
    // The bare grpc-js server's growth through the same calls, beside the daemon's.
    const bare = result.memory_calls.bare;
    expect(bare.start_rss_mib).toBeGreaterThan(0);
    expect(bare.after_to_start_ratio).toBeCloseTo(bare.after_rss_mib / bare.start_rss_mib, 2);
    expect(result.books.samples).toBeGreaterThan(0);
    // Every probe pod's watch events were timed by the daemon, from their arrival.
    expect(result.books.apply.events).toBeGreaterThanOrEqual(result.books.samples);
    expect(result.books.apply.mean_us).toBeGreaterThan(0);
    expect(result.books.apply.p99_le_ms).toBeGreaterThan(0);
    // The daemon answers GetRealTimeUsage from its caches; the naive baseline lists per call.
    expect(result.api.naive_per_min).toBeGreaterThan(result.api.daemon_polled_per_min);
  });

  it('gives every comparison as a finite positive *_ratio and prints the table', () => {
    const all = ratios(result);
    expect(all.length).toBeGreaterThan(RPCS.length * CONCURRENCY.length * 3);
    for (const [path, v] of all) expect([path, typeof v === 'number' && Number.isFinite(v) && v > 0]).toEqual([path, true]);
    expect(stdout).toContain('RPC (ghz)');
    expect(stdout).toContain('Restart (spawn until HealthCheck answers with exact books)');
  });
});
