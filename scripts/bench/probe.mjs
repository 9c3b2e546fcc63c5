/**
 * Preloaded (node --import) into every process the load bench measures: the
 * daemon, the bare grpc-js server and the floor process. On SIGUSR2 it
 * collects garbage (the process runs with --expose-gc) and writes one line
 * `probe {...process.memoryUsage(), cpu}` to stderr, so memory is read after GC
 * from outside without any bench code in src/.
 */
import { getHeapSpaceStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  const gc = /** @type {undefined | (() => void)} */ (globalThis.gc);
  if (gc) {
    gc();
    gc();
  }
  const cpu = process.cpuUsage();
  // The young generation is committed memory that GC does not give back: report it apart.
  const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
  process.stderr.write(`probe ${JSON.stringify({ ...process.memoryUsage(), newSpace, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, gc: Boolean(gc) })}\n`);
});
