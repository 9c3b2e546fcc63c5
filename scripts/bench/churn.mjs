/**
 * Control calls under churn (issue 14, item 3): many gRPC clients, each on
 * its own connection, call HealthCheck / GetCapacity / GetAvailable back to
 * back while Deploys and Undeploys run beside them; the capacity is set so
 * that some deploys are refused for want of room (the one intended error).
 *
 * Figures, each beside a baseline from the same run: control-call latency
 * during churn against the same clients on the idle daemon, and RSS after GC
 * at the end against the warm figure (peak RSS sampled from /proc throughout).
 * Nothing here is a pass/fail on time; the integration test
 * (test/integration/load.test.ts) runs a scaled-down profile and asserts the
 * outcomes: no failed call, exact books, nothing left in the cluster.
 *
 *   npm run bench -- --churn           200 clients x 1000 calls, 500 deploys and undeploys
 *   npm run bench -- --churn --quick   50 clients x 200 calls, 60 deploys and undeploys
 */
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BatchV1Api } from '@kubernetes/client-node';
import { loadProto } from '../../dist/src/adapters/grpc/proto.js';
import { loadInstancesProto } from '../../dist/src/adapters/grpc/contract.js';
import { createNamespace, kube, kubeconfigPath } from './cluster.mjs';
import { DAEMON_NODE_FLAGS, spawnMeasured } from './procs.mjs';
import { ROOT, freePort, machine, percentile, ratio, round, sleep } from './util.mjs';

/** Every deploy asks for this much cpu; the capacity is `roomFor` of them. */
export const DEPLOY_CPU_MILLI = 100;
const DEPLOY_MEMORY = 16 * 1024 * 1024;
const CONTROL = /** @type {const} */ (['HealthCheck', 'GetCapacity', 'GetAvailable']);
const MIB = 1024 * 1024;

export const CHURN_PROFILES = {
  full: { clients: 200, callsPerClient: 1000, deploys: 500, workers: 8, roomFor: 12 },
  quick: { clients: 50, callsPerClient: 200, deploys: 60, workers: 6, roomFor: 8 },
};

/**
 * @typedef {{ clients: number, callsPerClient: number, deploys: number, workers: number, roomFor: number }} ChurnProfile
 * @typedef {{ rss: number, heapUsed: number }} Memory
 * @typedef {{ calls: number, failures: string[], p50_ms: number, p99_ms: number, max_ms: number, rps: number }} CallStats
 */

/** The daemon's config for a churn run: capacity for `roomFor` deploys, no instance limit in the way. */
/** @param {{ kubeconfig: string, namespace: string, port: number, roomFor: number }} o */
export function churnConfig(o) {
  return [
    `server: { host: 127.0.0.1, port: ${o.port}, shutdown_grace_seconds: 2 }`,
    `kubernetes: { kubeconfig: ${JSON.stringify(o.kubeconfig)}, namespace: ${o.namespace} }`,
    `resource: { cpu: ${o.roomFor * DEPLOY_CPU_MILLI}, memory: 64Gi, gpu: 0 }`,
    'limits: { max_instances: 100000 }',
    'usage: { interval_seconds: 5 }',
    'prometheus: { port: 0 }',
    'log: { level: info }',
    '',
  ].join('\n');
}

/** VmRSS of a process, in bytes (0 once it is gone). @param {number | undefined} pid */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Every call made and every failed one by code, over all the scenario's
 * calls (warm-up and the final polls of the books included), for the fault
 * figures: churn() reports the difference over its run.
 */
/** @type {{ calls: number, failed: Record<string, number> }} */
const answered = { calls: 0, failed: {} };

/**
 * @param {grpc.Client} client
 * @param {string} method
 * @param {object} request
 * @returns {Promise<{ outcome: string, response?: any, ms: number }>}
 */
function unary(client, method, request, deadlineMs = 5000) {
  const t0 = performance.now();
  const fn = /** @type {any} */ (client)[method];
  return new Promise((resolve) =>
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (/** @type {grpc.ServiceError | null} */ err, /** @type {any} */ res) => {
      const ms = performance.now() - t0;
      /** @type {string} */
      const outcome = err ? `${grpc.status[err.code]}: ${err.details}` : typeof res?.error === 'string' && res.error ? res.error : 'OK';
      answered.calls++;
      if (outcome !== 'OK') {
        const code = outcome.split(':')[0] ?? outcome;
        answered.failed[code] = (answered.failed[code] ?? 0) + 1;
      }
      resolve(err ? { outcome, ms } : { outcome, response: res, ms });
    }),
  );
}

/**
 * `clients` connections each making `calls` control calls one after another.
 * @param {grpc.Client[]} clients @param {number} calls @param {string} providerId
 * @returns {Promise<CallStats>}
 */
async function controlCalls(clients, calls, providerId) {
  /** @type {number[]} */
  const latencies = [];
  /** @type {string[]} */
  const failures = [];
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let i = 0; i < calls; i++) {
        const method = CONTROL[(ci + i) % CONTROL.length] ?? 'HealthCheck';
        const r = await unary(c, method, { providerId });
        latencies.push(r.ms);
        if (r.outcome !== 'OK') failures.push(`${method}: ${r.outcome}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    calls: latencies.length,
    failures,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    // A loop, not Math.max(...latencies): 200k arguments overflow the stack.
    max_ms: round(latencies.reduce((m, x) => Math.max(m, x), 0)),
    rps: round(latencies.length / seconds, 1),
  };
}

/**
 * Deploys `deploys` instances over `workers` workers. Each worker keeps one
 * instance of its own alive: it deploys the next, then undeploys the one
 * before. A deploy refused for want of room (RESOURCE_EXHAUSTED, intended:
 * the capacity is below what the workers hold at their peak, terminating
 * pods included) is retried until the room comes back; so is UNAVAILABLE,
 * with the same instance id, as iarnet does. Every outcome is counted. A third are
 * long-running Jobs, the others Pods.
 * @param {grpc.Client} provider @param {grpc.Client} instances @param {ChurnProfile} p @param {string} providerId
 */
async function deployChurn(provider, instances, p, providerId) {
  /** @type {Record<string, number>} */
  const deployOutcomes = {};
  /** @type {Record<string, number>} */
  const undeployOutcomes = {};
  let created = 0;
  // Refusals of deploys that were admitted in the end (the same id retried), and
  // undeploys of an answered instance that found nothing left to delete: it was lost.
  let retriedToSuccess = 0;
  let undeployedNothing = 0;
  const count = (/** @type {Record<string, number>} */ into, /** @type {string} */ outcome) => {
    const key = outcome === 'OK' ? 'OK' : (outcome.split(':')[0] ?? outcome);
    into[key] = (into[key] ?? 0) + 1;
  };
  const undeploy = async (/** @type {string} */ id) => {
    const r = await unary(instances, 'Undeploy', { providerId, instanceId: id }, 30_000);
    count(undeployOutcomes, r.outcome);
    if (r.outcome === 'OK' && r.response?.deleted !== true) undeployedNothing++;
  };
  const deploy = (/** @type {number} */ n) =>
    unary(
      provider,
      'Deploy',
      {
        providerId,
        instanceId: `churn-${n}`,
        image: 'busybox',
        resourceRequest: { cpu: DEPLOY_CPU_MILLI, memory: DEPLOY_MEMORY, gpu: 0 },
        envVars: { COMPONENT_ID: `churn-${n}` },
        workload: { kind: n % 3 === 2 ? 'JOB' : 'POD', annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' } },
      },
      30_000,
    );
  let next = 0;
  await Promise.all(
    Array.from({ length: p.workers }, async () => {
      /** @type {string[]} */
      const mine = [];
      while (next < p.deploys) {
        const n = next++;
        for (let attempt = 0; attempt < 600; attempt++) {
          const r = await deploy(n);
          count(deployOutcomes, r.outcome);
          if (r.outcome === 'OK') {
            created++;
            retriedToSuccess += attempt;
            mine.push(`churn-${n}`);
            break;
          }
          // Refused for want of room (intended), or UNAVAILABLE (not synced, or leadership lost mid-create on a starved
          // machine): iarnet retries with the same id, and so does this worker. Anything else is a failure, counted.
          if (!/^(RESOURCE_EXHAUSTED|UNAVAILABLE)\b/.test(r.outcome)) break;
          await sleep(100);
        }
        if (mine.length > 1) await undeploy(/** @type {string} */ (mine.shift()));
      }
      for (const id of mine) await undeploy(id);
    }),
  );
  return { deploys: p.deploys, created, deployOutcomes, undeployOutcomes, retriedToSuccess, undeployedNothing };
}

/**
 * Runs the churn scenario against a daemon already listening on `port`.
 * `memory` reads the daemon's memory after GC (the bench probe).
 * @param {{ port: number, pid: number | undefined, namespace: string, profile: ChurnProfile, memory: () => Promise<Memory>, log?: (m: string) => void }} o
 */
export async function churn(o) {
  const log = o.log ?? (() => {});
  const p = o.profile;
  const providerId = 'churn';
  const { grpcObject } = loadProto();
  const address = `127.0.0.1:${o.port}`;
  const insecure = grpc.credentials.createInsecure();
  // A connection per client, as separate control planes (or iarnet instances) would have.
  const clients = Array.from(
    { length: p.clients },
    (_, i) => new grpcObject.provider.Service(address, insecure, { 'grpc.use_local_subchannel_pool': 1, 'churn.client': i }),
  );
  const provider = new grpcObject.provider.Service(address, insecure, { 'grpc.use_local_subchannel_pool': 1 });
  const instances = new (loadInstancesProto().grpcObject.k8sprovider.v1.Instances)(address, insecure);
  /** @type {{ calls: number, failed: Record<string, number> }} */
  const before = { calls: answered.calls, failed: { ...answered.failed } };
  try {
    const connected = await unary(provider, 'Connect', { providerId });
    if (connected.response?.success !== true) throw new Error(`Connect failed: ${JSON.stringify(connected)}`);
    log(`${p.clients} clients warming up`);
    await controlCalls(clients, 20, providerId);
    const warm = await o.memory();
    const idleCalls = Math.max(20, Math.round(p.callsPerClient / 10));
    const idleBefore = await controlCalls(clients, idleCalls, providerId);
    log(`idle: ${idleBefore.calls} calls, p99 ${idleBefore.p99_ms} ms; now ${p.clients} x ${p.callsPerClient} calls beside ${p.deploys} deploys and undeploys`);

    let peak = rssOf(o.pid);
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(o.pid));
    }, 100);
    const t0 = performance.now();
    const [loaded, deployed] = await Promise.all([controlCalls(clients, p.callsPerClient, providerId), deployChurn(provider, instances, p, providerId)]);
    const churnSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(o.pid));

    // Exact books at the end: everything was undeployed, so once the pods are gone nothing is used.
    const books = await waitForEmptyBooks(provider, providerId, o.namespace);
    // The baseline is taken before and after the churn, so a machine that warms up or cools down meanwhile skews neither side.
    const idleAfter = await controlCalls(clients, idleCalls, providerId);
    const idle = merge(idleBefore, idleAfter);
    const end = await o.memory();
    const failed = Object.fromEntries(
      Object.entries(answered.failed)
        .map(([code, n]) => [code, n - (before.failed[code] ?? 0)])
        .filter(([, n]) => Number(n) > 0),
    );
    return {
      calls: { made: answered.calls - before.calls, failed },
      profile: p,
      control_idle: idle,
      control_churn: loaded,
      p99_churn_to_idle_ratio: ratio(loaded.p99_ms, idle.p99_ms),
      rps_churn_to_idle_ratio: ratio(loaded.rps, idle.rps),
      churn_seconds: round(churnSeconds, 1),
      deploy: deployed,
      books,
      memory: {
        warm_rss_mib: round(warm.rss / MIB, 1),
        end_rss_mib: round(end.rss / MIB, 1),
        peak_rss_mib: round(peak / MIB, 1),
        warm_heap_mib: round(warm.heapUsed / MIB, 1),
        end_heap_mib: round(end.heapUsed / MIB, 1),
        end_to_warm_ratio: ratio(end.rss, warm.rss),
        heap_end_to_warm_ratio: ratio(end.heapUsed, warm.heapUsed),
        peak_to_warm_ratio: ratio(peak, warm.rss),
      },
    };
  } finally {
    for (const c of clients) c.close();
    provider.close();
    instances.close();
  }
}

/** Two runs of the same calls as one: counts added, latencies averaged. @param {CallStats} a @param {CallStats} b @returns {CallStats} */
function merge(a, b) {
  return {
    calls: a.calls + b.calls,
    failures: [...a.failures, ...b.failures],
    p50_ms: round((a.p50_ms + b.p50_ms) / 2),
    p99_ms: round((a.p99_ms + b.p99_ms) / 2),
    max_ms: Math.max(a.max_ms, b.max_ms),
    rps: round((a.rps + b.rps) / 2, 1),
  };
}

/**
 * Waits until the namespace holds no managed pod or job (asked of the API
 * server) and the daemon's books say nothing is used, then reads them.
 * @param {grpc.Client} provider @param {string} providerId @param {string} namespace
 */
async function waitForEmptyBooks(provider, providerId, namespace) {
  const { kc, core } = kube();
  const batch = kc.makeApiClient(BatchV1Api);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [pods, jobs] = await Promise.all([
      core.listNamespacedPod({ namespace, labelSelector: 'iarnet.managed=true' }),
      batch.listNamespacedJob({ namespace, labelSelector: 'iarnet.managed=true' }),
    ]);
    const cap = await unary(provider, 'GetCapacity', { providerId });
    const used = cap.response?.capacity?.used;
    const left = pods.items.length + jobs.items.length;
    if (left === 0 && used && Number(used.cpu) === 0 && Number(used.memory) === 0) {
      return { left_in_cluster: 0, used_cpu_milli: 0, used_memory: 0, exact: true };
    }
    if (Date.now() > deadline) {
      return { left_in_cluster: left, used_cpu_milli: Number(used?.cpu), used_memory: Number(used?.memory), exact: false };
    }
    await sleep(500);
  }
}

/**
 * npm run bench -- --churn [--quick] [--out FILE]: the daemon as a process on
 * the test cluster, the churn scenario, a JSON result and a printed summary.
 * @param {string[]} argv
 */
export async function runChurn(argv) {
  const quick = argv.includes('--quick');
  const profile = quick ? CHURN_PROFILES.quick : CHURN_PROFILES.full;
  const outIndex = argv.indexOf('--out');
  const out = outIndex >= 0 ? argv[outIndex + 1] : join(ROOT, 'bench', 'results', `churn-${quick ? 'quick' : 'full'}-latest.json`);
  const { core } = kube();
  const namespace = await createNamespace(core);
  const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-churn-'));
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, churnConfig({ kubeconfig: kubeconfigPath(), namespace, port, roomFor: profile.roomFor }));
  const daemon = spawnMeasured('daemon (churn)', ['dist/src/main.js', '--config', config], { logFile: join(dir, 'daemon.log'), nodeFlags: DAEMON_NODE_FLAGS });
  try {
    await waitListening(port);
    const result = await churn({
      port,
      pid: daemon.child.pid,
      namespace,
      profile,
      memory: () => daemon.memory(),
      log: (m) => console.log(`[churn] ${m}`),
    });
    const full = { machine: machine(), at: new Date().toISOString(), ...result };
    if (out) {
      mkdirSync(join(out, '..'), { recursive: true });
      writeFileSync(out, `${JSON.stringify(full, null, 2)}\n`);
    }
    printChurn(full);
    const failed = result.control_idle.failures.length + result.control_churn.failures.length;
    const unexpected = Object.keys(result.deploy.deployOutcomes).filter((k) => !['OK', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE'].includes(k)).length;
    return failed === 0 && unexpected === 0 && result.books.exact ? 0 : 1;
  } finally {
    await daemon.stop();
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

/** @param {number} port */
async function waitListening(port) {
  const { grpcObject } = loadProto();
  const c = new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    for (let i = 0; i < 300; i++) {
      if ((await unary(c, 'GetCapacity', { providerId: '' }, 1000)).outcome === 'OK') return;
      await sleep(200);
    }
    throw new Error(`the daemon did not answer on port ${port} within 60 s`);
  } finally {
    c.close();
  }
}

/** @param {any} r */
export function printChurn(r) {
  const p = r.profile;
  const row = (/** @type {string} */ name, /** @type {CallStats} */ s) =>
    `${name.padEnd(28)} ${String(s.calls).padStart(8)} ${String(s.failures.length).padStart(8)} ${String(s.rps).padStart(9)} ${String(s.p50_ms).padStart(8)} ${String(s.p99_ms).padStart(8)} ${String(s.max_ms).padStart(8)}`;
  console.log(
    `\nControl calls under churn: ${p.clients} clients (one connection each) x ${p.callsPerClient} calls, ${p.deploys} deploys and undeploys beside them`,
  );
  console.log(
    `${''.padEnd(28)} ${'calls'.padStart(8)} ${'failed'.padStart(8)} ${'calls/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
  );
  console.log(row('idle (baseline)', r.control_idle));
  console.log(row('during deploys/undeploys', r.control_churn));
  console.log(`  ratios churn/idle: p99 ${r.p99_churn_to_idle_ratio}, calls/s ${r.rps_churn_to_idle_ratio}; churn took ${r.churn_seconds} s`);
  console.log(`Deploys: ${JSON.stringify(r.deploy.deployOutcomes)} (${r.deploy.created} created); undeploys: ${JSON.stringify(r.deploy.undeployOutcomes)}`);
  console.log(`Books after: exact=${r.books.exact}, ${r.books.left_in_cluster} objects left, used cpu ${r.books.used_cpu_milli}m`);
  const m = r.memory;
  console.log(
    `Memory: RSS warm ${m.warm_rss_mib} MiB, peak ${m.peak_rss_mib} MiB (${m.peak_to_warm_ratio}x), end after GC ${m.end_rss_mib} MiB (${m.end_to_warm_ratio}x); heap ${m.warm_heap_mib} -> ${m.end_heap_mib} MiB (${m.heap_end_to_warm_ratio}x)`,
  );
}
