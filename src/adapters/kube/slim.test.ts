import { describe, expect, it } from 'vitest';
import type { V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { validateDeploy } from '../../core/deploy-spec.js';
import { autoTotal } from './auto-capacity.js';
import { deploymentManifest, jobManifest, podManifest, RESTRICTED } from './manifests.js';
import { observeClaim, observeDeployment, observeJob, observePod, podRequests } from './observe.js';
import { slimClaim, slimDeployment, slimJob, slimPod } from './slim.js';

const spec = (kind: 'Pod' | 'Job' | 'Deployment', volumes = false) =>
  validateDeploy(
    {
      instanceId: 'Task 7',
      providerId: 'cp',
      image: 'iarnet/component:1',
      resources: { cpu: 250, memory: 64 * 2 ** 20, gpu: 1 },
      env: { SECRET: 'x', COMPONENT_ID: 'c7' },
      // Every input of the placement summary, which observe reads from the spec.
      workload: {
        kind,
        ...(kind === 'Deployment' ? { replicas: 3 } : {}),
        // The emptyDir size limits are the pods' ephemeral storage, read from the pod spec.
        ...(volumes
          ? {
              volumes: [
                { name: 'scratch', mountPath: '/scratch', readOnly: false, emptyDir: { sizeLimitBytes: 2 ** 30 } },
                { name: 'data', mountPath: '/data', readOnly: false, claim: { storageClass: 'fast', sizeBytes: 2 ** 31, accessMode: '', retain: false } },
              ],
            }
          : {}),
        labels: { app_group: 'etl' },
        nodeSelector: { disk: 'ssd' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'iarnet', effect: 'NoSchedule' }],
        priorityClassName: 'batch-low',
        affinity: [{ groupLabel: 'app_group', relation: 'Apart', mode: 'Preferred', topologyKey: 'kubernetes.io/hostname', weight: 50 }],
        topologySpread: [
          { groupLabel: 'app_group', topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', minDomains: undefined },
        ],
      },
    },
    { jobTimeoutSeconds: 600, jobCleanupPolicy: 'OnSuccess' },
  );
const ctx = { namespace: 'ns', selectorLabels: { team: 'a' }, security: RESTRICTED };
const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

/** A pod as the API serves it: the daemon's manifest plus what the server and the kubelet add. */
function servedPod(volumes = false): V1Pod {
  const pod = podManifest(spec('Pod', volumes), ctx);
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      namespace: 'ns',
      uid: 'uid-1',
      resourceVersion: '42',
      creationTimestamp: t(0) as unknown as Date,
      deletionTimestamp: t(9) as unknown as Date,
      annotations: { ...pod.metadata?.annotations, 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"manifest"}' },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'task-7', uid: 'j', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'k8s-provider', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
    },
    spec: {
      ...pod.spec,
      containers: pod.spec?.containers ?? [],
      nodeName: 'node-1',
      initContainers: [{ name: 'init', image: 'busybox', resources: { requests: { cpu: '2', memory: '1Mi' } } }],
      overhead: { cpu: '10m' },
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      volumes: [
        ...(pod.spec?.volumes ?? []),
        { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } },
      ],
    },
    status: {
      phase: 'Running',
      reason: 'Evicted',
      message: 'low on memory',
      podIP: '10.0.0.7',
      hostIP: '192.168.0.1',
      qosClass: 'Burstable',
      startTime: t(1) as unknown as Date,
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no room', lastTransitionTime: t(2) as unknown as Date },
        { type: 'Ready', status: 'False', lastTransitionTime: t(3) as unknown as Date, lastProbeTime: t(3) as unknown as Date },
      ],
      containerStatuses: [
        {
          name: 'main',
          image: 'iarnet/component:1',
          imageID: 'sha256:abc',
          containerID: 'containerd://1',
          ready: false,
          restartCount: 3,
          started: false,
          state: { terminated: { exitCode: 2, reason: 'Error', message: 'boom', startedAt: t(4) as unknown as Date, finishedAt: t(5) as unknown as Date } },
          lastState: { terminated: { exitCode: 1, startedAt: t(0) as unknown as Date, finishedAt: t(1) as unknown as Date } },
        },
      ],
    },
  };
}

function servedJob(volumes = false): V1Job {
  const job = jobManifest(spec('Job', volumes), ctx);
  return {
    ...job,
    metadata: {
      ...job.metadata,
      namespace: 'ns',
      uid: 'uid-j',
      resourceVersion: '7',
      creationTimestamp: t(0) as unknown as Date,
      managedFields: [{ manager: 'x' }],
    },
    status: {
      startTime: t(1) as unknown as Date,
      completionTime: t(8) as unknown as Date,
      failed: 2,
      active: 0,
      conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'too many', lastTransitionTime: t(7) as unknown as Date }],
    },
  };
}

describe('slimPod / slimJob', () => {
  it('keep everything observePod reads, drop the rest', () => {
    const full = servedPod();
    const slim = slimPod(full);
    expect(observePod(slim)).toEqual(observePod(full));
    expect(observePod(full)).toMatchObject({ instanceId: 'Task 7', jobName: 'task-7', node: 'node-1', unschedulable: { message: 'no room' } });
    // node selector, apart from, spread (the served pod's only toleration is the server's default one)
    expect(observePod(full).placement).toMatchObject({ priorityClassName: 'batch-low', rules: expect.any(Array) });
    expect(observePod(full).placement?.rules).toHaveLength(3);
    expect(podRequests(slim)).toEqual(podRequests(full));
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.spec?.volumes).toBeUndefined();
    expect(slim.spec?.containers[0]?.env).toBeUndefined();
    expect(slim.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
    expect(Object.keys(slim.status ?? {}).sort()).toEqual(['conditions', 'containerStatuses', 'message', 'phase', 'podIP', 'reason', 'startTime']);
  });

  it('keep everything observeJob reads', () => {
    const full = servedJob();
    const slim = slimJob(full);
    expect(observeJob(slim)).toEqual(observeJob(full));
    expect(observeJob(full)).toMatchObject({ finished: 'Failed', reason: 'BackoffLimitExceeded', failedPods: 2, cleanupPolicy: 'OnSuccess' });
    expect(observeJob(full).placement).toMatchObject({ priorityClassName: 'batch-low' });
    expect(observeJob(full).placement?.rules).toHaveLength(4); // node selector, toleration, apart from, spread
    expect(slim.metadata?.managedFields).toBeUndefined();
  });

  it('keep the emptyDir size limits (ephemeral storage), drop the other volumes', () => {
    const full = servedPod(true);
    const slim = slimPod(full);
    expect(observePod(full).ephemeralStorage).toBe(2 ** 30);
    expect(observePod(full).volumes).toHaveLength(2);
    expect(observePod(slim)).toEqual(observePod(full));
    expect(slim.spec?.volumes).toEqual([{ name: 'scratch', emptyDir: { sizeLimit: '1073741824' } }]);
    const job = servedJob(true);
    expect(observeJob(job).podEphemeralStorage).toBe(2 ** 30);
    expect(observeJob(slimJob(job))).toEqual(observeJob(job));
  });

  it('keep what resource.mode auto reads of other pods', () => {
    const others = [servedPod(), { ...servedPod(), metadata: { name: 'x', namespace: 'other' }, status: { phase: 'Pending' } }];
    const nodes = [{ metadata: { name: 'node-1' }, status: { allocatable: { cpu: '8', memory: '16Gi' } } }];
    const options = { isManaged: (p: V1Pod) => p.metadata?.labels?.team === 'a', cap: {} };
    expect(autoTotal(nodes, others.map(slimPod), options)).toEqual(autoTotal(nodes, others, options));
  });

  it('leave objects without status or spec alone (a DELETED event may carry little)', () => {
    expect(observePod(slimPod({ metadata: { name: 'p' } }))).toEqual(observePod({ metadata: { name: 'p' } }));
    expect(observeJob(slimJob({ metadata: { name: 'j' } }))).toEqual(observeJob({ metadata: { name: 'j' } }));
  });
});

describe('slimDeployment / slimClaim', () => {
  it('keep everything observeDeployment reads, drop the rest', () => {
    const d = deploymentManifest(spec('Deployment', true), ctx);
    const full = {
      ...d,
      metadata: { ...d.metadata, uid: 'uid-d', resourceVersion: '9', creationTimestamp: t(0) as unknown as Date, managedFields: [{ manager: 'x' }] },
      status: {
        replicas: 3,
        readyReplicas: 2,
        availableReplicas: 2,
        updatedReplicas: 3,
        observedGeneration: 1,
        conditions: [{ type: 'Available', status: 'True' }],
      },
    };
    const slim = slimDeployment(full);
    expect(observeDeployment(slim)).toEqual(observeDeployment(full));
    expect(observeDeployment(full)).toMatchObject({ replicas: 3, readyReplicas: 2, podEphemeralStorage: 2 ** 30, uid: 'uid-d' });
    expect(observeDeployment(full).volumes).toHaveLength(2);
    expect(observeDeployment(full).placement?.rules).toHaveLength(4);
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.spec?.template.spec?.containers[0]?.env).toBeUndefined();
    expect(Object.keys(slim.status ?? {})).toEqual(['readyReplicas']);
  });

  it('keep everything observeClaim reads, drop the rest', () => {
    const full: V1PersistentVolumeClaim = {
      metadata: {
        name: 'task-7-data',
        namespace: 'ns',
        uid: 'uid-c',
        labels: { 'iarnet.managed': 'true', 'iarnet.volume': 'data', 'iarnet.retain': 'true' },
        annotations: { 'iarnet.instance_id': 'Task 7', 'pv.kubernetes.io/bind-completed': 'yes' },
        deletionTimestamp: t(5) as unknown as Date,
        managedFields: [{ manager: 'x' }],
        finalizers: ['kubernetes.io/pvc-protection'],
      },
      spec: {
        storageClassName: 'fast',
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '2Gi' } },
        volumeName: 'pv-1',
        volumeMode: 'Filesystem',
      },
      status: { phase: 'Bound', capacity: { storage: '3Gi' }, accessModes: ['ReadWriteOnce'] },
    };
    const slim = slimClaim(full);
    expect(observeClaim(slim)).toEqual(observeClaim(full));
    expect(observeClaim(full)).toMatchObject({ sizeBytes: 3 * 2 ** 30, storageClass: 'fast', phase: 'Bound', terminating: true });
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.spec?.volumeName).toBeUndefined();
    expect(observeClaim(slimClaim({ metadata: { name: 'c' } }))).toEqual(observeClaim({ metadata: { name: 'c' } }));
  });
});
