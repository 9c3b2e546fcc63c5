/**
 * Issue 13: workloads that really run. The daemon deploys onto the test
 * cluster's real node (containerd + runc + kubelet, CLUSTER_REAL_NODE=1) with
 * its toleration and node selector, and what the kubelet reports comes back:
 * exit codes, Succeeded/Failed, OOMKilled, image pull failures, logs, and
 * usage measured by metrics-server from the kubelet.
 *
 * Skipped with a printed reason when the node is off (no root, or
 * CLUSTER_REAL_NODE unset); with CLUSTER_REAL_NODE=1 a missing node fails.
 */
import { BatchV1Api, CoreV1Api, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf } from '../../src/shared/kube-api-errors.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { call, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { REAL_NODE_SELECTOR, REAL_NODE_TOLERATION, realNode } from '../helpers/real-node.js';
import { LABEL_INSTANCE_ID } from '../../src/shared/labels.js';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import type { GetRealTimeUsageResponse__Output } from '../../src/adapters/grpc/generated/provider/GetRealTimeUsageResponse.js';

const MI = 2 ** 20;
const PROVIDER = 'real-node-cp';
const node = await realNode('real-node.test');

const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);

describe.skipIf(!node.available)('workloads on the real node', () => {
  const image = node.available ? node.workloadImage : '';
  let ns: TestNamespace;
  let d: TestDaemon;

  const deploy = async (
    instanceId: string,
    workload: Record<string, unknown>,
    opts: { image?: string; memory?: number } = {},
  ): Promise<DeployResponse__Output> => {
    // The control plane's heartbeat: the session lapses when HealthCheck stops.
    await call(d.client, 'HealthCheck', { providerId: PROVIDER });
    return call<DeployResponse__Output>(d.client, 'Deploy', {
      providerId: PROVIDER,
      instanceId,
      image: opts.image ?? image,
      resourceRequest: { cpu: 100, memory: opts.memory ?? 32 * MI, gpu: 0 },
      workload: { nodeSelector: REAL_NODE_SELECTOR, tolerations: [REAL_NODE_TOLERATION], ...workload },
    });
  };

  const pod = async (instanceId: string): Promise<V1Pod | undefined> =>
    (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `${LABEL_INSTANCE_ID}=${instanceId}` })).items[0];

  /** Waits until the instance's pod has the given phase; returns it. */
  const podIn = (instanceId: string, phase: string, timeoutMs = 60_000): Promise<V1Pod> =>
    waitFor(
      `pod of ${instanceId} to be ${phase}`,
      async () => {
        const p = await pod(instanceId);
        return p?.status?.phase === phase ? p : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );

  const container = (p: V1Pod): V1ContainerStatus => p.status!.containerStatuses![0]!;

  beforeAll(async () => {
    ns = await createTestNamespace('real-node');
    // Pod Security baseline enforced, as on k8s-deployment.yaml's iarnet-workloads.
    await core.patchNamespace({
      name: ns.name,
      body: [{ op: 'add', path: '/metadata/labels/pod-security.kubernetes.io~1enforce', value: 'baseline' }],
    });
    d = await startTestDaemon(ns.name, {
      resource: { cpu: 2000, memory: '1Gi', gpu: 0 },
      jobs: { timeout_seconds: 600, cleanup_policy: 'OnSuccess' },
    });
    await call(d.client, 'Connect', { providerId: PROVIDER });
  });
  afterAll(async () => {
    await d?.stop();
    await ns?.cleanup();
  });

  it('runs a Pod on the real node to Succeeded with exit code 0 and its log lines', async () => {
    const res = await deploy('ok', { kind: 'POD', command: ['log-lines'], args: ['3'] });
    expect(res.error).toBe('');
    const p = await podIn('ok', 'Succeeded');
    expect(p.spec?.nodeName).toBe(node.available && node.name);
    expect(container(p).state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const logs = await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name });
    expect(logs).toBe('line 1\nline 2\nline 3\n');
  });

  it('reports a Pod that exits 3 as Failed with exit code 3', async () => {
    expect((await deploy('exit3', { kind: 'POD', command: ['exit-with'], args: ['3', 'bad input'] })).error).toBe('');
    const p = await podIn('exit3', 'Failed');
    expect(container(p).state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
  });

  it('completes a Job whose container exits 0 and fails one whose container exits 2', async () => {
    // Each kept after it finishes, so its outcome can be read.
    expect((await deploy('job-ok', { kind: 'JOB', command: ['exit-with'], args: ['0'], cleanupPolicy: 'ON_FAILURE' })).error).toBe('');
    expect((await deploy('job-bad', { kind: 'JOB', command: ['exit-with'], args: ['2'], backoffLimit: 0, cleanupPolicy: 'ON_SUCCESS' })).error).toBe('');
    const finished = async (name: string): Promise<string | undefined> => {
      try {
        const j = await batch.readNamespacedJob({ name, namespace: ns.name });
        return j.status?.conditions?.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.type;
      } catch (err) {
        if (httpStatusOf(err) === 404) return undefined;
        throw err;
      }
    };
    expect(await waitFor('job-ok to finish', () => finished('job-ok'), { timeoutMs: 90_000, intervalMs: 500 })).toBe('Complete');
    expect(await waitFor('job-bad to finish', () => finished('job-bad'), { timeoutMs: 90_000, intervalMs: 500 })).toBe('Failed');
    const bad = await podIn('job-bad', 'Failed');
    expect(container(bad).state?.terminated?.exitCode).toBe(2);
  });

  it('has a container that needs more memory than its limit OOMKilled', async () => {
    // The daemon sets limits = requests: 32 MiB, and hog-memory wants 256 MiB at once.
    expect((await deploy('hog', { kind: 'POD', command: ['hog-memory'], args: ['256'] })).error).toBe('');
    const p = await podIn('hog', 'Failed');
    expect(container(p).state?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  it('reports ErrImagePull, then ImagePullBackOff, for an image that cannot be pulled', async () => {
    // No registry answers on localhost: the pull fails at once and never leaves the machine.
    const missing = 'localhost/k8s-provider-test/absent:1';
    expect((await deploy('nopull', { kind: 'POD', command: ['true'] }, { image: missing })).error).toBe('');
    const reasons = new Set<string>();
    await waitFor(
      'ImagePullBackOff after ErrImagePull',
      async () => {
        const p = await pod('nopull');
        const reason = p?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        if (reason) reasons.add(reason);
        return reasons.has('ErrImagePull') && reasons.has('ImagePullBackOff');
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await pod('nopull'))?.status?.phase).toBe('Pending');
  });

  it('runs the pod as the daemon writes it under the baseline Pod Security level', async () => {
    expect((await deploy('whoami', { kind: 'POD', command: ['sh', '-c'], args: ['id -u; echo "pid $$$$"'] })).error).toBe('');
    const p = await podIn('whoami', 'Succeeded');
    const logs = await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns.name });
    // The image's default user; the command itself is PID 1 (nothing in
    // between). "$$$$" is the shell's "$$" after Kubernetes' own $$ escape.
    expect(logs).toBe('0\npid 1\n');
  });

  it('reports the usage metrics-server measured on the kubelet for a running container', async () => {
    expect((await deploy('hold', { kind: 'POD', command: ['hold-memory'], args: ['24'] }, { memory: 64 * MI })).error).toBe('');
    await podIn('hold', 'Running');
    const usage = await waitFor(
      'metrics-server usage for the real container',
      async () => {
        // As the control plane does: the session lapses without HealthCheck calls.
        await call(d.client, 'HealthCheck', { providerId: PROVIDER });
        const res = await call<GetRealTimeUsageResponse__Output>(d.client, 'GetRealTimeUsage', { providerId: PROVIDER, includeInstances: true });
        const mine = res.instances.find((i) => i.instanceId === 'hold');
        return res.source === 'METRICS' && mine && Number(mine.usage?.memory) > 0 ? mine : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    // 24 MiB in /dev/shm is charged to the container; the request was 64 MiB.
    expect(Number(usage.usage?.memory)).toBeGreaterThan(20 * MI);
    expect(Number(usage.usage?.memory)).toBeLessThan(64 * MI);
  });
});
