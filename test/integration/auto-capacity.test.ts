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
    await waitFor('the daemon to agree with a fresh list', async () => JSON.stringify(d.daemon.provider.currentCapacity().total) === JSON.stringify(await listedTotal()));
    expect(d.daemon.provider.currentCapacity().total.gpu).toBeGreaterThan(0);
  });

  it('shrinks when someone else runs a pod, and counts ours as used instead', async () => {
    const before = d.daemon.provider.currentCapacity();
    await core.createNamespacedPod({
      namespace: other.name,
      body: { metadata: { name: 'neighbour' }, spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '1', memory: '1Gi' } } }] } },
    });
    await waitFor('total to shrink by the neighbour', () => d.daemon.provider.currentCapacity().total.cpu === before.total.cpu - 1000, { timeoutMs: 30_000 });
    expect(d.daemon.provider.currentCapacity().total.memory).toBe(before.total.memory - 2 ** 30);

    const mid = d.daemon.provider.currentCapacity();
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'ours', labels: { [LABEL_MANAGED]: 'true', [LABEL_INSTANCE_ID]: 'ours' } },
        spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '500m', memory: '1Gi' } } }] },
      },
    });
    await waitFor('our pod to count as used', () => d.daemon.provider.currentCapacity().used.cpu === mid.used.cpu + 500, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(d.daemon.provider.currentCapacity().total).toEqual(mid.total);
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
