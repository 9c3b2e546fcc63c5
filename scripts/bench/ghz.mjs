/**
 * ghz, the external gRPC load generator: built on first use from the pinned
 * Go module test/tools/go/ghz (test/tools/build.sh ghz, cached by a stamp),
 * run as a separate process against a server and read back from its JSON
 * report. A load generator in the bench's own Node process would measure
 * itself as much as the server.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util.mjs';

const TOOLS_BIN = process.env.TOOLS_BIN ?? join(ROOT, '.tools', 'bin');
export const GHZ = join(TOOLS_BIN, 'ghz');

/** Builds ghz if its stamp is stale (a cold build takes a few minutes; later runs a second). */
export function ensureGhz() {
  const r = spawnSync('bash', [join(ROOT, 'test/tools/build.sh'), 'ghz'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, TOOLS_BIN } });
  if (r.status !== 0 || !existsSync(GHZ)) throw new Error(`building ghz failed (exit ${r.status}); see the output above`);
  return GHZ;
}

/**
 * @typedef {object} LoadResult
 * @property {number} calls     calls counted (after the warm-up)
 * @property {number} errors    calls that did not end OK
 * @property {number} rps       calls per second
 * @property {number} p50_ms
 * @property {number} p99_ms
 */

/**
 * Runs `n` calls of `method` (e.g. "provider.Service.GetCapacity") at
 * `concurrency` over one connection; the first `warmup` are left out of the figures.
 * @param {{ port: number, method: string, data: object, concurrency: number, n: number, warmup?: number, timeoutMs?: number }} o
 * @returns {Promise<LoadResult>}
 */
export function ghz(o) {
  const warmup = o.warmup ?? Math.min(500, Math.floor(o.n / 5));
  const args = [
    '--insecure',
    '--proto',
    join(ROOT, 'proto/provider/provider.proto'),
    '--import-paths',
    join(ROOT, 'proto'),
    '--call',
    o.method,
    '--data',
    JSON.stringify(o.data),
    '--concurrency',
    String(o.concurrency),
    '--total',
    String(o.n + warmup),
    '--skipFirst',
    String(warmup),
    '--timeout',
    `${Math.ceil((o.timeoutMs ?? 20_000) / 1000)}s`,
    '--format',
    'json',
    `127.0.0.1:${o.port}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(GHZ, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      // ghz exits non-zero when some calls failed but still prints its report.
      let report;
      try {
        report = JSON.parse(stdout);
      } catch {
        reject(new Error(`ghz ${o.method} c=${o.concurrency}: ${err?.message ?? ''} ${stderr.slice(0, 500)}`));
        return;
      }
      /** @type {Record<string, number>} */
      const codes = report.statusCodeDistribution ?? {};
      const ok = codes.OK ?? 0;
      const calls = Object.values(codes).reduce((a, b) => a + b, 0);
      /** @param {number} pct */
      const pctl = (pct) => {
        const found = (report.latencyDistribution ?? []).find((/** @type {{percentage: number}} */ d) => d.percentage === pct);
        return found ? found.latency / 1e6 : NaN;
      };
      resolve({
        calls,
        errors: calls - ok,
        rps: report.rps,
        p50_ms: pctl(50),
        p99_ms: pctl(99),
        ...(calls - ok > 0 ? { errorSample: Object.keys(report.errorDistribution ?? {}).slice(0, 3) } : {}),
      });
    });
  });
}
