#!/usr/bin/env node
/**
 * npm run bench: speed and memory of the daemon's hot paths, each reported as
 * a ratio against a baseline measured in the same run on the same machine,
 * so the figures compare across machines and CI runs. The first three need
 * no cluster: the core runs on an in-memory view holding realistic pods.
 *
 *   rpc       GetCapacity / HealthCheck / GetRealTimeUsage through the real
 *             handlers vs a no-op handler on the same grpc-js server setup
 *   ledger    deriving the books from N pods after a change vs one pass that
 *             only sums the same N request objects
 *   memory    heap held per cached pod (observed form) vs the V1Pod objects
 *             the informer already holds
 *   instances ListInstances, WatchInstances fan-out and Undeploy on the local
 *             test cluster (scripts/bench-instances.mjs; skipped without it)
 *
 * With a cluster (the test cluster's kubeconfig, or BENCH_KUBECONFIG), also
 * restart-to-serving and fail-over of the daemon as processes: see
 * bench-continuity.mjs. BENCH_CONTINUITY=0 skips them;
 * BENCH_CONTINUITY_PODS (default 0,1000) and BENCH_FAILOVER_TRIALS (10) size them.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { loadProto } from '../dist/src/adapters/grpc/proto.js';
import { providerHandlers } from '../dist/src/adapters/grpc/provider-service.js';
import { Provider } from '../dist/src/core/provider.js';
import { Ledger } from '../dist/src/core/ledger.js';
import { Session } from '../dist/src/core/session.js';
import { MemorySessionStore } from '../dist/src/core/memory-session-store.js';
import { observePod } from '../dist/src/adapters/kube/observe.js';
import { runningRequests } from '../dist/src/core/usage.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchInstances } from './bench-instances.mjs';
import {
  ANNOTATION_INSTANCE_ID,
  ANNOTATION_PROVIDER_ID,
  ANNOTATION_SPEC_HASH,
  LABEL_INSTANCE_ID,
  LABEL_MANAGED,
  LABEL_PROVIDER_ID,
} from '../dist/src/shared/labels.js';

// --churn [--quick]: control calls from many clients while deploys and undeploys run (scripts/bench/churn.mjs).
if (process.argv.includes('--churn')) {
  const { runChurn } = await import('./bench/churn.mjs');
  process.exit(await runChurn(process.argv.slice(2)));
}

// --smoke, --quick and --full run the load profile against the test cluster instead (scripts/bench/load.mjs).
if (process.argv.slice(2).some((a) => ['--smoke', '--quick', '--full'].includes(a))) {
  const { run } = await import('./bench/load.mjs');
  process.exit(await run(process.argv.slice(2)));
}

const PODS = Number(process.env.BENCH_PODS ?? 1000);
const CALLS = Number(process.env.BENCH_CALLS ?? 3000);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** @param {number} i @returns {import('@kubernetes/client-node').V1Pod} */
function v1pod(i) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `comp-${i}`,
      namespace: 'bench',
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(1000 + i),
      labels: { [LABEL_MANAGED]: 'true', [LABEL_PROVIDER_ID]: 'cp', [LABEL_INSTANCE_ID]: `comp-${i}` },
      annotations: { [ANNOTATION_INSTANCE_ID]: `comp-${i}`, [ANNOTATION_PROVIDER_ID]: 'cp', [ANNOTATION_SPEC_HASH]: 'ab12cd34ef56ab78' },
    },
    spec: {
      restartPolicy: 'Never',
      nodeName: 'kwok-node-0',
      containers: [
        {
          name: 'main',
          image: 'iarnet/component:python_3.11-latest',
          env: [
            { name: 'COMPONENT_ID', value: `comp-${i}` },
            { name: 'ZMQ_ADDR', value: 'tcp://10.0.0.1:5555' },
          ],
          resources: { requests: { cpu: '250m', memory: '268435456' }, limits: { cpu: '250m', memory: '268435456' } },
        },
      ],
    },
    status: { phase: i % 10 === 0 ? 'Succeeded' : 'Running', podIP: `10.1.${i >> 8}.${i & 255}` },
  };
}

/** An in-memory WorkloadView holding the given pods. */
class View {
  /** @param {import('@kubernetes/client-node').V1Pod[]} pods */
  constructor(pods) {
    /** @type {import('../dist/src/core/instances.js').ObservedWorkloads} */
    this.current = { pods: [], jobs: [] };
    this.set(pods);
  }
  /** @param {import('@kubernetes/client-node').V1Pod[]} pods */
  set(pods) {
    this.current = { pods: pods.map(observePod), jobs: [] };
  }
  snapshot() {
    return this.current;
  }
  synced() {
    return true;
  }
  onChange() {
    return () => {};
  }
}

/** @param {View} view */
function makeProvider(view) {
  const clock = { now: () => Date.now() };
  const session = new Session(new MemorySessionStore(), clock, 90_000, silent);
  const ledger = new Ledger(view, clock, { unseenTtlMs: 60_000 });
  /** @type {import('../dist/src/core/ports.js').UsageSource} */
  const usage = {
    current: () => {
      const { total, perInstance } = runningRequests(view.snapshot());
      return { total, perInstance, source: 'requests', sampledAt: Date.now(), stale: false };
    },
  };
  const provider = new Provider(
    {
      session,
      leadership: { term: () => new AbortController().signal },
      ledger,
      view,
      runtime: {
        create: async () => ({ name: 'x', claims: [] }),
        claimNames: () => [],
        scale: async () => {},
        lookup: async () => undefined,
        delete: async () => 'gone',
      },
      capacity: { total: () => ({ cpu: 1e6, memory: 2 ** 50, gpu: 8 }) },
      usage,
      log: silent,
    },
    { resourceTags: ['cpu', 'memory', 'gpu'], maxInstances: 1e6, deployDefaults: { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' } },
  );
  // The in-memory store settles at once; nothing to wait for.
  void provider.connect('cp');
  return provider;
}

/** @param {grpc.UntypedServiceImplementation} handlers */
async function serve(handlers) {
  const { grpcObject } = loadProto();
  const server = new grpc.Server();
  server.addService(grpcObject.provider.Service.service, handlers);
  /** @type {number} */
  const port = await new Promise((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  // Called by method name below, so typed as the generic client.
  const client = /** @type {AnyClient} */ (/** @type {unknown} */ (new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure())));
  return { server, client };
}

/** @typedef {import('@grpc/grpc-js/build/src/make-client.js').ServiceClient} AnyClient */

/** @param {AnyClient} client @param {string} method @param {object} req @returns {Promise<unknown>} */
function unary(client, method, req) {
  const call = client[method];
  if (!call) throw new Error(`no method ${method}`);
  return new Promise((res, rej) => call.call(client, req, (/** @type {Error | null} */ e, /** @type {unknown} */ r) => (e ? rej(e) : res(r))));
}

/** @param {AnyClient} client @param {string} method */
async function timeCalls(client, method) {
  for (let i = 0; i < 200; i++) await unary(client, method, { providerId: 'cp' });
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await unary(client, method, { providerId: 'cp' });
  return (performance.now() - t0) / CALLS;
}

/**
 * @template T
 * @param {() => T} make
 */
function heapOf(make) {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const held = make();
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  return { bytes: after - before, held };
}

/** @type {{ bench: string, measured: string, baseline: string, ratio: number }[]} */
const rows = [];
const pods = Array.from({ length: PODS }, (_, i) => v1pod(i));

// rpc
{
  const view = new View(pods);
  const provider = makeProvider(view);
  const real = await serve(providerHandlers({ provider, log: silent }));
  const capacity = { total: { cpu: '1', memory: '1', gpu: '0' }, used: { cpu: '0', memory: '0', gpu: '0' }, available: { cpu: '1', memory: '1', gpu: '0' } };
  /** @type {(res: object) => grpc.handleUnaryCall<unknown, object>} */
  const noop = (res) => (_call, cb) => cb(null, res);
  const base = await serve({
    Connect: noop({}),
    Disconnect: noop({}),
    GetAvailable: noop({}),
    Deploy: noop({}),
    GetCapacity: noop({ capacity }),
    HealthCheck: noop({ capacity, resourceTags: { cpu: true } }),
    GetRealTimeUsage: noop({ usage: capacity.total }),
  });
  for (const method of ['GetCapacity', 'HealthCheck', 'GetRealTimeUsage']) {
    const b = await timeCalls(base.client, method);
    const r = await timeCalls(real.client, method);
    rows.push({
      bench: `rpc ${method}`,
      measured: `${(r * 1000).toFixed(0)} µs/call`,
      baseline: `${(b * 1000).toFixed(0)} µs/call (no-op handler)`,
      ratio: r / b,
    });
  }
  for (const s of [real, base]) {
    s.client.close();
    s.server.forceShutdown();
  }
}

// ledger: recompute after every change (the memo is invalidated by a new snapshot)
{
  const view = new View(pods);
  const provider = makeProvider(view);
  const observed = view.snapshot().pods;
  const ROUNDS = 300;
  let t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < ROUNDS; i++) {
    let cpu = 0;
    for (const p of observed) if (p.phase !== 'Succeeded') cpu += p.requests.cpu;
    sink += cpu;
  }
  const base = (performance.now() - t0) / ROUNDS;
  t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    view.current = { pods: observed, jobs: [] }; // a change: new snapshot identity
    sink += provider.currentCapacity().used.cpu;
  }
  const real = (performance.now() - t0) / ROUNDS;
  rows.push({
    bench: `ledger ${PODS} pods, after a change`,
    measured: `${(real * 1000).toFixed(0)} µs`,
    baseline: `${(base * 1000).toFixed(1)} µs (bare sum)`,
    ratio: real / base,
  });
  t0 = performance.now();
  for (let i = 0; i < ROUNDS * 100; i++) sink += provider.currentCapacity().used.cpu;
  const cached = (performance.now() - t0) / (ROUNDS * 100);
  rows.push({
    bench: `ledger ${PODS} pods, unchanged (memo)`,
    measured: `${(cached * 1000).toFixed(1)} µs`,
    baseline: `${(base * 1000).toFixed(1)} µs (bare sum)`,
    ratio: cached / base,
  });
  if (sink < 0) console.log(sink);
}

// memory
{
  const raw = heapOf(() => Array.from({ length: PODS }, (_, i) => v1pod(i)));
  const obs = heapOf(() => raw.held.map(observePod));
  rows.push({
    bench: `memory per cached pod (${PODS})`,
    measured: `${(obs.bytes / PODS).toFixed(0)} B observed form`,
    baseline: `${(raw.bytes / PODS).toFixed(0)} B V1Pod`,
    ratio: obs.bytes / raw.bytes,
  });
}

// continuity: needs a cluster
{
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const kubeconfig = process.env.BENCH_KUBECONFIG ?? join(resolve(root, process.env.CLUSTER_STATE_DIR ?? '.cluster'), 'kubeconfig');
  if (process.env.BENCH_CONTINUITY === '0') console.log('continuity bench skipped (BENCH_CONTINUITY=0)');
  else if (!existsSync(kubeconfig)) console.log(`continuity bench skipped: no cluster (${kubeconfig} missing; npm run cluster:up, or set BENCH_KUBECONFIG)`);
  else {
    const { continuityBench } = await import('./bench-continuity.mjs');
    rows.push(
      ...(await continuityBench({
        kubeconfig,
        podCounts: (process.env.BENCH_CONTINUITY_PODS ?? '0,1000').split(',').map(Number),
        trials: Number(process.env.BENCH_FAILOVER_TRIALS ?? 10),
        log: (/** @type {string} */ m) => console.log(`[continuity] ${m}`),
      })),
    );
  }
}
// instances (needs the local test cluster; skipped with a reason without it)
await benchInstances(new URL('..', import.meta.url).pathname, rows);

if (!global.gc) console.log('(run with node --expose-gc for steadier memory figures: npm run bench does)');
console.log('\nk8s-provider bench (lower ratio is better; ratios compare with a baseline measured in this run)\n');
const w = /** @type {const} */ ([40, 34, 36]);
console.log(['bench'.padEnd(w[0]), 'measured'.padEnd(w[1]), 'baseline'.padEnd(w[2]), 'ratio'].join(' '));
for (const r of rows)
  console.log([r.bench.padEnd(w[0]), r.measured.padEnd(w[1]), r.baseline.padEnd(w[2]), Number.isNaN(r.ratio) ? '' : `${r.ratio.toFixed(2)}×`].join(' '));
