/**
 * The continuity part of `npm run bench` (issue 12), against a real cluster
 * (the test cluster of `npm run cluster:up`, or BENCH_KUBECONFIG):
 *
 *   restart-to-serving   process start of one replica until HealthCheck
 *                        answers with exact books, at 0 and N managed pods;
 *                        the baseline is the same at 0 pods
 *   fail-over            SIGKILL of the active of two replicas until the first
 *                        successful Deploy through a front that forwards to
 *                        whichever replica accepts; p50/p99 over the trials,
 *                        beside the lease duration (the bound)
 *
 * Each daemon is the built dist/src/main.js as a separate process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { loadProto } from '../dist/src/adapters/grpc/proto.js';
import { podManifest, RESTRICTED } from '../dist/src/adapters/kube/manifests.js';
import { validateDeploy } from '../dist/src/core/deploy-spec.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-bench-'));
const LEASE = { lease_duration_seconds: 4, renew_deadline_seconds: 3, retry_period_seconds: 0.5 };
const POD_CPU = 10; // millicores per managed pod

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

/**
 * @param {number[]} values
 * @param {number} q
 * @returns {number}
 */
function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}

/**
 * A client that reconnects within milliseconds, so the measurement is the daemon's and not grpc-js's backoff.
 * @param {number} port
 */
function fastClient(port) {
  const { grpcObject } = loadProto();
  return new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 20,
    'grpc.max_reconnect_backoff_ms': 50,
  });
}

/**
 * @param {import('../dist/src/adapters/grpc/generated/provider/Service.js').ServiceClient} client
 * @param {'Connect' | 'HealthCheck' | 'Deploy'} method
 * @param {object} req
 * @returns {Promise<any>}
 */
const unary = (client, method, req, deadlineMs = 2000) =>
  new Promise((res, rej) => {
    /** @type {(req: object, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void} */
    const fn = /** @type {any} */ (client)[method].bind(client);
    fn(req, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? rej(e) : res(r)));
  });

class Replica {
  /**
   * @param {string} name
   * @param {number} port
   * @param {Record<string, unknown>} config
   */
  constructor(name, port, config) {
    this.name = name;
    this.port = port;
    this.config = config;
    /** @type {Array<string | undefined>} log messages */
    this.lines = [];
    /** @type {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, null> | undefined} */
    this.child = undefined;
    /** @type {Promise<unknown>} */
    this.exited = Promise.resolve();
  }

  start() {
    const path = join(dir, `${this.name}-${Date.now()}.yaml`);
    writeFileSync(
      path,
      stringify({
        ...this.config,
        server: { host: '127.0.0.1', port: this.port, shutdown_grace_seconds: 2 },
        leader_election: { ...LEASE, identity: this.name },
        log: { level: 'info' },
      }),
    );
    const child = spawn(process.execPath, [MAIN, '--config', path], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.exited = new Promise((r) => child.on('exit', r));
    let buf = '';
    child.stdout.on('data', (/** @type {Buffer} */ d) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) if (l.startsWith('{')) this.lines.push(JSON.parse(l).msg);
    });
  }

  /** @param {NodeJS.Signals} signal */
  async kill(signal) {
    this.child?.kill(signal);
    await this.exited;
  }
}

/** @param {CoreV1Api} core */
async function createNamespace(core) {
  const name = `bench-continuity-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'k8s-provider.test/namespace': 'true' } } } });
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return name;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`namespace ${name}: no default ServiceAccount`);
}

/**
 * Managed pods as the daemon itself would create them, up to `n`.
 * @param {CoreV1Api} core
 * @param {string} namespace
 * @param {number} from
 * @param {number} n
 */
async function ensurePods(core, namespace, from, n) {
  /** @type {import('../dist/src/core/deploy-spec.js').DeployDefaults} */
  const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' };
  let next = from;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const spec = validateDeploy(
        { instanceId: `bench-${i}`, providerId: 'bench', image: 'busybox', resources: { cpu: POD_CPU, memory: 1 << 20, gpu: 0 }, env: {} },
        defaults,
      );
      await core.createNamespacedPod({ namespace, body: podManifest(spec, { namespace, selectorLabels: {}, security: RESTRICTED }) });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/**
 * ms from process start until HealthCheck answers and its books hold exactly the pods there are.
 * @param {Replica} replica
 * @param {number} expectedCpu
 */
async function restartToServing(replica, expectedCpu) {
  const t0 = performance.now();
  replica.start();
  const client = fastClient(replica.port);
  try {
    for (;;) {
      try {
        const res = await unary(client, 'HealthCheck', { providerId: 'bench' }, 1000);
        if (Number(res.capacity.used.cpu) === expectedCpu) return performance.now() - t0;
      } catch {
        /* not listening yet, or books not synced */
      }
      await sleep(5);
      if (performance.now() - t0 > 120_000) throw new Error(`${replica.name}: not serving with exact books after 120 s`);
    }
  } finally {
    client.close();
  }
}

/**
 * Forwards each connection to the first upstream that accepts it (a killed replica refuses at once).
 * @param {number[]} ports
 */
async function startFront(ports) {
  const server = createServer((socket) => {
    socket.pause();
    /** @param {number} i */
    const tryAt = (i) => {
      const port = ports[i];
      if (port === undefined) {
        socket.destroy();
        return;
      }
      const up = connect(port, '127.0.0.1');
      up.once('error', () => tryAt(i + 1));
      up.once('connect', () => {
        up.removeAllListeners('error');
        socket.pipe(up);
        up.pipe(socket);
        socket.resume();
        const end = () => {
          socket.destroy();
          up.destroy();
        };
        for (const s of [socket, up]) {
          s.on('close', end);
          s.on('error', end);
        }
      });
    };
    tryAt(0);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { port, close: () => server.close() };
}

/**
 * @param {Replica[]} replicas
 * @returns {Promise<Replica>}
 */
async function leaderOf(replicas) {
  for (;;) {
    for (const r of replicas)
      if (r.lines.findLast((m) => m?.startsWith('became the active') || m?.startsWith('stopped being')) === 'became the active replica (leader lease acquired)')
        return r;
    await sleep(20);
  }
}

/**
 * Calls Connect until the daemon behind `port` answers.
 * @param {number} port
 */
async function connectWhenUp(port) {
  const client = fastClient(port);
  for (;;) {
    try {
      await unary(client, 'Connect', { providerId: 'bench' });
      return client;
    } catch {
      await sleep(50);
    }
  }
}

/** @typedef {{ bench: string, measured: string, baseline: string, ratio: number }} Row */
/** @typedef {(namespace: string) => Record<string, unknown>} ConfigFor */

/**
 * Restart-to-serving of one replica at each pod count (median of 3); the first count is the baseline.
 * @param {CoreV1Api} core
 * @param {string} ns
 * @param {ConfigFor} config
 * @param {number[]} podCounts
 * @param {(message: string) => void} log
 * @returns {Promise<Row[]>}
 */
async function restartRows(core, ns, config, podCounts, log) {
  const rows = [];
  const solo = new Replica('bench-solo', await freePort(), config(ns));
  solo.start();
  (await connectWhenUp(solo.port)).close();
  await solo.kill('SIGTERM');
  let have = 0;
  /** @type {number | undefined} */
  let baseline;
  for (const n of podCounts) {
    log(`restart-to-serving: ${n} managed pods (creating ${n - have})`);
    await ensurePods(core, ns, have, n);
    have = n;
    const runs = [];
    for (let i = 0; i < 3; i++) {
      runs.push(await restartToServing(solo, n * POD_CPU));
      await solo.kill('SIGTERM');
    }
    const median = quantile(runs, 0.5);
    baseline ??= median;
    rows.push({
      bench: `restart-to-serving, ${n} pods`,
      measured: `${median.toFixed(0)} ms (median of 3)`,
      baseline: `${baseline.toFixed(0)} ms at ${podCounts[0]} pods`,
      ratio: median / baseline,
    });
  }
  return rows;
}

/**
 * ms from SIGKILL of the active replica until a Deploy through the front succeeds.
 * @param {import('../dist/src/adapters/grpc/generated/provider/Service.js').ServiceClient} client
 * @param {Replica} victim
 * @param {string} idPrefix
 */
async function failOver(client, victim, idPrefix) {
  const t0 = performance.now();
  await victim.kill('SIGKILL');
  for (let seq = 0; ; seq++) {
    try {
      const request = { providerId: 'bench', instanceId: `${idPrefix}-${seq}`, image: 'busybox', resourceRequest: { cpu: POD_CPU, memory: 1 << 20, gpu: 0 } };
      const res = await unary(client, 'Deploy', request, 2000);
      if (!res.error) return performance.now() - t0;
    } catch {
      /* the killed replica's connection, or no leader yet */
    }
    await sleep(5);
  }
}

/**
 * Fail-over of the active of two replicas, `trials` times, as p50 and p99 beside the lease duration.
 * @param {string} ns
 * @param {ConfigFor} config
 * @param {number} trials
 * @param {(message: string) => void} log
 * @returns {Promise<Row[]>}
 */
async function failOverRows(ns, config, trials, log) {
  const pair = [new Replica('bench-a', await freePort(), config(ns)), new Replica('bench-b', await freePort(), config(ns))];
  for (const r of pair) r.start();
  const front = await startFront(pair.map((r) => r.port));
  const client = await connectWhenUp(front.port);
  /** @type {number[]} */
  const times = [];
  for (let t = 0; t < trials; t++) {
    const victim = await leaderOf(pair);
    const survivor = pair.find((r) => r !== victim) ?? victim;
    // The survivor must be a synced standby before the kill.
    while (!survivor.lines.includes('grpc server listening')) await sleep(20);
    await sleep(1000);
    const ms = await failOver(client, victim, `failover-${t}`);
    times.push(ms);
    log(`fail-over trial ${t + 1}/${trials}: ${ms.toFixed(0)} ms`);
    victim.lines = [];
    victim.start();
  }
  client.close();
  front.close();
  for (const r of pair) await r.kill('SIGKILL');
  const bound = LEASE.lease_duration_seconds * 1000;
  return [0.5, 0.99].map((q) => {
    const v = quantile(times, q);
    return {
      bench: `fail-over after SIGKILL, p${q * 100} of ${trials}`,
      measured: `${v.toFixed(0)} ms`,
      baseline: `${bound} ms lease duration`,
      ratio: v / bound,
    };
  });
}

/**
 * @param {{ kubeconfig: string, podCounts: number[], trials: number, log: (message: string) => void }} options
 * @returns {Promise<Row[]>}
 */
export async function continuityBench({ kubeconfig, podCounts, trials, log }) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  /** @type {ConfigFor} */
  const config = (namespace) => ({
    kubernetes: { kubeconfig, namespace },
    resource: { cpu: 1_000_000, memory: '1Ti', gpu: 0 },
    limits: { max_instances: 100_000 },
    prometheus: { port: 0 },
  });
  /** @type {string[]} */
  const namespaces = [];
  try {
    const solo = await createNamespace(core);
    namespaces.push(solo);
    const rows = await restartRows(core, solo, config, podCounts, log);
    const pair = await createNamespace(core);
    namespaces.push(pair);
    return [...rows, ...(await failOverRows(pair, config, trials, log))];
  } finally {
    for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
  }
}
