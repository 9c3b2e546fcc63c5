/**
 * Issue 5: GetRealTimeUsage on the real metrics path (KWOK emulates each
 * container's usage from the pod's kwok.x-k8s.io/usage-* annotations,
 * metrics-server scrapes it every 15 s, the daemon polls metrics.k8s.io),
 * and the fallback to requests when metrics.k8s.io is not there for us.
 *
 * Self-contained: the daemon runs as its own ServiceAccount in its own
 * namespace; the one cluster-wide change (deleting the metrics APIService)
 * is undone in afterAll whatever happens.
 */
import { isDeepStrictEqual } from 'node:util';
import { ApiregistrationV1Api, CoreV1Api, CustomObjectsApi, type V1APIService, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { createTestIdentity, type TestIdentity } from '../helpers/identity.js';
import { call, startTestDaemon, type LogLine, type TestDaemon } from '../helpers/daemon.js';
import { podMetricsLister } from '../../src/adapters/usage/lister.js';
import type { GetRealTimeUsageResponse__Output } from '../../src/adapters/grpc/generated/provider/GetRealTimeUsageResponse.js';
import { ANNOTATION_INSTANCE_ID, LABEL_INSTANCE_ID, LABEL_MANAGED, managedSelector } from '../../src/shared/labels.js';

const MI = 2 ** 20;
const PROVIDER = 'usage-cp';
const INTERVAL_S = 1;
const METRICS_APISERVICE = 'v1beta1.metrics.k8s.io';

const admin = makeKubeConfig();
const core = admin.makeApiClient(CoreV1Api);
const apiregistration = admin.makeApiClient(ApiregistrationV1Api);

interface Figures {
  cpu: number;
  memory: number;
  gpu: number;
}
interface Usage {
  source: string;
  stale: boolean;
  sampledAt: number;
  total: Figures;
  instances: Record<string, Figures>;
}

interface PodSpec {
  name: string;
  instanceId: string;
  containers: number;
  /** kwok.x-k8s.io/usage-* : what KWOK reports for each container */
  usage: { cpu: string; memory: string };
  requests: { cpu: string; memory: string; gpu?: string };
}

/** A pod labelled as the daemon labels its own; the exact instance id is in the annotation (the label value cannot hold "/" or ":"). */
function emulatedPod(p: PodSpec): V1Pod {
  const requests: Record<string, string> = { cpu: p.requests.cpu, memory: p.requests.memory, ...(p.requests.gpu ? { 'nvidia.com/gpu': p.requests.gpu } : {}) };
  return {
    metadata: {
      name: p.name,
      labels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: p.instanceId.replace(/[^A-Za-z0-9._-]/g, '-') },
      annotations: { [ANNOTATION_INSTANCE_ID]: p.instanceId, 'kwok.x-k8s.io/usage-cpu': p.usage.cpu, 'kwok.x-k8s.io/usage-memory': p.usage.memory },
    },
    spec: {
      containers: Array.from({ length: p.containers }, (_, i) => ({
        name: `c${i}`,
        image: 'iarnet/component',
        resources: { requests, limits: requests },
      })),
    },
  };
}

const PODS: PodSpec[] = [
  { name: 'usage-a', instanceId: 'tenant/a:1', containers: 1, usage: { cpu: '250m', memory: '100Mi' }, requests: { cpu: '500m', memory: '256Mi' } },
  { name: 'usage-b', instanceId: 'b', containers: 2, usage: { cpu: '150m', memory: '64Mi' }, requests: { cpu: '200m', memory: '128Mi' } },
  { name: 'usage-gpu', instanceId: 'gpu-c', containers: 1, usage: { cpu: '0.1', memory: '32Mi' }, requests: { cpu: '100m', memory: '64Mi', gpu: '1' } },
];

function sum(instances: Record<string, Figures>): Figures {
  return Object.values(instances).reduce((a, f) => ({ cpu: a.cpu + f.cpu, memory: a.memory + f.memory, gpu: a.gpu + f.gpu }), { cpu: 0, memory: 0, gpu: 0 });
}

/** What the annotations say, summed over containers, plus the GPUs the Running pods requested. */
const EMULATED: Record<string, Figures> = {
  'tenant/a:1': { cpu: 250, memory: 100 * MI, gpu: 0 },
  b: { cpu: 2 * 150, memory: 2 * 64 * MI, gpu: 0 },
  'gpu-c': { cpu: 100, memory: 32 * MI, gpu: 1 },
};
/** After the annotation patch below. */
const PATCHED: Record<string, Figures> = {
  'tenant/a:1': { cpu: 400, memory: 200 * MI, gpu: 0 },
  b: { cpu: 2 * 35, memory: 2 * 16 * MI, gpu: 0 },
  'gpu-c': { cpu: 100, memory: 32 * MI, gpu: 1 },
};
/** The requests of the Running pods: the fallback's figures. */
const REQUESTS: Record<string, Figures> = {
  'tenant/a:1': { cpu: 500, memory: 256 * MI, gpu: 0 },
  b: { cpu: 400, memory: 256 * MI, gpu: 0 },
  'gpu-c': { cpu: 100, memory: 64 * MI, gpu: 1 },
};

const FALLBACK_STARTED = 'metrics.k8s.io unavailable: usage falls back to the requests of Running managed pods';
const FALLBACK_ENDED = 'metrics.k8s.io answers again: usage comes from metrics, the requests fallback has ended';

function figures(info: { cpu: string; memory: string; gpu: string } | null): Figures {
  return { cpu: Number(info?.cpu), memory: Number(info?.memory), gpu: Number(info?.gpu) };
}

async function usage(d: TestDaemon): Promise<Usage> {
  const res = await call<GetRealTimeUsageResponse__Output>(d.client, 'GetRealTimeUsage', { providerId: PROVIDER, includeInstances: true });
  return {
    source: res.source,
    stale: res.stale,
    sampledAt: Number(res.sampledAtUnixMs),
    total: figures(res.usage),
    instances: Object.fromEntries(res.instances.map((i) => [i.instanceId, figures(i.usage)])),
  };
}

/** Polls GetRealTimeUsage until it shows exactly `instances` (and their sum) from `source`; returns it and how long that took. */
async function converge(
  d: TestDaemon,
  source: 'METRICS' | 'REQUESTS',
  instances: Record<string, Figures>,
  timeoutMs: number,
): Promise<{ u: Usage; ms: number }> {
  const started = Date.now();
  let last: Usage | undefined;
  const u = await waitFor(
    `GetRealTimeUsage to show ${JSON.stringify(instances)} from ${source}`,
    async () => {
      last = await usage(d);
      return last.source === source && isDeepStrictEqual(last.instances, instances) ? last : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(last)}; poller ${JSON.stringify(d.daemon.usageStats())}`);
  });
  return { u, ms: Date.now() - started };
}

const fallbackLines = (logs: readonly LogLine[]): LogLine[] => logs.filter((l) => l.msg === FALLBACK_STARTED || l.msg === FALLBACK_ENDED);

async function restoreApiService(saved: V1APIService | undefined): Promise<void> {
  if (!saved) return;
  try {
    await apiregistration.readAPIService({ name: METRICS_APISERVICE });
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
    await apiregistration.createAPIService({
      body: { apiVersion: saved.apiVersion, kind: saved.kind, metadata: { name: saved.metadata!.name, labels: saved.metadata!.labels }, spec: saved.spec },
    });
  }
  await waitFor(
    `APIService ${METRICS_APISERVICE} to be Available again`,
    async () =>
      (await apiregistration.readAPIService({ name: METRICS_APISERVICE })).status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True'),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

describe('real-time usage from metrics.k8s.io', () => {
  let ns: TestNamespace;
  let id: TestIdentity;
  let d: TestDaemon;
  let savedApiService: V1APIService | undefined;

  beforeAll(async () => {
    ns = await createTestNamespace('usage');
    id = await createTestIdentity(ns.name);
    d = await startTestDaemon(ns.name, {
      kubernetes: { kubeconfig: id.kubeconfigPath },
      usage: { interval_seconds: INTERVAL_S },
      prometheus: { port: 0 },
      // the tests outlast the 90 s a session lives without HealthCheck
      session: { health_timeout_seconds: 3600 },
      log: { level: 'info' },
    });
    await call(d.client, 'Connect', { providerId: PROVIDER });
  });

  afterAll(async () => {
    try {
      await restoreApiService(savedApiService);
    } finally {
      await d?.stop();
      await id?.cleanup();
      await ns?.cleanup();
    }
  });

  it('lists PodMetrics with the managed selector, and the request honours its abort signal', async () => {
    const list = podMetricsLister(admin.makeApiClient(CustomObjectsApi), ns.name, managedSelector({}));
    expect(await list(new AbortController().signal)).toMatchObject({ kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', items: [] });
    await expect(list(AbortSignal.abort())).rejects.toThrow(/abort/i);
  });

  it('converges to exactly the emulated usage within a few metrics-server resolutions, and follows changes', async () => {
    await Promise.all(PODS.map((p) => core.createNamespacedPod({ namespace: ns.name, body: emulatedPod(p) })));
    await waitFor('the pods to run', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: managedSelector({}) });
      return pods.items.length === PODS.length && pods.items.every((p) => p.status?.phase === 'Running');
    });

    // metrics-server needs two scrapes, 15 s apart, before it reports a new pod's CPU
    const first = await converge(d, 'METRICS', EMULATED, 90_000);
    expect(first.u).toEqual({ source: 'METRICS', stale: false, sampledAt: first.u.sampledAt, total: sum(EMULATED), instances: EMULATED });
    expect(first.u.total).toEqual({ cpu: 650, memory: 260 * MI, gpu: 1 });
    expect(Date.now() - first.u.sampledAt).toBeLessThan(3 * INTERVAL_S * 1000 + 1000);

    const patchedAt = Date.now();
    await Promise.all([
      core.patchNamespacedPod({
        name: 'usage-a',
        namespace: ns.name,
        body: [
          { op: 'replace', path: '/metadata/annotations/kwok.x-k8s.io~1usage-cpu', value: '400m' },
          { op: 'replace', path: '/metadata/annotations/kwok.x-k8s.io~1usage-memory', value: '200Mi' },
        ],
      }),
      core.patchNamespacedPod({
        name: 'usage-b',
        namespace: ns.name,
        body: [
          { op: 'replace', path: '/metadata/annotations/kwok.x-k8s.io~1usage-cpu', value: '35m' },
          { op: 'replace', path: '/metadata/annotations/kwok.x-k8s.io~1usage-memory', value: '16Mi' },
        ],
      }),
    ]);
    // the scrape after the change averages old and new CPU over its window; the one after that is exact
    const changed = await converge(d, 'METRICS', PATCHED, 90_000);
    expect(changed.u).toEqual({ source: 'METRICS', stale: false, sampledAt: changed.u.sampledAt, total: sum(PATCHED), instances: PATCHED });
    expect(changed.u.total).toEqual({ cpu: 570, memory: 264 * MI, gpu: 1 });
    const stats = d.daemon.usageStats();
    console.info(
      `[usage] exact emulated usage ${Math.round(first.ms / 100) / 10} s after the pods ran; ` +
        `followed the annotation change in ${Math.round((Date.now() - patchedAt) / 100) / 10} s; ` +
        `poller: ${stats.pollsTotal} polls, ${stats.pollsSkipped} skipped, ${stats.pollsFailed} failed, last poll ${stats.lastPollDurationMs} ms`,
    );
    expect(stats).toMatchObject({ source: 'metrics', stale: false, consecutiveFailures: 0, fallbackReason: undefined });
    expect(d.logs.some((l) => l.msg === 'usage comes from metrics.k8s.io' && l.source === 'metrics')).toBe(true);
    expect(fallbackLines(d.logs)).toEqual([]);
  });

  it('falls back to requests while RBAC forbids metrics (403), logs it once each way, and comes back', async () => {
    const logsBefore = d.logs.length;
    await id.revokeMetrics();
    const fallback = await converge(d, 'REQUESTS', REQUESTS, 20_000);
    expect(fallback.u).toEqual({ source: 'REQUESTS', stale: false, sampledAt: fallback.u.sampledAt, total: sum(REQUESTS), instances: REQUESTS });
    expect(d.daemon.usageStats()).toMatchObject({ source: 'requests', fallbackReason: expect.stringContaining('HTTP 403') });
    // several failed polls while forbidden: still one log line
    await waitFor('three more failed polls', () => d.daemon.usageStats().consecutiveFailures >= 4, { timeoutMs: 20_000 });

    await id.grantMetrics();
    const back = await converge(d, 'METRICS', PATCHED, 20_000);
    expect(back.u.stale).toBe(false);
    const lines = fallbackLines(d.logs.slice(logsBefore));
    expect(lines.map((l) => [l.level, l.source, l.msg])).toEqual([
      [40, 'requests', FALLBACK_STARTED],
      [30, 'metrics', FALLBACK_ENDED],
    ]);
    expect(lines[0]!.reason).toMatch(/^HTTP 403: not allowed to list pods\.metrics\.k8s\.io: .*forbidden/);
    expect(lines[1]!.fallbackReason).toBe(lines[0]!.reason);
    console.info(
      `[usage] RBAC fallback: requests after ${Math.round(fallback.ms / 100) / 10} s, metrics again ${Math.round(back.ms / 100) / 10} s after the grant`,
    );
  });

  it('falls back to requests without the metrics APIService (404), and comes back once it is registered again', async () => {
    savedApiService = await apiregistration.readAPIService({ name: METRICS_APISERVICE });
    const logsBefore = d.logs.length;
    await apiregistration.deleteAPIService({ name: METRICS_APISERVICE });
    const fallback = await converge(d, 'REQUESTS', REQUESTS, 30_000);
    expect(fallback.u).toMatchObject({ source: 'REQUESTS', stale: false, total: sum(REQUESTS) });
    expect(d.daemon.usageStats().fallbackReason).toMatch(/^HTTP 404: /);
    // the daemon keeps serving everything else meanwhile
    expect(await call(d.client, 'HealthCheck', { providerId: PROVIDER })).toMatchObject({ capacity: { total: { cpu: '8000' } } });

    await restoreApiService(savedApiService);
    savedApiService = undefined;
    const back = await converge(d, 'METRICS', PATCHED, 60_000);
    const lines = fallbackLines(d.logs.slice(logsBefore));
    expect(lines.map((l) => [l.level, l.source, l.msg])).toEqual([
      [40, 'requests', FALLBACK_STARTED],
      [30, 'metrics', FALLBACK_ENDED],
    ]);
    expect(lines[0]!.reason).toMatch(/^HTTP 404: /);
    console.info(
      `[usage] APIService fallback: requests after ${Math.round(fallback.ms / 100) / 10} s, metrics again ${Math.round(back.ms / 100) / 10} s after re-registration`,
    );
  });
});
