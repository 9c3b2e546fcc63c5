/**
 * Issue 14, item 2: a slow or throttling API server. The daemon, as its own
 * process, reaches the real kube-apiserver through a TLS-terminating proxy
 * (helpers/api-proxy.ts) named by its kubeconfig, which holds every answer for seconds, answers 429
 * with Retry-After as API Priority and Fairness does, and drops watches.
 *
 * - Deploy answers within kubernetes.deploy_timeout_seconds with
 *   UNAVAILABLE, never hangs; the create that reached the server anyway is
 *   counted once and a retry with the same id creates nothing more.
 * - A 429 is retried no sooner than Retry-After, with jitter; a Retry-After
 *   longer than the Deploy may wait is answered at once.
 * - HealthCheck, GetCapacity and GetAvailable are answered from memory the
 *   whole time: every call succeeds within the control plane's 5 s deadline.
 *   Their latencies are printed for the README, not asserted, seen from two
 *   sides: by a client in a process of its own (helpers/control-poller.mjs,
 *   so the proxy and the test on this event loop do not add to them) and by
 *   the daemon itself (its grpc_server_handling_seconds histogram and its
 *   event-loop delay, scraped at the start and end of each slow window).
 * - Watches dropped during the slowness recover once it ends, and the books
 *   equal what the cluster holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiProxy } from '../helpers/api-proxy.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { createTestNamespace, isLocalCluster, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { makeClient } from '../helpers/daemon.js';
import { FaultTally, RESULTS_DIR } from '../helpers/fault-figures.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterState } from '../helpers/books.js';
import { freePort } from '../helpers/net.js';
import { ensureBuilt, spawnDaemon, type DaemonProcess } from '../helpers/process.js';
import { healthOf } from '../helpers/replicas.js';
import { LABEL_MANAGED } from '../../src/shared/labels.js';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';

const PROVIDER = 'slow-cp';
const CPU = 100;
/** The Deploy timeout the daemon runs with here (the default is 10 s). */
const DEPLOY_TIMEOUT_S = 3;
/** What the proxy adds to every answer while "slow": longer than the Deploy may wait. */
const SLOW_MS = 6000;

type Control = 'HealthCheck' | 'GetCapacity' | 'GetAvailable';

/** A workload's own create (a Deploy also POSTs its NetworkPolicy: network.isolate is on by default). */
const isPodCreate = (r: { method: string; path: string }): boolean => r.method === 'POST' && /\/pods(\?|$)/.test(r.path);

/** The fault-figures row of this file; timed() reports every call to it. */
const tally = new FaultTally(
  'API server slow (every answer held 6 s), throttling (429) and watches dropped',
  import.meta.filename,
  // A Deploy the API server could not serve in time is meant to answer UNAVAILABLE.
  (method, outcome) => method === 'Deploy' && outcome.startsWith('UNAVAILABLE'),
);

/** A unary call with a deadline, resolving to its answer (or rejecting with the ServiceError) and its latency. */
function timed<Res>(client: ServiceClient, method: string, request: object, deadlineMs: number): Promise<{ res: Res; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void>)[
      method
    ]!;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) => {
      const inBand = (res as { error?: unknown } | undefined)?.error;
      tally.call(method, request, err ? `${grpc.status[err.code]}: ${err.details}` : typeof inBand === 'string' && inBand ? inBand : 'OK');
      if (err) reject(err);
      else resolve({ res, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    });
  });
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};

const CONTROL_METHODS = new Set<string>(['HealthCheck', 'GetCapacity', 'GetAvailable']);

/** Cumulative histogram buckets (upper bound in s -> count) of the series of `name` whose labels `match` accepts, summed. */
function buckets(metrics: string, name: string, match: (labels: Record<string, string>) => boolean): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!match(labels)) continue;
    const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
    out.set(le, (out.get(le) ?? 0) + Number(line.split(' ').pop()));
  }
  return out;
}

/** after - before, bucket by bucket. */
const minus = (after: Map<number, number>, before: Map<number, number>): Map<number, number> =>
  new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));

/** The smallest bucket bound holding the q-quantile of a cumulative histogram, as text. */
function quantileBound(h: Map<number, number>, q: number): string {
  const total = h.get(Number.POSITIVE_INFINITY) ?? 0;
  const le = [...h.keys()].sort((a, b) => a - b).find((b) => (h.get(b) ?? 0) >= q * total);
  return le === undefined ? '?' : le === Number.POSITIVE_INFINITY ? 'over the last bucket' : `≤ ${le * 1000} ms`;
}

/**
 * A thread's schedstat: nanoseconds it ran, nanoseconds it waited runnable
 * for a CPU, and how many times it was scheduled; zeros when unreadable.
 * What separates the daemon's own work from a busy machine's share.
 */
function runQueue(pid: number | undefined, tid = pid): { cpuNs: number; waitNs: number; slices: number } {
  try {
    const [cpu, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { cpuNs: cpu ?? 0, waitNs: wait ?? 0, slices: slices ?? 0 };
  } catch {
    return { cpuNs: 0, waitNs: 0, slices: 0 };
  }
}

/** Microseconds in which some task of the machine waited for a CPU (pressure stall information), or NaN. */
function cpuPressureUs(): number {
  try {
    return Number(/some .*total=(\d+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** What is read of the daemon and the machine at each end of a slow window. */
interface Reading {
  at: number;
  handling: Map<number, number>;
  gc: Map<number, number>;
  gcSeconds: number;
  runQueue: { cpuNs: number; waitNs: number; slices: number };
  pressureUs: number;
}

/**
 * prom-client samples the event loop with a 10 ms timer and reports the
 * intervals between its firings: an idle loop reads 10 ms. Less those 10 ms, what
 * is left is how late the loop ran a timer.
 */
const LAG_SAMPLING_MS = 10;

/** A gauge's value from a metrics text, NaN when absent. */
const gauge = (metrics: string, name: string): number =>
  Number(
    metrics
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.split(' ')[1] ?? Number.NaN,
  );

describe.runIf(isLocalCluster())('a slow or throttling API server', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  let proxy: ApiProxy;
  let d: DaemonProcess;
  let client: ServiceClient;
  let metricsPort = 0;
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  /** Every control call of the poller process: method, latency, outcome, and whether the API server was slow at its start. */
  const control: Array<{ method: Control; at: number; ms: number; ok: boolean; slow: boolean; connecting: boolean; error?: string }> = [];
  let poller: ChildProcess | undefined;
  let pollerExited: Promise<void> = Promise.resolve();
  /** The slow windows: [start, end) in ms since epoch, end undefined while one lasts. */
  const windows: Array<{ start: number; end?: number }> = [];
  /**
   * Per slow window, the daemon's side: its control calls' handling time,
   * its event loop's lateness (p99, max, ms), its collections, how long its
   * main thread waited for a CPU, and how long some task of the machine did.
   */
  const serverSide: Array<{
    ms: number;
    handling: Map<number, number>;
    lagP99Ms: number;
    lagMaxMs: number;
    gc: Map<number, number>;
    gcMs: number;
    runQueue: { cpuNs: number; waitNs: number; slices: number };
    pressureMs: number;
  }> = [];
  let atStart: Reading | undefined;
  const read = (text: string): Reading => ({
    at: Date.now(),
    handling: buckets(text, 'grpc_server_handling_seconds', (l) => l.grpc_service === 'provider.Service' && CONTROL_METHODS.has(l.grpc_method ?? '')),
    gc: buckets(text, 'nodejs_gc_duration_seconds', () => true),
    gcSeconds: text
      .split('\n')
      .filter((l) => l.startsWith('nodejs_gc_duration_seconds_sum{'))
      .reduce((t, l) => t + Number(l.split(' ').pop()), 0),
    runQueue: runQueue(d.child.pid),
    pressureUs: cpuPressureUs(),
  });

  const deploy = (instanceId: string, deadlineMs = 30_000) =>
    timed<{ error: string; created?: boolean }>(
      client,
      'Deploy',
      { providerId: PROVIDER, instanceId, image: 'registry.example/app:1', resourceRequest: { cpu: CPU, memory: 2 ** 24, gpu: 0 } },
      deadlineMs,
    );

  /** The control plane's side, in a process of its own: HealthCheck, GetCapacity and GetAvailable in turn, each with a 5 s deadline, until stopped. */
  const startControlCalls = (): void => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '..', 'helpers', 'control-poller.mjs'), String(d.port), PROVIDER, '20'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    poller = child;
    pollerExited = new Promise((r) => child.on('exit', () => r()));
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const c = JSON.parse(l) as { method: Control; at: number; ms: number; outcome: string; connecting?: boolean };
        // "slow": the proxy held every answer of the API server when the call started.
        const slow = windows.some((w) => c.at >= w.start && (w.end === undefined || c.at < w.end));
        control.push({
          method: c.method,
          at: c.at,
          ms: c.ms,
          ok: c.outcome === 'OK',
          slow,
          connecting: c.connecting === true,
          ...(c.outcome === 'OK' ? {} : { error: c.outcome }),
        });
        tally.call(c.method, { providerId: PROVIDER }, c.outcome);
      }
    });
  };
  const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  /**
   * Holds every API server answer for SLOW_MS from now on (or no longer), and
   * scrapes the daemon's metrics at both ends of the window: the histogram's
   * difference is the window's, and the event-loop delay gauges cover the
   * time since the previous scrape (prom-client resets them at each).
   */
  const slowApiServer = async (on: boolean): Promise<string> => {
    const text = await metricsText();
    if (on) {
      atStart = read(text);
      windows.push({ start: Date.now() });
      proxy.latencyMs = SLOW_MS;
      tally.fault(`slow window (every API answer held ${SLOW_MS / 1000} s)`);
    } else {
      proxy.latencyMs = 0;
      windows.at(-1)!.end = Date.now();
      const end = read(text);
      const start = atStart!;
      serverSide.push({
        ms: end.at - start.at,
        handling: minus(end.handling, start.handling),
        lagP99Ms: gauge(text, 'nodejs_eventloop_lag_p99_seconds') * 1000 - LAG_SAMPLING_MS,
        lagMaxMs: gauge(text, 'nodejs_eventloop_lag_max_seconds') * 1000 - LAG_SAMPLING_MS,
        gc: minus(end.gc, start.gc),
        gcMs: (end.gcSeconds - start.gcSeconds) * 1000,
        runQueue: {
          cpuNs: end.runQueue.cpuNs - start.runQueue.cpuNs,
          waitNs: end.runQueue.waitNs - start.runQueue.waitNs,
          slices: end.runQueue.slices - start.runQueue.slices,
        },
        pressureMs: (end.pressureUs - start.pressureUs) / 1000,
      });
    }
    return text;
  };

  /** CPU the cluster's live pods of this namespace request, as an admin lists them (not through the proxy). */
  const clusterCpu = async (): Promise<number> => {
    const pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_MANAGED}=true` })).items;
    return pods.filter((p) => !p.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '')).length * CPU;
  };
  /** The books as the control plane reads them. */
  const booksCpu = async (): Promise<number> =>
    Number((await timed<{ capacity: { used: { cpu: string } } }>(client, 'GetCapacity', { providerId: PROVIDER }, 5000)).res.capacity.used.cpu);
  /** gRPC health "": SERVING only while the API server is reachable and every watch is synced. */
  const ready = async (): Promise<boolean> => (await healthOf(d.port, '')) === 'SERVING';
  /** Watch restarts after errors, from the daemon's /metrics (or from a text scraped already). */
  const podWatchRestarts = async (scraped?: string): Promise<number> => {
    const text = scraped ?? (await metricsText());
    const line = text.split('\n').find((l) => l.startsWith('k8s_provider_informer_restarts_total{informer="pods"}'));
    return Number(line?.split(' ').pop() ?? Number.NaN);
  };

  beforeAll(async () => {
    tally.listen();
    ns = await createTestNamespace('slow-api');
    pki = makePki();
    proxy = new ApiProxy(makeKubeConfig(), pki);
    await proxy.start();
    ensureBuilt();
    metricsPort = await freePort();
    d = await spawnDaemon({
      server: { host: '127.0.0.1', port: 0, shutdown_grace_seconds: 2 },
      kubernetes: { kubeconfig: proxy.kubeconfig(), namespace: ns.name, deploy_timeout_seconds: DEPLOY_TIMEOUT_S },
      resource: { cpu: 8000, memory: '8Gi', gpu: 0 },
      prometheus: { host: '127.0.0.1', port: metricsPort },
      log: { level: 'info' },
    });
    client = makeClient(d.port);
    await timed(client, 'Connect', { providerId: PROVIDER }, 10_000);
    startControlCalls();
    // Its first call answered: the normal phase before the first slow window is measured too.
    await waitFor('the control-call process to answer its first call', () => control.length > 0, { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    poller?.kill('SIGTERM');
    await pollerExited;
    // Figures for the README, not assertions: the slow phases against the same run's normal ones.
    const figures = (slow: boolean): string => {
      const ms = control.filter((c) => c.ok && c.slow === slow && !c.connecting).map((c) => c.ms);
      return `${ms.length} calls, p50 ${percentile(ms, 50).toFixed(2)} ms, p95 ${percentile(ms, 95).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms, max ${Math.max(...ms).toFixed(2)} ms`;
    };
    // The daemon's own view over the slow windows: its handling time (to the histogram's bucket bound) and its event loop's delay.
    const sum = (get: (w: (typeof serverSide)[number]) => Map<number, number>): Map<number, number> => {
      const out = new Map<number, number>();
      for (const w of serverSide) for (const [le, n] of get(w)) out.set(le, (out.get(le) ?? 0) + n);
      return out;
    };
    const handled = sum((w) => w.handling);
    const gc = sum((w) => w.gc);
    const total = (f: (w: (typeof serverSide)[number]) => number): number => serverSide.reduce((t, w) => t + f(w), 0);
    const windowMs = total((w) => w.ms);
    const waits = total((w) => w.runQueue.slices);
    const lag = serverSide.map((w) => `p99 ${w.lagP99Ms.toFixed(1)} ms, max ${w.lagMaxMs.toFixed(1)} ms`).join(' and ');
    const clientSide = `client process: slow ${figures(true)}; normal ${figures(false)}`;
    const daemonSide =
      `daemon while slow (${(windowMs / 1000).toFixed(1)} s): ${handled.get(Number.POSITIVE_INFINITY) ?? 0} control calls handled, p50 ${quantileBound(handled, 0.5)}, ` +
      `p99 ${quantileBound(handled, 0.99)}; event loop late by ${lag} in the two windows; ${gc.get(Number.POSITIVE_INFINITY) ?? 0} GCs, ${total((w) => w.gcMs).toFixed(1)} ms in all, ` +
      `the longest ${quantileBound(gc, 1)}; its main thread ran ${(total((w) => w.runQueue.cpuNs) / 1e6).toFixed(0)} ms and waited for a CPU ` +
      `${(total((w) => w.runQueue.waitNs) / 1e6).toFixed(0)} ms, over ${waits} runs; ` +
      `machine: some task waiting for a CPU ${((100 * total((w) => w.pressureMs)) / windowMs).toFixed(0)} % of the time`;
    process.stderr.write(
      `[slow-api] control calls (HealthCheck/GetCapacity/GetAvailable, 5 s deadline): ${control.length}, failed ${control.filter((c) => !c.ok).length}; ` +
        `${clientSide}\n[slow-api] ${daemonSide}\n`,
    );
    tally.note(`control calls seen from a ${clientSide}`);
    // Every call with its start time beside the slow windows: to find what the slowest ones coincided with.
    writeFileSync(join(RESULTS_DIR, 'slow-api-control.json'), JSON.stringify({ windows, control }));
    tally.note(daemonSide);
    tally.fault('429 with Retry-After', proxy?.requests.filter((r) => r.status === 429).length ?? 0);
    client?.close();
    await d?.stop();
    if (d) tally.rss(d.peakRss());
    tally.write();
    await proxy?.stop();
    pki?.cleanup();
    await ns?.cleanup();
  });

  it('answers a Deploy within its timeout with UNAVAILABLE while every answer takes 6 s; the create that landed counts once', async () => {
    expect((await deploy('before')).res.error).toBe('');
    await waitFor('the first pod in the books', async () => (await booksCpu()) === CPU);

    await slowApiServer(true);
    const slow = await deploy('while-slow');
    expect(slow.res.error).toMatch(
      /^UNAVAILABLE: the Kubernetes API server did not answer within 3 s \(kubernetes\.deploy_timeout_seconds\) while deploying instance "while-slow"/,
    );
    process.stderr.write(`[slow-api] Deploy against a 6 s API server answered UNAVAILABLE after ${slow.ms.toFixed(0)} ms (timeout 3 s)\n`);
    // The create went through the proxy at once: the pod exists although the caller was told UNAVAILABLE.
    const creates = proxy.requests.filter((r) => isPodCreate(r) && r.name === 'while-slow');
    expect(creates).toHaveLength(1);
    await waitFor('the pod the slow create made, in the cluster', async () => (await clusterCpu()) === 2 * CPU, { timeoutMs: 30_000 });
    // Control calls kept answering while the API server was slow.
    expect(control.filter((c) => !c.ok)).toEqual([]);
    const duringSlow = control.length;

    await slowApiServer(false);
    await waitFor('the landed pod in the books (through the watch)', async () => (await booksCpu()) === 2 * CPU, { timeoutMs: 30_000 });
    const retry = await deploy('while-slow');
    expect(retry.res).toMatchObject({ error: '', created: false });
    expect(proxy.requests.filter((r) => isPodCreate(r) && r.name === 'while-slow')).toHaveLength(1);
    expect(await booksCpu()).toBe(await clusterCpu());
    expect(duringSlow).toBeGreaterThan(0);
  });

  it('retries a 429 no sooner than Retry-After, with jitter, and the Deploys succeed', async () => {
    const names = ['t0', 't1', 't2', 't3', 't4'];
    proxy.throttle((r) => isPodCreate(r) && names.includes(r.name ?? ''), names.length, 1);
    const results = await Promise.all(names.map((n) => deploy(n)));
    expect(results.map((r) => r.res.error)).toEqual(names.map(() => ''));
    const gaps = names.map((n) => {
      const posts = proxy.requests.filter((r) => isPodCreate(r) && r.name === n);
      expect(posts.map((p) => p.status)).toEqual([429, 201]);
      return posts[1]!.at - posts[0]!.answeredAt!;
    });
    process.stderr.write(`[slow-api] retry after a 429 with Retry-After: 1 came after ${gaps.map((g) => g.toFixed(0)).join(', ')} ms\n`);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(1000 - 5); // timer granularity
    // Jitter: the five were turned away together but do not all come back together.
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(20);
    await waitFor('the throttled deploys in the books', async () => (await booksCpu()) === 7 * CPU && (await clusterCpu()) === 7 * CPU, { timeoutMs: 30_000 });
  });

  it('answers at once, saying how long the server asked for, when Retry-After is past what the Deploy may wait', async () => {
    proxy.throttle((r) => r.method === 'POST' && r.name === 'long-wait', 1, 120);
    const r = await deploy('long-wait');
    expect(r.res.error).toMatch(/^UNAVAILABLE: .*overloaded \(429\).*retry after 120 s/);
    expect(proxy.requests.filter((q) => q.method === 'POST' && q.name === 'long-wait')).toHaveLength(1);
    expect((await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'iarnet.instance_id=long-wait' })).items).toEqual([]);
    proxy.clearThrottles();
  });

  it('recovers watches dropped while the API server is slow; the books then equal the cluster', async () => {
    const restartsBefore = await podWatchRestarts(await slowApiServer(true));
    const dropped = proxy.dropWatches();
    tally.fault('watch dropped', dropped);
    expect(dropped).toBeGreaterThan(0);
    // Meanwhile the cluster changes behind the daemon's back.
    await core.deleteNamespacedPod({ name: 'before', namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor('the watch failure to be noticed', async () => !(await ready()), { timeoutMs: 30_000 });
    // Deploys are refused while the books are not current; control calls still answer.
    const refused = await deploy('not-synced');
    expect(refused.res.error).toMatch(/^UNAVAILABLE: /);
    await new Promise((r) => setTimeout(r, 2000));

    await slowApiServer(false);
    await waitFor('the watches to resume', ready, { timeoutMs: 60_000 });
    expect(await podWatchRestarts()).toBeGreaterThan(restartsBefore);
    await waitFor('the books to equal the cluster', async () => (await booksCpu()) === (await clusterCpu()), { timeoutMs: 30_000 });
    expect(await booksCpu()).toBe(6 * CPU);
    // And the daemon admits again.
    expect((await deploy('after')).res.error).toBe('');
    await waitFor('the new pod in the books', async () => (await booksCpu()) === 7 * CPU && (await clusterCpu()) === 7 * CPU);
    expect(control.filter((c) => !c.ok)).toEqual([]);
    // Every instance answered OK exists once, but "before", deleted behind the daemon's back above.
    tally.removed(['before']);
    const state = await clusterState(ns.name);
    expect(tally.settle(state.workloads)).toEqual([]);
    expect([...state.workloads.values()].filter((o) => o.length > 1)).toEqual([]);
  });
});
