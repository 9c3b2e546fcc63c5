import { describe, expect, it } from 'vitest';
import { validateDeploy, type DeployInput } from './deploy-spec.js';
import { DomainError } from './errors.js';
import type { GpuPlacement } from './scheduling.js';

const gpuPlacement: GpuPlacement = {
  nodeSelector: { 'nvidia.com/gpu.present': 'true' },
  tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', value: '', effect: 'NoSchedule' }],
};
const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const, gpuPlacement };
const base: DeployInput = {
  instanceId: 'web-1',
  providerId: 'cp',
  image: 'nginx:1.27',
  resources: { cpu: 100, memory: 2 ** 20, gpu: 0 },
  env: {},
};
const apart = { groupLabel: 'app_group', relation: 'Apart' as const, mode: undefined, topologyKey: '', weight: 0 };

function problem(input: DeployInput): string {
  try {
    validateDeploy(input, defaults);
  } catch (err) {
    if (err instanceof DomainError) return `${err.kind}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

describe('scheduling fields of a deploy', () => {
  it('leaves a deploy without them as it was, hash included', () => {
    const plain = validateDeploy(base, defaults);
    expect(plain.scheduling).toEqual({ priorityClassName: '', affinity: [], topologySpread: [] });
    const empty = validateDeploy({ ...base, workload: { priorityClassName: '', affinity: [], topologySpread: [] } }, defaults);
    expect(empty.specHash).toBe(plain.specHash);
  });

  it('normalises affinity with its defaults: required, one node, weight only when preferred', () => {
    const spec = validateDeploy(
      {
        ...base,
        workload: {
          labels: { app_group: 'web' },
          priorityClassName: 'batch-low',
          affinity: [apart, { ...apart, relation: 'Together', mode: 'Preferred', topologyKey: 'topology.kubernetes.io/zone' }],
          topologySpread: [{ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 0, whenUnsatisfiable: undefined, groupLabel: '' }],
        },
      },
      defaults,
    );
    expect(spec.scheduling).toEqual({
      priorityClassName: 'batch-low',
      affinity: [
        { group: { label: 'app_group', value: 'web' }, relation: 'Apart', mode: 'Required', topologyKey: 'kubernetes.io/hostname', weight: 0 },
        { group: { label: 'app_group', value: 'web' }, relation: 'Together', mode: 'Preferred', topologyKey: 'topology.kubernetes.io/zone', weight: 100 },
      ],
      topologySpread: [{ group: undefined, topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }],
    });
    expect(spec.specHash).not.toBe(validateDeploy({ ...base, workload: { labels: { app_group: 'web' } } }, defaults).specHash);
  });

  it.each<[string, DeployInput['workload'], string]>([
    ['a priority class that is not a name', { priorityClassName: 'Not_A_Name' }, 'workload.priority_class_name "Not_A_Name" is not a DNS subdomain name'],
    [
      'a system priority class',
      { priorityClassName: 'system-node-critical' },
      'workload.priority_class_name "system-node-critical" is reserved for cluster components',
    ],
    ['a group label the instance lacks', { affinity: [apart] }, 'workload.affinity[0].group_label "app_group" is not one of workload.labels'],
    ['no relation', { labels: { app_group: 'web' }, affinity: [{ ...apart, relation: undefined }] }, 'workload.affinity[0].relation must be APART'],
    [
      'a weight on a required rule',
      { labels: { app_group: 'web' }, affinity: [{ ...apart, weight: 5 }] },
      'workload.affinity[0].weight applies to PREFERRED rules only',
    ],
    [
      'a weight above 100',
      { labels: { app_group: 'web' }, affinity: [{ ...apart, mode: 'Preferred', weight: 101 }] },
      'workload.affinity[0].weight must be 1-100 (got 101)',
    ],
    [
      'a bad topology key',
      { labels: { app_group: 'web' }, affinity: [{ ...apart, topologyKey: 'bad key' }] },
      'workload.affinity[0].topology_key "bad key": name must be',
    ],
    [
      'a spread without topology key',
      { topologySpread: [{ topologyKey: '', maxSkew: 1, whenUnsatisfiable: undefined, groupLabel: '' }] },
      'workload.topology_spread[0].topology_key is required',
    ],
    [
      'a negative skew',
      { topologySpread: [{ topologyKey: 'zone', maxSkew: -1, whenUnsatisfiable: undefined, groupLabel: '' }] },
      'workload.topology_spread[0].max_skew must be 1 or more (got -1)',
    ],
    [
      'min domains with schedule anyway',
      { topologySpread: [{ topologyKey: 'zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', groupLabel: '', minDomains: 2 }] },
      'workload.topology_spread[0].min_domains needs when_unsatisfiable DO_NOT_SCHEDULE',
    ],
    [
      'the same spread twice',
      {
        topologySpread: [
          { topologyKey: 'zone', maxSkew: 1, whenUnsatisfiable: undefined, groupLabel: '' },
          { topologyKey: 'zone', maxSkew: 2, whenUnsatisfiable: undefined, groupLabel: '' },
        ],
      },
      'workload.topology_spread lists topology_key "zone" with DoNotSchedule twice',
    ],
  ])('refuses %s with INVALID_ARGUMENT naming the field', (_, workload, message) => {
    expect(problem({ ...base, workload })).toContain(`INVALID_ARGUMENT: ${message}`);
  });

  it('adds the configured GPU node selector and toleration to GPU deploys only', () => {
    const gpu = validateDeploy({ ...base, resources: { ...base.resources, gpu: 1 }, workload: { nodeSelector: { pool: 'a' } } }, defaults);
    expect(gpu.nodeSelector).toEqual({ pool: 'a', 'nvidia.com/gpu.present': 'true' });
    expect(gpu.tolerations).toEqual(gpuPlacement.tolerations);
    const cpuOnly = validateDeploy(base, defaults);
    expect(cpuOnly.nodeSelector).toEqual({});
    expect(cpuOnly.tolerations).toEqual([]);
    // The hash is the caller's request: a changed gpu.* config does not make a retry a conflict.
    expect(gpu.specHash).toBe(
      validateDeploy({ ...base, resources: { ...base.resources, gpu: 1 }, workload: { nodeSelector: { pool: 'a' } } }, { ...defaults, gpuPlacement: undefined })
        .specHash,
    );
  });

  it('does not add a toleration the caller already gave', () => {
    const gpu = validateDeploy(
      {
        ...base,
        resources: { ...base.resources, gpu: 1 },
        workload: { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', value: '', effect: 'NoSchedule' }] },
      },
      defaults,
    );
    expect(gpu.tolerations).toHaveLength(1);
  });

  it('refuses a node selector that contradicts the GPU placement', () => {
    expect(problem({ ...base, resources: { ...base.resources, gpu: 1 }, workload: { nodeSelector: { 'nvidia.com/gpu.present': 'false' } } })).toContain(
      'INVALID_ARGUMENT: workload.node_selector["nvidia.com/gpu.present"] = "false" contradicts gpu.node_selector "true"',
    );
  });
});
