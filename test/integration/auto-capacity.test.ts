/** Issue 4 §7: resource.mode auto derives total from the nodes and what others hold. */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoTotal } from '../../src/adapters/kube/auto-capacity.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { LABEL_INSTANCE_ID, LABEL_MANAGED } from '../../src/shared/labels.js';

const core = makeKubeConfig().makeApiClient(CoreV1Api);

describe('resource.mode: auto', () => {
  let ns: TestNamespace;
  let other: TestNamespace;
  let d: TestDaemon;

  beforeAll(async () => {
    ns = await createTestNamespace('auto');
    other = await createTestNamespace('auto-other');
    d = await startTestDaemon(ns.name, { resource: { mode: 'auto' } });
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([ns?.cleanup(), other?.cleanup()]);
  });

  /** The same figure computed from a fresh list, to compare with what the daemon's watches give. */
  async function listedTotal(): Promise<{ cpu: number; memory: number; gpu: number }> {
    const [nodes, pods] = await Promise.all([core.listNode({}), core.listPodForAllNamespaces({})]);
    const isManaged = (p: { metadata?: { namespace?: string; labels?: Record<string, string> } }): boolean =>
      p.metadata?.namespace === ns.name && p.metadata.labels?.[LABEL_MANAGED] === 'true';
    return autoTotal(nodes.items, pods.items, { isManaged, cap: {} });
  }

  it('offers allocatable minus what pods it does not manage request', async () => {
    const nodes = await core.listNode({});
    expect(nodes.items.length).toBeGreaterThanOrEqual(2);
    await waitFor(
      'the daemon to agree with a fresh list',
      async () => JSON.stringify(d.daemon.provider.currentCapacity().total) === JSON.stringify(await listedTotal()),
    );
    expect(d.daemon.provider.currentCapacity().total.gpu).toBeGreaterThan(0);
  });

  // Other test files' namespaces may still be going away while this runs, so
  // every figure is compared with a fresh list taken at the same moment rather
  // than with a delta from an earlier reading of a cluster-wide total.
  const agreesWithList = async (): Promise<boolean> => JSON.stringify(d.daemon.provider.currentCapacity().total) === JSON.stringify(await listedTotal());

  it('shrinks when someone else runs a pod, and counts ours as used instead', async () => {
    await core.createNamespacedPod({
      namespace: other.name,
      body: { metadata: { name: 'neighbour' }, spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '1', memory: '1Gi' } } }] } },
    });
    const neighbourSeen = async (): Promise<boolean> => (await core.listNamespacedPod({ namespace: other.name })).items.some((p) => p.spec?.nodeName);
    await waitFor('the daemon to subtract the neighbour as a fresh list does', async () => (await neighbourSeen()) && (await agreesWithList()), {
      timeoutMs: 30_000,
    });
    // The neighbour really is subtracted: without it the same list gives 1 cpu and 1Gi more.
    const [nodes, pods] = await Promise.all([core.listNode({}), core.listPodForAllNamespaces({})]);
    const withoutNeighbour = autoTotal(
      nodes.items,
      pods.items.filter((p) => p.metadata?.namespace !== other.name),
      { isManaged: (p) => p.metadata?.namespace === ns.name, cap: {} },
    );
    const listed = autoTotal(nodes.items, pods.items, { isManaged: (p) => p.metadata?.namespace === ns.name, cap: {} });
    expect(withoutNeighbour.cpu - listed.cpu).toBe(1000);
    expect(withoutNeighbour.memory - listed.memory).toBe(2 ** 30);

    const mid = d.daemon.provider.currentCapacity();
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'ours', labels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'ours' } },
        spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '500m', memory: '1Gi' } } }] },
      },
    });
    await waitFor('our pod to count as used', () => d.daemon.provider.currentCapacity().used.cpu === mid.used.cpu + 500, { timeoutMs: 30_000 });
    // Ours is used, not subtracted from the total: the total still equals a list that treats it as managed.
    await waitFor('the total to agree with a fresh list that counts ours as managed', agreesWithList, { timeoutMs: 30_000 });
  });
});

describe('resource.mode: auto with configured caps', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  beforeAll(async () => {
    ns = await createTestNamespace('auto-cap');
    d = await startTestDaemon(ns.name, { resource: { mode: 'auto', cpu: 2000, gpu: 1 } });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('caps total by the configured values', () => {
    const { total } = d.daemon.provider.currentCapacity();
    expect(total.cpu).toBe(2000);
    expect(total.gpu).toBe(1);
    expect(total.memory).toBeGreaterThan(2 ** 30);
  });
});
