/**
 * Issue 11: k8sprovider.v1.Instances on the real test cluster. Every
 * failure reason the cluster can produce is produced for real: the scheduler
 * (Unschedulable), the Job controller (DeadlineExceeded,
 * BackoffLimitExceeded), and the KWOK stages of
 * test/cluster/manifests/stages/instance-failures.yaml standing in for a kubelet
 * (image pull and config errors, exit codes, OOMKilled, Evicted). After each
 * stuck or undeployed instance the capacity must be back where it was.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { WatchRecorder, icall, instancesClient, jobExists, podsGone, type WireInstance } from '../helpers/instances.js';
import { freePort } from '../helpers/net.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import type { GetInstanceResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetInstanceResponse.js';
import type { ListInstancesResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/ListInstancesResponse.js';
import type { UndeployResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/UndeployResponse.js';
import type { GetLogsResponse__Output } from '../../src/adapters/grpc/generated/k8sprovider/v1/GetLogsResponse.js';

const PID = 'cp-instances';
const LONG_RUNNING = { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };
const STAGE = 'failure.stage.k8s-provider.test';
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);

type Resources = { cpu: number; memory: number; gpu: number };

describe('Instances service', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  let ic: InstancesClient;
  let watch: WatchRecorder;
  let metricsPort: number;

  const used = (): Resources => d.daemon.provider.currentCapacity().used;
  const deploy = (instanceId: string, workload?: object, cpu = 250): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PID,
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu, memory: 2 ** 26, gpu: 0 },
      ...(workload ? { workload } : {}),
    });
  const get = async (instanceId: string): Promise<WireInstance> =>
    (await icall<GetInstanceResponse__Output>(ic, 'GetInstance', { providerId: PID, instanceId })).instance!;
  const undeploy = (instanceId: string, extra: object = {}): Promise<UndeployResponse__Output> =>
    icall<UndeployResponse__Output>(ic, 'Undeploy', { providerId: PID, instanceId, ...extra });
  const phaseOf = async (id: string): Promise<string> => (await get(id).catch(() => undefined))?.phase ?? 'GONE';
  const capacityBackTo = (before: Resources, what: string): Promise<unknown> =>
    waitFor(`capacity to return to its prior value after ${what}`, () => JSON.stringify(used()) === JSON.stringify(before), { timeoutMs: 60_000 });
  const stuckCount = async (reason: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`k8s_provider_instances_stuck_total{reason="${reason}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  beforeAll(async () => {
    ns = await createTestNamespace('instances');
    metricsPort = await freePort();
    d = await startTestDaemon(ns.name, {
      resource: { cpu: 40_000, memory: '64Gi', gpu: 0 },
      instances: { stuck_after_seconds: 2, keep_finished_seconds: 3600 },
      prometheus: { port: metricsPort, host: '127.0.0.1' },
    });
    ic = instancesClient(d.daemon.port);
  });
  afterAll(async () => {
    watch?.close();
    ic?.close();
    await d?.stop();
    await ns?.cleanup();
  });

  it('follows the session rules of the contract', async () => {
    expect(await statusOf(icall(ic, 'ListInstances', { providerId: PID }))).toBe('FAILED_PRECONDITION: no control plane is connected: call Connect first');
    await call(d.client, 'Connect', { providerId: PID });
    expect(await statusOf(icall(ic, 'GetInstance', { providerId: 'intruder', instanceId: 'x' }))).toBe(
      'PERMISSION_DENIED: provider_id "intruder" is not the connected provider',
    );
    expect(await statusOf(icall(ic, 'GetInstance', { providerId: PID, instanceId: 'nope' }))).toBe('NOT_FOUND: instance "nope" does not exist');
    expect(await statusOf(icall(ic, 'ListInstances', { providerId: PID, pageToken: 'bogus' }))).toMatch(/^INVALID_ARGUMENT: page_token/);
    expect(await statusOf(icall(ic, 'Undeploy', { providerId: PID, instanceId: '' }))).toBe('INVALID_ARGUMENT: instance_id is required');
    watch = new WatchRecorder(ic, PID);
    await watch.next('the end of the snapshot', (e) => e.type === 'WATCH_EVENT_TYPE_SYNCED');
  });

  it('gets, lists (filtered, in pages) and watches what was deployed', async () => {
    expect((await deploy('web')).error).toBe('');
    expect((await deploy('batch', { kind: 'JOB', annotations: LONG_RUNNING })).error).toBe('');
    await watch.next('web running', (e) => e.instance?.instanceId === 'web' && e.instance.phase === 'INSTANCE_PHASE_RUNNING');
    await watch.next('batch running', (e) => e.instance?.instanceId === 'batch' && e.instance.phase === 'INSTANCE_PHASE_RUNNING');
    expect(watch.forInstance('web')[0]).toMatchObject({ type: 'WATCH_EVENT_TYPE_ADDED' });

    const web = await get('web');
    expect(web).toMatchObject({
      instanceId: 'web',
      kind: 'WORKLOAD_KIND_POD',
      workloadName: 'web',
      phase: 'INSTANCE_PHASE_RUNNING',
      ready: true,
      reason: '',
      stuck: false,
      podName: 'web',
      providerId: PID,
      image: 'busybox',
      restartCount: 0,
      requested: { cpu: '250', memory: String(2 ** 26), gpu: '0' },
    });
    expect(web.node).toMatch(/^kwok-node-/);
    expect(web.podIp).not.toBe('');
    expect(Number(web.createdAtUnixMs)).toBeGreaterThan(Date.now() - 120_000);
    expect(Number(web.startedAtUnixMs)).toBeGreaterThanOrEqual(Number(web.createdAtUnixMs) - 1000);
    expect(web.holds).toMatchObject({ cpu: '250' });
    const job = await get('batch');
    expect(job).toMatchObject({ kind: 'WORKLOAD_KIND_JOB', workloadName: 'batch', cleanupPolicy: 'ON_SUCCESS', phase: 'INSTANCE_PHASE_RUNNING' });
    expect(job.podName).toMatch(/^batch-/);

    const jobs = await icall<ListInstancesResponse__Output>(ic, 'ListInstances', {
      providerId: PID,
      kind: 'WORKLOAD_KIND_JOB',
      phases: ['INSTANCE_PHASE_RUNNING'],
    });
    expect(jobs.instances.map((i) => i.instanceId)).toEqual(['batch']);
    const page1 = await icall<ListInstancesResponse__Output>(ic, 'ListInstances', { providerId: PID, pageSize: 1 });
    expect(page1.instances.map((i) => i.instanceId)).toEqual(['batch']);
    expect(page1.totalSize).toBe(2);
    const page2 = await icall<ListInstancesResponse__Output>(ic, 'ListInstances', { providerId: PID, pageSize: 1, pageToken: page1.nextPageToken });
    expect([page2.instances.map((i) => i.instanceId), page2.nextPageToken]).toEqual([['web'], '']);
  });

  it('undeploys a Pod: its room returns when the pod is gone, a second call says it was gone, Deploy creates it anew', async () => {
    const before = used();
    expect((await deploy('short')).error).toBe('');
    await waitFor('short to run', async () => (await phaseOf('short')) === 'INSTANCE_PHASE_RUNNING');
    expect(used().cpu).toBe(before.cpu + 250);
    const first = await undeploy('short', { graceSeconds: 1 });
    expect(first).toMatchObject({ deleted: true, kind: 'WORKLOAD_KIND_POD', workloadName: 'short' });
    await podsGone(ns.name, 'short');
    await capacityBackTo(before, 'undeploying a Pod');
    await watch.next('short deleted', (e) => e.instance?.instanceId === 'short' && e.type === 'WATCH_EVENT_TYPE_DELETED');
    expect(await undeploy('short')).toMatchObject({ deleted: false, workloadName: '', instance: null });
    const again = await deploy('short');
    expect(again).toMatchObject({ error: '', created: true });
    await waitFor('short to run again', async () => (await phaseOf('short')) === 'INSTANCE_PHASE_RUNNING');
    await undeploy('short', { graceSeconds: 0 });
    await podsGone(ns.name, 'short');
    await capacityBackTo(before, 'undeploying the new Pod');
  });

  it('undeploys a Job with background propagation (the default): the Job and its pods really go', async () => {
    const before = used();
    expect((await deploy('job-bg', { kind: 'JOB', annotations: LONG_RUNNING })).error).toBe('');
    await waitFor('job-bg to run', async () => (await phaseOf('job-bg')) === 'INSTANCE_PHASE_RUNNING');
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'iarnet.instance_id=job-bg' });
    expect(pods.items.length).toBe(1);
    expect(await undeploy('job-bg')).toMatchObject({ deleted: true, kind: 'WORKLOAD_KIND_JOB', workloadName: 'job-bg' });
    await waitFor('the Job to be gone', async () => !(await jobExists(ns.name, 'job-bg')));
    await podsGone(ns.name, 'job-bg');
    await capacityBackTo(before, 'undeploying a Job in the background');
    expect(await undeploy('job-bg')).toMatchObject({ deleted: false });
  });

  it('undeploys a Job with foreground propagation: Terminating until its pods are gone, then gone', async () => {
    const before = used();
    const from = watch.events.length;
    expect((await deploy('job-fg', { kind: 'JOB', annotations: LONG_RUNNING })).error).toBe('');
    await waitFor('job-fg to run', async () => (await phaseOf('job-fg')) === 'INSTANCE_PHASE_RUNNING');
    expect(await undeploy('job-fg', { propagation: 'PROPAGATION_FOREGROUND' })).toMatchObject({ deleted: true, kind: 'WORKLOAD_KIND_JOB' });
    await watch.next('job-fg terminating', (e) => e.instance?.instanceId === 'job-fg' && e.instance.phase === 'INSTANCE_PHASE_TERMINATING', from);
    await watch.next('job-fg deleted', (e) => e.instance?.instanceId === 'job-fg' && e.type === 'WATCH_EVENT_TYPE_DELETED', from);
    expect(await jobExists(ns.name, 'job-fg')).toBe(false);
    await podsGone(ns.name, 'job-fg');
    await capacityBackTo(before, 'undeploying a Job in the foreground');
  });

  it('reports an Unschedulable instance (impossible request or node selector) as stuck, releases and deletes it', async () => {
    const before = used();
    const counted = await stuckCount('Unschedulable');
    const from = watch.events.length;
    expect((await deploy('too-big', undefined, 20_000)).error).toBe(''); // fits the provider, no node has 20 cores
    expect((await deploy('nowhere', { nodeSelector: { 'example.com/no-such-node': 'x' } })).error).toBe('');
    for (const id of ['too-big', 'nowhere']) {
      await watch.next(
        `${id} pending as Unschedulable`,
        (e) => e.instance?.instanceId === id && e.instance.reason === 'Unschedulable' && e.instance.phase === 'INSTANCE_PHASE_PENDING',
        from,
      );
      const stuck = await watch.next(`${id} stuck`, (e) => e.instance?.instanceId === id && e.instance.stuck, from);
      expect(stuck.instance).toMatchObject({ phase: 'INSTANCE_PHASE_FAILED', reason: 'Unschedulable', holds: { cpu: '0', memory: '0', gpu: '0' } });
      expect(stuck.instance!.message).toMatch(/^stuck: Unschedulable for more than 2s: 0\/2 nodes are available/);
      await podsGone(ns.name, id);
      // Deleted, yet still answered: the control plane learns why, not NOT_FOUND.
      expect(await get(id)).toMatchObject({ phase: 'INSTANCE_PHASE_FAILED', stuck: true, reason: 'Unschedulable' });
    }
    await capacityBackTo(before, 'stuck Unschedulable instances');
    expect(
      d.logs
        .filter((l) => l.msg === 'instance stuck' && l.reason === 'Unschedulable')
        .map((l) => l.instanceId)
        .sort(),
    ).toEqual(['nowhere', 'too-big']);
    expect(await stuckCount('Unschedulable')).toBe(counted + 2);
  });

  it('reports image pull and config errors as stuck: after stuck_after_seconds, InvalidImageName at once', async () => {
    const before = used();
    const from = watch.events.length;
    const reasons = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError'];
    for (const reason of reasons)
      expect((await deploy(`img-${reason.toLowerCase()}`, { annotations: { [`${STAGE}/waiting-reason`]: reason } })).error).toBe('');
    for (const reason of reasons) {
      const id = `img-${reason.toLowerCase()}`;
      const stuck = await watch.next(`${id} stuck`, (e) => e.instance?.instanceId === id && e.instance.stuck, from);
      expect(stuck.instance).toMatchObject({ phase: 'INSTANCE_PHASE_FAILED', reason, node: expect.stringMatching(/^kwok-node-/) });
      const seen = watch.forInstance(id);
      if (reason === 'InvalidImageName')
        expect(seen.find((s) => s.reason === reason)?.stuck).toBe(true); // never reported as waiting
      else expect(seen.some((s) => s.phase === 'INSTANCE_PHASE_PENDING' && s.reason === reason && !s.stuck)).toBe(true);
      await podsGone(ns.name, id);
    }
    await capacityBackTo(before, 'stuck image-pull instances');
    for (const reason of reasons) expect(await stuckCount(reason)).toBeGreaterThanOrEqual(1);
  });

  it('reports why a workload failed: exit code, OOMKilled, Evicted, BackoffLimitExceeded, DeadlineExceeded', async () => {
    const before = used();
    const fail = (code: number, extra: Record<string, string> = {}) => ({ [`${STAGE}/exit-code`]: String(code), [`${STAGE}/delay`]: '500ms', ...extra });
    expect((await deploy('exit-3', { annotations: fail(3) })).error).toBe('');
    expect((await deploy('oom', { annotations: fail(137, { [`${STAGE}/exit-reason`]: 'OOMKilled' }) })).error).toBe('');
    expect(
      (
        await deploy('evicted', {
          annotations: fail(137, { [`${STAGE}/pod-reason`]: 'Evicted', [`${STAGE}/pod-message`]: 'The node was low on resource: memory.' }),
        })
      ).error,
    ).toBe('');
    expect((await deploy('retries', { kind: 'JOB', backoffLimit: 1, annotations: fail(2) })).error).toBe('');
    expect((await deploy('late', { kind: 'JOB', timeoutSeconds: 2, annotations: LONG_RUNNING })).error).toBe('');
    const failed = async (id: string): Promise<WireInstance> => {
      await waitFor(`${id} to fail`, async () => (await phaseOf(id)) === 'INSTANCE_PHASE_FAILED', { timeoutMs: 60_000 });
      return get(id);
    };
    expect(await failed('exit-3')).toMatchObject({ reason: 'Error', exitCode: 3, stuck: false, holds: { cpu: '0' } });
    expect(await failed('oom')).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(await failed('evicted')).toMatchObject({ reason: 'Evicted', message: 'The node was low on resource: memory.' });
    const retries = await failed('retries');
    expect(retries).toMatchObject({ kind: 'WORKLOAD_KIND_JOB', reason: 'BackoffLimitExceeded', exitCode: 2, restartCount: 2 });
    expect(Number(retries.finishedAtUnixMs)).toBeGreaterThan(0);
    expect(await failed('late')).toMatchObject({ reason: 'DeadlineExceeded' });
    // Finished workloads release their room at once, though the policy keeps them.
    await capacityBackTo(before, 'failed workloads');
    const failedList = await icall<ListInstancesResponse__Output>(ic, 'ListInstances', { providerId: PID, phases: ['INSTANCE_PHASE_FAILED'] });
    expect(failedList.instances.filter((i) => !i.stuck).map((i) => i.instanceId)).toEqual(['evicted', 'exit-3', 'late', 'oom', 'retries']);
    // The stuck ones of the tests before, deleted but still listed with their reason.
    expect(failedList.instances.filter((i) => i.stuck).map((i) => `${i.instanceId}:${i.reason}`)).toEqual([
      'img-createcontainerconfigerror:CreateContainerConfigError',
      'img-errimagepull:ErrImagePull',
      'img-imagepullbackoff:ImagePullBackOff',
      'img-invalidimagename:InvalidImageName',
      'nowhere:Unschedulable',
      'too-big:Unschedulable',
    ]);
  });

  it('answers GetLogs on KWOK (no kubelet) with FAILED_PRECONDITION at once, never a hang', async () => {
    const readLogs = (request: object): Promise<string> =>
      new Promise((resolve) => {
        const stream = ic.GetLogs({ providerId: PID, ...request }, { deadline: Date.now() + 20_000 });
        const lines: string[] = [];
        stream.on('data', (m: GetLogsResponse__Output) => lines.push(...m.lines));
        stream.on('error', (err: grpc.ServiceError) =>
          resolve(`${err.code === 9 ? 'FAILED_PRECONDITION' : err.code === 14 ? 'UNAVAILABLE' : err.code === 5 ? 'NOT_FOUND' : err.code}: ${err.details}`),
        );
        stream.on('end', () => resolve(`OK: ${lines.join('|')}`));
      });
    expect(await readLogs({ instanceId: 'web' })).toMatch(
      /^FAILED_PRECONDITION: logs of pod web container "main" cannot be read: no logs found for container "main"/,
    );
    expect(await readLogs({ instanceId: 'web', follow: true, tailLines: 10 })).toMatch(/^FAILED_PRECONDITION: logs of pod web container "main" cannot be read/);
    expect(await readLogs({ instanceId: 'nope' })).toBe('NOT_FOUND: instance "nope" does not exist');
    expect((await deploy('waiting', { nodeSelector: { 'example.com/no-such-node': 'y' } })).error).toBe('');
    await waitFor('waiting to be seen', async () => (await phaseOf('waiting')) === 'INSTANCE_PHASE_PENDING');
    expect(await readLogs({ instanceId: 'waiting' })).toMatch(
      /^FAILED_PRECONDITION: instance "waiting" has no pod yet|^FAILED_PRECONDITION: instance "waiting" has not started/,
    );
  });
});
