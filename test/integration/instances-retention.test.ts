/**
 * Issue 11: finished workloads do not pile up (instances.keep_finished_seconds,
 * instances.max_finished), and a watcher that stops reading costs bounded
 * memory: it gets a resync marker and a fresh snapshot instead.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type ConfigInput, type TestDaemon } from '../helpers/daemon.js';
import { icall, instancesClient, podsGone } from '../helpers/instances.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { ListInstancesResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/ListInstancesResponse.js';
import type { WatchInstancesResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/WatchInstancesResponse.js';

const PID = 'cp-retention';
const STAGE = 'failure.stage.k8s-provider.test';
const core = makeKubeConfig().makeApiClient(CoreV1Api);

async function withDaemon(
  prefix: string,
  overrides: ConfigInput,
): Promise<{ ns: TestNamespace; d: TestDaemon; ic: InstancesClient; stop: () => Promise<void> }> {
  const ns = await createTestNamespace(prefix);
  const d = await startTestDaemon(ns.name, { resource: { cpu: 100_000, memory: '256Gi', gpu: 0 }, ...overrides });
  const ic = instancesClient(d.daemon.port);
  await call(d.client, 'Connect', { providerId: PID });
  return {
    ns,
    d,
    ic,
    stop: async () => {
      ic.close();
      await d.stop();
      await ns.cleanup();
    },
  };
}

const deploy = (d: TestDaemon, instanceId: string, workload?: object): Promise<DeployResponse__Output> =>
  call<DeployResponse__Output>(d.client, 'Deploy', {
    providerId: PID,
    instanceId,
    image: 'busybox',
    resourceRequest: { cpu: 100, memory: 2 ** 24, gpu: 0 },
    ...(workload ? { workload } : {}),
  });
const failing = { annotations: { [`${STAGE}/exit-code`]: '1' } };
const managedPods = async (namespace: string): Promise<string[]> =>
  (await core.listNamespacedPod({ namespace, labelSelector: 'iarnet.managed=true' })).items.map((p) => p.metadata!.labels!['iarnet.instance_id']!).sort();

describe('finished workloads: keep_finished_seconds', () => {
  let t: Awaited<ReturnType<typeof withDaemon>>;
  beforeAll(async () => {
    t = await withDaemon('retention-age', { instances: { keep_finished_seconds: 2 }, jobs: { cleanup_policy: 'OnFailure' } });
  });
  afterAll(async () => t?.stop());

  it('removes a finished Pod, and a finished Job its policy kept, once they are older than keep_finished_seconds', async () => {
    expect((await deploy(t.d, 'failed-pod', failing)).error).toBe('');
    expect((await deploy(t.d, 'done-job', { kind: 'JOB' })).error).toBe(''); // succeeds; OnFailure keeps it
    await waitFor('both to be removed', () => t.d.logs.filter((l) => l.msg === 'finished instance removed').length === 2);
    await podsGone(t.ns.name, 'failed-pod');
    await podsGone(t.ns.name, 'done-job');
    const removed = t.d.logs.filter((l) => l.msg === 'finished instance removed');
    expect(removed.map((l) => [l.instanceId, l.phase, l.cause]).sort()).toEqual([
      ['done-job', 'Succeeded', 'age'],
      ['failed-pod', 'Failed', 'age'],
    ]);
    // Not before keep_finished_seconds after they finished.
    for (const l of removed) expect((l.time as number) - (l.finishedAt as number)).toBeGreaterThanOrEqual(2000);
    expect(t.d.daemon.provider.currentCapacity().used.cpu).toBe(0);
  });
});

describe('finished workloads: max_finished, and a watcher that stops reading', () => {
  let t: Awaited<ReturnType<typeof withDaemon>>;
  beforeAll(async () => {
    t = await withDaemon('retention-count', { instances: { keep_finished_seconds: 3600, max_finished: 2, watch_buffer: 16 } });
  });
  afterAll(async () => t?.stop());

  it('keeps at most max_finished finished workloads, removing the oldest first', async () => {
    for (const id of ['f1', 'f2', 'f3', 'f4']) {
      expect((await deploy(t.d, id, failing)).error).toBe('');
      await waitFor(`${id} to fail`, () => t.d.daemon.tracker.get(id)?.phase === 'Failed' || t.d.daemon.tracker.get(id) === undefined);
      await new Promise((r) => setTimeout(r, 1100)); // distinct finish times (they have one-second resolution)
    }
    await waitFor('only the two newest finished pods to be left', async () => JSON.stringify(await managedPods(t.ns.name)) === JSON.stringify(['f3', 'f4']));
    const removed = t.d.logs.filter((l) => l.msg === 'finished instance removed').map((l) => [l.instanceId, l.cause]);
    expect(removed).toEqual([
      ['f1', 'count'],
      ['f2', 'count'],
    ]);
  });

  it('gives a watcher that stopped reading a RESYNC and a fresh snapshot, and the state it ends with is right', async () => {
    const stream = t.ic.WatchInstances({ providerId: PID });
    const events: WatchInstancesResponse__Output[] = [];
    stream.on('data', (e: WatchInstancesResponse__Output) => events.push(e));
    stream.on('error', () => undefined);
    await waitFor('the first snapshot', () => events.some((e) => e.type === 'WATCH_EVENT_TYPE_SYNCED'));
    stream.pause(); // a client that stops reading: HTTP/2 flow control stops the daemon's writes
    const ids = Array.from({ length: 90 }, (_, i) => `burst-${String(i).padStart(3, '0')}`); // within limits.max_instances
    for (let i = 0; i < ids.length; i += 15) {
      const answers = await Promise.all(ids.slice(i, i + 15).map((id) => deploy(t.d, id)));
      expect(answers.map((a) => a.error).filter(Boolean)).toEqual([]);
    }
    await waitFor('the burst to run', () => ids.every((id) => t.d.daemon.tracker.get(id)?.phase === 'Running'), { timeoutMs: 90_000 });
    stream.resume();
    await waitFor('a resync followed by a complete snapshot', () => {
      const resync = events.findIndex((e) => e.type === 'WATCH_EVENT_TYPE_RESYNC');
      return resync >= 0 && events.slice(resync).some((e) => e.type === 'WATCH_EVENT_TYPE_SYNCED');
    });
    // Replaying the stream (snapshot after the last resync, then changes) gives what ListInstances says.
    await waitFor('the watcher to catch up', async () => {
      const state = new Map<string, string>();
      for (const e of events) {
        if (e.type === 'WATCH_EVENT_TYPE_RESYNC') state.clear();
        else if (e.type === 'WATCH_EVENT_TYPE_DELETED') state.delete(e.instance!.instanceId);
        else if (e.instance) state.set(e.instance.instanceId, e.instance.phase);
      }
      const list = await icall<ListInstancesResponse__Output>(t.ic, 'ListInstances', { providerId: PID, pageSize: 1000 });
      return JSON.stringify([...state].sort()) === JSON.stringify(list.instances.map((i) => [i.instanceId, i.phase]));
    });
    expect(t.d.daemon.instances.watchStats().resyncs).toBeGreaterThanOrEqual(1);
    stream.cancel();
    await waitFor('the watch to be closed in the daemon', () => t.d.daemon.instances.watchStats().watchers === 0);
  });
});
