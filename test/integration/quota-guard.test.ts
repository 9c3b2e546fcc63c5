/**
 * Issue 15 item 6 on the real API server: with
 * resource.enforce_with_resourcequota the daemon keeps a ResourceQuota equal
 * to its capacity, its status reaches the books (a pod made around the daemon
 * lowers GetAvailable), a deploy the quota cannot hold is refused with
 * RESOURCE_EXHAUSTED (by the books, and by the API server when another quota
 * is tighter), and an edited or deleted quota is put back.
 */
import { AppsV1Api, CoreV1Api, type V1ResourceQuota } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { GetCapacityResponse__Output } from '../../src/adapters/grpc/generated/provider/GetCapacityResponse.js';
import type { GetAvailableResponse__Output } from '../../src/adapters/grpc/generated/provider/GetAvailableResponse.js';
import { limitsOf } from '../../src/adapters/kube/quota-guard.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { jobExists } from '../helpers/instances.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const MI = 2 ** 20;
const GI = 2 ** 30;
const NAME = 'k8s-provider-quota';
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const PROVIDER = 'cp-quota';

const deploy = (d: TestDaemon, instanceId: string, cpu: number, over: object = {}): Promise<DeployResponse__Output> =>
  call<DeployResponse__Output>(d.client, 'Deploy', {
    providerId: PROVIDER,
    instanceId,
    image: 'busybox:1.36',
    resourceRequest: { cpu, memory: 64 * MI, gpu: 0 },
    envVars: {},
    ...over,
  });

const available = async (d: TestDaemon): Promise<number> =>
  Number((await call<GetAvailableResponse__Output>(d.client, 'GetAvailable', { providerId: PROVIDER })).available?.cpu);

async function readQuota(namespace: string): Promise<V1ResourceQuota | undefined> {
  try {
    return await core.readNamespacedResourceQuota({ name: NAME, namespace });
  } catch {
    return undefined;
  }
}

const podCount = async (namespace: string): Promise<number> => (await core.listNamespacedPod({ namespace })).items.length;

/** A pod made around the daemon, as kubectl would. */
async function outsidePod(namespace: string, name: string, cpu: string): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'busybox:1.36', resources: { requests: { cpu, memory: '32Mi' }, limits: { cpu, memory: '32Mi' } } }] },
    },
  });
}

describe('the quota guard', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  const want = { cpu: 2000, memory: 2 * GI, gpu: 1, pods: 6, storage: 20 * GI };
  beforeAll(async () => {
    ns = await createTestNamespace('quota-guard');
    d = await startTestDaemon(ns.name, {
      resource: { cpu: 2000, memory: '2Gi', gpu: 1, storage: '20Gi', enforce_with_resourcequota: true },
      limits: { max_instances: 6 },
    });
    expect(await call(d.client, 'Connect', { providerId: PROVIDER })).toMatchObject({ success: true });
  });
  afterAll(async () => {
    await d?.stop();
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
  });

  it('creates the ResourceQuota with the capacity as hard limits and reports it in GetCapacity', async () => {
    const quota = await waitFor('the ResourceQuota, counted by the API server', async () => {
      const q = await readQuota(ns.name);
      return q?.status?.hard ? q : undefined;
    });
    expect(Object.keys(quota.spec?.hard ?? {}).sort()).toEqual(['pods', 'requests.cpu', 'requests.memory', 'requests.nvidia.com/gpu', 'requests.storage']);
    expect(limitsOf(quota.spec?.hard)).toEqual(want);
    expect(quota.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'k8s-provider' });
    const cap = await waitFor('GetCapacity to show the quota in force', async () => {
      const res = await call<GetCapacityResponse__Output>(d.client, 'GetCapacity', { providerId: PROVIDER });
      return res.quotaGuard?.inForce ? res : undefined;
    });
    expect(cap.quotaGuard).toMatchObject({ name: NAME, hardPods: '6', hard: { cpu: '2000', memory: String(2 * GI), gpu: '1' } });
  });

  it('limits what claims request to the storage budget: a bigger claim made around the daemon is refused', async () => {
    const claim = (name: string, storage: string) =>
      core.createNamespacedPersistentVolumeClaim({
        namespace: ns.name,
        body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } },
      });
    await expect(claim('kubectl-huge', '21Gi')).rejects.toThrow(/exceeded quota: k8s-provider-quota.*requests\.storage/);
    await claim('kubectl-small', '1Gi');
    await waitFor('the claim to be counted', async () => (await readQuota(ns.name))?.status?.used?.['requests.storage'] === '1Gi');
    // The books see it through the quota: the storage promised has 1Gi less room.
    const storage = async () => (await call<GetCapacityResponse__Output>(d.client, 'GetCapacity', { providerId: PROVIDER })).storage;
    await waitFor('GetCapacity to count the claim made around the daemon', async () => (await storage())?.claimedUsed === String(GI));
    expect(await storage()).toMatchObject({ limited: true, total: String(20 * GI), used: String(GI), available: String(19 * GI) });
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'kubectl-small', namespace: ns.name });
    await waitFor('the claim to be uncounted', async () => (await readQuota(ns.name))?.status?.used?.['requests.storage'] === '0');
    await waitFor('GetCapacity to free its room', async () => (await storage())?.available === String(20 * GI));
  });

  it('counts a pod made around the daemon against available, and refuses a deploy that no longer fits', async () => {
    expect(await deploy(d, 'comp-1', 500)).toMatchObject({ error: '', created: true });
    await waitFor('available to show comp-1', async () => (await available(d)) === 1500);
    await outsidePod(ns.name, 'kubectl-made', '1');
    await waitFor('available to drop by the outside pod', async () => (await available(d)) === 500, { timeoutMs: 30_000 });
    const cap = await call<GetCapacityResponse__Output>(d.client, 'GetCapacity', { providerId: PROVIDER });
    expect(cap.capacity?.used?.cpu).toBe('1500');
    expect(cap.quotaGuard?.others?.cpu).toBe('1000');
    expect(cap.quotaGuard?.used?.cpu).toBe('1500');
    const before = await podCount(ns.name);
    const res = await deploy(d, 'too-big', 800);
    expect(res.error).toMatch(/^RESOURCE_EXHAUSTED: needs 800m cpu, 500m cpu available/);
    expect(await podCount(ns.name)).toBe(before);
    // The API server agrees: the same pod made around the daemon is refused by the quota.
    await expect(outsidePod(ns.name, 'kubectl-too-big', '800m')).rejects.toThrow(/exceeded quota: k8s-provider-quota/);
  });

  it('answers RESOURCE_EXHAUSTED, not an internal error, when the API server refuses a Pod, a Job or a Deployment for a quota', async () => {
    // A tighter quota the daemon does not know of: only the API server can refuse.
    await core.createNamespacedResourceQuota({ namespace: ns.name, body: { metadata: { name: 'admin-tight' }, spec: { hard: { 'requests.cpu': '1600m' } } } });
    await waitFor(
      'the admin quota to be counted',
      async () => (await core.readNamespacedResourceQuota({ name: 'admin-tight', namespace: ns.name })).status?.hard,
    );
    const before = await podCount(ns.name);
    for (const kind of ['POD', 'JOB', 'DEPLOYMENT']) {
      const res = await deploy(d, `refused-${kind.toLowerCase()}`, 400, { workload: { kind } });
      expect(res.error, kind).toMatch(/^RESOURCE_EXHAUSTED: the namespace's ResourceQuota refuses it: .*exceeded quota: admin-tight/);
    }
    expect(await podCount(ns.name)).toBe(before);
    // The Job's and the Deployment's pods were dry-run before their workload was made: neither exists.
    expect(await jobExists(ns.name, 'refused-job')).toBe(false);
    expect((await apps.listNamespacedDeployment({ namespace: ns.name })).items).toEqual([]);
    expect((await core.listNamespacedResourceQuota({ namespace: ns.name })).items.map((q) => q.metadata?.name).sort()).toEqual(['admin-tight', NAME]);
    await core.deleteNamespacedResourceQuota({ name: 'admin-tight', namespace: ns.name });
  });

  it('puts the quota back when someone edits it or deletes it', async () => {
    const edited = (await readQuota(ns.name))!;
    edited.spec = { hard: { ...edited.spec?.hard, 'requests.cpu': '100' } };
    await core.replaceNamespacedResourceQuota({ name: NAME, namespace: ns.name, body: edited });
    await waitFor('the edited quota to be put back', async () => {
      const q = await readQuota(ns.name);
      return q && limitsOf(q.spec?.hard).cpu === 2000 && q.metadata?.resourceVersion !== edited.metadata?.resourceVersion;
    });
    const uid = (await readQuota(ns.name))?.metadata?.uid;
    await core.deleteNamespacedResourceQuota({ name: NAME, namespace: ns.name });
    const back = await waitFor('the deleted quota to come back', async () => {
      const q = await readQuota(ns.name);
      return q && q.metadata?.uid !== uid ? q : undefined;
    });
    expect(limitsOf(back.spec?.hard)).toEqual(want);
    // And it is in force again: the API server counts the namespace under it.
    await waitFor('the new quota to be counted', async () => (await readQuota(ns.name))?.status?.used?.['requests.cpu'] === '1500m');
  });

  it('follows a reloaded capacity', async () => {
    d.daemon.setQuota({ ...d.config.resource, cpu: 3000 });
    await waitFor('the quota to follow the new capacity', async () => limitsOf((await readQuota(ns.name))?.spec?.hard).cpu === 3000);
    await waitFor('available to follow', async () => (await available(d)) === 1500);
  });
});
