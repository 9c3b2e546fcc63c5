import { describe, expect, it } from 'vitest';
import { describeInstance, stuckVerdict } from './instance-status.js';
import type { ObservedJob, ObservedPod } from './instances.js';

const R = (cpu: number, memory = 0, gpu = 0) => ({ cpu, memory, gpu });
const policy = { stuckAfterMs: 300_000 };
const T0 = 1_700_000_000_000;
const pod = (over: Partial<ObservedPod> = {}): ObservedPod => ({
  name: 'p',
  instanceId: 'i',
  phase: 'Pending',
  requests: R(500, 1024),
  terminating: false,
  uid: 'pod-uid',
  createdAt: T0,
  ...over,
});
const job = (over: Partial<ObservedJob> = {}): ObservedJob => ({
  name: 'j',
  instanceId: 'i',
  finished: undefined,
  podRequests: R(500, 1024),
  uid: 'job-uid',
  createdAt: T0,
  cleanupPolicy: 'OnSuccess',
  ...over,
});
const describePod = (p: ObservedPod, now = T0) => describeInstance('i', undefined, [p], now, policy);

describe('describeInstance: pods', () => {
  it('reports a running pod with its node, IP, start time and readiness', () => {
    const { status, stuckAt } = describePod(
      pod({
        phase: 'Running',
        node: 'n1',
        podIp: '10.0.0.7',
        ready: true,
        startedAt: T0 + 1000,
        container: { ready: true, restartCount: 2, running: { startedAt: T0 + 2000 } },
      }),
    );
    expect(status).toMatchObject({
      id: 'i',
      kind: 'Pod',
      workloadName: 'p',
      workloadUid: 'pod-uid',
      phase: 'Running',
      ready: true,
      reason: '',
      node: 'n1',
      podIp: '10.0.0.7',
      createdAt: T0,
      startedAt: T0 + 2000,
      finishedAt: undefined,
      exitCode: undefined,
      restartCount: 2,
      holds: R(500, 1024),
      stuck: false,
    });
    expect(stuckAt).toBeUndefined();
  });

  it('gives the reason a pod fails: OOMKilled with its exit code, Evicted from the pod', () => {
    const oom = describePod(
      pod({
        phase: 'Failed',
        container: { ready: false, restartCount: 0, terminated: { exitCode: 137, reason: 'OOMKilled', message: '', startedAt: T0, finishedAt: T0 + 5000 } },
      }),
    ).status;
    expect(oom).toMatchObject({ phase: 'Failed', reason: 'OOMKilled', exitCode: 137, finishedAt: T0 + 5000, holds: R(0) });
    const evicted = describePod(pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' })).status;
    expect(evicted).toMatchObject({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    const done = describePod(
      pod({
        phase: 'Succeeded',
        container: { ready: false, restartCount: 0, terminated: { exitCode: 0, reason: 'Completed', message: '', startedAt: T0, finishedAt: T0 + 1 } },
      }),
    ).status;
    expect(done).toMatchObject({ phase: 'Succeeded', reason: 'Completed', exitCode: 0 });
  });

  it('names the wait of a running pod whose container restarts', () => {
    const crashing = describePod(
      pod({ phase: 'Running', ready: false, container: { ready: false, restartCount: 4, waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } } }),
    ).status;
    expect(crashing).toMatchObject({ phase: 'Running', ready: false, reason: 'CrashLoopBackOff', restartCount: 4, stuck: false });
  });

  it('reports a terminating pod as Terminating, still holding its requests', () => {
    expect(describePod(pod({ phase: 'Running', terminating: true })).status).toMatchObject({ phase: 'Terminating', holds: R(500, 1024) });
  });

  it('turns an Unschedulable pod stuck after the limit: Failed, holding nothing', () => {
    const p = pod({ unschedulable: { since: T0 + 10_000, message: '0/2 nodes are available: 2 Insufficient cpu.' } });
    const before = describePod(p, T0 + 10_000 + 299_999);
    expect(before.status).toMatchObject({ phase: 'Pending', reason: 'Unschedulable', stuck: false, holds: R(500, 1024) });
    expect(before.stuckAt).toBe(T0 + 310_000);
    const after = describePod(p, T0 + 310_000).status;
    expect(after).toMatchObject({ phase: 'Failed', reason: 'Unschedulable', stuck: true, holds: R(0) });
    expect(after.message).toBe('stuck: Unschedulable for more than 300s: 0/2 nodes are available: 2 Insufficient cpu.');
    // Still stuck (and holding nothing) while the daemon deletes it.
    expect(describePod({ ...p, terminating: true }, T0 + 400_000).status).toMatchObject({ phase: 'Failed', stuck: true, holds: R(0) });
  });

  it('counts image and config errors from when the pod stopped being ready; InvalidImageName at once', () => {
    const waiting = (reason: string): ObservedPod =>
      pod({ node: 'n', notReadySince: T0 + 1000, container: { ready: false, restartCount: 0, waiting: { reason, message: `${reason} detail` } } });
    expect(stuckVerdict(waiting('ImagePullBackOff'), policy)).toEqual({ reason: 'ImagePullBackOff', message: 'ImagePullBackOff detail', at: T0 + 301_000 });
    expect(stuckVerdict(waiting('CreateContainerConfigError'), policy)?.at).toBe(T0 + 301_000);
    expect(stuckVerdict(waiting('InvalidImageName'), policy)?.at).toBe(T0 + 1000);
    expect(stuckVerdict(waiting('ContainerCreating'), policy)).toBeUndefined();
    const invalid = describePod(waiting('InvalidImageName'), T0 + 1000).status;
    expect(invalid).toMatchObject({ phase: 'Failed', reason: 'InvalidImageName', stuck: true });
    expect(invalid.message).toBe('stuck: InvalidImageName which cannot resolve itself: InvalidImageName detail');
    expect(describePod(waiting('ErrImagePull'), T0 + 2000).status).toMatchObject({ phase: 'Pending', reason: 'ErrImagePull', stuck: false });
  });
});

describe('describeInstance: jobs', () => {
  it('is Pending with one pod of room held before its first pod exists', () => {
    const { status } = describeInstance('i', job(), [], T0, policy);
    expect(status).toMatchObject({
      kind: 'Job',
      workloadName: 'j',
      workloadUid: 'job-uid',
      phase: 'Pending',
      podName: undefined,
      holds: R(500, 1024),
      cleanupPolicy: 'OnSuccess',
    });
  });

  it('describes the latest pod, and counts failed pods as restarts', () => {
    const first = pod({
      name: 'j-1',
      jobName: 'j',
      phase: 'Failed',
      createdAt: T0,
      container: { ready: false, restartCount: 0, terminated: { exitCode: 3, reason: 'Error', message: '', startedAt: T0, finishedAt: T0 + 1 } },
    });
    const second = pod({ name: 'j-2', jobName: 'j', phase: 'Running', createdAt: T0 + 10, node: 'n2', ready: true });
    const { status } = describeInstance('i', job({ failedPods: 1 }), [first, second], T0 + 20, policy);
    expect(status).toMatchObject({ phase: 'Running', podName: 'j-2', node: 'n2', restartCount: 1, ready: true, exitCode: undefined });
    const between = describeInstance('i', job({ failedPods: 1 }), [first], T0 + 20, policy).status;
    expect(between).toMatchObject({ phase: 'Pending', reason: 'BackOff', holds: R(500, 1024), exitCode: 3 });
  });

  it('reports the Job condition reason: BackoffLimitExceeded, DeadlineExceeded, OOMKilled from the pod', () => {
    const failedPod = (reason: string, exitCode: number): ObservedPod =>
      pod({
        name: 'j-1',
        jobName: 'j',
        phase: 'Failed',
        container: { ready: false, restartCount: 0, terminated: { exitCode, reason, message: '', startedAt: T0, finishedAt: T0 + 1 } },
      });
    const backoff = describeInstance(
      'i',
      job({ finished: 'Failed', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', finishedAt: T0 + 9 }),
      [failedPod('Error', 2)],
      T0 + 10,
      policy,
    ).status;
    expect(backoff).toMatchObject({ phase: 'Failed', reason: 'BackoffLimitExceeded', exitCode: 2, finishedAt: T0 + 9, holds: R(0) });
    const deadline = describeInstance('i', job({ finished: 'Failed', reason: 'DeadlineExceeded' }), [], T0, policy).status;
    expect(deadline).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
    const oom = describeInstance('i', job({ finished: 'Failed', reason: 'BackoffLimitExceeded' }), [failedPod('OOMKilled', 137)], T0, policy).status;
    expect(oom).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(describeInstance('i', job({ finished: 'Complete' }), [], T0, policy).status).toMatchObject({ phase: 'Succeeded', reason: 'Completed' });
  });

  it('is Terminating while deleted in the foreground, and while its pods outlive a background delete', () => {
    const live = pod({ name: 'j-1', jobName: 'j', phase: 'Running', terminating: true });
    expect(describeInstance('i', job({ terminating: true }), [live], T0, policy).status).toMatchObject({ phase: 'Terminating', holds: R(500, 1024) });
    expect(describeInstance('i', undefined, [live], T0, policy).status).toMatchObject({
      kind: 'Job',
      workloadName: 'j',
      phase: 'Terminating',
      holds: R(500, 1024),
    });
  });

  it('is stuck when its pod cannot be scheduled', () => {
    const p = pod({ name: 'j-1', jobName: 'j', unschedulable: { since: T0, message: 'no node' } });
    expect(describeInstance('i', job(), [p], T0 + 300_000, policy).status).toMatchObject({
      kind: 'Job',
      phase: 'Failed',
      stuck: true,
      reason: 'Unschedulable',
      holds: R(0),
    });
  });
});

describe('describeInstance: deployments', () => {
  const deployment = { name: 'web', instanceId: 'i', replicas: 3, readyReplicas: 1, podRequests: R(500, 1024), uid: 'dep-uid', createdAt: T0 };
  const replica = (name: string, over: Partial<ObservedPod> = {}): ObservedPod => pod({ name, ownerKind: 'ReplicaSet', ...over });
  const unschedulable = { since: T0, message: '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.' };

  it('holds every replica and counts the ready ones', () => {
    const { status } = describeInstance(
      'i',
      undefined,
      [replica('web-1', { phase: 'Running', ready: true, node: 'n1' }), replica('web-2')],
      T0,
      policy,
      deployment,
    );
    expect(status).toMatchObject({
      kind: 'Deployment',
      workloadName: 'web',
      workloadUid: 'dep-uid',
      phase: 'Running',
      podName: 'web-1',
      replicas: 3,
      readyReplicas: 1,
      ready: false,
      holds: R(1500, 3072),
      requests: R(500, 1024),
    });
  });

  it('is not stuck while one replica runs, whatever the others wait for', () => {
    const described = describeInstance(
      'i',
      undefined,
      [replica('web-1', { phase: 'Running' }), replica('web-2', { unschedulable, createdAt: T0 + 1 })],
      T0 + 10 * policy.stuckAfterMs,
      policy,
      deployment,
    );
    expect(described.status).toMatchObject({ phase: 'Running', stuck: false });
    expect(described.stuckAt).toBeUndefined();
  });

  it('is stuck, holding nothing, when no replica runs and the latest waits too long on an unbound claim', () => {
    const pods = [replica('web-1', { unschedulable })];
    expect(describeInstance('i', undefined, pods, T0 + 1000, policy, deployment)).toMatchObject({
      status: { phase: 'Pending', reason: 'Unschedulable', stuck: false },
      stuckAt: T0 + policy.stuckAfterMs,
    });
    expect(describeInstance('i', undefined, pods, T0 + policy.stuckAfterMs, policy, deployment).status).toMatchObject({
      phase: 'Failed',
      stuck: true,
      holds: R(0, 0),
    });
  });

  it('shows its volumes with the state of their claims', () => {
    const volumes = [
      { type: 'emptyDir' as const, name: 's', mountPath: '/s', readOnly: false, sizeBytes: 5 },
      {
        type: 'claim' as const,
        name: 'd',
        mountPath: '/d',
        readOnly: false,
        sizeBytes: 7,
        storageClass: 'fast',
        accessMode: 'ReadWriteOnce' as const,
        retain: true,
      },
    ];
    const claim = { name: 'web-d', instanceId: 'i', volume: 'd', sizeBytes: 7, storageClass: 'fast', phase: 'Bound', retain: true, terminating: false };
    const withClaim = describeInstance('i', undefined, [], T0, policy, { ...deployment, volumes }, [claim]).status.volumes;
    expect(withClaim).toEqual([
      { name: 's', mountPath: '/s', type: 'emptyDir', sizeBytes: 5, claimName: '', storageClass: '', claimPhase: '', retain: false },
      { name: 'd', mountPath: '/d', type: 'claim', sizeBytes: 7, claimName: 'web-d', storageClass: 'fast', claimPhase: 'Bound', retain: true },
    ]);
    expect(describeInstance('i', undefined, [], T0, policy, { ...deployment, volumes }).status.volumes[1]).toMatchObject({ claimPhase: 'Missing' });
  });
});
