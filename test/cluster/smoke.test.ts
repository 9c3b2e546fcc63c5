/**
 * Smoke tests proving the cluster under test is a real Kubernetes control
 * plane: the API server's own validation, the scheduler, the Job, TTL and
 * garbage-collection controllers, and metrics.k8s.io served through an
 * APIService. They run against the local KWOK cluster (test/cluster/cluster.sh)
 * or any cluster named by TEST_KUBECONFIG; the checks that depend on the local
 * cluster's fake nodes are skipped elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, isLocalCluster, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { apiStatusOf, httpStatusOf } from '../../src/shared/kube-api-errors.js';

const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const local = isLocalCluster();

const FAKE_NODES = ['kwok-node-0', 'kwok-node-gpu'];
const IMAGE = 'busybox:1.36';

let ns: TestNamespace;

beforeAll(async () => {
  ns = await createTestNamespace('smoke');
}, 60_000);

afterAll(async () => {
  await ns?.cleanup();
});

function pod(name: string, opts: { requests?: Record<string, string>; annotations?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { name, annotations: opts.annotations ?? {} },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          // KWOK runs nothing, so the image only matters on a real cluster (TEST_KUBECONFIG).
          image: IMAGE,
          command: ['sh', '-c', 'sleep 3600'],
          ...(opts.requests ? { resources: { requests: opts.requests, limits: opts.requests } } : {}),
        },
      ],
    },
  };
}

function job(name: string, opts: { ttl?: number; completions?: number } = {}): V1Job {
  return {
    metadata: { name },
    spec: {
      ...(opts.ttl !== undefined ? { ttlSecondsAfterFinished: opts.ttl } : {}),
      completions: opts.completions ?? 1,
      parallelism: opts.completions ?? 1,
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'true'], resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
        },
      },
    },
  };
}

async function podsOfJob(jobName: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `batch.kubernetes.io/job-name=${jobName}` });
  return list.items;
}

/** Parses a Kubernetes CPU quantity ("250m", "249871234n", "1") into cores. */
function cpuCores(q: string): number {
  const m = /^([0-9.]+)([numk]?)$/.exec(q);
  if (!m) throw new Error(`unexpected cpu quantity ${q}`);
  const scale: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3 };
  return Number(m[1]) * (scale[m[2] ?? ''] ?? Number.NaN);
}

/** Parses a Kubernetes memory quantity ("64Mi", "65536Ki", "67108864") into bytes. */
function memoryBytes(q: string): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  const scale: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9, '': 1 };
  return Number(m[1]) * (scale[m[2] ?? ''] ?? Number.NaN);
}

describe('API server', () => {
  it('refuses an invalid Pod name with its own 422 validation Status', async () => {
    let caught: unknown;
    try {
      await core.createNamespacedPod({ namespace: ns.name, body: pod('Invalid_Name') });
    } catch (err) {
      caught = err;
    }
    expect(httpStatusOf(caught)).toBe(422);
    const status = apiStatusOf(caught);
    expect(status?.kind).toBe('Status');
    expect(status?.reason).toBe('Invalid');
    expect(status?.message).toContain('metadata.name: Invalid value: "Invalid_Name"');
    expect(status?.message).toContain('RFC 1123');
  });

  it('answers 409 AlreadyExists for a duplicate name', async () => {
    const body = { metadata: { name: 'dup' }, data: { a: '1' } };
    await core.createNamespacedConfigMap({ namespace: ns.name, body });
    let caught: unknown;
    try {
      await core.createNamespacedConfigMap({ namespace: ns.name, body });
    } catch (err) {
      caught = err;
    }
    expect(httpStatusOf(caught)).toBe(409);
    expect(apiStatusOf(caught)?.reason).toBe('AlreadyExists');
  });
});

describe.skipIf(!local)('fake nodes (local KWOK cluster)', () => {
  it('lists the fake nodes with their allocatable resources, Ready', async () => {
    const nodes = await core.listNode();
    const byName = new Map(nodes.items.map((n) => [n.metadata?.name, n]));
    for (const name of FAKE_NODES) {
      const node = byName.get(name);
      expect(node, `node ${name}`).toBeDefined();
      const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
      expect(ready?.status, `${name} Ready`).toBe('True');
    }
    expect(byName.get('kwok-node-0')?.status?.allocatable).toMatchObject({ cpu: '8', memory: '32Gi', pods: '110' });
    expect(byName.get('kwok-node-gpu')?.status?.allocatable).toMatchObject({ cpu: '16', memory: '64Gi', 'nvidia.com/gpu': '4' });
  });

  it('schedules a Pod onto a fake node and KWOK marks it Running', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod('runs', { requests: { cpu: '500m', memory: '256Mi' } }) });
    const running = await waitFor('pod runs to be Running', async () => {
      const p = await core.readNamespacedPod({ name: 'runs', namespace: ns.name });
      return p.status?.phase === 'Running' ? p : undefined;
    });
    expect(FAKE_NODES).toContain(running.spec?.nodeName);
    expect(running.status?.podIP).toBeTruthy();
  }, 90_000);

  it('puts a GPU Pod on the GPU node', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod('gpu', { requests: { cpu: '1', memory: '1Gi', 'nvidia.com/gpu': '1' } }) });
    const scheduled = await waitFor('pod gpu to be scheduled', async () => {
      const p = await core.readNamespacedPod({ name: 'gpu', namespace: ns.name });
      return p.spec?.nodeName ? p : undefined;
    });
    expect(scheduled.spec?.nodeName).toBe('kwok-node-gpu');
  }, 90_000);

  it('leaves a Pod bigger than any node Pending/Unschedulable', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod('too-big', { requests: { cpu: '64', memory: '1Ti' } }) });
    const p = await waitFor('pod too-big to be marked Unschedulable', async () => {
      const p = await core.readNamespacedPod({ name: 'too-big', namespace: ns.name });
      const cond = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
      return cond?.status === 'False' && cond.reason === 'Unschedulable' ? p : undefined;
    });
    expect(p.status?.phase).toBe('Pending');
    expect(p.spec?.nodeName).toBeFalsy();
    expect(p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toMatch(/Insufficient (cpu|memory)/);
  }, 90_000);
});

describe('controllers', () => {
  it('runs a Job to completion and removes it after ttlSecondsAfterFinished', async () => {
    await batch.createNamespacedJob({ namespace: ns.name, body: job('ttl', { ttl: 2 }) });
    await waitFor(
      'job ttl to complete',
      async () => {
        const j = await batch.readNamespacedJob({ name: 'ttl', namespace: ns.name });
        return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') && (j.status.succeeded ?? 0) >= 1;
      },
      { timeoutMs: 90_000 },
    );
    await waitFor(
      'job ttl to be deleted by the TTL controller',
      async () => {
        try {
          await batch.readNamespacedJob({ name: 'ttl', namespace: ns.name });
          return false;
        } catch (err) {
          if (httpStatusOf(err) === 404) return true;
          throw err;
        }
      },
      { timeoutMs: 90_000 },
    );
  }, 200_000);

  it('deletes the pods of a Job deleted with propagationPolicy Background', async () => {
    await batch.createNamespacedJob({ namespace: ns.name, body: job('bg', { completions: 2 }) });
    const pods = await waitFor('pods of job bg', async () => {
      const items = await podsOfJob('bg');
      return items.length >= 2 ? items : undefined;
    });
    expect(pods.every((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'Job' && o.name === 'bg'))).toBe(true);
    await batch.deleteNamespacedJob({ name: 'bg', namespace: ns.name, propagationPolicy: 'Background' });
    await waitFor('pods of job bg to be garbage-collected', async () => (await podsOfJob('bg')).length === 0, {
      timeoutMs: 90_000,
    });
  }, 200_000);
});

describe.skipIf(!local)('metrics.k8s.io (metrics-server scraping KWOK)', () => {
  it('serves PodMetrics from the usage annotations and NodeMetrics for its node', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: pod('busy', {
        requests: { cpu: '500m', memory: '256Mi' },
        annotations: { 'kwok.x-k8s.io/usage-cpu': '250m', 'kwok.x-k8s.io/usage-memory': '64Mi' },
      }),
    });
    type PodMetrics = { metadata: { name: string }; containers: { name: string; usage: { cpu: string; memory: string } }[] };
    const metrics = await waitFor(
      'PodMetrics for pod busy',
      async () => {
        const list = (await custom.listNamespacedCustomObject({
          group: 'metrics.k8s.io',
          version: 'v1beta1',
          namespace: ns.name,
          plural: 'pods',
        })) as { items: PodMetrics[] };
        return list.items.find((m) => m.metadata.name === 'busy' && m.containers.length > 0);
      },
      { timeoutMs: 150_000, intervalMs: 2_000 },
    );
    const usage = metrics.containers[0]?.usage;
    expect(usage).toBeDefined();
    expect(cpuCores(usage?.cpu ?? '')).toBeGreaterThan(0.2);
    expect(cpuCores(usage?.cpu ?? '')).toBeLessThan(0.3);
    expect(memoryBytes(usage?.memory ?? '')).toBeCloseTo(64 * 1024 ** 2, -6);

    // NodeMetrics of the node running the pod (KWOK sums the usage of its pods;
    // metrics-server leaves out a node whose usage is still zero).
    const nodeName = (await core.readNamespacedPod({ name: 'busy', namespace: ns.name })).spec?.nodeName;
    expect(FAKE_NODES).toContain(nodeName);
    const nodeMetrics = await waitFor(
      `NodeMetrics for ${nodeName}`,
      async () => {
        const list = (await custom.listClusterCustomObject({ group: 'metrics.k8s.io', version: 'v1beta1', plural: 'nodes' })) as {
          items: { metadata: { name: string }; usage: { cpu: string; memory: string } }[];
        };
        return list.items.find((n) => n.metadata.name === nodeName);
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(cpuCores(nodeMetrics.usage.cpu)).toBeGreaterThanOrEqual(0.2);
    expect(memoryBytes(nodeMetrics.usage.memory)).toBeGreaterThanOrEqual(64 * 1024 ** 2 * 0.9);
  }, 200_000);
});
