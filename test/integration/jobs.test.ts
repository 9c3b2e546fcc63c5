/**
 * Issue 4: JOB workloads. KWOK completes Job pods; the annotation
 * pod-complete.stage.kwok.x-k8s.io/delay (honoured by the test cluster's
 * stages) keeps one running past its deadline.
 */
import { BatchV1Api, CoreV1Api, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import { LABEL_INSTANCE_ID, LABEL_MANAGED, LABEL_PROVIDER_ID } from '../../src/shared/labels.js';

const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const LONG_RUNNING = { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' };

async function job(namespace: string, name: string): Promise<V1Job | undefined> {
  try {
    return await batch.readNamespacedJob({ name, namespace });
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
}

const condition = (j: V1Job | undefined): string | undefined =>
  j?.status?.conditions?.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.type;

describe('JOB workloads', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  const deployJob = (instanceId: string, workload: object): Promise<DeployResponse__Output> =>
    call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: 'cp',
      instanceId,
      image: 'busybox',
      resourceRequest: { cpu: 500, memory: 2 ** 26, gpu: 0 },
      workload: { kind: 'JOB', ...workload },
    });
  const usedCpu = (): number => d.daemon.provider.currentCapacity().used.cpu;

  beforeAll(async () => {
    ns = await createTestNamespace('jobs');
    d = await startTestDaemon(ns.name, { resource: { cpu: 4000, memory: '4Gi', gpu: 0 }, jobs: { timeout_seconds: 3600, cleanup_policy: 'OnSuccess' } });
    await call(d.client, 'Connect', { providerId: 'cp' });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('creates a labelled Job whose pods carry the labels, with the configured defaults', async () => {
    const res = await deployJob('keep', { cleanupPolicy: 'ON_FAILURE', command: ['sh', '-c'], args: ['echo hi'], backoffLimit: 1 });
    expect(res).toMatchObject({ error: '', workloadKind: 'JOB', workloadName: 'keep', created: true });
    const j = (await job(ns.name, 'keep'))!;
    expect(j.metadata?.labels).toMatchObject({ [LABEL_MANAGED]: 'true', [LABEL_PROVIDER_ID]: 'cp', [LABEL_INSTANCE_ID]: 'keep' });
    expect(j.spec).toMatchObject({ activeDeadlineSeconds: 3600, backoffLimit: 1 });
    expect(j.spec?.template.spec?.containers[0]).toMatchObject({ command: ['sh', '-c'], args: ['echo hi'] });
    // ON_FAILURE keeps a Job that succeeded.
    await waitFor('the job to complete', async () => condition(await job(ns.name, 'keep')) === 'Complete');
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_INSTANCE_ID}=keep` });
    expect(pods.items.length).toBeGreaterThan(0);
    expect(pods.items.every((p) => p.status?.phase === 'Succeeded')).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await job(ns.name, 'keep')).toBeDefined();
    await waitFor('a finished job to hold nothing', () => usedCpu() === 0);
  });

  it('removes a Job that succeeded under OnSuccess (the config default) and Always', async () => {
    expect((await deployJob('ok-default', {})).error).toBe('');
    expect((await deployJob('ok-always', { cleanupPolicy: 'ALWAYS' })).error).toBe('');
    await waitFor('both jobs and their pods to be removed', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_INSTANCE_ID} in (ok-default,ok-always)` });
      return (await job(ns.name, 'ok-default')) === undefined && (await job(ns.name, 'ok-always')) === undefined && pods.items.length === 0;
    });
    expect(d.logs.some((l) => l.msg === 'finished job cleaned up' && l.job === 'ok-default')).toBe(true);
  });

  it('fails a Job past its deadline, releases its room, and removes it under OnFailure', async () => {
    expect((await deployJob('late', { timeoutSeconds: 2, cleanupPolicy: 'ON_FAILURE', annotations: LONG_RUNNING })).error).toBe('');
    await waitFor('the job pod to run', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_INSTANCE_ID}=late` });
      return pods.items.some((p) => p.status?.phase === 'Running');
    });
    expect(usedCpu()).toBe(500);
    await waitFor('the deadline to fail the job and the janitor to remove it', async () => (await job(ns.name, 'late')) === undefined, { timeoutMs: 60_000 });
    await waitFor('its room to be released', () => usedCpu() === 0, { timeoutMs: 30_000 });
    const line = d.logs.find((l) => l.msg === 'finished job cleaned up' && l.job === 'late');
    expect(line).toMatchObject({ outcome: 'Failed', policy: 'OnFailure' });
  });

  it('keeps a Job that failed under OnSuccess, holding nothing', async () => {
    expect((await deployJob('late-kept', { timeoutSeconds: 1, annotations: LONG_RUNNING })).error).toBe('');
    await waitFor('the job to fail on its deadline', async () => condition(await job(ns.name, 'late-kept')) === 'Failed', { timeoutMs: 60_000 });
    expect((await job(ns.name, 'late-kept'))?.status?.conditions?.some((c) => c.reason === 'DeadlineExceeded')).toBe(true);
    await waitFor('its room to be released', () => usedCpu() === 0, { timeoutMs: 30_000 });
  });

  it('holds a running Job against capacity', async () => {
    expect((await deployJob('hold', { annotations: LONG_RUNNING, cleanupPolicy: 'ALWAYS' })).error).toBe('');
    expect(usedCpu()).toBe(500); // reserved at once, before any pod exists
    const res = await call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: 'cp',
      instanceId: 'too-much',
      image: 'x',
      resourceRequest: { cpu: 3600, memory: 1, gpu: 0 },
    });
    expect(res.error).toBe('RESOURCE_EXHAUSTED: needs 3600m cpu, 3500m cpu available');
  });
});
