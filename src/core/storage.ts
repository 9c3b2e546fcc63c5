/**
 * Volumes of an instance (emptyDir scratch space with a size limit, or a
 * PersistentVolumeClaim made for it) and the storage books: what live pods
 * may fill of node disk plus what the daemon's claims ask for, against the
 * optional resource.storage quota.
 */
import type { ObservedClaim, ObservedDeployment, ObservedJob, ObservedPod, ObservedWorkloads } from './instances.js';
import { formatBytes } from './quantity.js';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

/** A volume as decoded from the wire, not yet trusted. */
export interface VolumeInput {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
  readonly emptyDir?: { readonly sizeLimitBytes: number } | undefined;
  readonly claim?: { readonly storageClass: string; readonly sizeBytes: number; readonly accessMode: string; readonly retain: boolean } | undefined;
}

export interface EmptyDirVolume {
  readonly type: 'emptyDir';
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
  readonly sizeBytes: number;
}

export interface ClaimVolume {
  readonly type: 'claim';
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
  readonly sizeBytes: number;
  /** '' = the cluster's default StorageClass. */
  readonly storageClass: string;
  readonly accessMode: AccessMode;
  readonly retain: boolean;
}

export type Volume = EmptyDirVolume | ClaimVolume;

/** storage.* from the config. */
export interface StoragePolicy {
  /** Used when a claim names no class; '' leaves it to the cluster's default class. */
  readonly defaultClass: string;
  /** Empty: any class. */
  readonly allowedClasses: readonly string[];
}

export const DEFAULT_STORAGE_POLICY: StoragePolicy = { defaultClass: '', allowedClasses: [] };

export const MAX_VOLUMES = 16;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Names the daemon may mount itself one day, and the volume Kubernetes injects for the token. */
const RESERVED_VOLUME_NAMES = new Set(['kube-api-access']);

const positiveBytes = (n: number): boolean => Number.isSafeInteger(n) && n > 0;

/**
 * Checks and normalises the volumes; every problem goes to `problems`,
 * naming the field (`workload.volumes[i].…`). `replicas` matters for
 * ReadWriteOncePod, which a second replica could never mount.
 */
export function normaliseVolumes(input: readonly VolumeInput[], policy: StoragePolicy, replicas: number, problems: string[]): Volume[] {
  if (input.length > MAX_VOLUMES) problems.push(`workload.volumes: at most ${MAX_VOLUMES} volumes (got ${input.length})`);
  const names = new Set<string>();
  const paths = new Set<string>();
  const out: Volume[] = [];
  input.forEach((v, i) => {
    const field = `workload.volumes[${i}]`;
    checkName(v.name, field, names, problems);
    checkMountPath(v.mountPath, field, paths, problems);
    const base = { name: v.name, mountPath: v.mountPath, readOnly: v.readOnly };
    if (v.emptyDir && v.claim) {
      problems.push(`${field}: set exactly one of empty_dir and claim (both are set)`);
    } else if (v.emptyDir) {
      if (!positiveBytes(v.emptyDir.sizeLimitBytes))
        problems.push(`${field}.empty_dir.size_limit_bytes must be a positive number of bytes (got ${v.emptyDir.sizeLimitBytes})`);
      out.push({ type: 'emptyDir', ...base, sizeBytes: v.emptyDir.sizeLimitBytes });
    } else if (v.claim) {
      out.push(normaliseClaim(v.claim, base, field, policy, replicas, problems));
    } else problems.push(`${field}: set exactly one of empty_dir and claim (neither is set)`);
  });
  return out;
}

function checkName(name: string, field: string, seen: Set<string>, problems: string[]): void {
  if (!name || name.length > 63 || !DNS_LABEL.test(name)) {
    problems.push(`${field}.name ${JSON.stringify(name.slice(0, 80))} must be a DNS label (lowercase alphanumerics and '-', at most 63)`);
  } else if (RESERVED_VOLUME_NAMES.has(name) || name.startsWith('kube-api-access-')) {
    problems.push(`${field}.name ${JSON.stringify(name)} is reserved`);
  } else if (seen.has(name)) problems.push(`${field}.name ${JSON.stringify(name)} is used twice`);
  seen.add(name);
}

function checkMountPath(path: string, field: string, seen: Set<string>, problems: string[]): void {
  const key = path.replace(/\/+$/, '');
  if (!path.startsWith('/') || path.includes(':') || path.split('/').includes('..') || path.length > 1024) {
    problems.push(`${field}.mount_path ${JSON.stringify(path.slice(0, 80))} must be an absolute path without '..' or ':'`);
  } else if (key === '') problems.push(`${field}.mount_path must not be the root directory`);
  else if (seen.has(key)) problems.push(`${field}.mount_path ${JSON.stringify(path)} is used twice`);
  seen.add(key);
}

function normaliseClaim(
  c: NonNullable<VolumeInput['claim']>,
  base: Pick<ClaimVolume, 'name' | 'mountPath' | 'readOnly'>,
  field: string,
  policy: StoragePolicy,
  replicas: number,
  problems: string[],
): ClaimVolume {
  if (!positiveBytes(c.sizeBytes)) problems.push(`${field}.claim.size_bytes must be a positive number of bytes (got ${c.sizeBytes})`);
  const storageClass = c.storageClass || policy.defaultClass;
  if (c.storageClass && (c.storageClass.length > 253 || !DNS_SUBDOMAIN.test(c.storageClass))) {
    problems.push(`${field}.claim.storage_class ${JSON.stringify(c.storageClass.slice(0, 80))} must be a DNS subdomain name`);
  } else if (policy.allowedClasses.length > 0 && !policy.allowedClasses.includes(storageClass)) {
    problems.push(`${field}.claim.storage_class ${JSON.stringify(storageClass)} is not one of storage.allowed_classes (${policy.allowedClasses.join(', ')})`);
  }
  const accessMode = (c.accessMode || 'ReadWriteOnce') as AccessMode;
  if (!ACCESS_MODES.includes(accessMode)) {
    problems.push(`${field}.claim.access_mode ${JSON.stringify(c.accessMode.slice(0, 80))} is not one of ${ACCESS_MODES.join(', ')}`);
  } else if (accessMode === 'ReadWriteOncePod' && replicas > 1) {
    problems.push(`${field}.claim.access_mode ReadWriteOncePod allows one pod, but the workload asks for ${replicas} replicas`);
  }
  return { type: 'claim', ...base, sizeBytes: c.sizeBytes, storageClass, accessMode, retain: c.retain };
}

/** Node disk one pod of the instance may fill: the sum of its emptyDir size limits. */
export function ephemeralPerPod(volumes: readonly Volume[]): number {
  return volumes.reduce((n, v) => (v.type === 'emptyDir' ? n + v.sizeBytes : n), 0);
}

/**
 * Bytes a deploy's claims add to the books (shared by all its replicas). A retained claim left by an
 * earlier deploy of the instance is taken again (not made) by a volume of
 * the same name that asks for retain too, and the books hold it already:
 * counting it again would refuse a redeploy that needs no new storage.
 */
export function claimedBytesAdded(volumes: readonly Volume[], existing: Iterable<ObservedClaim>): number {
  const kept = new Set<string>();
  for (const c of existing) if (c.retain && !c.terminating) kept.add(c.volume);
  return volumes.reduce((n, v) => (v.type === 'claim' && !(v.retain && kept.has(v.name)) ? n + v.sizeBytes : n), 0);
}

/** What a deploy (or a scale to `replicas`) adds to the storage books, given the instance's claims that exist already. */
export function storageNeed(volumes: readonly Volume[], replicas: number, existing: Iterable<ObservedClaim> = []): number {
  return ephemeralPerPod(volumes) * replicas + claimedBytesAdded(volumes, existing);
}

export interface StorageUsed {
  readonly ephemeral: number;
  readonly claimed: number;
}

const FINISHED = new Set(['Succeeded', 'Failed']);

/**
 * Storage the cluster shows as held, per instance for ephemeral storage (so
 * a stuck instance can be released) and in total for claims: a claim holds
 * its size from creation until it is gone, whether bound or not, retained or
 * not, since the provisioner may bind it at any moment. Ephemeral storage
 * follows the pods the way cpu and memory do: a live pod holds its emptyDir
 * limits, an unfinished Job between pods holds one pod's, a Deployment
 * holds max(replicas, live pods) pods' worth.
 */
export function storageHeld(observed: ObservedWorkloads): { ephemeral: Map<string, number>; claimed: number } {
  const groups = new Map<string, { pods: ObservedPod[]; jobs: ObservedJob[]; deployments: ObservedDeployment[] }>();
  const groupOf = (id: string): { pods: ObservedPod[]; jobs: ObservedJob[]; deployments: ObservedDeployment[] } => {
    const g = groups.get(id) ?? { pods: [], jobs: [], deployments: [] };
    groups.set(id, g);
    return g;
  };
  for (const p of observed.pods) groupOf(p.instanceId).pods.push(p);
  for (const j of observed.jobs) groupOf(j.instanceId).jobs.push(j);
  for (const d of observed.deployments ?? []) groupOf(d.instanceId).deployments.push(d);
  const ephemeral = new Map<string, number>();
  for (const [id, g] of groups) {
    const n = ephemeralHeld(g.pods, g.jobs, g.deployments);
    if (n > 0) ephemeral.set(id, n);
  }
  const claimed = (observed.claims ?? []).reduce((n, c) => n + c.sizeBytes, 0);
  return { ephemeral, claimed };
}

/** The ephemeral storage one instance holds, from the objects that carry its id (see storageHeld). */
export function ephemeralHeld(pods: Iterable<ObservedPod>, jobs: Iterable<ObservedJob>, deployments: Iterable<ObservedDeployment>): number {
  const livePods = [...pods].filter((p) => !FINISHED.has(p.phase));
  const owned = new Set<string>();
  let held = 0;
  for (const d of deployments) {
    const replicaPods = livePods.filter((p) => p.ownerKind === 'ReplicaSet');
    for (const p of replicaPods) owned.add(p.name);
    const podsHeld = replicaPods.reduce((n, p) => n + (p.ephemeralStorage ?? 0), 0);
    held += d.terminating ? podsHeld : Math.max(podsHeld, d.replicas * (d.podEphemeralStorage ?? 0));
  }
  for (const j of jobs) {
    if (j.finished || j.terminating) continue;
    if (!livePods.some((p) => p.jobName === j.name)) held += j.podEphemeralStorage ?? 0;
  }
  for (const p of livePods) if (!owned.has(p.name)) held += p.ephemeralStorage ?? 0;
  return held;
}

export interface StorageReport {
  readonly limited: boolean;
  readonly total: number;
  readonly used: number;
  readonly available: number;
  readonly ephemeralUsed: number;
  readonly claimedUsed: number;
}

/** The books as reported: used is capped at the total, like cpu and memory, so total = used + available. */
export function storageReport(quota: number | undefined, used: StorageUsed): StorageReport {
  const real = used.ephemeral + used.claimed;
  if (quota === undefined) return { limited: false, total: 0, used: real, available: 0, ephemeralUsed: used.ephemeral, claimedUsed: used.claimed };
  const capped = Math.min(real, quota);
  return { limited: true, total: quota, used: capped, available: quota - capped, ephemeralUsed: used.ephemeral, claimedUsed: used.claimed };
}

/** "needs 2Gi storage, 1Gi available", or undefined when it fits (always, without a quota). */
export function storageShortfall(need: number, report: StorageReport): string | undefined {
  if (!report.limited || need <= report.available) return undefined;
  return `needs ${formatBytes(need)} storage, ${formatBytes(report.available)} storage available (resource.storage)`;
}
