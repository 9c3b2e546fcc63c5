/**
 * Preloaded (node --import) into every process the load bench measures: the
 * daemon, the bare grpc-js server and the floor process. On SIGUSR2 it
 * collects garbage (the process runs with --expose-gc) and writes one line
 * `probe {...process.memoryUsage(), cpu}` to stderr, so memory is read after GC
 * from outside without any bench code in src/.
 */
process.on('SIGUSR2', () => {
  const gc = /** @type {undefined | (() => void)} */ (globalThis.gc);
  if (gc) {
    gc();
    gc();
  }
  const cpu = process.cpuUsage();
  process.stderr.write(`probe ${JSON.stringify({ ...process.memoryUsage(), cpuUserUs: cpu.user, cpuSystemUs: cpu.system, gc: Boolean(gc) })}\n`);
});
