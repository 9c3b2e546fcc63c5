/**
 * The instance service's measurements for npm run bench, on the local test
 * cluster (skipped with a reason when it is not up), each beside a baseline
 * measured in the same run:
 *
 *   list      ListInstances of 1000 instances (one page) vs a direct
 *             client-node list of the same pods; the daemon's own API
 *             request counter shows the RPC costs none
 *   watch     1000 changes (each pod's provider annotation rewritten) fanned
 *             out to 50 WatchInstances streams: delivery
 *             p99 from the daemon's change event to the client, vs the same
 *             messages written to 50 bare gRPC streams; heap per watcher vs
 *             one client-node informer per watcher (the design it replaces)
 *   undeploy  100 concurrent Undeploy calls until capacity is back vs 100
 *             direct client-node deletes until a list shows the pods gone
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node';
import { pino } from 'pino';
import { configSchema } from '../dist/src/config/schema.js';
import { startDaemon } from '../dist/src/daemon.js';
import { loadInstancesProto } from '../dist/src/adapters/grpc/contract.js';
import { instanceToWire } from '../dist/src/adapters/grpc/instances-codec.js';

const N = Number(process.env.BENCH_INSTANCES ?? 1000);
const WATCHERS = 50;
/** @typedef {{ bench: string, measured: string, baseline: string, ratio: number }} Row */
/** @typedef {import('../dist/src/daemon.js').Daemon} Daemon */
/** @typedef {import('../dist/src/adapters/grpc/contract.js').InstancesClient} InstancesClient */

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** @param {readonly number[]} xs @param {number} p @returns {number} */
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
/** @param {string} what @param {() => boolean | Promise<boolean>} check */
async function until(what, check, timeoutMs = 180_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(50);
  }
}
/** @returns {Promise<number>} */
const freePort = () =>
  new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });

/** Kubernetes API requests the daemon made, from its own Prometheus counter. @param {number} metricsPort */
async function apiRequests(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('k8s_provider_kube_api_requests_total{'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

const heap = () => {
  global.gc?.();
  global.gc?.();
  return process.memoryUsage().heapUsed;
};

/** @param {number} i @param {string} group @returns {import('@kubernetes/client-node').V1Pod} */
function pod(i, group) {
  const id = `b-${String(i).padStart(4, '0')}`;
  return {
    metadata: {
      name: id,
      labels: { 'iarnet.managed': 'true', 'iarnet.instance_id': id, 'bench-group': group },
      annotations: { 'iarnet.instance_id': id, 'iarnet.provider_id': 'bench' },
    },
    spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '10m', memory: '1Mi' }, limits: { cpu: '10m', memory: '1Mi' } } }] },
  };
}

/** @param {string} root @param {Row[]} rows */
export async function benchInstances(root, rows) {
  const kubeconfig = join(root, process.env.CLUSTER_STATE_DIR ?? '.cluster', 'kubeconfig');
  const kc = new KubeConfig();
  try {
    if (!existsSync(kubeconfig)) throw new Error(`${kubeconfig} does not exist`);
    kc.loadFromFile(kubeconfig);
    await kc.makeApiClient(CoreV1Api).listNamespace({ limit: 1 });
  } catch (err) {
    console.log(`(instance benches skipped: no test cluster (${/** @type {Error} */ (err).message}); run npm run cluster:up first)`);
    return;
  }
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `bench-instances-${process.pid}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await until('the default ServiceAccount', async () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
      () => true,
      () => false,
    ),
  );
  /** @type {Daemon | undefined} */
  let daemon;
  /** @type {import('@grpc/grpc-js').Client[]} */
  const clients = [];
  try {
    // 1000 pods (most stay Pending: the fake nodes take 220): 100 to undeploy, 100 for the baseline deletes.
    /** @param {number} i */
    const group = (i) => (i < 100 ? 'undeploy' : i < 200 ? 'delete' : 'rest');
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => core.createNamespacedPod({ namespace, body: pod(i + k, group(i + k)) })));
    }
    const metricsPort = await freePort();
    const config = configSchema.parse({
      server: { host: '127.0.0.1', port: 0, shutdown_grace_seconds: 1 },
      kubernetes: { kubeconfig, namespace, resync_seconds: 3600 },
      resource: { cpu: 10_000_000, memory: '100Ti', gpu: 0 },
      limits: { max_instances: 100_000 },
      usage: { interval_seconds: 3600 },
      prometheus: { host: '127.0.0.1', port: metricsPort },
      instances: { watch_buffer: 100_000, stuck_after_seconds: 86_400 },
      log: { level: 'silent' },
    });
    const d = await startDaemon(config, pino({ level: 'silent' }), {});
    daemon = d;
    await until('the daemon to see every pod', () => d.tracker.size() === N);
    const { grpcObject } = loadInstancesProto();
    const Instances = grpcObject.k8sprovider.v1.Instances;
    const client = new Instances(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
    clients.push(client);
    /** @type {(method: 'ListInstances' | 'Undeploy', req: object) => Promise<any>} */
    const unary = (method, req) =>
      new Promise((res, rej) => /** @type {any} */ (client)[method](req, (/** @type {Error | null} */ e, /** @type {unknown} */ r) => (e ? rej(e) : res(r))));
    // The session: a provider client on the same port.
    const { loadProto } = await import('../dist/src/adapters/grpc/proto.js');
    const provider = new (loadProto().grpcObject.provider.Service)(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
    clients.push(provider);
    await new Promise((res, rej) => provider.Connect({ providerId: 'bench' }, (e, r) => (e ? rej(e) : res(r))));

    // list
    {
      const CALLS = 30;
      const before = await apiRequests(metricsPort);
      for (let i = 0; i < 3; i++) await unary('ListInstances', { providerId: 'bench', pageSize: 1000 });
      const ours = [];
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        const page = await unary('ListInstances', { providerId: 'bench', pageSize: 1000 });
        ours.push(performance.now() - t0);
        if (page.instances.length !== Math.min(N, 1000)) throw new Error(`ListInstances returned ${page.instances.length}`);
      }
      const after = await apiRequests(metricsPort);
      const base = [];
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        await core.listNamespacedPod({ namespace, labelSelector: 'iarnet.managed=true' });
        base.push(performance.now() - t0);
      }
      /** @param {number[]} xs */
      const med = (xs) => pct(xs, 50);
      rows.push({
        bench: `ListInstances ${N} instances`,
        measured: `${med(ours).toFixed(1)} ms p50, ${after - before} API calls`,
        baseline: `${med(base).toFixed(1)} ms p50 (client-node list)`,
        ratio: med(ours) / med(base),
      });
    }

    // watch fan-out: delivery latency from the tracker's event to each client, vs bare gRPC streams of the same messages.
    {
      /** @type {Map<string, number>} */
      const emitted = new Map();
      /** @param {string} type @param {string} id */
      const key = (type, id) => `${type}/${id}`;
      const off = d.tracker.onEvent((e) => {
        emitted.set(key(e.type, e.instance.id), performance.now());
      });
      const bare = new grpc.Server();
      /** @type {import('@grpc/grpc-js').ServerWritableStream<unknown, unknown>[]} */
      const bareStreams = [];
      bare.addService(Instances.service, {
        WatchInstances: (/** @type {import('@grpc/grpc-js').ServerWritableStream<unknown, unknown>} */ call) => {
          bareStreams.push(call);
          call.on('cancelled', () => bareStreams.splice(bareStreams.indexOf(call), 1));
        },
      });
      /** @type {number} */
      const barePort = await new Promise((res, rej) => bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
      const TYPES = { added: 'WATCH_EVENT_TYPE_ADDED', modified: 'WATCH_EVENT_TYPE_MODIFIED', deleted: 'WATCH_EVENT_TYPE_DELETED' };
      const offBare = d.tracker.onEvent((e) => {
        const msg = { type: TYPES[e.type], instance: instanceToWire({ ...e.instance, usage: undefined }) };
        for (const s of bareStreams) s.write(msg);
      });

      const heapBefore = heap();
      /** @typedef {{ synced: boolean, changes: number }} Count */
      /** @param {number} port @param {number[]} latencies @param {Count[]} counts @param {number} idx */
      const open = (port, latencies, counts, idx) => {
        const c = new Instances(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        clients.push(c);
        const stream = c.WatchInstances({ providerId: 'bench' });
        /** @type {Count} */
        const count = { synced: port !== d.port, changes: 0 };
        counts[idx] = count;
        stream.on('data', (/** @type {import('../dist/src/adapters/grpc/contract.js').WatchInstancesResponse__Output} */ m) => {
          if (m.type === 'WATCH_EVENT_TYPE_SYNCED') count.synced = true;
          if (!count.synced || !m.instance) return;
          const t = emitted.get(key(m.type.replace('WATCH_EVENT_TYPE_', '').toLowerCase(), m.instance.instanceId));
          if (t !== undefined) latencies.push(performance.now() - t);
          count.changes++;
        });
        stream.on('error', () => undefined);
        return stream;
      };
      /** @type {number[]} */
      const ourLat = [];
      /** @type {Count[]} */
      const ourCounts = [];
      const ourStreams = Array.from({ length: WATCHERS }, (_, i) => open(d.port, ourLat, ourCounts, i));
      await until('every watcher to have its snapshot', () => ourCounts.every((c) => c.synced));
      const perWatcher = (heap() - heapBefore) / WATCHERS;
      // 1000 changes: each pod's provider-id annotation rewritten once (the instance's provider_id changes).
      const changes = N;
      /** @param {string} value */
      const rewrite = async (value) => {
        for (let i = 0; i < N; i += 50) {
          await Promise.all(
            Array.from({ length: Math.min(50, N - i) }, (_, k) =>
              core.patchNamespacedPod({
                name: `b-${String(i + k).padStart(4, '0')}`,
                namespace,
                body: [{ op: 'replace', path: '/metadata/annotations/iarnet.provider_id', value }],
              }),
            ),
          );
        }
      };
      // One round through the daemon's watchers, then one through the bare streams: never both at once.
      const t0 = performance.now();
      await rewrite('bench-2');
      await until('every watcher to see the changes', () => ourCounts.every((c) => c.changes >= changes));
      const wall = performance.now() - t0;
      for (const s of ourStreams) s.cancel();
      /** @type {number[]} */
      const bareLat = [];
      /** @type {Count[]} */
      const bareCounts = [];
      const bareClientStreams = Array.from({ length: WATCHERS }, (_, i) => open(barePort, bareLat, bareCounts, i));
      await until('the bare streams to open', () => bareStreams.length === WATCHERS);
      const t1 = performance.now();
      await rewrite('bench-3');
      await until('every bare stream to see the changes', () => bareCounts.every((c) => c.changes >= changes));
      const bareWall = performance.now() - t1;
      for (const s of bareClientStreams) s.cancel();
      off();
      offBare();
      bare.forceShutdown();

      // What one watch per watcher would hold: an informer with its own copy of the pods.
      const informerHeapBefore = heap();
      const informers = [];
      for (let i = 0; i < 5; i++) {
        const inf = makeInformer(
          kc,
          `/api/v1/namespaces/${namespace}/pods`,
          () => core.listNamespacedPod({ namespace, labelSelector: 'iarnet.managed=true' }),
          'iarnet.managed=true',
        );
        await inf.start();
        informers.push(inf);
      }
      const perInformer = (heap() - informerHeapBefore) / informers.length;
      for (const inf of informers) await inf.stop();

      rows.push({
        bench: `WatchInstances ${WATCHERS} watchers, ${changes} changes`,
        measured: `${pct(ourLat, 99).toFixed(1)} ms p99 delivery`,
        baseline: `${pct(bareLat, 99).toFixed(1)} ms p99 (bare gRPC streams)`,
        ratio: pct(ourLat, 99) / pct(bareLat, 99),
      });
      rows.push({
        bench: `  heap per watcher (${N} instances)`,
        measured: `${(perWatcher / 1024).toFixed(0)} KiB`,
        baseline: `${(perInformer / 1024).toFixed(0)} KiB (an informer each)`,
        ratio: perWatcher / perInformer,
      });
      rows.push({
        bench: `  all ${WATCHERS * changes} deliveries`,
        measured: `${wall.toFixed(0)} ms wall`,
        baseline: `${bareWall.toFixed(0)} ms (bare gRPC streams)`,
        ratio: wall / bareWall,
      });
    }

    // undeploy
    {
      const before = d.provider.currentCapacity().used.cpu;
      const ids = Array.from({ length: 100 }, (_, i) => `b-${String(i).padStart(4, '0')}`);
      let t0 = performance.now();
      await Promise.all(ids.map((instanceId) => unary('Undeploy', { providerId: 'bench', instanceId, graceSeconds: 0 })));
      await until('capacity to be back', () => d.provider.currentCapacity().used.cpu === before - 100 * 10);
      const ours = performance.now() - t0;
      const names = Array.from({ length: 100 }, (_, i) => `b-${String(100 + i).padStart(4, '0')}`);
      t0 = performance.now();
      await Promise.all(names.map((name) => core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 })));
      await until('the pods to be gone', async () => (await core.listNamespacedPod({ namespace, labelSelector: 'bench-group=delete' })).items.length === 0);
      const base = performance.now() - t0;
      rows.push({
        bench: 'Undeploy 100 instances',
        measured: `${ours.toFixed(0)} ms to capacity back`,
        baseline: `${base.toFixed(0)} ms (client-node delete)`,
        ratio: ours / base,
      });
    }
  } finally {
    for (const c of clients) c.close();
    await daemon?.stop();
    await core.deleteNamespace({ name: namespace, propagationPolicy: 'Background' }).catch(() => undefined);
  }
}
