/**
 * The load profile of npm run bench (--smoke, --quick, --full): the built
 * daemon against the test cluster, driven from outside, every figure beside a
 * baseline measured in the same run, interleaved where the two can take turns.
 *
 *   rpc      ghz at concurrency 1/16/64 on HealthCheck, GetCapacity,
 *            GetAvailable, GetRealTimeUsage: the daemon vs a bare grpc-js
 *            server (same server options) answering the daemon's own messages
 *   memory   RSS after GC: the floor (a process that only loads the same
 *            libraries), the daemon at start, after N calls, at each pod level
 *   restart  process start until HealthCheck answers with exact books, per pod level
 *   deploy   Deploy through the daemon (ghz) vs createNamespacedPod of the
 *            same manifests straight from client-node, at 1/8/32 in flight
 *   api      kube API requests per minute the daemon makes while polled at
 *            50 GetRealTimeUsage/s + 1 HealthCheck/s, vs idle, vs a naive
 *            provider that lists pods and pod metrics per call
 *   books    an external pod change until GetCapacity's used moves, at the top pod level
 *
 * Writes bench/results/<profile>-latest.json (or --out FILE) and prints a table.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { validateDeploy } from '../../dist/src/core/deploy-spec.js';
import { podManifest, RESTRICTED } from '../../dist/src/adapters/kube/manifests.js';
import { ensureGhz, ghz } from './ghz.mjs';
import { DAEMON_NODE_FLAGS, spawnDaemon, spawnMeasured } from './procs.mjs';
import { HELD_CPU_MILLI, client, createHeldPods, createNamespace, untilAllRunning, deletePods, kube, kubeconfigPath, kwokNode, unary } from './cluster.mjs';
import { ROOT, cpuMsOf, freePort, machine, percentile, pool, ratio, round, sleep } from './util.mjs';

/** @typedef {'smoke' | 'quick' | 'full'} Profile */
const PROFILES = {
  smoke: {
    rpcCalls: 300,
    rpcRounds: 2,
    concurrency: [1, 16, 64],
    memoryCalls: 3000,
    podLevels: [0, 100],
    deploys: 20,
    deployRounds: 2,
    deployConcurrency: [1, 8, 32],
    apiWindowMs: 6000,
    bookSamples: 5,
    // Two, so the smoke test runs the extra restarts too.
    restartSamples: 2,
  },
  quick: {
    rpcCalls: 2000,
    rpcRounds: 2,
    concurrency: [1, 16, 64],
    memoryCalls: 20_000,
    podLevels: [0, 1000],
    deploys: 60,
    deployRounds: 2,
    deployConcurrency: [1, 8, 32],
    apiWindowMs: 10_000,
    bookSamples: 15,
    restartSamples: 1,
  },
  full: {
    // Calls per run; six runs per side and row, taking turns.
    rpcCalls: 4000,
    rpcRounds: 6,
    concurrency: [1, 16, 64],
    memoryCalls: 100_000,
    podLevels: [0, 1000, 5000, 10_000],
    deploys: 500,
    deployRounds: 2,
    deployConcurrency: [1, 8, 32],
    apiWindowMs: 30_000,
    bookSamples: 50,
    // The median of three restarts per level is reported (extraRestarts).
    restartSamples: 3,
  },
};
const RPCS = ['HealthCheck', 'GetCapacity', 'GetAvailable', 'GetRealTimeUsage'];
/** The method whose rows also measure the control, a second bare server (the call iarnet makes most). */
const CONTROL_METHOD = 'HealthCheck';
const PROVIDER = 'bench-cp';
const MiB = 1024 * 1024;

/** @param {string[]} argv */
export async function run(argv) {
  /** @type {Profile} */
  const profile = argv.includes('--full') ? 'full' : argv.includes('--smoke') ? 'smoke' : 'quick';
  const outArg = argv.indexOf('--out');
  const out = outArg >= 0 ? String(argv[outArg + 1]) : join(ROOT, 'bench', 'results', `${profile}-latest.json`);
  const cpuProf = argv.includes('--cpu-prof');
  const p = PROFILES[profile];
  const started = Date.now();
  const log = (/** @type {string} */ msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

  ensureGhz();
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-bench-'));
  const { kc, core } = kube();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const namespace = await createNamespace(core);
  const node = await kwokNode(core);
  log(`profile ${profile}, namespace ${namespace}, work dir ${dir}`);

  /** @type {Record<string, any>} */
  const result = {
    profile,
    started_at: new Date(started).toISOString(),
    machine: machine(),
    daemon_node_flags: DAEMON_NODE_FLAGS,
    note: 'ratios compare with a baseline measured in this run; absolute figures depend on the machine and its load',
    settings: p,
  };
  /** @type {ReturnType<typeof spawnDaemon> | undefined} */
  let daemon;
  // Interrupted: stop the daemon and drop the namespace (with its pods) before leaving.
  const interrupted = async () => {
    await daemon?.stop();
    await core.deleteNamespace({ name: namespace, propagationPolicy: 'Background' }).catch(() => {});
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const daemonOptions = async (/** @type {string} */ tag, /** @type {string[]} */ nodeFlags = []) => ({
    dir,
    kubeconfig: kubeconfigPath(),
    namespace,
    port: await freePort(),
    metricsPort: await freePort(),
    tag,
    nodeFlags,
  });
  try {
    // ---- floor
    // The floor and the bare server run with the daemon's V8 flags: the comparison is of the code, not of the runtime's settings.
    const floor = spawnMeasured('floor', [join(ROOT, 'scripts/bench/floor.mjs')], { nodeFlags: DAEMON_NODE_FLAGS });
    await floor.ready();
    const floorReadyMs = performance.now() - floor.spawnedAt;
    const floorCpuMs = cpuMsOf(floor.child.pid);
    const floorMem = await floor.memory();
    await floor.stop();
    log(`floor rss ${(floorMem.rss / MiB).toFixed(1)} MiB`);

    /** @type {Record<string, any>} */
    const restart = {};
    /** @type {Record<string, any>} */
    const atPods = {};
    let held = 0;
    for (const [i, level] of p.podLevels.entries()) {
      if (level > held) {
        const t0 = performance.now();
        await createHeldPods(core, namespace, node, held, level);
        held = level;
        const settled = await untilAllRunning(core, namespace);
        log(`${level} held pods created in ${((performance.now() - t0) / 1000).toFixed(1)} s, all Running ${(settled / 1000).toFixed(1)} s later`);
      }
      const samples = await extraRestarts(p.restartSamples - 1, level, daemonOptions);
      const opts = await daemonOptions(`pods-${level}`, i === 0 && cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'profiles')] : []);
      daemon = spawnDaemon(opts);
      const c = client(opts.port);
      const serving = await untilExactBooks(c, daemon, level);
      samples.push(serving);
      // As a control plane does (every 30 s): without it the session expires during a long section and calls fail.
      const heartbeat = setInterval(() => void unary(c, 'HealthCheck', { providerId: PROVIDER }).catch(() => {}), 10_000);
      const median = [...samples].sort((a, b) => a.ms - b.ms)[Math.floor(samples.length / 2)] ?? serving;
      restart[String(level)] = {
        ms: round(median.ms, 0),
        cpu_ms: median.cpuMs,
        polls: median.polls,
        samples_ms: samples.map((x) => round(x.ms, 0)),
      };
      await sleep(1000);
      const mem = await daemon.memory();
      atPods[String(level)] = { rss_mib: round(mem.rss / MiB, 1), heap_used_mib: round(mem.heapUsed / MiB, 1), new_space_mib: round(mem.newSpace / MiB, 1) };
      log(`${level} pods: serving with exact books ${samples.map((x) => x.ms.toFixed(0)).join(', ')} ms after spawn; rss ${(mem.rss / MiB).toFixed(1)} MiB`);

      if (i === 0) {
        result.rpc = await rpcSection(opts.port, daemon.child.pid, c, dir, p, log);
        // Start (just synced), warm (after the RPC section) and after N more
        // calls: start -> after includes the one-time warm-up (JIT code, buffers,
        // allocator high-water marks); warm -> after is growth with calls.
        const start = mem;
        const warm = await daemon.memory();
        await callsUntil(opts.port, p.memoryCalls, log);
        const after = await daemon.memory();
        result.memory_calls = {
          calls: p.memoryCalls,
          calls_before_warm: result.rpc.daemon_calls,
          start_rss_mib: round(start.rss / MiB, 1),
          warm_rss_mib: round(warm.rss / MiB, 1),
          after_rss_mib: round(after.rss / MiB, 1),
          after_to_start_ratio: ratio(after.rss, start.rss),
          after_to_warm_ratio: ratio(after.rss, warm.rss),
          start_heap_used_mib: round(start.heapUsed / MiB, 1),
          warm_heap_used_mib: round(warm.heapUsed / MiB, 1),
          after_heap_used_mib: round(after.heapUsed / MiB, 1),
          heap_after_to_start_ratio: ratio(after.heapUsed, start.heapUsed),
          heap_after_to_warm_ratio: ratio(after.heapUsed, warm.heapUsed),
          start_new_space_mib: round(start.newSpace / MiB, 1),
          after_new_space_mib: round(after.newSpace / MiB, 1),
          // Beside the daemon's: what a bare grpc-js server keeps after the same calls.
          bare: result.rpc.bare_memory,
        };
        log(
          `${p.memoryCalls} calls after warm-up: rss ${(after.rss / MiB).toFixed(1)} MiB (warm ${(warm.rss / MiB).toFixed(1)}, start ${(start.rss / MiB).toFixed(1)})`,
        );
        result.deploy = await deploySection(opts.port, core, namespace, p, log);
      }
      if (level === 1000 || (i === p.podLevels.length - 1 && !result.api)) {
        result.api = await apiSection(opts.metricsPort, c, core, custom, namespace, level, p, log);
      }
      if (i === p.podLevels.length - 1) {
        result.books = await booksSection(opts.metricsPort, c, core, namespace, node, level, p, log);
      }
      clearInterval(heartbeat);
      c.close();
      await daemon.stop();
      daemon = undefined;
    }
    result.restart = {
      // The floor process's spawn until its libraries are loaded: what any start of this stack costs on this machine.
      load_libraries_ms: round(floorReadyMs, 0),
      load_libraries_cpu_ms: floorCpuMs,
      target_ms: 5000,
      at_pods: Object.fromEntries(
        Object.entries(restart).map(([k, v]) => [
          k,
          { ...v, to_load_libraries_ratio: ratio(v.ms, floorReadyMs), cpu_to_load_libraries_ratio: ratio(v.cpu_ms, floorCpuMs) },
        ]),
      ),
    };
    result.memory = {
      floor_rss_mib: round(floorMem.rss / MiB, 1),
      floor_new_space_mib: round(floorMem.newSpace / MiB, 1),
      at_pods: Object.fromEntries(
        Object.entries(atPods).map(([k, v]) => [
          k,
          { ...v, over_floor_mib: round(v.rss_mib - floorMem.rss / MiB, 1), to_floor_ratio: ratio(v.rss_mib, floorMem.rss / MiB) },
        ]),
      ),
      targets: { over_floor_at_0_mib: 20, at_1000_mib: 160, at_10000_mib: 300, after_calls_ratio: 1.1 },
    };
  } finally {
    await daemon?.stop();
    await core.deleteNamespace({ name: namespace, propagationPolicy: 'Background' }).catch(() => {});
  }
  result.duration_s = round((Date.now() - started) / 1000, 1);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  printTable(result);
  log(`wrote ${out}`);
  return 0;
}

/**
 * Restarts before the one whose daemon the sections use, each stopped once it
 * served exact books: one restart on a shared machine can land on a busy moment.
 * @param {number} n @param {number} level @param {(tag: string) => Promise<Parameters<typeof spawnDaemon>[0]>} daemonOptions
 */
async function extraRestarts(n, level, daemonOptions) {
  const samples = [];
  for (let s = 1; s <= n; s++) {
    const o = await daemonOptions(`pods-${level}-restart-${s}`);
    const daemon = spawnDaemon(o);
    const c = client(o.port);
    try {
      samples.push(await untilExactBooks(c, daemon, level));
    } finally {
      c.close();
      await daemon.stop();
    }
  }
  return samples;
}

/**
 * Polls Connect + HealthCheck until the books hold exactly `level` held pods;
 * the wall time since spawn and the CPU the daemon used until then.
 * @param {import('./cluster.mjs').Client} c @param {{ spawnedAt: number, child: import('node:child_process').ChildProcess }} daemon @param {number} level
 */
async function untilExactBooks(c, daemon, level) {
  const { spawnedAt } = daemon;
  const want = String(level * HELD_CPU_MILLI);
  let polls = 0;
  for (;;) {
    polls++;
    try {
      await unary(c, 'Connect', { providerId: PROVIDER }, 1000);
      const h = await unary(c, 'HealthCheck', { providerId: PROVIDER }, 1000);
      if (h.capacity?.used?.cpu === want) return { ms: performance.now() - spawnedAt, cpuMs: cpuMsOf(daemon.child.pid), polls };
    } catch {
      // not listening yet, or not synced
    }
    if (performance.now() - spawnedAt > 180_000) throw new Error(`the daemon did not serve exact books for ${level} pods within 180 s`);
    await sleep(10);
  }
}

/**
 * @param {number} port @param {number | undefined} pid the daemon's @param {import('./cluster.mjs').Client} c @param {string} dir
 * @param {typeof PROFILES.quick} p @param {(m: string) => void} log
 */
async function rpcSection(port, pid, c, dir, p, log) {
  /** @type {Record<string, unknown>} */
  const answers = {};
  for (const m of RPCS) answers[m] = await unary(c, m, { providerId: PROVIDER });
  answers.Connect = await unary(c, 'Connect', { providerId: PROVIDER });
  const answersFile = join(dir, 'answers.json');
  writeFileSync(answersFile, JSON.stringify(answers));
  const barePort = await freePort();
  const bare = spawnMeasured('bare grpc-js server', [join(ROOT, 'scripts/bench/bare-server.mjs'), answersFile, String(barePort)], {
    nodeFlags: DAEMON_NODE_FLAGS,
  });
  // A second, identical bare server: the control. Its ratio against the first is what the
  // machine's noise alone gives, so a daemon ratio within that spread says nothing either way.
  const controlPort = await freePort();
  const control = spawnMeasured('control bare grpc-js server', [join(ROOT, 'scripts/bench/bare-server.mjs'), answersFile, String(controlPort)], {
    nodeFlags: DAEMON_NODE_FLAGS,
  });
  await Promise.all([bare.ready(), control.ready()]);
  const bareStart = await bare.memory();
  /** @type {Record<string, any>} */
  const rows = {};
  /** @type {Record<string, any>} */
  const controlRows = {};
  let daemonCalls = 0;
  const targets = { rps_ratio_min: 0.95, p99_ratio_max: 1.1 };
  for (const method of RPCS) {
    for (const concurrency of p.concurrency) {
      const o = { method: `provider.Service.${method}`, data: { providerId: PROVIDER }, concurrency, n: p.rpcCalls };
      // Beside the rates, the CPU each server spent per call (warm-up calls included), which contention inflates far less.
      const measured = async (/** @type {number} */ target, /** @type {number | undefined} */ targetPid) => {
        const before = cpuMsOf(targetPid);
        const r = await ghz({ ...o, port: target });
        return { ...r, cpu_us_per_call: round(((cpuMsOf(targetPid) - before) * 1000) / (o.n + Math.min(500, Math.floor(o.n / 5))), 1) };
      };
      const withControl = method === CONTROL_METHOD;
      /** @type {Array<[string, () => Promise<any>]>} */
      const sides = [
        ['bare', () => measured(barePort, bare.child.pid)],
        ...(withControl ? /** @type {Array<[string, () => Promise<any>]>} */ ([['control', () => measured(controlPort, control.child.pid)]]) : []),
        ['daemon', () => measured(port, pid)],
      ];
      const runs = await interleaved(p.rpcRounds, sides);
      const d = mergeRuns(runs.daemon ?? []);
      const b = mergeRuns(runs.bare ?? []);
      if (withControl) {
        controlRows[`${method} c${concurrency}`] = {
          method,
          concurrency,
          control: mergeRuns(runs.control ?? []),
          ...roundRatios(runs.control ?? [], runs.bare ?? []),
        };
      }
      daemonCalls += d.calls + p.rpcRounds * Math.min(500, Math.floor(p.rpcCalls / 5));
      rows[`${method} c${concurrency}`] = { method, concurrency, daemon: d, bare: b, ...roundRatios(runs.daemon ?? [], runs.bare ?? []) };
      log(
        `rpc ${method} c=${concurrency}: daemon ${d.rps.toFixed(0)}/s p99 ${d.p99_ms.toFixed(2)} ms, bare ${b.rps.toFixed(0)}/s p99 ${b.p99_ms.toFixed(2)} ms`,
      );
    }
  }
  // The same memory figures as the daemon's (memory_calls), for grpc-js alone:
  // how much of the growth with calls any grpc-js server shows.
  const bareWarm = await bare.memory();
  await callsUntil(barePort, p.memoryCalls, log);
  const bareAfter = await bare.memory();
  await Promise.all([bare.stop(), control.stop()]);
  return {
    calls_per_run: p.rpcCalls,
    rounds: p.rpcRounds,
    targets,
    daemon_calls: daemonCalls,
    bare_memory: {
      start_rss_mib: round(bareStart.rss / MiB, 1),
      warm_rss_mib: round(bareWarm.rss / MiB, 1),
      after_rss_mib: round(bareAfter.rss / MiB, 1),
      after_to_start_ratio: ratio(bareAfter.rss, bareStart.rss),
      after_to_warm_ratio: ratio(bareAfter.rss, bareWarm.rss),
    },
    rows,
    control: { method: CONTROL_METHOD, rows: controlRows },
  };
}

/**
 * Each side once per round, the order flipped every round (A, B, C; then C,
 * B, A), so drift in the machine's load hits every side alike and runs[i] of
 * any two sides were taken one after the other.
 * Each run is given its round's index.
 * @param {number} rounds @param {Array<[string, (round: number) => Promise<any>]>} sides
 * @returns {Promise<Record<string, any[]>>}
 */
async function interleaved(rounds, sides) {
  /** @type {Record<string, any[]>} */
  const runs = Object.fromEntries(sides.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of r % 2 === 0 ? sides : [...sides].reverse()) runs[name]?.push(await run(r));
  }
  return runs;
}

/** The median of numbers (the mean of the middle two for an even count). @param {number[]} xs */
function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Runs of the same load as one: calls and errors add, rates, percentiles and CPU (where measured) are the runs' medians. @param {any[]} runs */
function mergeRuns(runs) {
  const errorSample = runs.flatMap((r) => r.errorSample ?? []);
  return {
    calls: runs.reduce((n, r) => n + r.calls, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    rps: round(median(runs.map((r) => r.rps)), 1),
    p50_ms: round(median(runs.map((r) => r.p50_ms))),
    p99_ms: round(median(runs.map((r) => r.p99_ms))),
    ...(runs[0]?.cpu_us_per_call !== undefined ? { cpu_us_per_call: round(median(runs.map((r) => r.cpu_us_per_call)), 1) } : {}),
    ...(errorSample.length > 0 ? { errorSample } : {}),
  };
}

/**
 * Measured against baseline, round by round (runs[i] beside baseline[i], taken
 * one after the other): the median of the rounds' ratios, and the rounds'
 * calls/s ratios themselves, so the spread is in the result.
 * @param {any[]} runs @param {any[]} baseline
 */
function roundRatios(runs, baseline) {
  /** @param {string} key */
  const per = (key) => runs.map((r, i) => ratio(r[key], baseline[i]?.[key]));
  return {
    rps_ratio: round(median(per('rps'))),
    p50_ratio: round(median(per('p50_ms'))),
    p99_ratio: round(median(per('p99_ms'))),
    ...(runs[0]?.cpu_us_per_call !== undefined ? { cpu_per_call_ratio: round(median(per('cpu_us_per_call'))) } : {}),
    rps_ratios_by_round: per('rps'),
  };
}

/** Keeps the daemon busy with the control RPCs until `calls` more have been made. @param {number} port @param {number} calls @param {(m: string) => void} log */
async function callsUntil(port, calls, log) {
  let left = Math.max(0, calls);
  let i = 0;
  while (left > 0) {
    const n = Math.min(left, 10_000);
    const method = RPCS[i++ % RPCS.length];
    const r = await ghz({ port, method: `provider.Service.${method}`, data: { providerId: PROVIDER }, concurrency: 16, n, warmup: 0 });
    if (r.errors > 0) log(`${r.errors} of ${n} ${method} calls failed`);
    left -= n;
  }
}

/**
 * Deploy through the daemon vs client-node straight to the API server, the
 * same Pod manifests (the daemon's own builder), interleaved per concurrency.
 * @param {number} port @param {import('@kubernetes/client-node').CoreV1Api} core @param {string} namespace
 * @param {typeof PROFILES.quick} p @param {(m: string) => void} log
 */
async function deploySection(port, core, namespace, p, log) {
  /** @type {Record<string, any>} */
  const rows = {};
  const request = (/** @type {string} */ id) => ({
    instanceId: id,
    providerId: PROVIDER,
    image: 'iarnet/component:bench',
    resourceRequest: { cpu: '10', memory: String(1024 * 1024), gpu: '0' },
    envVars: { COMPONENT_ID: id },
    workload: { kind: 'POD' },
  });
  /** @type {import('../../dist/src/core/deploy-spec.js').DeployDefaults} */
  const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' };
  const manifest = (/** @type {string} */ id) => {
    const spec = validateDeploy(
      {
        instanceId: id,
        providerId: PROVIDER,
        image: 'iarnet/component:bench',
        resources: { cpu: 10, memory: 1024 * 1024, gpu: 0 },
        env: { COMPONENT_ID: id },
        workload: { kind: 'Pod' },
      },
      defaults,
    );
    const pod = podManifest(spec, { namespace, selectorLabels: {}, security: RESTRICTED });
    pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, 'bench/set': 'direct' } };
    return pod;
  };
  // Rounds as in the RPC section, direct then daemon, then daemon then direct; p.deploys per side in all.
  const perRun = Math.ceil(p.deploys / p.deployRounds);
  for (const concurrency of p.deployConcurrency) {
    const direct = async (/** @type {number} */ r) => {
      const bodies = Array.from({ length: perRun }, (_, i) => manifest(`direct-c${concurrency}-r${r}-${i}`));
      const t0 = performance.now();
      const durations = await pool(bodies, concurrency, (body) => core.createNamespacedPod({ namespace, body }));
      const seconds = (performance.now() - t0) / 1000;
      await deletePods(core, namespace, 'bench/set=direct');
      return {
        calls: bodies.length,
        errors: 0,
        rps: round(bodies.length / seconds, 1),
        p50_ms: round(percentile(durations, 50)),
        p99_ms: round(percentile(durations, 99)),
      };
    };
    const daemon = async (/** @type {number} */ r) => {
      const data = request(`daemon-c${concurrency}-r${r}-{{.RequestNumber}}`);
      const result = await ghz({ port, method: 'provider.Service.Deploy', data, concurrency, n: perRun, warmup: 0, timeoutMs: 60_000 });
      await deletePods(core, namespace, `iarnet.managed=true,!bench/set`);
      return result;
    };
    const runs = await interleaved(p.deployRounds, [
      ['direct', direct],
      ['daemon', daemon],
    ]);
    const d = mergeRuns(runs.daemon ?? []);
    const x = mergeRuns(runs.direct ?? []);
    rows[`c${concurrency}`] = { concurrency, daemon: d, direct: x, ...roundRatios(runs.daemon ?? [], runs.direct ?? []) };
    log(
      `deploy c=${concurrency}: daemon ${d.rps.toFixed(0)}/s p50 ${d.p50_ms.toFixed(1)} ms (${d.errors} errors), direct ${x.rps.toFixed(0)}/s p50 ${x.p50_ms.toFixed(1)} ms`,
    );
  }
  return { deploys_per_side: perRun * p.deployRounds, rounds: p.deployRounds, targets: { rps_ratio_min: 0.9 }, rows };
}

/** The daemon's own count of its kube API requests (lists, creates, metrics lists; watches are long-lived and not counted). @param {number} metricsPort */
async function kubeRequests(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('k8s_provider_kube_api_requests_total')) sum += Number(line.split(' ').pop());
  return sum;
}

/**
 * Steady-state API cost at `level` pods: idle, then polled at 50
 * GetRealTimeUsage/s + 1 HealthCheck/s, then a naive provider doing the Go
 * provider's list-per-call at the same call rate, each for one window.
 * @param {number} metricsPort @param {import('./cluster.mjs').Client} c
 * @param {import('@kubernetes/client-node').CoreV1Api} core @param {import('@kubernetes/client-node').CustomObjectsApi} custom
 * @param {string} namespace @param {number} level @param {typeof PROFILES.quick} p @param {(m: string) => void} log
 */
async function apiSection(metricsPort, c, core, custom, namespace, level, p, log) {
  const windowMs = p.apiWindowMs;
  const perMinute = (/** @type {number} */ n, /** @type {number} */ ms) => round((n * 60_000) / ms, 1);
  /** Calls `fn` at `rate` per second for the window (bounded count); returns calls made. */
  const paced = async (/** @type {number} */ rate, /** @type {() => Promise<unknown>} */ fn) => {
    const t0 = performance.now();
    let made = 0;
    /** @type {Promise<unknown>[]} */
    const inflight = [];
    const total = Math.floor((rate * windowMs) / 1000);
    // A baseline slower than the rate stops issuing at the window's end: its figure is per elapsed minute.
    for (let k = 0; k < total && performance.now() - t0 < windowMs; k++) {
      const due = t0 + (k * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inflight.push(
        fn().then(
          () => made++,
          () => made++,
        ),
      );
      if (inflight.length >= 16) await inflight.shift();
    }
    await Promise.all(inflight);
    return { made, ms: performance.now() - t0 };
  };
  await sleep(1000);
  let before = await kubeRequests(metricsPort);
  await sleep(windowMs);
  const idle = perMinute((await kubeRequests(metricsPort)) - before, windowMs);

  before = await kubeRequests(metricsPort);
  const health = paced(1, () => unary(c, 'HealthCheck', { providerId: PROVIDER }));
  const usage = await paced(50, () => unary(c, 'GetRealTimeUsage', { providerId: PROVIDER }));
  await health;
  const polledMs = usage.ms;
  const polled = perMinute((await kubeRequests(metricsPort)) - before, polledMs);

  // The naive way: every GetRealTimeUsage lists the pods and their metrics.
  let naiveRequests = 0;
  const selector = 'iarnet.managed=true';
  const naive = await paced(50, async () => {
    naiveRequests += 2;
    await core.listNamespacedPod({ namespace, labelSelector: selector });
    await custom
      .listNamespacedCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', namespace, plural: 'pods', labelSelector: selector })
      .catch(() => {});
  });
  const naivePerMinute = perMinute(naiveRequests, naive.ms);
  log(`api at ${level} pods: daemon idle ${idle}/min, polled ${polled}/min; naive ${naivePerMinute}/min`);
  return {
    pods: level,
    window_s: round(windowMs / 1000, 1),
    call_rate: { GetRealTimeUsage_per_s: 50, HealthCheck_per_s: 1, achieved_usage_calls: usage.made },
    daemon_idle_per_min: idle,
    daemon_polled_per_min: polled,
    naive_per_min: naivePerMinute,
    naive_achieved_calls: naive.made,
    polled_to_idle_ratio: ratio(polled, idle),
    polled_to_naive_ratio: ratio(polled, naivePerMinute),
    counted: "requests the process made (lists, creates, metrics lists), from the daemon's k8s_provider_kube_api_requests_total; the open watches come on top",
  };
}

/**
 * Books at scale: one pod created from outside, then GetCapacity polled
 * until `used` includes it; the figure includes the watch delivery. Beside
 * it, the daemon's own apply time per event, from the event's arrival.
 * @param {number} metricsPort @param {import('./cluster.mjs').Client} c @param {import('@kubernetes/client-node').CoreV1Api} core @param {string} namespace
 * @param {string} node @param {number} level @param {typeof PROFILES.quick} p @param {(m: string) => void} log
 */
async function booksSection(metricsPort, c, core, namespace, node, level, p, log) {
  /** @type {number[]} */
  const lags = [];
  const appliedBefore = await applyHistogram(metricsPort);
  let used = Number((await unary(c, 'GetCapacity', { providerId: PROVIDER })).capacity.used.cpu);
  for (let k = 0; k < p.bookSamples; k++) {
    const body = {
      metadata: {
        name: `probe-${k}`,
        labels: { 'iarnet.managed': 'true', 'iarnet.instance_id': `probe-${k}`, 'bench/set': 'probe' },
        annotations: { 'iarnet.instance_id': `probe-${k}` },
      },
      spec: {
        nodeName: node,
        restartPolicy: 'Never',
        containers: [{ name: 'main', image: 'iarnet/component', resources: { requests: { cpu: '7m', memory: '1Mi' } } }],
      },
    };
    const t0 = performance.now();
    await core.createNamespacedPod({ namespace, body });
    for (;;) {
      const now = Number((await unary(c, 'GetCapacity', { providerId: PROVIDER })).capacity.used.cpu);
      if (now === used + 7) {
        used = now;
        lags.push(performance.now() - t0);
        break;
      }
      if (performance.now() - t0 > 30_000) throw new Error(`books did not see probe-${k} within 30 s`);
      await sleep(2);
    }
  }
  const applied = histogramDelta(appliedBefore, await applyHistogram(metricsPort));
  await deletePods(core, namespace, 'bench/set=probe');
  const res = {
    pods: level,
    samples: lags.length,
    p50_ms: round(percentile(lags, 50), 1),
    p99_ms: round(percentile(lags, 99), 1),
    measured: 'create call issued until GetCapacity.used includes the pod: API write + watch delivery + books',
    // From the event's arrival in the daemon: its own histogram over the pod events of this section.
    apply: {
      events: applied.count,
      mean_us: round((applied.sum / Math.max(1, applied.count)) * 1e6, 1),
      p50_le_ms: round(applied.quantile(0.5) * 1000, 3),
      p99_le_ms: round(applied.quantile(0.99) * 1000, 3),
      target_p99_ms: 100,
      measured:
        'watch event arrival until the books reflect it (k8s_provider_watch_event_apply_seconds{informer="pods"}; p50/p99 are bucket upper bounds; the mean is the CPU per event, as the work is synchronous)',
    },
  };
  log(
    `books at ${level} pods: change visible after p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms; applied in p99 <= ${res.apply.p99_le_ms} ms, mean ${res.apply.mean_us} us over ${applied.count} events`,
  );
  return res;
}

/** The pods informer's apply-time histogram from the daemon's /metrics: cumulative bucket counts by upper bound, sum and count. @param {number} metricsPort */
async function applyHistogram(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  /** @type {Map<number, number>} */
  const buckets = new Map();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('k8s_provider_watch_event_apply_seconds') || !line.includes('informer="pods"')) continue;
    const value = Number(line.split(' ').pop());
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (line.startsWith('k8s_provider_watch_event_apply_seconds_bucket') && le) buckets.set(le === '+Inf' ? Infinity : Number(le), value);
    else if (line.startsWith('k8s_provider_watch_event_apply_seconds_sum')) sum = value;
    else if (line.startsWith('k8s_provider_watch_event_apply_seconds_count')) count = value;
  }
  return { buckets, sum, count };
}

/** What a histogram counted between two scrapes, with the upper bound of the bucket holding a quantile. @param {Awaited<ReturnType<typeof applyHistogram>>} a @param {Awaited<ReturnType<typeof applyHistogram>>} b */
function histogramDelta(a, b) {
  const bounds = [...b.buckets.keys()].sort((x, y) => x - y);
  const count = b.count - a.count;
  return {
    count,
    sum: b.sum - a.sum,
    /** @param {number} q */
    quantile(q) {
      const want = q * count;
      const le = bounds.find((le) => (b.buckets.get(le) ?? 0) - (a.buckets.get(le) ?? 0) >= want);
      return le ?? Number.NaN;
    },
  };
}

/** @param {Record<string, any>} r */
function printTable(r) {
  const lines = [];
  const m = r.machine;
  lines.push(`\nk8s-provider load bench (${r.profile}) on ${m.cpu_model}, ${m.cores} cores, Node ${m.node}; ratios against baselines from this run\n`);
  lines.push(
    'RPC (ghz)                     daemon calls/s  p50 ms  p99 ms | bare calls/s  p50 ms  p99 ms | rps ratio  p99 ratio | cpu/call us daemon   bare  ratio | rps ratio by round',
  );
  for (const [k, v] of Object.entries(r.rpc.rows)) {
    lines.push(
      `${k.padEnd(30)}${String(v.daemon.rps.toFixed(0)).padStart(14)}${v.daemon.p50_ms.toFixed(2).padStart(8)}${v.daemon.p99_ms.toFixed(2).padStart(8)} |${String(v.bare.rps.toFixed(0)).padStart(13)}${v.bare.p50_ms.toFixed(2).padStart(8)}${v.bare.p99_ms.toFixed(2).padStart(8)} |${v.rps_ratio.toFixed(2).padStart(10)}${v.p99_ratio.toFixed(2).padStart(11)} |${String(v.daemon.cpu_us_per_call).padStart(19)}${String(v.bare.cpu_us_per_call).padStart(7)}${String(v.cpu_per_call_ratio).padStart(7)} | ${v.rps_ratios_by_round.map((/** @type {number} */ x) => x.toFixed(2)).join(' ')}`,
    );
  }
  lines.push(`(${r.rpc.rounds} rounds of ${r.rpc.calls_per_run} calls per side and row; each ratio is the median of the rounds' ratios)`);
  const ctl = Object.entries(r.rpc.control?.rows ?? {});
  if (ctl.length > 0) {
    lines.push(
      `Noise floor: a second, identical bare server against the first (${r.rpc.control.method}): ${ctl
        .map(([k, v]) => `${k.split(' ')[1]} rps ${v.rps_ratio.toFixed(2)}, p99 ${v.p99_ratio.toFixed(2)}`)
        .join('; ')}`,
    );
  }
  lines.push('\nDeploy (Pods)                 daemon calls/s  p50 ms  p99 ms | direct calls/s p50 ms  p99 ms | rps ratio | by round');
  for (const [k, v] of Object.entries(r.deploy.rows)) {
    lines.push(
      `${`${r.deploy.deploys_per_side} deploys, ${k}`.padEnd(30)}${String(v.daemon.rps.toFixed(0)).padStart(14)}${v.daemon.p50_ms.toFixed(1).padStart(8)}${v.daemon.p99_ms.toFixed(1).padStart(8)} |${String(v.direct.rps.toFixed(0)).padStart(14)}${v.direct.p50_ms.toFixed(1).padStart(7)}${v.direct.p99_ms.toFixed(1).padStart(8)} |${v.rps_ratio.toFixed(2).padStart(10)} | ${v.rps_ratios_by_round.map((/** @type {number} */ x) => x.toFixed(2)).join(' ')}`,
    );
  }
  lines.push(
    `(${r.deploy.rounds} rounds per concurrency, ${r.deploy.deploys_per_side} deploys per side in all; each ratio is the median of the rounds' ratios)`,
  );
  lines.push(`\nMemory (RSS after GC)         floor ${r.memory.floor_rss_mib} MiB (a process loading the same libraries)`);
  for (const [k, v] of Object.entries(r.memory.at_pods))
    lines.push(
      `  at ${k.padStart(5)} pods              ${v.rss_mib} MiB (${v.over_floor_mib >= 0 ? '+' : ''}${v.over_floor_mib} over floor, ${v.to_floor_ratio}x)`,
    );
  const mc = r.memory_calls;
  lines.push(
    `  warm (after ${mc.calls_before_warm} calls)  ${mc.warm_rss_mib} MiB vs ${mc.start_rss_mib} at start; bare server ${mc.bare.warm_rss_mib} vs ${mc.bare.start_rss_mib}`,
  );
  lines.push(
    `  ${mc.calls} calls later        ${mc.after_rss_mib} MiB: ${mc.after_to_warm_ratio}x warm (heap ${mc.heap_after_to_warm_ratio}x), ${mc.after_to_start_ratio}x start; bare server ${mc.bare.after_rss_mib} MiB: ${mc.bare.after_to_warm_ratio}x warm, ${mc.bare.after_to_start_ratio}x start`,
  );
  lines.push('\nRestart (spawn until HealthCheck answers with exact books)');
  for (const [k, v] of Object.entries(r.restart.at_pods))
    lines.push(
      `  at ${k.padStart(5)} pods              ${v.ms} ms${v.samples_ms?.length > 1 ? ` (median of ${v.samples_ms.join(', ')})` : ''} (${v.to_load_libraries_ratio}x the ${r.restart.load_libraries_ms} ms a process takes to load the same libraries); CPU ${v.cpu_ms} ms (${v.cpu_to_load_libraries_ratio}x its ${r.restart.load_libraries_cpu_ms} ms)`,
    );
  const a = r.api;
  lines.push(
    `\nAPI requests/min at ${a.pods} pods   idle ${a.daemon_idle_per_min}, polled 50+1/s ${a.daemon_polled_per_min} (${a.polled_to_idle_ratio}x idle); naive list-per-call ${a.naive_per_min} (daemon ${a.polled_to_naive_ratio}x)`,
  );
  lines.push(
    `Books at ${r.books.pods} pods: external change visible in GetCapacity after p50 ${r.books.p50_ms} ms, p99 ${r.books.p99_ms} ms (${r.books.samples} samples); from the event's arrival: p99 <= ${r.books.apply.p99_le_ms} ms (target ${r.books.apply.target_p99_ms}), ${r.books.apply.mean_us} us CPU per event (${r.books.apply.events} events)`,
  );
  lines.push(`\n(${r.duration_s} s)`);
  console.log(lines.join('\n'));
}
