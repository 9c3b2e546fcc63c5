/** Small helpers the load bench modules share. */
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on right now. @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** @param {number[]} values @param {number} p 0..100 */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** Runs `fn` over `items` with at most `concurrency` at once; resolves with each call's duration in ms. */
/** @template T @param {T[]} items @param {number} concurrency @param {(item: T) => Promise<unknown>} fn */
export async function pool(items, concurrency, fn) {
  /** @type {number[]} */
  const durations = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = /** @type {T} */ (items[next++]);
      const t0 = performance.now();
      await fn(item);
      durations.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return durations;
}

export function machine() {
  const list = cpus();
  return { cpu_model: list[0]?.model ?? 'unknown', cores: list.length, node: process.version, platform: `${process.platform} ${process.arch}` };
}

/** @param {number} x */
export const round = (x, digits = 3) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

/** measured / baseline, rounded; NaN when the baseline is zero or missing. */
/** @param {number} measured @param {number} baseline */
export const ratio = (measured, baseline) => (baseline > 0 && Number.isFinite(measured) ? round(measured / baseline) : NaN);

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux;
 * NaN elsewhere). On a machine shared with other work, wall-clock figures
 * mostly measure the waiting for a core; the CPU a process spends on the same
 * work is what its code costs.
 * @param {number | undefined} pid
 */
export function cpuMsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
