import { describe, expect, it } from 'vitest';
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { observeJob, observePod, podRequests } from './observe.js';
import { removeOnFinish } from '../../core/cleanup.js';
import { autoTotal } from './auto-capacity.js';

const c = (requests?: Record<string, string>, limits?: Record<string, string>) => ({
  name: 'c',
  resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) },
});

describe('podRequests', () => {
  it('sums app containers, takes the largest init container when bigger, and adds overhead', () => {
    const pod: V1Pod = {
      spec: {
        containers: [c({ cpu: '250m', memory: '64Mi' }), c({ cpu: '0.5', memory: '1e6', 'nvidia.com/gpu': '1' })],
        initContainers: [c({ cpu: '2', memory: '1Mi' })],
        overhead: { cpu: '10m' },
      },
    };
    expect(podRequests(pod)).toEqual({ cpu: 2010, memory: 64 * 2 ** 20 + 1e6, gpu: 1 });
  });

  it('falls back to limits when requests are absent', () => {
    expect(podRequests({ spec: { containers: [c(undefined, { cpu: '1', memory: '1Gi' })] } })).toEqual({ cpu: 1000, memory: 2 ** 30, gpu: 0 });
  });
});

describe('observePod / observeJob', () => {
  it('reads the exact instance id from the annotation and the owning Job', () => {
    const pod: V1Pod = {
      metadata: {
        name: 'task-abc12',
        labels: { 'iarnet.instance_id': 'Task-7-1a2b3c4d' },
        annotations: { 'iarnet.instance_id': 'Task 7', 'iarnet.spec_hash': 'h' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'task-7', uid: 'u' }],
      },
      spec: { containers: [c({ cpu: '100m', memory: '1Ki' })] },
      status: { phase: 'Running' },
    };
    expect(observePod(pod)).toEqual({
      name: 'task-abc12',
      instanceId: 'Task 7',
      phase: 'Running',
      requests: { cpu: 100, memory: 1024, gpu: 0 },
      terminating: false,
      jobName: 'task-7',
      specHash: 'h',
    });
  });

  it("keeps the labels a person gave the workload, not the daemon's own", () => {
    const meta = { name: 'web', labels: { 'iarnet.instance_id': 'web', 'iarnet.managed': 'true', app: 'shop', team: 'a' } };
    expect(observePod({ metadata: meta, spec: { containers: [] }, status: {} }).labels).toEqual({ app: 'shop', team: 'a' });
    expect(observeJob({ metadata: meta, spec: { template: { spec: { containers: [] } } } }).labels).toEqual({ app: 'shop', team: 'a' });
    expect(observePod({ metadata: { name: 'x', labels: { 'iarnet.managed': 'true' } }, spec: { containers: [] }, status: {} })).not.toHaveProperty('labels');
  });

  it('falls back to the label for pods labelled by hand, and reads deletion', () => {
    const pod: V1Pod = {
      metadata: { name: 'x', labels: { 'iarnet.instance_id': 'ext' }, deletionTimestamp: new Date() },
      spec: { containers: [] },
      status: {},
    };
    expect(observePod(pod)).toMatchObject({ instanceId: 'ext', phase: 'Unknown', terminating: true });
  });

  it('reads a Job outcome from its conditions', () => {
    const job = (type?: string): V1Job => ({
      metadata: { name: 'j', annotations: { 'iarnet.instance_id': 'j', 'iarnet.cleanup_policy': 'OnSuccess' } },
      spec: { template: { spec: { containers: [c({ cpu: '1', memory: '1' })] } } },
      status: type ? { conditions: [{ type, status: 'True' }] } : {},
    });
    expect(observeJob(job()).finished).toBeUndefined();
    expect(observeJob(job('Complete')).finished).toBe('Complete');
    expect(observeJob(job('Failed')).finished).toBe('Failed');
    expect(observeJob(job('Complete')).podRequests).toEqual({ cpu: 1000, memory: 1, gpu: 0 });
    const policy = observeJob(job()).cleanupPolicy;
    expect(policy).toBe('OnSuccess');
    expect([removeOnFinish(policy, 'Succeeded'), removeOnFinish(policy, 'Failed')]).toEqual([true, false]);
  });
});

describe('autoTotal', () => {
  const node = (name: string, alloc: Record<string, string>, over: Partial<V1Node['spec']> = {}, ready = 'True'): V1Node => ({
    metadata: { name },
    spec: over,
    status: { allocatable: alloc, conditions: [{ type: 'Ready', status: ready }] },
  });
  const pod = (nodeName: string | undefined, cpu: string, managed = false, phase = 'Running'): V1Pod => ({
    metadata: { namespace: 'work', labels: managed ? { 'iarnet.managed': 'true' } : {} },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [c({ cpu, memory: '1Gi' })] },
    status: { phase },
  });
  const isManaged = (p: V1Pod): boolean => p.metadata?.labels?.['iarnet.managed'] === 'true';

  it('is schedulable allocatable minus what others hold, capped by config', () => {
    const nodes = [
      node('a', { cpu: '8', memory: '32Gi', pods: '110' }),
      node('gpu', { cpu: '16', memory: '64Gi', 'nvidia.com/gpu': '4' }),
      node('cordoned', { cpu: '100', memory: '1Ti' }, { unschedulable: true }),
      node('notready', { cpu: '100', memory: '1Ti' }, {}, 'False'),
    ];
    const pods = [pod('a', '1'), pod('gpu', '500m'), pod('a', '2', true), pod('a', '4', false, 'Succeeded'), pod(undefined, '3'), pod('cordoned', '1')];
    expect(autoTotal(nodes, pods, { isManaged, cap: {} })).toEqual({ cpu: 22500, memory: 94 * 2 ** 30, gpu: 4 });
    expect(autoTotal(nodes, pods, { isManaged, cap: { cpu: 4000, gpu: 1 } })).toEqual({ cpu: 4000, memory: 94 * 2 ** 30, gpu: 1 });
  });
});
