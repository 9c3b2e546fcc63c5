/**
 * Instance lifecycle, derived purely from what the cluster shows. An instance
 * is one DeployRequest's instance_id; it runs as one Pod, as one Job (whose
 * pods come and go as the Job controller retries), or as one Deployment
 * (whose replicas the ReplicaSet controller keeps alive).
 */
import type { CleanupPolicy } from './cleanup.js';
import { ZERO, add, type Resources } from './resources.js';
import type { Volume } from './storage.js';

export type WorkloadKind = 'Pod' | 'Job' | 'Deployment';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Pod', 'Job', 'Deployment'];

/** The one container every instance's pod runs: its status and logs are the instance's. */
export const MAIN_CONTAINER = 'main';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** The state of the instance's container ("main"), as the kubelet reports it. */
export interface ObservedContainer {
  readonly ready: boolean;
  readonly restartCount: number;
  readonly waiting?: { readonly reason: string; readonly message: string };
  readonly running?: { readonly startedAt: number | undefined };
  readonly terminated?: {
    readonly exitCode: number;
    readonly reason: string;
    readonly message: string;
    readonly startedAt: number | undefined;
    readonly finishedAt: number | undefined;
  };
}

/**
 * A pod as the core sees it. The fields after `specHash` describe its status
 * for the instance API; the books need only the first ones. Times are ms
 * since the epoch.
 */
export interface ObservedPod {
  readonly name: string;
  readonly instanceId: string;
  readonly phase: PodPhase;
  /** Sum of container requests (what the scheduler reserved on a node). */
  readonly requests: Resources;
  /** Set when the pod belongs to a Job; the Job is then the instance's workload. */
  readonly jobName?: string;
  /** 'ReplicaSet' for a Deployment's pod (the Deployment is then the instance's workload). */
  readonly ownerKind?: 'ReplicaSet';
  /** Node disk the pod may fill: its emptyDir size limits. */
  readonly ephemeralStorage?: number;
  /** The instance's volumes as the daemon wrote them on the workload. */
  readonly volumes?: readonly Volume[];
  readonly terminating: boolean;
  readonly specHash?: string;
  readonly uid?: string;
  readonly providerId?: string;
  readonly image?: string;
  readonly node?: string;
  readonly podIp?: string;
  readonly createdAt?: number;
  /** status.startTime: when the kubelet accepted the pod. */
  readonly startedAt?: number;
  /** Pod-level reason and message (Evicted, DeadlineExceeded, ...). */
  readonly reason?: string;
  readonly message?: string;
  /** The PodScheduled condition when it is False with reason Unschedulable. */
  readonly unschedulable?: { readonly since: number | undefined; readonly message: string };
  /** When the Ready condition last turned False (the pod has not been ready since). */
  readonly notReadySince?: number;
  readonly ready?: boolean;
  readonly container?: ObservedContainer;
  readonly placement?: Placement;
  /** Its labels but the daemon's own (iarnet.*); absent when there are none. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Where the pod may run, as read back from its spec (a summary for people, not for the books). */
export interface Placement {
  readonly priorityClassName: string;
  /** One line per rule: node selector, tolerations, (anti-)affinity, topology spread. */
  readonly rules: readonly string[];
}

export interface ObservedJob {
  readonly name: string;
  readonly instanceId: string;
  /** Complete or Failed condition present: no further pods will be created. */
  readonly finished: 'Complete' | 'Failed' | undefined;
  /** Requests of one pod of its template. */
  readonly podRequests: Resources;
  readonly specHash?: string;
  readonly uid?: string;
  readonly providerId?: string;
  readonly image?: string;
  readonly terminating?: boolean;
  readonly cleanupPolicy?: CleanupPolicy | undefined;
  readonly createdAt?: number;
  readonly startedAt?: number;
  /** completionTime, or when the Failed condition was set. */
  readonly finishedAt?: number;
  /** Reason and message of the Failed condition (BackoffLimitExceeded, DeadlineExceeded, ...). */
  readonly reason?: string;
  readonly message?: string;
  /** Pods that failed so far (status.failed): the retries used. */
  readonly failedPods?: number;
  readonly podEphemeralStorage?: number;
  readonly volumes?: readonly Volume[];
  /** Of its pod template. */
  readonly placement?: Placement;
  /** Its labels but the daemon's own (iarnet.*); absent when there are none. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ObservedDeployment {
  readonly name: string;
  readonly instanceId: string;
  /** spec.replicas: what the ReplicaSet controller keeps running. */
  readonly replicas: number;
  readonly readyReplicas: number;
  /** Requests of one pod of its template. */
  readonly podRequests: Resources;
  readonly podEphemeralStorage?: number;
  readonly specHash?: string;
  readonly uid?: string;
  readonly providerId?: string;
  readonly image?: string;
  readonly terminating?: boolean;
  readonly createdAt?: number;
  readonly volumes?: readonly Volume[];
  /** Of its pod template. */
  readonly placement?: Placement;
  /** Its labels but the daemon's own (iarnet.*); absent when there are none. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A PersistentVolumeClaim the daemon made for an instance's volume. */
export interface ObservedClaim {
  readonly name: string;
  readonly instanceId: string;
  /** The instance's volume it backs. */
  readonly volume: string;
  readonly sizeBytes: number;
  readonly storageClass: string;
  /** Pending, Bound or Lost. */
  readonly phase: string;
  readonly retain: boolean;
  readonly terminating: boolean;
}

export interface ObservedWorkloads {
  readonly pods: readonly ObservedPod[];
  readonly jobs: readonly ObservedJob[];
  readonly deployments?: readonly ObservedDeployment[];
  readonly claims?: readonly ObservedClaim[];
}

/**
 * The phases an instance goes through:
 * - Pending: the workload exists but nothing runs yet (unscheduled, pulling, Job pod not yet created or between retries).
 * - Running: a pod of the instance is running.
 * - Succeeded / Failed: finished; holds nothing any more.
 * - Terminating: being deleted; still holds its requests until the pod is gone.
 */
export type InstancePhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Terminating';

export interface Instance {
  readonly id: string;
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly phase: InstancePhase;
  /** What the instance holds against capacity right now. */
  readonly holds: Resources;
  readonly specHash: string | undefined;
}

const FINISHED: ReadonlySet<PodPhase> = new Set(['Succeeded', 'Failed']);

export function isLive(instance: Instance): boolean {
  return instance.phase !== 'Succeeded' && instance.phase !== 'Failed';
}

/**
 * Folds pods, jobs and deployments into instances. A pod holds its requests
 * until it has Succeeded, Failed or is gone; an unfinished Job holds one pod's
 * requests even while it has no live pod, because the Job controller is about
 * to (re)create one and admission must not hand that room to someone else;
 * a Deployment likewise holds all its replicas.
 * The full recompute: the books apply changes one instance at a time with
 * deriveInstance, and must always equal this.
 */
export function deriveInstances(observed: ObservedWorkloads): Map<string, Instance> {
  const podsByInstance = groupByInstance(observed.pods);
  const jobsByInstance = groupJobs(observed.jobs);
  const deploymentsByInstance = groupJobs(observed.deployments ?? []);
  const out = new Map<string, Instance>();
  for (const [instanceId, deployments] of deploymentsByInstance) {
    const instance = deriveInstance(instanceId, podsByInstance.get(instanceId) ?? [], jobsByInstance.get(instanceId) ?? [], deployments);
    if (instance) out.set(instanceId, instance);
  }
  for (const [instanceId, jobs] of jobsByInstance) {
    if (out.has(instanceId)) continue;
    const instance = deriveInstance(instanceId, podsByInstance.get(instanceId) ?? [], jobs, []);
    if (instance) out.set(instanceId, instance);
  }
  for (const [instanceId, pods] of podsByInstance) {
    if (out.has(instanceId)) continue;
    const instance = deriveInstance(instanceId, pods, [], []);
    if (instance) out.set(instanceId, instance);
  }
  return out;
}

/**
 * One instance from the pods, jobs and deployments that carry its id (in any
 * order), or undefined when there are none. A Deployment wins over a Job of
 * the same id, and should a second one of a kind appear (made by hand), the
 * instance is the first by name, as the instance API shows it.
 */
export function deriveInstance(
  instanceId: string,
  pods: readonly ObservedPod[],
  jobs: Iterable<ObservedJob>,
  deployments: Iterable<ObservedDeployment>,
): Instance | undefined {
  const deployment = firstByName(deployments);
  if (deployment) {
    return deploymentInstance(
      deployment,
      pods.filter((p) => p.ownerKind === 'ReplicaSet'),
    );
  }
  const job = firstByName(jobs);
  if (job) {
    const name = job.name;
    return jobInstance(
      job,
      pods.filter((p) => p.jobName === name),
    );
  }
  const [first, ...rest] = pods;
  return first ? podInstance(instanceId, [first, ...rest]) : undefined;
}

function firstByName<T extends { readonly name: string }>(items: Iterable<T>): T | undefined {
  let first: T | undefined;
  for (const i of items) if (!first || i.name < first.name) first = i;
  return first;
}

/** Jobs or Deployments by the instance they carry. */
function groupJobs<T extends { readonly instanceId: string }>(items: readonly T[]): Map<string, T[]> {
  const byInstance = new Map<string, T[]>();
  for (const item of items) {
    const list = byInstance.get(item.instanceId);
    if (list) list.push(item);
    else byInstance.set(item.instanceId, [item]);
  }
  return byInstance;
}

type NonEmpty<T> = [T, ...T[]];

function groupByInstance(pods: readonly ObservedPod[]): Map<string, NonEmpty<ObservedPod>> {
  const byInstance = new Map<string, NonEmpty<ObservedPod>>();
  for (const pod of pods) {
    const list = byInstance.get(pod.instanceId);
    if (list) list.push(pod);
    else byInstance.set(pod.instanceId, [pod]);
  }
  return byInstance;
}

/** A Job and the pods it owns. */
function jobInstance(job: ObservedJob, pods: readonly ObservedPod[]): Instance {
  const live = pods.filter((p) => !FINISHED.has(p.phase));
  const liveHolds = live.reduce((acc, p) => add(acc, p.requests), ZERO);
  let phase: InstancePhase;
  let holds: Resources;
  if (job.finished) {
    phase = job.finished === 'Complete' ? 'Succeeded' : 'Failed';
    holds = liveHolds; // a pod still shutting down after the deadline keeps its room until gone
  } else if (job.terminating) {
    // Being deleted (foreground): no new pod will come, the ones left hold their room until gone.
    phase = 'Terminating';
    holds = liveHolds;
  } else {
    phase = live.some((p) => p.phase === 'Running' && !p.terminating) ? 'Running' : 'Pending';
    holds = live.length > 0 ? liveHolds : job.podRequests;
  }
  return { id: job.instanceId, kind: 'Job', name: job.name, phase, holds, specHash: job.specHash };
}

/**
 * A Deployment holds every replica it asks for, created or not, because the
 * ReplicaSet controller is about to (re)create the missing ones; during a
 * rollout or while pods shut down it holds what its live pods request, if
 * that is more.
 */
function deploymentInstance(d: ObservedDeployment, pods: readonly ObservedPod[]): Instance {
  const live = pods.filter((p) => !FINISHED.has(p.phase));
  const liveHolds = live.reduce((acc, p) => add(acc, p.requests), ZERO);
  const wanted = scale(d.podRequests, d.replicas);
  let phase: InstancePhase;
  let holds: Resources;
  if (d.terminating) {
    phase = 'Terminating';
    holds = liveHolds;
  } else {
    phase = live.some((p) => p.phase === 'Running' && !p.terminating) ? 'Running' : 'Pending';
    holds = { cpu: Math.max(wanted.cpu, liveHolds.cpu), memory: Math.max(wanted.memory, liveHolds.memory), gpu: Math.max(wanted.gpu, liveHolds.gpu) };
  }
  return { id: d.instanceId, kind: 'Deployment', name: d.name, phase, holds, specHash: d.specHash };
}

export function scale(r: Resources, n: number): Resources {
  return { cpu: r.cpu * n, memory: r.memory * n, gpu: r.gpu * n };
}

/** Standalone pods, or the pods of a Job we do not (yet) see: count them, they hold room on nodes. */
function podInstance(instanceId: string, pods: Readonly<NonEmpty<ObservedPod>>): Instance {
  const standalone = pods.filter((p) => p.jobName === undefined && p.ownerKind === undefined);
  const all: readonly ObservedPod[] = standalone.length > 0 ? standalone : pods;
  // The first by name, so the answer does not depend on the order the pods were seen in.
  let first = all[0] ?? pods[0];
  for (const p of all) if (p.name < first.name) first = p;
  const live = all.filter((p) => !FINISHED.has(p.phase));
  return {
    id: instanceId,
    kind: first.ownerKind === 'ReplicaSet' ? 'Deployment' : first.jobName === undefined ? 'Pod' : 'Job',
    name: first.jobName ?? first.name,
    phase: podsPhase(all, live),
    holds: live.reduce((acc, p) => add(acc, p.requests), ZERO),
    specHash: first.specHash,
  };
}

function podsPhase(all: readonly ObservedPod[], live: readonly ObservedPod[]): InstancePhase {
  if (live.some((p) => p.terminating)) return 'Terminating';
  if (live.some((p) => p.phase === 'Running')) return 'Running';
  if (live.length > 0) return 'Pending';
  return all.some((p) => p.phase === 'Failed') ? 'Failed' : 'Succeeded';
}
