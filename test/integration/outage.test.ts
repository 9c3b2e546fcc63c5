/**
 * Faults lose nothing: with the API server gone the daemon answers from its
 * books and refuses deploys with UNAVAILABLE; when it is back the watches
 * resume and the books are what the cluster says.
 */
import { execFileSync } from 'node:child_process';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, isLocalCluster, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/net.js';
import { FaultTally, peakRssOf } from '../helpers/fault-figures.js';
import { clusterState } from '../helpers/books.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';

const cluster = (cmd: string): void => void execFileSync('bash', ['test/cluster/cluster.sh', cmd], { stdio: 'inherit' });

describe.runIf(isLocalCluster())('API server outage', () => {
  // While the API server is down a Deploy is meant to answer UNAVAILABLE.
  const tally = new FaultTally(
    'API server stopped and restarted (etcd kept)',
    import.meta.filename,
    (method, outcome) => method === 'Deploy' && outcome.startsWith('UNAVAILABLE'),
  );
  let ns: TestNamespace;
  let d: TestDaemon;
  let metricsPort: number;
  /** How often the daemon has listed pods, from its own Prometheus endpoint. */
  const podLists = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('k8s_provider_kube_api_requests_total{operation="listNamespacedPod"}'));
    return Number(line?.split(' ').pop() ?? 0);
  };
  const deploy = (instanceId: string): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', { providerId: 'cp', instanceId, image: 'x', resourceRequest: { cpu: 100, memory: 2 ** 24, gpu: 0 } });

  beforeAll(async () => {
    tally.listen();
    ns = await createTestNamespace('outage');
    metricsPort = await freePort();
    // No periodic relist during the outage test: any list it sees comes from the 410 path.
    d = await startTestDaemon(ns.name, { kubernetes: { resync_seconds: 3600 }, prometheus: { host: '127.0.0.1', port: metricsPort } });
    await call(d.client, 'Connect', { providerId: 'cp' });
  });
  afterAll(async () => {
    cluster('start-apiserver');
    // The daemon runs inside this test process: its peak is bounded by the process's, not separable from it.
    tally.rss(peakRssOf(process.pid), 'an upper bound: the daemon runs in the test process');
    tally.write();
    await d?.stop();
    await ns?.cleanup();
  });

  it('keeps answering from its books, refuses deploys, and recovers', async () => {
    expect((await deploy('before')).error).toBe('');
    await waitFor('the pod to be seen', () => d.daemon.provider.currentCapacity().used.cpu === 100);
    const books = d.daemon.provider.currentCapacity();
    const listsBefore = await podLists();

    cluster('stop-apiserver');
    tally.fault('API server outage');
    await waitFor('the daemon to notice', () => !d.daemon.ready(), { timeoutMs: 30_000 });
    expect(d.daemon.provider.currentCapacity()).toEqual(books);
    const health = await call<{ capacity: unknown }>(d.client, 'HealthCheck', { providerId: 'cp' });
    expect(health.capacity).toBeDefined();
    const refused = await deploy('during');
    expect(refused.error).toMatch(/^UNAVAILABLE: /);
    expect(d.logs.some((l) => l.msg === 'watch failed; restarting')).toBe(true);

    cluster('start-apiserver');
    await waitFor('the watches to resume', () => d.daemon.ready(), { timeoutMs: 60_000 });
    expect(d.daemon.provider.currentCapacity()).toEqual(books);
    // The restarted API server has no events for the old resourceVersion: the
    // resumed watch gets 410 Gone and the informer rebuilds its cache by listing.
    expect(await podLists()).toBeGreaterThan(listsBefore);
    const core = makeKubeConfig().makeApiClient(CoreV1Api);
    expect((await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_INSTANCE_ID}=during` })).items).toEqual([]);

    // Changes after the outage flow in again.
    expect((await deploy('after')).error).toBe('');
    await waitFor('the new pod to be counted', () => d.daemon.provider.currentCapacity().used.cpu === 200);
    await core.deleteNamespacedPod({ name: 'before', namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor('the deleted pod to be released', () => d.daemon.provider.currentCapacity().used.cpu === 100, { timeoutMs: 30_000 });
    tally.removed(['before']);
    const state = await clusterState(ns.name);
    expect(tally.settle(state.workloads)).toEqual([]);
    expect([...state.workloads.values()].filter((o) => o.length > 1)).toEqual([]);
  });

  it('resyncs periodically by relisting, without drifting', async () => {
    const other = await startTestDaemon(ns.name, { kubernetes: { resync_seconds: 2 } });
    try {
      await waitFor('two periodic resyncs', () => other.daemon.informerStats().pods!.resyncs >= 2, { timeoutMs: 20_000 });
      expect(other.daemon.provider.currentCapacity().used.cpu).toBe(100);
    } finally {
      await other.stop();
    }
  });
});
