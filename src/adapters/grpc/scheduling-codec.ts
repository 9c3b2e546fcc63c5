/** Wire <-> domain for the scheduling fields of a Workload and the quota guard of GetCapacity. */
import { invalidArgument } from '../../core/errors.js';
import type { AffinityRelation, PlacementMode, SchedulingInput, WhenUnsatisfiable } from '../../core/scheduling.js';
import type { QuotaGuardReport } from '../../core/quota-guard.js';
import type { Workload__Output } from './generated/provider/Workload.js';
import type { QuotaGuard } from './generated/provider/QuotaGuard.js';

const RELATION: Record<string, AffinityRelation | undefined> = {
  AFFINITY_RELATION_UNSPECIFIED: undefined,
  AFFINITY_RELATION_APART: 'Apart',
  AFFINITY_RELATION_TOGETHER: 'Together',
};
const MODE: Record<string, PlacementMode | undefined> = {
  PLACEMENT_MODE_UNSPECIFIED: undefined,
  PLACEMENT_MODE_REQUIRED: 'Required',
  PLACEMENT_MODE_PREFERRED: 'Preferred',
};
const WHEN: Record<string, WhenUnsatisfiable | undefined> = {
  WHEN_UNSATISFIABLE_UNSPECIFIED: undefined,
  WHEN_UNSATISFIABLE_DO_NOT_SCHEDULE: 'DoNotSchedule',
  WHEN_UNSATISFIABLE_SCHEDULE_ANYWAY: 'ScheduleAnyway',
};

/** An enum value this build does not know (a newer client) is refused, not read as the default. */
function enumValue<T>(table: Record<string, T | undefined>, value: unknown, field: string): T | undefined {
  if (typeof value !== 'string' || !(value in table)) throw invalidArgument(`${field}: unknown value ${String(value)}`);
  return table[value];
}

export function schedulingFromWire(w: Workload__Output): SchedulingInput {
  return {
    priorityClassName: w.priorityClassName,
    affinity: w.affinity.map((a, i) => ({
      groupLabel: a.groupLabel,
      relation: enumValue(RELATION, a.relation, `workload.affinity[${i}].relation`),
      mode: enumValue(MODE, a.mode, `workload.affinity[${i}].mode`),
      topologyKey: a.topologyKey,
      weight: a.weight,
    })),
    topologySpread: w.topologySpread.map((s, i) => ({
      topologyKey: s.topologyKey,
      maxSkew: s.maxSkew,
      whenUnsatisfiable: enumValue(WHEN, s.whenUnsatisfiable, `workload.topology_spread[${i}].when_unsatisfiable`),
      groupLabel: s.groupLabel,
      minDomains: s.minDomains ?? undefined,
    })),
  };
}

export function quotaGuardToWire(q: QuotaGuardReport | undefined): QuotaGuard | null {
  if (!q) return null;
  const info = (r: { cpu: number; memory: number; gpu: number }): { cpu: number; memory: number; gpu: number; tags: string[] } => ({ ...r, tags: [] });
  return {
    name: q.name,
    inForce: q.inForce,
    hard: info(q.hard),
    used: info(q.used),
    others: info(q.others),
    hardPods: q.hardPods,
    usedPods: q.usedPods,
  };
}
