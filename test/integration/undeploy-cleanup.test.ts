/**
 * Issue 15 item 8: Undeploy removes everything of an instance. One instance
 * of each kind (POD, JOB, DEPLOYMENT), each with ports (a Service, hence an
 * EndpointSlice), isolated (a NetworkPolicy) and with a claim that is not
 * retained (a PVC), is undeployed; then every kind the daemon makes or
 * causes is listed, by the daemon's labels and by owner, until the garbage
 * collector is done, and nothing may be left. The owner references the
 * daemon writes must resolve for that: one naming a kind under the wrong
 * API group is never collected.
 */
import { randomBytes } from 'node:crypto';
import { AppsV1Api, BatchV1Api, CoreV1Api, NetworkingV1Api, StorageV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { makeKubeConfig, waitFor } from '../helpers/cluster.js';
import { call } from '../helpers/daemon.js';
import { connectedInstancesDaemon, icall } from '../helpers/instances.js';
import { leftovers } from '../helpers/leftovers.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { UndeployResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/UndeployResponse.js';

const PID = 'cp-cleanup';
const GiB = 2 ** 30;
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const storageApi = kc.makeApiClient(StorageV1Api);
/** A class nobody provisions: the claims stay Pending, which Undeploy must not mind. */
const CLASS = `k8s-provider-cleanup-${randomBytes(3).toString('hex')}`;
const KINDS = ['POD', 'JOB', 'DEPLOYMENT'] as const;
const idOf = (kind: (typeof KINDS)[number]): string => `gone-${kind.toLowerCase()}`;

describe('Undeploy leaves nothing behind', () => {
  const t = connectedInstancesDaemon(
    'cleanup',
    PID,
    { resource: { cpu: 8000, memory: '8Gi', gpu: 0, storage: '20Gi' }, network: { isolate: true } },
    {
      before: () =>
        storageApi.createStorageClass({
          body: { metadata: { name: CLASS }, provisioner: 'example.com/nobody', volumeBindingMode: 'Immediate', reclaimPolicy: 'Delete' },
        }),
      after: () => storageApi.deleteStorageClass({ name: CLASS }).catch(() => undefined),
    },
  );

  it('a POD, a JOB and a DEPLOYMENT with a Service, a NetworkPolicy and a claim: all gone after Undeploy', async () => {
    const workloadUids: string[] = [];
    for (const kind of KINDS) {
      const id = idOf(kind);
      const res = await call<DeployResponse__Output>(t.d.client, 'Deploy', {
        providerId: PID,
        instanceId: id,
        image: 'busybox',
        resourceRequest: { cpu: 100, memory: 2 ** 26, gpu: 0 },
        workload: {
          kind,
          ports: [{ name: 'http', containerPort: 8080 }],
          volumes: [{ name: 'data', mountPath: '/data', claim: { storageClass: CLASS, sizeBytes: GiB } }],
        },
      });
      expect(res).toMatchObject({ error: '', created: true, networkPolicy: id, volumeClaims: [`${id}-data`] });
      const workload =
        kind === 'POD'
          ? await core.readNamespacedPod({ name: id, namespace: t.ns.name })
          : kind === 'JOB'
            ? await batch.readNamespacedJob({ name: id, namespace: t.ns.name })
            : await apps.readNamespacedDeployment({ name: id, namespace: t.ns.name });
      const uid = workload.metadata!.uid!;
      workloadUids.push(uid);
      // Every object is owned by the workload through a reference the garbage collector can resolve.
      const apiVersion = kind === 'POD' ? 'v1' : kind === 'JOB' ? 'batch/v1' : 'apps/v1';
      const owner = [expect.objectContaining({ apiVersion, kind: workload.kind, name: id, uid })];
      expect((await core.readNamespacedService({ name: id, namespace: t.ns.name })).metadata?.ownerReferences).toEqual(owner);
      expect((await networking.readNamespacedNetworkPolicy({ name: id, namespace: t.ns.name })).metadata?.ownerReferences).toEqual(owner);
      expect((await core.readNamespacedPersistentVolumeClaim({ name: `${id}-data`, namespace: t.ns.name })).metadata?.ownerReferences).toEqual(owner);
    }
    const query = { instanceIds: KINDS.map(idOf), ownerUids: workloadUids };
    // The controllers' objects exist before Undeploy, so their absence afterwards means something.
    await waitFor(
      'the ReplicaSet, its pod, the Job pod and the EndpointSlices to exist',
      async () => {
        const kinds = new Set((await leftovers(t.ns.name, query)).map((o) => o.split('/')[0]));
        return ['Pod', 'Job', 'Deployment', 'ReplicaSet', 'Service', 'EndpointSlice', 'NetworkPolicy', 'PersistentVolumeClaim'].every((k) => kinds.has(k));
      },
      { timeoutMs: 60_000 },
    );

    for (const kind of KINDS) {
      const res = await icall<UndeployResponse__Output>(t.ic, 'Undeploy', { providerId: PID, instanceId: idOf(kind), graceSeconds: 0 });
      expect(res.deleted).toBe(true);
    }
    let left: string[] = [];
    await waitFor(
      'the garbage collector to leave nothing of the three instances',
      async () => {
        left = await leftovers(t.ns.name, query);
        return left.length === 0;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    ).catch(() => undefined);
    expect(left).toEqual([]);
  });
});
