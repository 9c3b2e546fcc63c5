import { describe, expect, it } from 'vitest';
import { schedulingFields } from './scheduling-manifest.js';
import { NO_SCHEDULING } from '../../core/scheduling.js';

const group = { label: 'app_group', value: 'web' };

describe('schedulingFields', () => {
  it('adds nothing when there are no rules', () => {
    expect(schedulingFields(NO_SCHEDULING, {})).toEqual({});
  });

  it('writes the priority class, anti-affinity, affinity and topology spread over this daemon’s instances of the group', () => {
    const fields = schedulingFields(
      {
        priorityClassName: 'batch-low',
        affinity: [
          { group, relation: 'Apart', mode: 'Required', topologyKey: 'kubernetes.io/hostname', weight: 0 },
          { group, relation: 'Apart', mode: 'Preferred', topologyKey: 'topology.kubernetes.io/zone', weight: 30 },
          { group, relation: 'Together', mode: 'Preferred', topologyKey: 'topology.kubernetes.io/region', weight: 100 },
        ],
        topologySpread: [{ group: undefined, topologyKey: 'topology.kubernetes.io/zone', maxSkew: 2, whenUnsatisfiable: 'DoNotSchedule', minDomains: 3 }],
      },
      { tenant: 'a' },
    );
    const selector = { matchLabels: { tenant: 'a', 'iarnet.managed': 'true', app_group: 'web' } };
    expect(fields).toEqual({
      priorityClassName: 'batch-low',
      affinity: {
        podAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { labelSelector: selector, topologyKey: 'topology.kubernetes.io/region' } },
          ],
        },
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: selector, topologyKey: 'kubernetes.io/hostname' }],
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 30, podAffinityTerm: { labelSelector: selector, topologyKey: 'topology.kubernetes.io/zone' } },
          ],
        },
      },
      topologySpreadConstraints: [
        {
          maxSkew: 2,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'DoNotSchedule',
          minDomains: 3,
          labelSelector: { matchLabels: { tenant: 'a', 'iarnet.managed': 'true' } },
        },
      ],
    });
  });
});
