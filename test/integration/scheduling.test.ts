/**
 * Issue 15 item 7 on the real API server and scheduler: priority class,
 * affinity between the instances of one application, topology spread and
 * the GPU placement of the config are on the created Pod and Job (read back),
 * the scheduler keeps them (two instances kept apart land on the two KWOK
 * nodes, a third stays Pending), and every bad field is refused with
 * INVALID_ARGUMENT or FAILED_PRECONDITION with nothing created.
 */
import { AppsV1Api, BatchV1Api, CoreV1Api, SchedulingV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployResponse__Output } from '../../src/adapters/grpc/generated/provider/DeployResponse.js';
import { createTestNamespace, makeKubeConfig, waitFor, type TestNamespace } from '../helpers/cluster.js';
import { removeWorkloads } from '../helpers/workloads.js';
import { call, startTestDaemon, statusOf, type TestDaemon } from '../helpers/daemon.js';
import { icall, instancesClient, type WireInstance } from '../helpers/instances.js';

const MI = 2 ** 20;
const kc = makeKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const scheduling = kc.makeApiClient(SchedulingV1Api);
const PRIORITY = `sched-test-low-${process.pid}`;
const GPU_NODE = 'kwok-node-gpu';
const GPU_TAINT = { key: 'k8s-provider.test/gpu-only', value: 'true', effect: 'NoSchedule' };

const deploy = (d: TestDaemon, instanceId: string, over: object = {}): Promise<DeployResponse__Output> =>
  call<DeployResponse__Output>(d.client, 'Deploy', {
    providerId: 'cp-sched',
    instanceId,
    image: 'busybox:1.36',
    resourceRequest: { cpu: 100, memory: 64 * MI, gpu: 0 },
    envVars: {},
    ...over,
  });

async function names(namespace: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace });
  const jobs = await batch.listNamespacedJob({ namespace });
  const deployments = await apps.listNamespacedDeployment({ namespace });
  return [
    ...pods.items.map((p) => `pod/${p.metadata!.name}`),
    ...jobs.items.map((j) => `job/${j.metadata!.name}`),
    ...deployments.items.map((x) => `deployment/${x.metadata!.name}`),
  ].sort();
}

async function setGpuTaint(on: boolean): Promise<void> {
  const node = await core.readNode({ name: GPU_NODE });
  const others = (node.spec?.taints ?? []).filter((t) => t.key !== GPU_TAINT.key);
  node.spec = { ...node.spec, taints: on ? [...others, GPU_TAINT] : others };
  await core.replaceNode({ name: GPU_NODE, body: node });
}

describe('scheduling fields on the real cluster', () => {
  let ns: TestNamespace;
  let d: TestDaemon;
  beforeAll(async () => {
    ns = await createTestNamespace('sched');
    await scheduling.createPriorityClass({ body: { metadata: { name: PRIORITY }, value: 1000, description: 'k8s-provider scheduling test' } });
    d = await startTestDaemon(ns.name, {
      gpu: {
        node_selector: { 'nvidia.com/gpu.present': 'true' },
        tolerations: [{ key: GPU_TAINT.key, operator: 'Exists', effect: 'NoSchedule' }],
      },
    });
    expect(await call(d.client, 'Connect', { providerId: 'cp-sched' })).toMatchObject({ success: true });
  });
  afterAll(async () => {
    await d?.stop();
    await setGpuTaint(false).catch(() => undefined);
    if (ns) await removeWorkloads(ns.name);
    await ns?.cleanup();
    await scheduling.deletePriorityClass({ name: PRIORITY }).catch(() => undefined);
  });

  it('keeps two instances of one application on different nodes, and a third Pending when no node is left', async () => {
    const apart = {
      labels: { app_group: 'web' },
      affinity: [{ groupLabel: 'app_group', relation: 'AFFINITY_RELATION_APART', mode: 'PLACEMENT_MODE_REQUIRED' }],
    };
    for (const id of ['web-1', 'web-2', 'web-3']) expect(await deploy(d, id, { workload: apart })).toMatchObject({ error: '', created: true });
    const pod = await core.readNamespacedPod({ name: 'web-1', namespace: ns.name });
    expect(pod.spec?.affinity).toEqual({
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { 'iarnet.managed': 'true', app_group: 'web' } }, topologyKey: 'kubernetes.io/hostname' },
        ],
      },
    });
    const placed = await waitFor('two web instances to be scheduled and the third to be refused by the scheduler', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app_group=web' })).items;
      const onNodes = pods.filter((p) => p.spec?.nodeName);
      const unschedulable = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
      return onNodes.length === 2 && unschedulable.length === 1 ? { onNodes, unschedulable } : undefined;
    });
    expect(new Set(placed.onNodes.map((p: V1Pod) => p.spec?.nodeName)).size).toBe(2);
    expect(placed.unschedulable[0]?.status?.phase).toBe('Pending');
    // Another application is not kept apart from them.
    expect(await deploy(d, 'db-1', { workload: { labels: { app_group: 'db' }, affinity: apart.affinity } })).toMatchObject({ error: '' });
    await waitFor('db-1 to be scheduled', async () => (await core.readNamespacedPod({ name: 'db-1', namespace: ns.name })).spec?.nodeName);
  });

  it('passes priority class, preferred affinity and topology spread through to a Job’s pod template', async () => {
    const res = await deploy(d, 'batch-1', {
      workload: {
        kind: 'JOB',
        labels: { app_group: 'etl' },
        priorityClassName: PRIORITY,
        affinity: [
          {
            groupLabel: 'app_group',
            relation: 'AFFINITY_RELATION_TOGETHER',
            mode: 'PLACEMENT_MODE_PREFERRED',
            topologyKey: 'topology.kubernetes.io/zone',
            weight: 40,
          },
        ],
        topologySpread: [
          { topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'WHEN_UNSATISFIABLE_SCHEDULE_ANYWAY', groupLabel: 'app_group' },
        ],
        annotations: { 'pod-complete.stage.kwok.x-k8s.io/delay': '1h' },
      },
    });
    expect(res).toMatchObject({ error: '', created: true, workloadKind: 'JOB' });
    const job = await batch.readNamespacedJob({ name: 'batch-1', namespace: ns.name });
    const selector = { matchLabels: { 'iarnet.managed': 'true', app_group: 'etl' } };
    expect(job.spec?.template.spec).toMatchObject({
      priorityClassName: PRIORITY,
      affinity: {
        podAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 40, podAffinityTerm: { labelSelector: selector, topologyKey: 'topology.kubernetes.io/zone' } },
          ],
        },
      },
      topologySpreadConstraints: [{ maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: selector }],
    });
    // The Priority admission plugin resolved the class on the pod the Job controller made.
    const jobPod = await waitFor(
      'the Job’s pod',
      async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'batch.kubernetes.io/job-name=batch-1' })).items[0],
    );
    expect(jobPod.spec?.priorityClassName).toBe(PRIORITY);
    expect(jobPod.spec?.priority).toBe(1000);
    // GetInstance (and so the CLI's describe) reads the rules back from the Job.
    const instances = instancesClient(d.daemon.port);
    try {
      const { instance } = await icall<{ instance: WireInstance }>(instances, 'GetInstance', { providerId: 'cp-sched', instanceId: 'batch-1' });
      expect(instance.priorityClassName).toBe(PRIORITY);
      expect(instance.placement).toEqual([
        'together with app_group=etl per topology.kubernetes.io/zone (preferred, weight 40)',
        'spread app_group=etl over kubernetes.io/hostname, max skew 2, ScheduleAnyway',
      ]);
    } finally {
      instances.close();
    }
  });

  it('refuses an unknown PriorityClass by name, for a Pod, a Job and a Deployment (with no replica too), and creates nothing', async () => {
    const before = await names(ns.name);
    const cases: Array<[string, object]> = [
      ['POD', {}],
      ['JOB', {}],
      ['DEPLOYMENT', {}],
      ['DEPLOYMENT', { replicas: 0 }],
    ];
    for (const [kind, extra] of cases) {
      const res = await deploy(d, `ghost-${kind.toLowerCase()}`, { workload: { kind, priorityClassName: 'no-such-class', ...extra } });
      expect(res.error, `${kind} ${JSON.stringify(extra)}`).toMatch(/^FAILED_PRECONDITION: workload\.priority_class_name .*no-such-class/);
    }
    expect(await names(ns.name)).toEqual(before);
  });

  it('refuses to scale up a Deployment whose PriorityClass is gone, and leaves its replicas as they were', async () => {
    const doomed = `${PRIORITY}-doomed`;
    await scheduling.createPriorityClass({ body: { metadata: { name: doomed }, value: 10, description: 'deleted by the test' } });
    const res = await deploy(d, 'idle-web', { workload: { kind: 'DEPLOYMENT', replicas: 0, priorityClassName: doomed } });
    expect(res).toMatchObject({ error: '', created: true, replicas: 0 });
    await scheduling.deletePriorityClass({ name: doomed });
    const instances = instancesClient(d.daemon.port);
    try {
      expect(await statusOf(icall(instances, 'ScaleInstance', { providerId: 'cp-sched', instanceId: 'idle-web', replicas: 2 }))).toMatch(
        new RegExp(`^FAILED_PRECONDITION: .*${doomed}`),
      );
      expect((await apps.readNamespacedDeployment({ name: res.workloadName, namespace: ns.name })).spec?.replicas).toBe(0);
    } finally {
      instances.close();
    }
  });

  it('refuses every bad scheduling field with INVALID_ARGUMENT naming it, and creates nothing', async () => {
    const before = await names(ns.name);
    const cases: Array<[object, RegExp]> = [
      [{ priorityClassName: 'system-node-critical' }, /workload\.priority_class_name "system-node-critical" is reserved/],
      [
        { affinity: [{ groupLabel: 'app_group', relation: 'AFFINITY_RELATION_APART' }] },
        /workload\.affinity\[0\]\.group_label "app_group" is not one of workload\.labels/,
      ],
      [{ labels: { app_group: 'x' }, affinity: [{ groupLabel: 'app_group' }] }, /workload\.affinity\[0\]\.relation must be APART/],
      [{ topologySpread: [{ maxSkew: 1 }] }, /workload\.topology_spread\[0\]\.topology_key is required/],
      [{ affinity: [{ groupLabel: 'app_group', relation: 7 }] }, /workload\.affinity\[0\]\.relation: unknown value/],
    ];
    for (const [workload, message] of cases) {
      const res = await deploy(d, 'bad-1', { workload });
      expect(res.error, JSON.stringify(workload)).toMatch(/^INVALID_ARGUMENT: /);
      expect(res.error).toMatch(message);
    }
    expect(await names(ns.name)).toEqual(before);
  });

  it('puts GPU deploys on the GPU node with the configured selector and toleration, and only those', async () => {
    await setGpuTaint(true);
    expect(await deploy(d, 'train-1', { resourceRequest: { cpu: 100, memory: 64 * MI, gpu: 1 } })).toMatchObject({ error: '' });
    const pod = await core.readNamespacedPod({ name: 'train-1', namespace: ns.name });
    expect(pod.spec?.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod.spec?.tolerations).toContainEqual({ key: GPU_TAINT.key, operator: 'Exists', effect: 'NoSchedule' });
    await waitFor(
      'the GPU instance on the GPU node',
      async () => (await core.readNamespacedPod({ name: 'train-1', namespace: ns.name })).spec?.nodeName === GPU_NODE,
    );
    // A CPU deploy gets neither: pinned to the tainted node by its own selector it cannot be placed.
    expect(await deploy(d, 'cpu-1', { workload: { nodeSelector: { 'kubernetes.io/hostname': GPU_NODE } } })).toMatchObject({ error: '' });
    const cpuPod = await core.readNamespacedPod({ name: 'cpu-1', namespace: ns.name });
    expect(cpuPod.spec?.tolerations?.some((t) => t.key === GPU_TAINT.key)).toBeFalsy();
    await waitFor('the CPU instance to be refused by the taint', async () =>
      (await core.readNamespacedPod({ name: 'cpu-1', namespace: ns.name })).status?.conditions?.some((c) => c.reason === 'Unschedulable'),
    );
  });
});
