/** Pure capacity and admission maths. */
import { formatBytes, formatCpu } from './quantity.js';
import { RESOURCE_KEYS, min, subtractFloor, type ResourceKey, type Resources } from './resources.js';

export interface Capacity {
  readonly total: Resources;
  readonly used: Resources;
  readonly available: Resources;
}

export interface CapacityReport extends Capacity {
  /** Resources whose real use exceeds the total (someone outside admission pushed it over). */
  readonly overcommitted: readonly ResourceKey[];
}

/**
 * The answer the control plane sees always satisfies total = used + available
 * with nothing negative, so real use beyond total is reported as used = total
 * and flagged for the log instead of breaking the invariant.
 */
export function capacityOf(total: Resources, realUsed: Resources): CapacityReport {
  const used = min(realUsed, total);
  const overcommitted = RESOURCE_KEYS.filter((k) => realUsed[k] > total[k]);
  return { total, used, available: subtractFloor(total, used), overcommitted };
}

export function formatAmount(key: ResourceKey, value: number): string {
  if (key === 'cpu') return `${formatCpu(value)} cpu`;
  if (key === 'memory') return `${formatBytes(value)} memory`;
  return `${value} gpu`;
}

/** The resources a request lacks, or an empty list when it fits. */
export function shortfall(request: Resources, available: Resources): ResourceKey[] {
  return RESOURCE_KEYS.filter((k) => request[k] > available[k]);
}

/** "needs 500m cpu, 200m cpu available; needs 2 gpu, 1 gpu available" */
export function describeShortfall(request: Resources, available: Resources): string {
  return shortfall(request, available)
    .map((k) => `needs ${formatAmount(k, request[k])}, ${formatAmount(k, available[k])} available`)
    .join('; ');
}
