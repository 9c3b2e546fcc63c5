/**
 * Instance lifecycle, derived purely from what the cluster shows. An instance
 * is one DeployRequest's instance_id; it runs as one Pod or as one Job (whose
 * pods come and go as the Job controller retries).
 */
import type { CleanupPolicy } from './cleanup.js';
import { ZERO, add, type Resources } from './resources.js';

export type WorkloadKind = 'Pod' | 'Job';

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
  /** Of its pod template. */
  readonly placement?: Placement;
}

export interface ObservedWorkloads {
  readonly pods: readonly ObservedPod[];
  readonly jobs: readonly ObservedJob[];
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
 * Folds pods and jobs into instances. A pod holds its requests until it has
 * Succeeded, Failed or is gone; an unfinished Job holds one pod's requests
 * even while it has no live pod, because the Job controller is about to
 * (re)create one and admission must not hand that room to someone else.
 * The full recompute: the books apply changes one instance at a time with
 * deriveInstance, and must always equal this.
 */
export function deriveInstances(observed: ObservedWorkloads): Map<string, Instance> {
  const podsByInstance = groupByInstance(observed.pods);
  const jobsByInstance = new Map<string, ObservedJob[]>();
  for (const job of observed.jobs) {
    const list = jobsByInstance.get(job.instanceId);
    if (list) list.push(job);
    else jobsByInstance.set(job.instanceId, [job]);
  }
  const out = new Map<string, Instance>();
  for (const [instanceId, jobs] of jobsByInstance) {
    const instance = deriveInstance(instanceId, podsByInstance.get(instanceId) ?? [], jobs);
    if (instance) out.set(instanceId, instance);
  }
  for (const [instanceId, pods] of podsByInstance) {
    if (out.has(instanceId)) continue;
    const instance = deriveInstance(instanceId, pods, []);
    if (instance) out.set(instanceId, instance);
  }
  return out;
}

/**
 * One instance from the pods and jobs that carry its id (in any order), or
 * undefined when there are none. Should a second Job appear for one id (made
 * by hand), the instance is the first by name, as the instance API shows it.
 */
export function deriveInstance(instanceId: string, pods: readonly ObservedPod[], jobs: Iterable<ObservedJob>): Instance | undefined {
  let job: ObservedJob | undefined;
  for (const j of jobs) if (!job || j.name < job.name) job = j;
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

/** Standalone pods, or the pods of a Job we do not (yet) see: count them, they hold room on nodes. */
function podInstance(instanceId: string, pods: Readonly<NonEmpty<ObservedPod>>): Instance {
  const standalone = pods.filter((p) => p.jobName === undefined);
  const all: readonly ObservedPod[] = standalone.length > 0 ? standalone : pods;
  // The first by name, so the answer does not depend on the order the pods were seen in.
  let first = all[0] ?? pods[0];
  for (const p of all) if (p.name < first.name) first = p;
  const live = all.filter((p) => !FINISHED.has(p.phase));
  return {
    id: instanceId,
    kind: first.jobName === undefined ? 'Pod' : 'Job',
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
