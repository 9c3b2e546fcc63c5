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
import { podManifest } from '../dist/src/adapters/kube/manifests.js';
import { validateDeploy } from '../dist/src/core/deploy-spec.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'dist', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-bench-'));
const LEASE = { lease_duration_seconds: 4, renew_deadline_seconds: 3, retry_period_seconds: 0.5 };
const POD_CPU = 10; // millicores per managed pod

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** A client that reconnects within milliseconds, so the measurement is the daemon's and not grpc-js's backoff. */
function fastClient(port) {
  const { grpcObject } = loadProto();
  return new grpcObject.provider.Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 20,
    'grpc.max_reconnect_backoff_ms': 50,
  });
}

const unary = (client, method, req, deadlineMs = 2000) =>
  new Promise((res, rej) => client[method](req, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? rej(e) : res(r))));

class Replica {
  constructor(name, port, config) {
    this.name = name;
    this.port = port;
    this.config = config;
    this.lines = [];
  }

  start() {
    const path = join(dir, `${this.name}-${Date.now()}.yaml`);
    writeFileSync(path, stringify({ ...this.config, server: { host: '127.0.0.1', port: this.port, shutdown_grace_seconds: 2 }, leader_election: { ...LEASE, identity: this.name }, log: { level: 'info' } }));
    this.child = spawn(process.execPath, [MAIN, '--config', path], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((r) => this.child.on('exit', r));
    let buf = '';
    this.child.stdout.on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop();
      for (const l of parts) if (l.startsWith('{')) this.lines.push(JSON.parse(l).msg);
    });
  }

  async kill(signal) {
    this.child.kill(signal);
    await this.exited;
  }
}

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

/** Managed pods as the daemon itself would create them, up to `n`. */
async function ensurePods(core, namespace, from, n) {
  const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' };
  let next = from;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const spec = validateDeploy({ instanceId: `bench-${i}`, providerId: 'bench', image: 'busybox', resources: { cpu: POD_CPU, memory: 1 << 20, gpu: 0 }, env: {} }, defaults);
      await core.createNamespacedPod({ namespace, body: podManifest(spec, { namespace, selectorLabels: {} }) });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** ms from process start until HealthCheck answers and its books hold exactly the pods there are. */
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

/** Forwards each connection to the first upstream that accepts it (a killed replica refuses at once). */
async function startFront(ports) {
  const server = createServer((socket) => {
    socket.pause();
    const tryAt = (i) => {
      if (i >= ports.length) return socket.destroy();
      const up = connect(ports[i], '127.0.0.1');
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
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => server.close() };
}

async function leaderOf(replicas) {
  for (;;) {
    for (const r of replicas) if (r.lines.findLast((m) => m?.startsWith('became the active') || m?.startsWith('stopped being')) === 'became the active replica (leader lease acquired)') return r;
    await sleep(20);
  }
}

export async function continuityBench({ kubeconfig, podCounts, trials, log }) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const rows = [];
  const config = (namespace) => ({ kubernetes: { kubeconfig, namespace }, resource: { cpu: 1_000_000, memory: '1Ti', gpu: 0 }, limits: { max_instances: 100_000 }, prometheus: { port: 0 } });
  const namespaces = [];
  try {
    // restart-to-serving
    const ns = await createNamespace(core);
    namespaces.push(ns);
    const solo = new Replica('bench-solo', await freePort(), config(ns));
    solo.start();
    const first = fastClient(solo.port);
    for (;;) {
      try {
        await unary(first, 'Connect', { providerId: 'bench' });
        break;
      } catch {
        await sleep(50);
      }
    }
    first.close();
    await solo.kill('SIGTERM');
    let have = 0;
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
      rows.push({ bench: `restart-to-serving, ${n} pods`, measured: `${median.toFixed(0)} ms (median of 3)`, baseline: `${baseline.toFixed(0)} ms at ${podCounts[0]} pods`, ratio: median / baseline });
    }

    // fail-over
    const pairNs = await createNamespace(core);
    namespaces.push(pairNs);
    const pair = [new Replica('bench-a', await freePort(), config(pairNs)), new Replica('bench-b', await freePort(), config(pairNs))];
    for (const r of pair) r.start();
    const front = await startFront(pair.map((r) => r.port));
    const client = fastClient(front.port);
    for (;;) {
      try {
        await unary(client, 'Connect', { providerId: 'bench' });
        break;
      } catch {
        await sleep(50);
      }
    }
    const times = [];
    let seq = 0;
    for (let t = 0; t < trials; t++) {
      const victim = await leaderOf(pair);
      const survivor = pair.find((r) => r !== victim);
      // The survivor must be a synced standby before the kill.
      while (!survivor.lines.includes('grpc server listening')) await sleep(20);
      await sleep(1000);
      const t0 = performance.now();
      await victim.kill('SIGKILL');
      for (;;) {
        try {
          const res = await unary(client, 'Deploy', { providerId: 'bench', instanceId: `failover-${seq++}`, image: 'busybox', resourceRequest: { cpu: POD_CPU, memory: 1 << 20, gpu: 0 } }, 2000);
          if (!res.error) break;
        } catch {
          /* the killed replica's connection, or no leader yet */
        }
        await sleep(5);
      }
      times.push(performance.now() - t0);
      log(`fail-over trial ${t + 1}/${trials}: ${times.at(-1).toFixed(0)} ms`);
      victim.lines = [];
      victim.start();
    }
    client.close();
    front.close();
    for (const r of pair) await r.kill('SIGKILL');
    const bound = LEASE.lease_duration_seconds * 1000;
    for (const q of [0.5, 0.99]) {
      const v = quantile(times, q);
      rows.push({ bench: `fail-over after SIGKILL, p${q * 100} of ${trials}`, measured: `${v.toFixed(0)} ms`, baseline: `${bound} ms lease duration`, ratio: v / bound });
    }
  } finally {
    for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
  }
  return rows;
}
