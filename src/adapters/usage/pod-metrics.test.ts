import { describe, expect, it } from 'vitest';
import type { ObservedPod } from '../../core/instances.js';
import { instanceResolver, usageByInstance, type PodMetricsList } from './pod-metrics.js';

const MI = 2 ** 20;

function pod(name: string, instanceId: string): ObservedPod {
  return { name, instanceId, phase: 'Running', requests: { cpu: 0, memory: 0, gpu: 0 }, terminating: false };
}

/** Shaped like metrics-server's answer: CPU in nanocores (or m when exact), memory in Ki. */
const LIST: PodMetricsList & { kind: string; apiVersion: string; metadata: object } = {
  kind: 'PodMetricsList',
  apiVersion: 'metrics.k8s.io/v1beta1',
  metadata: {},
  items: [
    {
      metadata: { name: 'iarnet-web-1', labels: { 'iarnet.managed': 'true', 'iarnet.instance_id': 'web-1' } },
      timestamp: '2026-11-22T11:00:00Z',
      window: '10.5s',
      containers: [
        { name: 'main', usage: { cpu: '250m', memory: '102400Ki' } },
        { name: 'sidecar', usage: { cpu: '12345678n', memory: '1Mi' } },
      ],
    },
    {
      metadata: { name: 'iarnet-batch-7-x2kq9', labels: { 'iarnet.managed': 'true', 'iarnet.instance_id': 'batch-7' } },
      containers: [{ name: 'main', usage: { cpu: '1', memory: '536870912' } }],
    },
    {
      // a second pod of the same Job instance (a retry overlapping its predecessor)
      metadata: { name: 'iarnet-batch-7-p8d2l', labels: { 'iarnet.managed': 'true', 'iarnet.instance_id': 'batch-7' } },
      containers: [{ name: 'main', usage: { cpu: '500m', memory: '0.5Gi' } }],
    },
  ],
};

describe('usageByInstance', () => {
  it('sums containers and pods per instance: cpu in millicores, memory in bytes', () => {
    const byLabel = instanceResolver([]);
    expect(usageByInstance(LIST, byLabel)).toEqual(
      new Map([
        // 250m + 12.345678m = 262.345678m -> 262m (rounded once, to the nearest)
        ['web-1', { cpu: 262, memory: 100 * MI + MI }],
        ['batch-7', { cpu: 1500, memory: 1024 * MI }],
      ]),
    );
  });

  it('rounds the exact sum once, to the nearest millicore', () => {
    const list = (cpu: string[]): PodMetricsList => ({
      items: [
        { metadata: { name: 'p', labels: { 'iarnet.instance_id': 'i' } }, containers: cpu.map((c, n) => ({ name: `c${n}`, usage: { cpu: c, memory: '1' } })) },
      ],
    });
    // three thirds of a millicore are one millicore, not zero (each rounded) nor three (each rounded up)
    expect(usageByInstance(list(['333333n', '333333n', '333334n']), instanceResolver([]))).toEqual(new Map([['i', { cpu: 1, memory: 3 }]]));
    // KWOK emulating 250m in two containers, as metrics-server reported it
    expect(usageByInstance(list(['250008540n', '250008291n']), instanceResolver([]))).toEqual(new Map([['i', { cpu: 500, memory: 2 }]]));
    expect(usageByInstance(list(['249995711n', '249995455n']), instanceResolver([]))).toEqual(new Map([['i', { cpu: 500, memory: 2 }]]));
  });

  it('accepts every quantity form metrics-server and KWOK emit', () => {
    const forms: Array<[string, string, number, number]> = [
      ['0', '0', 0, 0],
      ['100000000n', '4Ki', 100, 4096],
      ['1500000u', '1M', 1500, 1_000_000],
      ['2', '1.5Gi', 2000, 1.5 * 1024 * MI],
      ['1e-1', '129e6', 100, 129_000_000],
      ['0.25', '1G', 250, 1_000_000_000],
    ];
    for (const [cpu, memory, milli, bytes] of forms) {
      const list: PodMetricsList = { items: [{ metadata: { name: 'p' }, containers: [{ name: 'c', usage: { cpu, memory } }] }] };
      expect(usageByInstance(list, instanceResolver([pod('p', 'i')]))).toEqual(new Map([['i', { cpu: milli, memory: bytes }]]));
    }
  });

  it('counts a pod without containers as zero and an empty list as nothing', () => {
    expect(usageByInstance({ items: [{ metadata: { name: 'p' } }] }, instanceResolver([pod('p', 'i')]))).toEqual(new Map([['i', { cpu: 0, memory: 0 }]]));
    expect(usageByInstance({ items: [] }, instanceResolver([]))).toEqual(new Map());
    expect(usageByInstance({}, instanceResolver([]))).toEqual(new Map());
  });

  it('names the pod and container of a value it cannot read', () => {
    const list: PodMetricsList = { items: [{ metadata: { name: 'p' }, containers: [{ name: 'c', usage: { cpu: 'lots', memory: '1' } }] }] };
    expect(() => usageByInstance(list, instanceResolver([]))).toThrow('PodMetrics p container c cpu: "lots" is not a Kubernetes quantity');
  });
});

describe('instanceResolver', () => {
  it('takes the exact id from the watched pod, then the label, then the pod name', () => {
    // label values cannot hold every instance id; the annotation-derived id of the cache wins
    const resolve = instanceResolver([pod('iarnet-a-1', 'tenant/a:1')]);
    expect(resolve({ metadata: { name: 'iarnet-a-1', labels: { 'iarnet.instance_id': 'tenant-a-1' } } })).toBe('tenant/a:1');
    expect(resolve({ metadata: { name: 'iarnet-b', labels: { 'iarnet.instance_id': 'b' } } })).toBe('b');
    expect(resolve({ metadata: { name: 'handmade' } })).toBe('handmade');
  });
});
