/**
 * The quota guard (resource.enforce_with_resourcequota): a ResourceQuota in
 * the workload namespace equal to the capacity promised to the control
 * plane, so nothing created around the daemon can take that room. Pure maths
 * here; the adapter keeps the object in place.
 *
 * The rule for the books: the API server counts every pod of the namespace
 * against the quota, the books only the daemon's instances. Available is the
 * smaller of what the books leave (total − what instances hold − reservations)
 * and what the quota leaves (hard − status.used − reservations, since a
 * reservation's pod may not be counted by the API server yet). Reported used
 * is total − available, so total = used + available still holds and the
 * difference from the books ("others") is what the namespace holds outside
 * the daemon's instances.
 */
import { type RESOURCE_KEYS, ZERO, subtractFloor, type Resources } from './resources.js';

/** Amounts a ResourceQuota limits; an absent key is not limited. */
export interface QuotaLimits {
  readonly cpu?: number | undefined; // millicores
  readonly memory?: number | undefined; // bytes
  readonly gpu?: number | undefined; // devices
  readonly pods?: number | undefined;
  /** Bytes of PersistentVolumeClaim requests (requests.storage). */
  readonly storage?: number | undefined;
}

export interface QuotaStatus {
  readonly name: string;
  /** What the daemon wants spec.hard to be. */
  readonly desired: QuotaLimits;
  /** status.hard and status.used as the API server last reported them; undefined while the object is absent or not yet counted. */
  readonly observed: { readonly hard: QuotaLimits; readonly used: QuotaLimits } | undefined;
}

/**
 * The guard's state as the books need it. Contract: `status()` costs no I/O
 * (it reads a watch cache) and is undefined when the guard is off.
 */
export interface QuotaView {
  status(): QuotaStatus | undefined;
}

export interface QuotaGuardReport {
  readonly name: string;
  /** The API server shows the object with the hard values the daemon wants. */
  readonly inForce: boolean;
  readonly hard: Resources;
  readonly used: Resources;
  readonly others: Resources;
  readonly hardPods: number;
  readonly usedPods: number;
}

export interface CapacityConfig {
  readonly mode: 'static' | 'auto';
  readonly cpu?: number | undefined;
  readonly memory?: number | undefined;
  readonly gpu?: number | undefined;
  /** resource.storage: the budget of emptyDir limits and claims, in bytes. */
  readonly storage?: number | undefined;
}

/**
 * spec.hard for a capacity: in static mode the capacity itself (gpu 0 when
 * unset: no GPU was promised, so none may be taken); in auto mode only the
 * configured caps, since the derived total moves with every pod of the
 * cluster and is already net of what others hold. The storage budget, when
 * set, limits what claims request (requests.storage) in either mode.
 */
export function desiredQuota(resource: CapacityConfig, maxInstances: number | undefined): QuotaLimits {
  const statically = resource.mode === 'static';
  return {
    cpu: resource.cpu,
    memory: resource.memory,
    gpu: resource.gpu ?? (statically ? 0 : undefined),
    pods: maxInstances,
    // Claims only: a quota on requests.ephemeral-storage would refuse every pod of the namespace that declares none.
    storage: resource.storage,
  };
}

export function limitsEqual(a: QuotaLimits, b: QuotaLimits): boolean {
  return a.cpu === b.cpu && a.memory === b.memory && a.gpu === b.gpu && a.pods === b.pods && a.storage === b.storage;
}

/** The room the quota leaves, per resource; Infinity where it sets no limit. */
function quotaRoom(observed: NonNullable<QuotaStatus['observed']>, reserved: Resources): Resources {
  const room = (k: (typeof RESOURCE_KEYS)[number]): number => {
    const hard = observed.hard[k];
    return hard === undefined ? Infinity : hard - (observed.used[k] ?? 0) - reserved[k];
  };
  return { cpu: room('cpu'), memory: room('memory'), gpu: room('gpu') };
}

/**
 * What the books report as used: the larger of what instances and
 * reservations hold and what the quota leaves no room for. Without an
 * observed quota the books alone count (nothing else is enforced then).
 */
export function guardedUsed(total: Resources, booksUsed: Resources, reserved: Resources, quota: QuotaStatus | undefined): Resources {
  if (!quota?.observed) return booksUsed;
  const room = quotaRoom(quota.observed, reserved);
  const used = (k: (typeof RESOURCE_KEYS)[number]): number => Math.max(booksUsed[k], room[k] === Infinity ? 0 : total[k] - room[k]);
  return { cpu: used('cpu'), memory: used('memory'), gpu: used('gpu') };
}

/**
 * Claimed storage as the books report it: what the instances' claims hold,
 * or more when the quota counts more (claims made around the daemon), plus
 * the claims of admitted deploys it cannot count yet. Emptydir storage is
 * not in the quota (see desiredQuota) and stays as the books count it.
 */
export function guardedClaimed(booksClaimed: number, reservedClaimed: number, quota: QuotaStatus | undefined): number {
  const used = quota?.observed?.used.storage;
  if (quota?.observed?.hard.storage === undefined || used === undefined) return booksClaimed;
  return Math.max(booksClaimed, used + reservedClaimed);
}

/** Pods the quota still admits, reservations taken off; undefined when it limits none. */
export function podRoom(quota: QuotaStatus | undefined, reservedPods: number): number | undefined {
  const hard = quota?.observed?.hard.pods;
  if (hard === undefined) return undefined;
  return hard - (quota?.observed?.used.pods ?? 0) - reservedPods;
}

const resourcesOf = (l: QuotaLimits | undefined): Resources => ({ cpu: l?.cpu ?? 0, memory: l?.memory ?? 0, gpu: l?.gpu ?? 0 });

export function quotaReport(quota: QuotaStatus, instancesHold: Resources): QuotaGuardReport {
  const used = resourcesOf(quota.observed?.used);
  const hard = quota.observed?.hard;
  return {
    name: quota.name,
    inForce: hard !== undefined && limitsEqual(hard, quota.desired),
    hard: resourcesOf(quota.desired),
    used,
    others: quota.observed ? subtractFloor(used, instancesHold) : ZERO,
    hardPods: quota.desired.pods ?? 0,
    usedPods: quota.observed?.used.pods ?? 0,
  };
}
