import { describe, expect, it } from 'vitest';
import { placementOf } from './placement-summary.js';

describe('placementOf', () => {
  it('has nothing to say about a plain pod, the API server’s default tolerations included', () => {
    expect(
      placementOf({
        containers: [],
        tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      }),
    ).toBeUndefined();
  });

  it('writes one line per rule, naming groups without the daemon’s own labels', () => {
    const group = { matchLabels: { 'iarnet.managed': 'true', app_group: 'web' } };
    expect(
      placementOf({
        containers: [],
        priorityClassName: 'batch-low',
        nodeSelector: { 'nvidia.com/gpu.present': 'true' },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }, { key: 'a', operator: 'Equal', value: 'b' }, { operator: 'Exists' }],
        affinity: {
          podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: group, topologyKey: 'kubernetes.io/hostname' }] },
          podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 40, podAffinityTerm: { labelSelector: group, topologyKey: 'zone' } }] },
        },
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { 'iarnet.managed': 'true' } }, minDomains: 2 },
        ],
      }),
    ).toEqual({
      priorityClassName: 'batch-low',
      rules: [
        'node selector nvidia.com/gpu.present=true',
        'tolerates nvidia.com/gpu:NoSchedule',
        'tolerates a=b',
        'tolerates every taint',
        'apart from app_group=web per kubernetes.io/hostname (required)',
        'together with app_group=web per zone (preferred, weight 40)',
        'spread all instances over zone, max skew 1, DoNotSchedule, min domains 2',
      ],
    });
  });
});
