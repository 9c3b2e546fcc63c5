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
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';

const cluster = (cmd: string): void => void execFileSync('bash', ['test/cluster/cluster.sh', cmd], { stdio: 'inherit' });

describe.runIf(isLocalCluster())('API server outage', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  const deploy = (instanceId: string): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', { providerId: 'cp', instanceId, image: 'x', resourceRequest: { cpu: 100, memory: 2 ** 24, gpu: 0 } });

  beforeAll(async () => {
    ns = await createTestNamespace('outage');
    d = await startTestDaemon(ns.name, { kubernetes: { resync_seconds: 5 } });
    await call(d.client, 'Connect', { providerId: 'cp' });
  });
  afterAll(async () => {
    cluster('start-apiserver');
    await d?.stop();
    await ns?.cleanup();
  });

  it('keeps answering from its books, refuses deploys, and recovers', async () => {
    expect((await deploy('before')).error).toBe('');
    await waitFor('the pod to be seen', () => d.daemon.provider.currentCapacity().used.cpu === 100);
    const books = d.daemon.provider.currentCapacity();

    cluster('stop-apiserver');
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
    const core = makeKubeConfig().makeApiClient(CoreV1Api);
    expect((await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'iarnet.instance_id=during' })).items).toEqual([]);

    // Changes after the outage flow in again.
    expect((await deploy('after')).error).toBe('');
    await waitFor('the new pod to be counted', () => d.daemon.provider.currentCapacity().used.cpu === 200);
    await core.deleteNamespacedPod({ name: 'before', namespace: ns.name, gracePeriodSeconds: 0 });
    await waitFor('the deleted pod to be released', () => d.daemon.provider.currentCapacity().used.cpu === 100, { timeoutMs: 30_000 });
  });

  it('resyncs periodically by relisting, without drifting', async () => {
    const start = d.daemon.watchStats().pods!.resyncs;
    await waitFor('a periodic resync', () => d.daemon.watchStats().pods!.resyncs > start, { timeoutMs: 20_000 });
    expect(d.daemon.provider.currentCapacity().used.cpu).toBe(100);
  });
});
