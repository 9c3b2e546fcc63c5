/**
 * Issue 15 items 4, 5 and 8 on the real test cluster: DEPLOYMENT instances
 * (every replica in the books, admission of the whole set, ScaleInstance),
 * emptyDir and claim volumes (the objects read back from the API server,
 * storage books against resource.storage), Undeploy leaving nothing behind
 * but retained claims, and a restarted daemon rebuilding the same books.
 *
 * The test cluster has no volume provisioner: a claim of a class nobody
 * provisions stays Pending, and so does the pod that mounts it (the
 * scheduler reports it Unschedulable). A claim binds when a matching
 * PersistentVolume exists, which the last test creates by hand.
 */
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, StorageV1Api, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, kubeconfigPath, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { icall, instancesClient, podsGone, type WireInstance } from '../helpers/instances.js';
import { leftovers } from '../helpers/leftovers.js';
import { buildCli, runCli } from '../helpers/cli.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { GetCapacityResponse__Output } from '../../src/adapters/grpc/generated/provider/GetCapacityResponse.js';
import type { GetAvailableResponse__Output } from '../../src/adapters/grpc/generated/provider/GetAvailableResponse.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { GetInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetInstanceResponse.js';
import type { ScaleInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/ScaleInstanceResponse.js';
import type { UndeployResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/UndeployResponse.js';

const PID = 'cp-storage';
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const storageApi = kc.makeApiClient(StorageV1Api);
/** A class nobody provisions (cluster-scoped: unique per run, deleted at the end). */
const CLASS = `k8s-provider-test-${randomBytes(3).toString('hex')}`;

describe('DEPLOYMENT instances and volumes', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let ic: InstancesClient;
  const config = {
    resource: { cpu: 4000, memory: '8Gi', gpu: 0, storage: '20Gi' },
    instances: { stuck_after_seconds: 600 },
  };

  const deploy = (instanceId: string, workload: object, cpu = 500): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu, memory: 64 * MiB, gpu: 0 },
      workload,
    });
  const get = async (instanceId: string): Promise<WireInstance> =>
    (await icall<GetInstanceResponse__Output>(ic, 'GetInstance', { providerId: PID, instanceId })).instance!;
  const scale = (instanceId: string, replicas: number): Promise<ScaleInstanceResponse__Output> =>
    icall<ScaleInstanceResponse__Output>(ic, 'ScaleInstance', { providerId: PID, instanceId, replicas });
  const undeploy = (instanceId: string): Promise<UndeployResponse__Output> =>
    icall<UndeployResponse__Output>(ic, 'Undeploy', { providerId: PID, instanceId, graceSeconds: 0 });
  const available = (): Promise<GetAvailableResponse__Output> => call<GetAvailableResponse__Output>(d.client, 'GetAvailable', { providerId: PID });
  const capacity = (): Promise<GetCapacityResponse__Output> => call<GetCapacityResponse__Output>(d.client, 'GetCapacity', { providerId: PID });
  const runningPods = async (id: string): Promise<number> =>
    (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `iarnet.instance_id=${id}` })).items.filter(
      (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
    ).length;
  /** Everything of the instance the API server still has, of every kind the daemon makes or causes. */
  const leftOf = (id: string): Promise<string[]> => leftovers(ns.name, { instanceIds: [id] });

  const describeCli = async (id: string): Promise<string> => {
    const res = await runCli(['describe', id, '-p', PID, '--addr', `127.0.0.1:${d.daemon.port}`]);
    expect(res.code).toBe(0);
    return res.stdout;
  };

  beforeAll(async () => {
    buildCli();
    ns = await createTestNamespace('storage');
    await storageApi.createStorageClass({
      body: { metadata: { name: CLASS }, provisioner: 'example.com/nobody', volumeBindingMode: 'Immediate', reclaimPolicy: 'Delete' },
    });
    d = await startTestDaemon(ns.name, config);
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PID });
  });
  afterAll(async () => {
    ic?.close();
    await d?.stop();
    await ns?.cleanup();
    await storageApi.deleteStorageClass({ name: CLASS }).catch(() => undefined);
    await core.deletePersistentVolume({ name: `${CLASS}-pv` }).catch(() => undefined);
  });

  it('refuses every invalid field with INVALID_ARGUMENT naming it, and creates nothing', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ kind: 'POD', replicas: 2 }, /workload\.replicas applies to DEPLOYMENT workloads only/],
      [{ kind: 'DEPLOYMENT', replicas: -1 }, /workload\.replicas must be between 0 and 1000 \(got -1\)/],
      [{ kind: 'DEPLOYMENT', timeoutSeconds: 60 }, /workload\.timeout_seconds applies to POD and JOB workloads only/],
      [{ kind: 'DEPLOYMENT', cleanupPolicy: 'ALWAYS' }, /workload\.cleanup_policy applies to JOB workloads only/],
      [{ volumes: [{ name: 'v', mountPath: '/v' }] }, /workload\.volumes\[0\]: set exactly one of empty_dir and claim \(neither is set\)/],
      [
        { volumes: [{ name: 'v', mountPath: '/v', emptyDir: { sizeLimitBytes: 1 }, claim: { sizeBytes: 1 } }] },
        /workload\.volumes\[0\]: set exactly one of empty_dir and claim \(both are set\)/,
      ],
      [
        { volumes: [{ name: 'v', mountPath: '/v', emptyDir: { sizeLimitBytes: 0 } }] },
        /workload\.volumes\[0\]\.empty_dir\.size_limit_bytes must be a positive/,
      ],
      [{ volumes: [{ name: 'v', mountPath: '/v', claim: { sizeBytes: -5 } }] }, /workload\.volumes\[0\]\.claim\.size_bytes must be a positive/],
      [
        { volumes: [{ name: 'v', mountPath: '/v', claim: { sizeBytes: GiB, accessMode: 'Sometimes' } }] },
        /workload\.volumes\[0\]\.claim\.access_mode "Sometimes"/,
      ],
      [{ volumes: [{ name: 'v', mountPath: '/v', claim: { sizeBytes: GiB, storageClass: 'Not_A_Name' } }] }, /workload\.volumes\[0\]\.claim\.storage_class/],
      [
        { kind: 'DEPLOYMENT', replicas: 2, volumes: [{ name: 'v', mountPath: '/v', claim: { sizeBytes: GiB, accessMode: 'ReadWriteOncePod' } }] },
        /workload\.volumes\[0\]\.claim\.access_mode ReadWriteOncePod allows one pod, but the workload asks for 2 replicas/,
      ],
      [
        { volumes: [{ name: 'Data', mountPath: 'data', emptyDir: { sizeLimitBytes: GiB } }] },
        /workload\.volumes\[0\]\.name "Data".*workload\.volumes\[0\]\.mount_path "data"/,
      ],
      [
        {
          volumes: [
            { name: 'a', mountPath: '/same', emptyDir: { sizeLimitBytes: GiB } },
            { name: 'a', mountPath: '/same/', emptyDir: { sizeLimitBytes: GiB } },
          ],
        },
        /workload\.volumes\[1\]\.name "a" is used twice.*workload\.volumes\[1\]\.mount_path "\/same\/" is used twice/,
      ],
    ];
    for (const [workload, message] of cases) {
      const res = await deploy('invalid', workload);
      expect(res.error).toMatch(/^INVALID_ARGUMENT: /);
      expect(res.error).toMatch(message);
    }
    expect(await leftOf('invalid')).toEqual([]);
  });

  it('runs a DEPLOYMENT: every replica counted, read back from the API server', async () => {
    const before = await available();
    const res = await deploy('web', { kind: 'DEPLOYMENT', replicas: 3, labels: { app: 'web' } });
    expect(res).toMatchObject({ error: '', workloadKind: 'DEPLOYMENT', workloadName: 'web', replicas: 3, created: true, volumeClaims: [] });

    const dep: V1Deployment = await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name });
    expect(dep.spec).toMatchObject({
      replicas: 3,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { 'iarnet.managed': 'true', 'iarnet.instance_id': 'web' } },
    });
    expect(dep.metadata!.labels).toMatchObject({ app: 'web', 'iarnet.managed': 'true', 'iarnet.provider_id': PID, 'iarnet.instance_id': 'web' });
    expect(dep.metadata!.annotations).toMatchObject({ 'iarnet.instance_id': 'web', 'iarnet.spec_hash': expect.any(String) });
    const pod = dep.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Always');
    expect(pod.activeDeadlineSeconds).toBeUndefined();
    expect(pod.containers[0]!.resources).toEqual({ requests: { cpu: '500m', memory: String(64 * MiB) }, limits: { cpu: '500m', memory: String(64 * MiB) } });

    await waitFor('3 replicas of web to run', async () => (await runningPods('web')) === 3, { timeoutMs: 60_000 });
    await waitFor('web ready with 3 of 3', async () => {
      const i = await get('web');
      return i.phase === 'INSTANCE_PHASE_RUNNING' && i.readyReplicas === 3 && i.ready;
    });
    expect(await get('web')).toMatchObject({ kind: 'WORKLOAD_KIND_DEPLOYMENT', workloadName: 'web', replicas: 3, holds: { cpu: '1500' } });
    expect(Number((await available()).available!.cpu)).toBe(Number(before.available!.cpu) - 1500);
    const cap = await capacity();
    expect(Number(cap.capacity!.used!.cpu)).toBe(1500);
    const text = await describeCli('web');
    expect(text).toMatch(/^Kind:\s+Deployment web$/m);
    expect(text).toMatch(/^Replicas:\s+3\/3 ready$/m);
    expect(text).toMatch(/^Holds:\s+cpu 1500m, memory 192Mi, gpu 0$/m);
    // Labels, the expose choice and what the NetworkPolicy lets in (isolated by default, no sources configured, no peers).
    expect(text).toMatch(/^Labels:\s+app=web$/m);
    expect(text).toMatch(/^Expose:\s+none \(no Service\)$/m);
    expect(text).toMatch(/^Isolation:\s+NetworkPolicy web$/m);
    expect(text).toMatch(/^Peers:\s+-$/m);
    expect(text).toMatch(/^Ingress:\s+from nowhere \(all denied\)$/m);
    // The operator's view straight from the cluster: the Deployment, then its pods.
    const pods = await runCli(['pods', '--kubeconfig', kubeconfigPath(), '-n', ns.name]);
    const lines = pods.stdout.split('\n');
    expect(lines[1]).toMatch(/^deployment\/web\s+web\s+3\/3 ready\s+500m\s+64Mi\s+0\s/);
    expect(lines.slice(2, 5).every((l) => /^pod\/web-\S+\s+web\s+Running\s+500m/.test(l))).toBe(true);
  });

  it('admits a DEPLOYMENT as a whole: replicas × request beyond the capacity creates nothing', async () => {
    const res = await deploy('huge', { kind: 'DEPLOYMENT', replicas: 6 });
    expect(res.error).toBe('RESOURCE_EXHAUSTED: 6 replicas needs 3 cpu, 2500m cpu available');
    expect(await leftOf('huge')).toEqual([]);
  });

  it('scales under admission: RESOURCE_EXHAUSTED changes nothing; growing and shrinking move the books', async () => {
    expect(await statusOf(scale('web', 9))).toBe('RESOURCE_EXHAUSTED: scaling "web" to 9 replicas needs 3 cpu, 2500m cpu available');
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name })).spec!.replicas).toBe(3);
    expect(await statusOf(scale('web', 1001))).toBe('INVALID_ARGUMENT: replicas must be between 0 and 1000 (got 1001)');
    expect(await statusOf(scale('ghost', 1))).toBe('NOT_FOUND: instance "ghost" does not exist');

    const grown = await scale('web', 5);
    expect(grown).toMatchObject({ previousReplicas: 3, replicas: 5 });
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name })).spec!.replicas).toBe(5);
    // Held at once (admitted), and by the Deployment once the watch shows it.
    expect(Number((await available()).available!.cpu)).toBe(1500);
    await waitFor('5 replicas of web to run', async () => (await runningPods('web')) === 5, { timeoutMs: 60_000 });
    await waitFor('web at 5 of 5', async () => (await get('web')).readyReplicas === 5);
    expect(Number((await available()).available!.cpu)).toBe(1500);

    expect(await scale('web', 2)).toMatchObject({ previousReplicas: 5, replicas: 2 });
    await waitFor(
      'web down to 2 pods',
      async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'iarnet.instance_id=web' })).items.length === 2,
      {
        timeoutMs: 60_000,
      },
    );
    await waitFor('the room of 3 replicas back', async () => Number((await available()).available!.cpu) === 3000);
  });

  it('mounts an emptyDir and claims: the pod and claims read back, storage in the books, a Pending claim explained', async () => {
    const res = await deploy('db', {
      volumes: [
        { name: 'scratch', mountPath: '/scratch', emptyDir: { sizeLimitBytes: GiB } },
        { name: 'data', mountPath: '/data', claim: { storageClass: CLASS, sizeBytes: 2 * GiB } },
        { name: 'keep', mountPath: '/keep', readOnly: true, claim: { storageClass: CLASS, sizeBytes: GiB, accessMode: 'ReadWriteMany', retain: true } },
      ],
    });
    expect(res).toMatchObject({ error: '', workloadKind: 'POD', volumeClaims: ['db-data', 'db-keep'] });

    const pod = await core.readNamespacedPod({ name: 'db', namespace: ns.name });
    expect(pod.spec!.volumes!.filter((v) => !v.name.startsWith('kube-api-access'))).toEqual([
      { name: 'scratch', emptyDir: { sizeLimit: String(GiB) } },
      { name: 'data', persistentVolumeClaim: { claimName: 'db-data' } },
      { name: 'keep', persistentVolumeClaim: { claimName: 'db-keep', readOnly: true } },
    ]);
    expect(pod.spec!.containers[0]!.volumeMounts!.filter((m) => !m.name.startsWith('kube-api-access'))).toEqual([
      { name: 'scratch', mountPath: '/scratch' },
      { name: 'data', mountPath: '/data' },
      { name: 'keep', mountPath: '/keep', readOnly: true },
    ]);
    expect(pod.spec!.containers[0]!.resources!.requests!['ephemeral-storage']).toBe(String(GiB));
    expect(pod.spec!.securityContext!.fsGroup).toBe(65532);

    const data = await core.readNamespacedPersistentVolumeClaim({ name: 'db-data', namespace: ns.name });
    expect(data.spec).toMatchObject({ storageClassName: CLASS, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: String(2 * GiB) } } });
    expect(data.metadata!.labels).toMatchObject({ 'iarnet.managed': 'true', 'iarnet.instance_id': 'db', 'iarnet.volume': 'data' });
    expect(data.metadata!.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'Pod', name: 'db', uid: pod.metadata!.uid })]);
    const keep = await core.readNamespacedPersistentVolumeClaim({ name: 'db-keep', namespace: ns.name });
    expect(keep.spec).toMatchObject({ storageClassName: CLASS, accessModes: ['ReadWriteMany'] });
    expect(keep.metadata!.labels).toMatchObject({ 'iarnet.retain': 'true' });
    expect(keep.metadata!.ownerReferences).toBeUndefined();

    // No provisioner serves the class: the claims stay Pending, and the pod waits, Unschedulable.
    expect(data.status?.phase ?? 'Pending').toBe('Pending');
    const waiting = await waitFor('db to be reported waiting on its claims', async () => {
      const i = await get('db');
      return i.reason === 'Unschedulable' ? i : undefined;
    });
    expect(waiting).toMatchObject({ phase: 'INSTANCE_PHASE_PENDING', stuck: false });
    expect(waiting.message).toMatch(/PersistentVolumeClaim/);
    expect(waiting.volumes).toEqual([
      expect.objectContaining({ name: 'scratch', type: 'emptyDir', sizeBytes: String(GiB), claimName: '' }),
      expect.objectContaining({ name: 'data', type: 'claim', claimName: 'db-data', storageClass: CLASS, claimPhase: 'Pending', retain: false }),
      expect.objectContaining({ name: 'keep', type: 'claim', claimName: 'db-keep', claimPhase: 'Pending', retain: true, mountPath: '/keep' }),
    ]);

    const cap = await capacity();
    expect(cap.storage).toMatchObject({
      limited: true,
      total: String(20 * GiB),
      ephemeralUsed: String(GiB),
      claimedUsed: String(3 * GiB),
      used: String(4 * GiB),
      available: String(16 * GiB),
    });
    expect((await available()).storage).toEqual(cap.storage);
    const text = await describeCli('db');
    expect(text).toMatch(/^Volume scratch:\s+\/scratch {2}emptyDir \(1Gi\)$/m);
    expect(text).toMatch(new RegExp(`^Volume data:\\s+/data  claim db-data \\(${CLASS}, 2Gi, Pending\\)$`, 'm'));
    expect(text).toMatch(new RegExp(`^Volume keep:\\s+/keep  claim db-keep \\(${CLASS}, 1Gi, Pending, retained\\)$`, 'm'));

    // Over the storage quota: refused, nothing made.
    const big = await deploy('big-disk', { volumes: [{ name: 'data', mountPath: '/data', claim: { storageClass: CLASS, sizeBytes: 17 * GiB } }] }, 100);
    expect(big.error).toBe('RESOURCE_EXHAUSTED: needs 17Gi storage, 16Gi storage available (resource.storage)');
    expect(await leftOf('big-disk')).toEqual([]);
  });

  it('rebuilds the same books after a restart, Deployments and claims included', async () => {
    const before = { cap: await capacity(), web: await get('web'), db: await get('db') };
    await d.stop();
    d = await startTestDaemon(ns.name, config);
    ic.close();
    ic = instancesClient(d.daemon.port);
    await call(d.client, 'Connect', { providerId: PID });
    const cap = await capacity();
    expect(cap.capacity).toEqual(before.cap.capacity);
    expect(cap.storage).toEqual(before.cap.storage);
    expect(await get('web')).toMatchObject({ kind: 'WORKLOAD_KIND_DEPLOYMENT', replicas: 2, readyReplicas: 2, holds: before.web.holds });
    expect((await get('db')).volumes).toEqual(before.db.volumes);
    expect((await deploy('web', { kind: 'DEPLOYMENT', replicas: 3, labels: { app: 'web' } })).created).toBe(false);
  });

  it('undeploys: nothing of a DEPLOYMENT is left; only the retained claim of a pod outlives it', async () => {
    expect(await undeploy('web')).toMatchObject({ deleted: true, kind: 'WORKLOAD_KIND_DEPLOYMENT', workloadName: 'web' });
    await waitFor('nothing of web left', async () => (await leftOf('web')).length === 0, { timeoutMs: 90_000 });

    expect(await undeploy('db')).toMatchObject({ deleted: true, kind: 'WORKLOAD_KIND_POD' });
    await podsGone(ns.name, 'db');
    // The garbage collector removes the owned claim; the retained one stays, and keeps its room in the books.
    await waitFor('only the retained claim of db left', async () => JSON.stringify(await leftOf('db')) === JSON.stringify(['PersistentVolumeClaim/db-keep']), {
      timeoutMs: 90_000,
    });
    await waitFor('the storage books to hold only the retained claim', async () => {
      const s = (await capacity()).storage!;
      return s.claimedUsed === String(GiB) && s.ephemeralUsed === '0';
    });
    await expect(get('db')).rejects.toMatchObject({ details: 'instance "db" does not exist' });
    expect(Number((await available()).available!.cpu)).toBe(4000);
  });

  it('reuses a retained claim when the instance is deployed again, and mounts a claim that binds', async () => {
    // A PersistentVolume the claim can bind to stands in for a provisioner.
    await core.createPersistentVolume({
      body: {
        metadata: { name: `${CLASS}-pv` },
        spec: {
          storageClassName: CLASS,
          capacity: { storage: String(GiB) },
          accessModes: ['ReadWriteMany'],
          hostPath: { path: '/tmp/k8s-provider-test' },
          persistentVolumeReclaimPolicy: 'Retain',
        },
      },
    });
    const res = await deploy('db', {
      volumes: [{ name: 'keep', mountPath: '/keep', claim: { storageClass: CLASS, sizeBytes: GiB, accessMode: 'ReadWriteMany', retain: true } }],
    });
    expect(res).toMatchObject({ error: '', created: true, volumeClaims: ['db-keep'] });
    await waitFor(
      'the claim bound and db running',
      async () => {
        const i = await get('db');
        return i.phase === 'INSTANCE_PHASE_RUNNING' && i.volumes[0]?.claimPhase === 'Bound';
      },
      { timeoutMs: 90_000 },
    );
    await undeploy('db');
    await podsGone(ns.name, 'db');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'db-keep', namespace: ns.name });
    await waitFor('nothing of db left', async () => (await leftOf('db')).length === 0, { timeoutMs: 60_000 });
  });
});
