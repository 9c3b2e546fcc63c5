/** Pure conversion of Kubernetes objects into what the core observes. */
import type {
  V1ContainerStatus,
  V1Deployment,
  V1Job,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodSpec,
  V1ResourceRequirements,
} from '@kubernetes/client-node';
import { cleanupPolicyOf } from '../../core/cleanup.js';
import {
  MAIN_CONTAINER,
  type ObservedClaim,
  type ObservedContainer,
  type ObservedDeployment,
  type ObservedJob,
  type ObservedPod,
  type PodPhase,
} from '../../core/instances.js';
import type { Volume } from '../../core/storage.js';
import { toMilli, toUnits } from '../../core/quantity.js';
import { ZERO, add, type Resources } from '../../core/resources.js';
import { placementOf } from './placement-summary.js';
import { RESERVED_LABEL_PREFIX } from '../../core/deploy-spec.js';
import {
  ANNOTATION_CLEANUP_POLICY,
  ANNOTATION_INSTANCE_ID,
  ANNOTATION_PROVIDER_ID,
  ANNOTATION_SPEC_HASH,
  ANNOTATION_VOLUMES,
  GPU_RESOURCE,
  LABEL_INSTANCE_ID,
  LABEL_PROVIDER_ID,
  LABEL_RETAIN,
  LABEL_VOLUME,
} from '../../shared/labels.js';

/** The labels a person gave the workload (and kubernetes.label_selector's), without the daemon's own bookkeeping ones. */
function ownLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels) return undefined;
  const own = Object.entries(labels).filter(([k]) => !k.startsWith(RESERVED_LABEL_PREFIX));
  return own.length > 0 ? Object.fromEntries(own) : undefined;
}

function quantities(list: Record<string, string> | undefined): Resources {
  if (!list) return ZERO;
  const n = (q: string | undefined, scale: (s: string) => bigint): number => (q === undefined ? 0 : Number(scale(q)));
  return { cpu: n(list.cpu, toMilli), memory: n(list.memory, toUnits), gpu: n(list[GPU_RESOURCE], toUnits) };
}

/** Requests of one container; Kubernetes defaults requests to limits, but an object read from elsewhere may not have them. */
function containerRequests(r: V1ResourceRequirements | undefined): Resources {
  return quantities({ ...(r?.limits ?? {}), ...(r?.requests ?? {}) });
}

function max(a: Resources, b: Resources): Resources {
  return { cpu: Math.max(a.cpu, b.cpu), memory: Math.max(a.memory, b.memory), gpu: Math.max(a.gpu, b.gpu) };
}

/**
 * What the scheduler reserves for a pod: the larger of the app containers'
 * sum and any single init container, plus pod overhead.
 */
export function podRequests(pod: Pick<V1Pod, 'spec'>): Resources {
  const spec = pod.spec;
  if (!spec) return ZERO;
  const app = spec.containers.reduce((acc, c) => add(acc, containerRequests(c.resources)), ZERO);
  const init = (spec.initContainers ?? []).reduce((acc, c) => max(acc, containerRequests(c.resources)), ZERO);
  return add(max(app, init), quantities(spec.overhead as Record<string, string> | undefined));
}

const PHASES: ReadonlySet<string> = new Set(['Pending', 'Running', 'Succeeded', 'Failed']);

/** The exact instance id: the annotation we wrote, else the label, else the name (a pod labelled by hand). */
function instanceIdOf(meta: { annotations?: Record<string, string>; labels?: Record<string, string>; name?: string } | undefined): string {
  return meta?.annotations?.[ANNOTATION_INSTANCE_ID] ?? meta?.labels?.[LABEL_INSTANCE_ID] ?? meta?.name ?? '';
}

/** ms since epoch of a Kubernetes timestamp (client-node gives Date objects; a raw object may carry strings). */
function ms(t: Date | string | undefined | null): number | undefined {
  if (t === undefined || t === null) return undefined;
  const n = (t instanceof Date ? t : new Date(t)).getTime();
  return Number.isNaN(n) ? undefined : n;
}

function observeContainer(c: V1ContainerStatus | undefined): ObservedContainer | undefined {
  if (!c) return undefined;
  const s = c.state;
  return {
    ready: c.ready,
    restartCount: c.restartCount,
    ...(s?.waiting ? { waiting: { reason: s.waiting.reason ?? '', message: s.waiting.message ?? '' } } : {}),
    ...(s?.running ? { running: { startedAt: ms(s.running.startedAt) } } : {}),
    ...(s?.terminated
      ? {
          terminated: {
            exitCode: s.terminated.exitCode,
            reason: s.terminated.reason ?? '',
            message: s.terminated.message ?? '',
            startedAt: ms(s.terminated.startedAt),
            finishedAt: ms(s.terminated.finishedAt),
          },
        }
      : {}),
  };
}

/**
 * Optional fields only when present, so observed objects stay small and
 * comparable. Copied rather than deleted from: `delete` turns an object into
 * a slow dictionary, which at 10,000 pods cost both time and memory.
 */
function defined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function providerIdOf(meta: { annotations?: Record<string, string>; labels?: Record<string, string> } | undefined): string | undefined {
  return meta?.annotations?.[ANNOTATION_PROVIDER_ID] ?? meta?.labels?.[LABEL_PROVIDER_ID];
}

export function observePod(pod: V1Pod): ObservedPod {
  const phase = pod.status?.phase;
  const jobName = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Job' && o.apiVersion.startsWith('batch/'))?.name;
  const ofReplicaSet = pod.metadata?.ownerReferences?.some((o) => o.kind === 'ReplicaSet' && o.apiVersion.startsWith('apps/'));
  const specHash = pod.metadata?.annotations?.[ANNOTATION_SPEC_HASH];
  const conditions = pod.status?.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  const ready = conditions.find((c) => c.type === 'Ready');
  const statuses = pod.status?.containerStatuses ?? [];
  const main = statuses.find((c) => c.name === MAIN_CONTAINER) ?? statuses[0];
  const image = pod.spec?.containers.find((c) => c.name === MAIN_CONTAINER)?.image ?? pod.spec?.containers[0]?.image;
  return defined({
    name: pod.metadata?.name ?? '',
    instanceId: instanceIdOf(pod.metadata),
    phase: phase && PHASES.has(phase) ? (phase as PodPhase) : 'Unknown',
    requests: podRequests(pod),
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
    jobName,
    ownerKind: jobName === undefined && ofReplicaSet ? 'ReplicaSet' : undefined,
    ephemeralStorage: ephemeralStorageOf(pod.spec),
    volumes: volumesAnnotation(pod.metadata?.annotations),
    specHash,
    uid: pod.metadata?.uid,
    providerId: providerIdOf(pod.metadata),
    image,
    node: pod.spec?.nodeName,
    podIp: pod.status?.podIP,
    createdAt: ms(pod.metadata?.creationTimestamp),
    startedAt: ms(pod.status?.startTime),
    reason: pod.status?.reason,
    message: pod.status?.message,
    unschedulable:
      scheduled?.status === 'False' && scheduled.reason === 'Unschedulable'
        ? { since: ms(scheduled.lastTransitionTime), message: scheduled.message ?? '' }
        : undefined,
    notReadySince: ready?.status === 'False' ? ms(ready.lastTransitionTime) : undefined,
    ready: ready ? ready.status === 'True' : undefined,
    container: observeContainer(main),
    placement: placementOf(pod.spec),
    labels: ownLabels(pod.metadata?.labels),
  });
}

export function jobOutcome(job: V1Job): 'Complete' | 'Failed' | undefined {
  return jobFinish(job)?.outcome;
}

/** The condition that finished the Job, if any. */
function jobFinish(job: V1Job): { outcome: 'Complete' | 'Failed'; reason?: string; message?: string; at?: number } | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    const at = ms(c.lastTransitionTime);
    if (c.type === 'Complete' || c.type === 'SuccessCriteriaMet') return { outcome: 'Complete', ...defined({ at }) };
    if (c.type === 'Failed' || c.type === 'FailureTarget') return { outcome: 'Failed', ...defined({ reason: c.reason, message: c.message, at }) };
  }
  return undefined;
}

export function observeJob(job: V1Job): ObservedJob {
  const specHash = job.metadata?.annotations?.[ANNOTATION_SPEC_HASH];
  const finish = jobFinish(job);
  const template = job.spec?.template.spec;
  return defined({
    name: job.metadata?.name ?? '',
    instanceId: instanceIdOf(job.metadata),
    finished: finish?.outcome,
    podRequests: podRequests({ spec: template }),
    specHash,
    uid: job.metadata?.uid,
    providerId: providerIdOf(job.metadata),
    image: template?.containers.find((c) => c.name === MAIN_CONTAINER)?.image ?? template?.containers[0]?.image,
    terminating: job.metadata?.deletionTimestamp !== undefined && job.metadata?.deletionTimestamp !== null,
    cleanupPolicy: cleanupPolicyOf(job.metadata?.annotations?.[ANNOTATION_CLEANUP_POLICY]),
    createdAt: ms(job.metadata?.creationTimestamp),
    startedAt: ms(job.status?.startTime),
    finishedAt: finish ? (ms(job.status?.completionTime) ?? finish.at) : undefined,
    reason: finish?.reason,
    message: finish?.message,
    failedPods: job.status?.failed,
    podEphemeralStorage: ephemeralStorageOf(template),
    volumes: volumesAnnotation(job.metadata?.annotations),
    placement: placementOf(template),
    labels: ownLabels(job.metadata?.labels),
  });
}

/**
 * Node disk a pod may fill: its emptyDir size limits, or its containers'
 * ephemeral-storage requests when they are larger (the daemon writes both
 * equal; an object made elsewhere may not).
 */
export function ephemeralStorageOf(spec: V1PodSpec | undefined): number | undefined {
  if (!spec) return undefined;
  let emptyDirs = 0;
  for (const v of spec.volumes ?? []) {
    const limit = v.emptyDir?.sizeLimit;
    if (limit !== undefined) emptyDirs += Number(toUnits(String(limit)));
  }
  let requested = 0;
  for (const c of spec.containers) {
    const q = c.resources?.requests?.['ephemeral-storage'] ?? c.resources?.limits?.['ephemeral-storage'];
    if (q !== undefined) requested += Number(toUnits(String(q)));
  }
  const n = Math.max(emptyDirs, requested);
  return n > 0 ? n : undefined;
}

/** The volumes the daemon wrote on the workload; an unreadable annotation (edited by hand) shows none. */
function volumesAnnotation(annotations: Record<string, string> | undefined): readonly Volume[] | undefined {
  const raw = annotations?.[ANNOTATION_VOLUMES];
  if (!raw) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? (parsed as Volume[]) : undefined;
  } catch {
    return undefined;
  }
}

export function observeDeployment(d: V1Deployment): ObservedDeployment {
  const template = d.spec?.template.spec;
  return defined({
    name: d.metadata?.name ?? '',
    instanceId: instanceIdOf(d.metadata),
    // The API defaults spec.replicas to 1.
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    podRequests: podRequests({ spec: template }),
    podEphemeralStorage: ephemeralStorageOf(template),
    specHash: d.metadata?.annotations?.[ANNOTATION_SPEC_HASH],
    uid: d.metadata?.uid,
    providerId: providerIdOf(d.metadata),
    image: template?.containers.find((c) => c.name === MAIN_CONTAINER)?.image ?? template?.containers[0]?.image,
    terminating: d.metadata?.deletionTimestamp !== undefined && d.metadata?.deletionTimestamp !== null,
    createdAt: ms(d.metadata?.creationTimestamp),
    volumes: volumesAnnotation(d.metadata?.annotations),
    placement: placementOf(template),
    labels: ownLabels(d.metadata?.labels),
  });
}

/** The size a claim holds: what it asked for, or what it got when that is more. */
export function observeClaim(c: V1PersistentVolumeClaim): ObservedClaim {
  const asked = c.spec?.resources?.requests?.storage;
  const got = c.status?.capacity?.storage;
  const bytes = (q: string | undefined): number => (q === undefined ? 0 : Number(toUnits(String(q))));
  return {
    name: c.metadata?.name ?? '',
    instanceId: instanceIdOf(c.metadata),
    volume: c.metadata?.labels?.[LABEL_VOLUME] ?? '',
    sizeBytes: Math.max(bytes(asked), bytes(got)),
    storageClass: c.spec?.storageClassName ?? '',
    phase: c.status?.phase ?? 'Pending',
    retain: c.metadata?.labels?.[LABEL_RETAIN] === 'true',
    terminating: c.metadata?.deletionTimestamp !== undefined && c.metadata?.deletionTimestamp !== null,
  };
}

/** A node that takes new pods: Ready and not cordoned. */
export function isSchedulable(node: V1Node): boolean {
  if (node.spec?.unschedulable) return false;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return !ready || ready.status === 'True';
}

export function allocatable(node: V1Node): Resources {
  return quantities(node.status?.allocatable);
}
