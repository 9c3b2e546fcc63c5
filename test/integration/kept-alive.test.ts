/**
 * Issue 15 item 5, "kept alive", on the real test cluster: a DEPLOYMENT
 * instance whose pod is lost gets a new one from its ReplicaSet while the
 * books never hold less than its replicas' room (the instance was admitted
 * once, for its replicas, not per pod), and ScaleInstance refuses a POD or a JOB
 * instance, which cannot be scaled, without touching anything.
 */
import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { call, statusOf } from '../helpers/daemon.js';
import { connectedInstancesDaemon, icall, type WireInstance } from '../helpers/instances.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { GetCapacityResponse__Output } from '../../src/adapters/grpc/generated/provider/GetCapacityResponse.js';
import type { GetInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetInstanceResponse.js';

const PID = 'cp-kept-alive';
const MiB = 2 ** 20;
const LONG_RUNNING = { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const batch = kc.makeApiClient(BatchV1Api);

describe('kept alive', () => {
  const t = connectedInstancesDaemon('kept-alive', PID, { resource: { cpu: 4000, memory: '4Gi', gpu: 0 } });

  const deploy = (instanceId: string, workload: object): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(t.d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu: 300, memory: 64 * MiB, gpu: 0 },
      workload: { annotations: LONG_RUNNING, ...workload },
    });
  const get = async (instanceId: string): Promise<WireInstance> =>
    (await icall<GetInstanceResponse__Output>(t.ic, 'GetInstance', { providerId: PID, instanceId })).instance!;
  const used = async (): Promise<object> => (await call<GetCapacityResponse__Output>(t.d.client, 'GetCapacity', { providerId: PID })).capacity!.used!;
  /** Pods of the instance that run and are not being deleted, by uid. */
  const runningUids = async (id: string): Promise<string[]> =>
    (await core.listNamespacedPod({ namespace: t.ns.name, labelSelector: `iarnet.instance_id=${id}` })).items
      .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata!.uid!)
      .sort();

  it('a lost pod of a DEPLOYMENT is replaced by a new one, and the books never let go of its room', async () => {
    expect(await deploy('svc', { kind: 'DEPLOYMENT', replicas: 2 })).toMatchObject({ error: '', created: true, replicas: 2 });
    const before = await waitFor('2 running pods of svc', async () => {
      const uids = await runningUids('svc');
      return uids.length === 2 ? uids : undefined;
    });
    await waitFor('svc ready with 2 of 2', async () => (await get('svc')).readyReplicas === 2);
    const books = await used();
    expect(books).toMatchObject({ cpu: '600', memory: String(128 * MiB) });

    const lost = before[0]!;
    const pod = (await core.listNamespacedPod({ namespace: t.ns.name, labelSelector: 'iarnet.instance_id=svc' })).items.find((p) => p.metadata?.uid === lost)!;
    await core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: t.ns.name, gracePeriodSeconds: 0 });

    // Every look at the books while the pod is replaced shows at least the room of both replicas: the
    // lost pod's share is never handed out. While the lost pod still shuts down beside its replacement
    // the books hold what the live pods request (three pods at most), as the cluster's nodes do.
    const seen: object[] = [];
    const after = await waitFor(
      'a new pod of svc to run in place of the lost one',
      async () => {
        seen.push(await used());
        const uids = await runningUids('svc');
        return uids.length === 2 && !uids.includes(lost) ? uids : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(after).toContain(before[1]);
    expect(after.filter((u) => !before.includes(u))).toHaveLength(1);
    expect(seen.length).toBeGreaterThan(0);
    const cpu = (u: object): number => Number((u as { cpu: string }).cpu);
    for (const u of seen) expect(cpu(u)).toBeGreaterThanOrEqual(600);
    for (const u of seen) expect(cpu(u)).toBeLessThanOrEqual(900);
    await waitFor('svc ready with 2 of 2 again', async () => (await get('svc')).readyReplicas === 2);
    expect(await used()).toEqual(books);
    expect(await get('svc')).toMatchObject({ replicas: 2, holds: { cpu: '600' } });
  });

  it('ScaleInstance of a POD or a JOB instance is FAILED_PRECONDITION and changes nothing', async () => {
    expect(await deploy('one-pod', { kind: 'POD' })).toMatchObject({ error: '', created: true });
    expect(await deploy('one-job', { kind: 'JOB' })).toMatchObject({ error: '', created: true });
    await waitFor('one-pod and one-job running', async () => (await runningUids('one-pod')).length === 1 && (await runningUids('one-job')).length === 1);
    const versions = async (): Promise<string[]> => [
      (await core.readNamespacedPod({ name: 'one-pod', namespace: t.ns.name })).metadata!.resourceVersion!,
      (await batch.readNamespacedJob({ name: 'one-job', namespace: t.ns.name })).metadata!.resourceVersion!,
    ];
    await waitFor('both running in the instance API', async () =>
      [await get('one-pod'), await get('one-job')].every((i) => i.phase === 'INSTANCE_PHASE_RUNNING'),
    );
    const books = await used();
    const objects = await versions();
    const instances = [await get('one-pod'), await get('one-job')];

    for (const [id, kind] of [
      ['one-pod', 'Pod'],
      ['one-job', 'Job'],
    ] as const) {
      expect(await statusOf(icall(t.ic, 'ScaleInstance', { providerId: PID, instanceId: id, replicas: 3 }))).toBe(
        `FAILED_PRECONDITION: instance "${id}" is a ${kind}: only DEPLOYMENT instances scale`,
      );
    }
    expect(await versions()).toEqual(objects);
    expect(await used()).toEqual(books);
    expect([await get('one-pod'), await get('one-job')]).toEqual(instances);
    expect((await apps.listNamespacedDeployment({ namespace: t.ns.name, labelSelector: 'iarnet.instance_id in (one-pod,one-job)' })).items).toEqual([]);
    expect(await runningUids('one-pod')).toHaveLength(1);
  });
});
