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
 *   whole time: every call succeeds within the control plane's 5 s deadline
 *   (their latencies are printed for the README, not asserted).
 * - Watches dropped during the slowness recover once it ends, and the books
 *   equal what the cluster holds.
 */
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiProxy } from '../helpers/api-proxy.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { createTestNamespace, isLocalCluster, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { makeClient } from '../helpers/daemon.js';
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

/** A unary call with a deadline, resolving to its answer (or rejecting with the ServiceError) and its latency. */
/** A workload's own create (a Deploy also POSTs its NetworkPolicy: network.isolate is on by default). */
const isPodCreate = (r: { method: string; path: string }): boolean => r.method === 'POST' && /\/pods(\?|$)/.test(r.path);

function timed<Res>(client: ServiceClient, method: string, request: object, deadlineMs: number): Promise<{ res: Res; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void>)[
      method
    ]!;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve({ res, ms: Number(process.hrtime.bigint() - started) / 1e6 }),
    );
  });
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};

describe.runIf(isLocalCluster())('a slow or throttling API server', () => {
  let ns: TestNamespace;
  let pki: TestPki;
  let proxy: ApiProxy;
  let d: DaemonProcess;
  let client: ServiceClient;
  let metricsPort = 0;
  const core = makeKubeConfig().makeApiClient(CoreV1Api);
  /** Every control call made during the file: method, latency, outcome. */
  const control: Array<{ method: Control; ms: number; ok: boolean; slow: boolean; error?: string }> = [];
  let polling = false;
  let poller: Promise<void> | undefined;

  const deploy = (instanceId: string, deadlineMs = 30_000) =>
    timed<{ error: string; created?: boolean }>(
      client,
      'Deploy',
      { providerId: PROVIDER, instanceId, image: 'registry.example/app:1', resourceRequest: { cpu: CPU, memory: 2 ** 24, gpu: 0 } },
      deadlineMs,
    );

  /** The control plane's side: HealthCheck, GetCapacity and GetAvailable in turn, each with a 5 s deadline, until stopped. */
  const startControlCalls = (): void => {
    polling = true;
    poller = (async () => {
      const methods: Control[] = ['HealthCheck', 'GetCapacity', 'GetAvailable'];
      for (let i = 0; polling; i++) {
        const method = methods[i % methods.length]!;
        // "slow": the proxy holds every answer of the API server meanwhile.
        const slow = proxy.latencyMs > 0;
        try {
          const { ms } = await timed(client, method, { providerId: PROVIDER }, 5000);
          control.push({ method, ms, ok: true, slow });
        } catch (err) {
          const e = err as grpc.ServiceError;
          control.push({ method, ms: Number.NaN, ok: false, slow, error: `${grpc.status[e.code]}: ${e.details}` });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
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
  /** Watch restarts after errors, from the daemon's /metrics. */
  const podWatchRestarts = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('k8s_provider_informer_restarts_total{informer="pods"}'));
    return Number(line?.split(' ').pop() ?? Number.NaN);
  };

  beforeAll(async () => {
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
  });

  afterAll(async () => {
    polling = false;
    await poller;
    // Figures for the README, not assertions: the slow phases against the same run's normal ones.
    const figures = (slow: boolean): string => {
      const ms = control.filter((c) => c.ok && c.slow === slow).map((c) => c.ms);
      return `${ms.length} calls, p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms, max ${Math.max(...ms).toFixed(2)} ms`;
    };
    process.stderr.write(
      `[slow-api] control calls (HealthCheck/GetCapacity/GetAvailable, 5 s deadline): ${control.length}, failed ${control.filter((c) => !c.ok).length}; ` +
        `API server slow: ${figures(true)}; normal: ${figures(false)}\n`,
    );
    client?.close();
    await d?.stop();
    await proxy?.stop();
    pki?.cleanup();
    await ns?.cleanup();
  });

  it('answers a Deploy within its timeout with UNAVAILABLE while every answer takes 6 s; the create that landed counts once', async () => {
    expect((await deploy('before')).res.error).toBe('');
    await waitFor('the first pod in the books', async () => (await booksCpu()) === CPU);

    proxy.latencyMs = SLOW_MS;
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

    proxy.latencyMs = 0;
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
    proxy.latencyMs = SLOW_MS;
    const restartsBefore = await podWatchRestarts();
    expect(proxy.dropWatches()).toBeGreaterThan(0);
    // Meanwhile the cluster changes behind the daemon's back.
    await core.deleteNamespacedPod({ name: 'before', namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor('the watch failure to be noticed', async () => !(await ready()), { timeoutMs: 30_000 });
    // Deploys are refused while the books are not current; control calls still answer.
    const refused = await deploy('not-synced');
    expect(refused.res.error).toMatch(/^UNAVAILABLE: /);
    await new Promise((r) => setTimeout(r, 2000));

    proxy.latencyMs = 0;
    await waitFor('the watches to resume', ready, { timeoutMs: 60_000 });
    expect(await podWatchRestarts()).toBeGreaterThan(restartsBefore);
    await waitFor('the books to equal the cluster', async () => (await booksCpu()) === (await clusterCpu()), { timeoutMs: 30_000 });
    expect(await booksCpu()).toBe(6 * CPU);
    // And the daemon admits again.
    expect((await deploy('after')).res.error).toBe('');
    await waitFor('the new pod in the books', async () => (await booksCpu()) === 7 * CPU && (await clusterCpu()) === 7 * CPU);
    expect(control.filter((c) => !c.ok)).toEqual([]);
  });
});
