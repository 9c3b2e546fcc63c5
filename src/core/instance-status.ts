/**
 * The status of one instance as the instance API reports it, derived purely
 * from its observed Pod/Job and the time: phase, reason, times, exit code,
 * and whether it is stuck. Same input, same answer, on every replica.
 */
import type { CleanupPolicy } from './cleanup.js';
import { scale, type ObservedClaim, type ObservedDeployment, type ObservedJob, type ObservedPod, type Placement, type WorkloadKind } from './instances.js';
import { ZERO, add, type Resources } from './resources.js';
import type { Volume } from './storage.js';

export type InstancePhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Terminating' | 'Unknown';
export const INSTANCE_PHASES: readonly InstancePhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Terminating', 'Unknown'];

/**
 * Waiting reasons after which a pod cannot start without someone changing
 * something, and how soon they count as stuck: InvalidImageName can never
 * resolve itself, the others may (a registry back up, a Secret created).
 */
export const STUCK_WAITING_REASONS: ReadonlyMap<string, 'after' | 'at-once'> = new Map([
  ['ImagePullBackOff', 'after'],
  ['ErrImagePull', 'after'],
  ['CreateContainerConfigError', 'after'],
  ['InvalidImageName', 'at-once'],
]);

export interface StuckPolicy {
  /** How long a pod may wait as Unschedulable or on an image/config error before it is stuck. */
  readonly stuckAfterMs: number;
}

export interface InstanceStatus {
  readonly id: string;
  readonly kind: WorkloadKind;
  readonly workloadName: string;
  /** The workload object's uid, so a delete never hits a newer object of the same name. */
  readonly workloadUid: string | undefined;
  readonly providerId: string;
  readonly image: string;
  /** The pod the status describes: the instance's pod, or the Job's latest pod. */
  readonly podName: string | undefined;
  /** That pod's uid (Events about it name it). */
  readonly podUid?: string | undefined;
  readonly phase: InstancePhase;
  readonly ready: boolean;
  /** Machine-readable cause (Unschedulable, ImagePullBackOff, OOMKilled, BackoffLimitExceeded, ...); '' when none. */
  readonly reason: string;
  readonly message: string;
  /** Pending or waiting for longer than the policy allows: reported Failed, holds nothing. */
  readonly stuck: boolean;
  readonly node: string;
  readonly podIp: string;
  readonly createdAt: number | undefined;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly exitCode: number | undefined;
  /** Container restarts of a Pod; for a Job, the pods that failed (retries used). */
  readonly restartCount: number;
  /** Requests of one pod: what the instance asked for. */
  readonly requests: Resources;
  /** What it holds against capacity right now. */
  readonly holds: Resources;
  readonly cleanupPolicy: CleanupPolicy | undefined;
  readonly specHash: string | undefined;
  /** Deployment only (0 otherwise): replicas asked for and Ready. */
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly volumes: readonly InstanceVolume[];
  /** Priority class and scheduling rules, as on the workload's pod (template). */
  readonly placement: Placement | undefined;
  /** The workload's labels but the daemon's own (iarnet.*): the caller's, and kubernetes.label_selector's. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

export interface InstanceVolume {
  readonly name: string;
  readonly mountPath: string;
  readonly type: Volume['type'];
  readonly sizeBytes: number;
  /** Claim volumes only ('' / false otherwise). */
  readonly claimName: string;
  readonly storageClass: string;
  /** Pending, Bound, Lost, or Missing when the claim is not (or no longer) there. */
  readonly claimPhase: string;
  readonly retain: boolean;
}

/** The instance's volumes as written on its workload, with the state of their claims. */
export function volumesOf(volumes: readonly Volume[] | undefined, claims: readonly ObservedClaim[]): InstanceVolume[] {
  return (volumes ?? []).map((v) => {
    if (v.type === 'emptyDir') {
      return { name: v.name, mountPath: v.mountPath, type: v.type, sizeBytes: v.sizeBytes, claimName: '', storageClass: '', claimPhase: '', retain: false };
    }
    const claim = claims.find((c) => c.volume === v.name);
    return {
      name: v.name,
      mountPath: v.mountPath,
      type: v.type,
      sizeBytes: v.sizeBytes,
      claimName: claim?.name ?? '',
      storageClass: claim?.storageClass ?? v.storageClass,
      claimPhase: claim ? (claim.terminating ? 'Terminating' : claim.phase || 'Pending') : 'Missing',
      retain: v.retain,
    };
  });
}

export interface Described {
  readonly status: InstanceStatus;
  /** When a pending instance becomes stuck if nothing changes (undefined: it cannot). */
  readonly stuckAt: number | undefined;
}

const FINISHED = new Set(['Succeeded', 'Failed']);
const isLivePod = (p: ObservedPod): boolean => !FINISHED.has(p.phase);

/** The newest pod first: a Job's latest attempt is the one that tells its story. */
function latest(pods: readonly ObservedPod[]): ObservedPod | undefined {
  let best: ObservedPod | undefined;
  for (const p of pods) {
    if (!best) best = p;
    else if ((p.createdAt ?? 0) > (best.createdAt ?? 0) || ((p.createdAt ?? 0) === (best.createdAt ?? 0) && isLivePod(p) && !isLivePod(best))) best = p;
  }
  return best;
}

interface StuckVerdict {
  readonly reason: string;
  readonly message: string;
  readonly at: number;
}

/** When (and why) a pending pod is or will be stuck; undefined when nothing says it cannot start. */
export function stuckVerdict(pod: ObservedPod, policy: StuckPolicy): StuckVerdict | undefined {
  if (pod.phase !== 'Pending') return undefined;
  if (pod.unschedulable) {
    const since = pod.unschedulable.since ?? pod.createdAt ?? 0;
    return { reason: 'Unschedulable', message: pod.unschedulable.message, at: since + policy.stuckAfterMs };
  }
  const waiting = pod.container?.waiting;
  const when = waiting && STUCK_WAITING_REASONS.get(waiting.reason);
  if (!waiting || !when) return undefined;
  // The kubelet gives the waiting state no timestamp: the pod has not been ready since the Ready condition last turned False.
  const since = pod.notReadySince ?? pod.startedAt ?? pod.createdAt ?? 0;
  return { reason: waiting.reason, message: waiting.message, at: when === 'at-once' ? since : since + policy.stuckAfterMs };
}

function stuckMessage(v: StuckVerdict, policy: StuckPolicy): string {
  const limit = STUCK_WAITING_REASONS.get(v.reason) === 'at-once' ? 'which cannot resolve itself' : `for more than ${Math.round(policy.stuckAfterMs / 1000)}s`;
  return `stuck: ${v.reason} ${limit}${v.message ? `: ${v.message}` : ''}`;
}

/** Reason and message of a pod that is not running, most specific first. */
function podReason(pod: ObservedPod): { reason: string; message: string } {
  if (pod.reason) return { reason: pod.reason, message: pod.message ?? '' };
  const c = pod.container;
  if (c?.terminated && pod.phase === 'Failed') return { reason: c.terminated.reason || 'Error', message: c.terminated.message };
  if (c?.terminated && pod.phase === 'Succeeded') return { reason: c.terminated.reason || 'Completed', message: c.terminated.message };
  if (c?.waiting) return { reason: c.waiting.reason, message: c.waiting.message };
  if (pod.unschedulable) return { reason: 'Unschedulable', message: pod.unschedulable.message };
  return { reason: '', message: '' };
}

function podPhase(pod: ObservedPod): InstancePhase {
  if (pod.terminating && !FINISHED.has(pod.phase)) return 'Terminating';
  return pod.phase;
}

/**
 * Describes one instance from its Job (if any) and pods at time `now`.
 * `job` undefined with pods owned by a Job means the Job is gone (deleted
 * in the background) while its pods shut down.
 */
export function describeInstance(
  id: string,
  job: ObservedJob | undefined,
  pods: readonly ObservedPod[],
  now: number,
  policy: StuckPolicy,
  deployment?: ObservedDeployment,
  claims: readonly ObservedClaim[] = [],
): Described {
  if (deployment) return describeDeployment(id, deployment, pods, claims, now, policy);
  const own = ownPods(job, pods);
  const pod = latest(own);
  const live = own.filter(isLivePod);
  const liveHolds = live.reduce((acc, p) => add(acc, p.requests), ZERO);
  const verdict = pod && !job?.finished ? stuckVerdict(pod, policy) : undefined;
  const life = verdict && verdict.at <= now ? stuckLifecycle(verdict, policy) : lifecycleOf(job, pod, live.length, liveHolds);
  const terminated = pod?.container?.terminated;
  return {
    status: {
      id,
      ...identityOf(job, pod),
      podName: pod?.name,
      podUid: pod?.uid,
      ...life,
      ready: life.phase === 'Running' && (pod?.ready ?? false),
      node: pod?.node ?? '',
      podIp: pod?.podIp ?? '',
      startedAt: job?.startedAt ?? pod?.container?.running?.startedAt ?? terminated?.startedAt ?? pod?.startedAt,
      exitCode: terminated?.exitCode,
      restartCount: job ? (job.failedPods ?? 0) : (pod?.container?.restartCount ?? 0),
      requests: job?.podRequests ?? pod?.requests ?? ZERO,
      replicas: 0,
      readyReplicas: 0,
      volumes: volumesOf(job?.volumes ?? pod?.volumes, claims),
    },
    stuckAt: verdict && !life.stuck && life.phase === 'Pending' ? verdict.at : undefined,
  };
}

/**
 * A Deployment: its replicas hold their room whether created yet or not.
 * The pod described is a live one that runs if there is one (else the
 * newest); the instance is stuck only when none of its pods runs and that
 * pod has waited too long, so one unschedulable extra replica never fails a
 * serving instance.
 */
function describeDeployment(
  id: string,
  d: ObservedDeployment,
  pods: readonly ObservedPod[],
  claims: readonly ObservedClaim[],
  now: number,
  policy: StuckPolicy,
): Described {
  const own = pods.filter((p) => p.ownerKind === 'ReplicaSet');
  const live = own.filter(isLivePod);
  const running = live.filter((p) => p.phase === 'Running' && !p.terminating);
  const pod = latest(running) ?? latest(live) ?? latest(own);
  const liveHolds = live.reduce((acc, p) => add(acc, p.requests), ZERO);
  const wanted = scale(d.podRequests, d.replicas);
  const holds = { cpu: Math.max(wanted.cpu, liveHolds.cpu), memory: Math.max(wanted.memory, liveHolds.memory), gpu: Math.max(wanted.gpu, liveHolds.gpu) };
  const verdict = pod && running.length === 0 && !d.terminating ? stuckVerdict(pod, policy) : undefined;
  const life = deploymentLifecycle(d, pod, running.length > 0, verdict && verdict.at <= now ? verdict : undefined, holds, liveHolds, policy);
  return {
    status: {
      id,
      kind: 'Deployment',
      workloadName: d.name,
      workloadUid: d.uid,
      providerId: d.providerId ?? '',
      image: d.image ?? '',
      createdAt: d.createdAt,
      cleanupPolicy: undefined,
      specHash: d.specHash,
      placement: d.placement ?? pod?.placement,
      labels: d.labels,
      podName: pod?.name,
      podUid: pod?.uid,
      ...life,
      ready: life.phase === 'Running' && d.readyReplicas >= d.replicas,
      node: pod?.node ?? '',
      podIp: pod?.podIp ?? '',
      startedAt: pod?.container?.running?.startedAt ?? pod?.startedAt,
      exitCode: undefined,
      restartCount: own.reduce((n, p) => n + (p.container?.restartCount ?? 0), 0),
      requests: d.podRequests,
      replicas: d.replicas,
      readyReplicas: d.readyReplicas,
      volumes: volumesOf(d.volumes, claims),
    },
    stuckAt: verdict && !life.stuck && life.phase === 'Pending' ? verdict.at : undefined,
  };
}

function deploymentLifecycle(
  d: ObservedDeployment,
  pod: ObservedPod | undefined,
  running: boolean,
  stuck: StuckVerdict | undefined,
  holds: Resources,
  liveHolds: Resources,
  policy: StuckPolicy,
): Lifecycle {
  if (d.terminating) return lifecycle('Terminating', liveHolds);
  if (stuck) return stuckLifecycle(stuck, policy);
  if (running) return lifecycle('Running', holds, pod?.container?.waiting ? podReason(pod) : {});
  if (d.replicas === 0) return lifecycle('Pending', holds, { reason: 'ScaledToZero', message: 'the instance has 0 replicas' });
  return lifecycle('Pending', holds, pod ? podReason(pod) : {});
}

/** The pods that tell the instance's story: its Job's, else its own, else (a Job we do not see) all of them. */
function ownPods(job: ObservedJob | undefined, pods: readonly ObservedPod[]): readonly ObservedPod[] {
  if (job) return pods.filter((p) => p.jobName === job.name);
  const standalone = pods.filter((p) => p.jobName === undefined && p.ownerKind === undefined);
  return standalone.length > 0 ? standalone : pods;
}

type Identity = Pick<
  InstanceStatus,
  'kind' | 'workloadName' | 'workloadUid' | 'providerId' | 'image' | 'createdAt' | 'cleanupPolicy' | 'specHash' | 'placement' | 'labels'
>;

function identityOf(job: ObservedJob | undefined, pod: ObservedPod | undefined): Identity {
  if (job) {
    return {
      kind: 'Job',
      workloadName: job.name,
      workloadUid: job.uid,
      providerId: job.providerId ?? '',
      image: job.image ?? '',
      createdAt: job.createdAt,
      cleanupPolicy: job.cleanupPolicy,
      specHash: job.specHash,
      placement: job.placement ?? pod?.placement,
      labels: job.labels,
    };
  }
  const ofJob = pod?.jobName !== undefined;
  const ofDeployment = pod?.ownerKind === 'ReplicaSet';
  return {
    kind: ofDeployment ? 'Deployment' : ofJob ? 'Job' : 'Pod',
    workloadName: pod?.jobName ?? pod?.name ?? '',
    // The pod of a Job we no longer see is not the workload: a delete goes to the Job by name.
    workloadUid: ofJob || ofDeployment ? undefined : pod?.uid,
    providerId: pod?.providerId ?? '',
    image: pod?.image ?? '',
    createdAt: pod?.createdAt,
    cleanupPolicy: undefined,
    specHash: pod?.specHash,
    placement: pod?.placement,
    labels: pod?.labels,
  };
}

type Lifecycle = Pick<InstanceStatus, 'phase' | 'reason' | 'message' | 'stuck' | 'holds' | 'finishedAt'>;

const lifecycle = (phase: InstancePhase, holds: Resources, more: Partial<Lifecycle> = {}): Lifecycle => ({
  phase,
  reason: '',
  message: '',
  stuck: false,
  holds,
  finishedAt: undefined,
  ...more,
});

/** Sticky while the workload is being deleted: the cause is still the same pod, and it holds nothing. */
function stuckLifecycle(verdict: StuckVerdict, policy: StuckPolicy): Lifecycle {
  return lifecycle('Failed', ZERO, { reason: verdict.reason, message: stuckMessage(verdict, policy), stuck: true });
}

function lifecycleOf(job: ObservedJob | undefined, pod: ObservedPod | undefined, liveCount: number, liveHolds: Resources): Lifecycle {
  if (job?.finished) return finishedJobLifecycle(job, pod, liveHolds);
  // Deleted in the foreground, or deleted in the background while its pods shut down.
  if (job?.terminating || (!job && pod?.jobName !== undefined && liveCount > 0)) return lifecycle('Terminating', liveHolds);
  if (job) return activeJobLifecycle(job, pod, liveCount, liveHolds);
  if (pod) return podLifecycle(pod, liveHolds);
  return lifecycle('Unknown', ZERO);
}

function finishedJobLifecycle(job: ObservedJob, pod: ObservedPod | undefined, liveHolds: Resources): Lifecycle {
  const terminated = pod?.container?.terminated;
  // A pod still shutting down after the deadline keeps its room until gone.
  const finishedAt = job.finishedAt ?? terminated?.finishedAt;
  if (job.finished === 'Complete') return lifecycle('Succeeded', liveHolds, { reason: 'Completed', finishedAt });
  const reason = terminated?.reason === 'OOMKilled' ? 'OOMKilled' : (job.reason ?? 'Failed');
  return lifecycle('Failed', liveHolds, { reason, message: job.message ?? '', finishedAt });
}

function activeJobLifecycle(job: ObservedJob, pod: ObservedPod | undefined, liveCount: number, liveHolds: Resources): Lifecycle {
  // Between two pods the Job still holds one pod's room: its controller is about to create the next.
  const holds = liveCount > 0 ? liveHolds : job.podRequests;
  // A pod that succeeded runs on until the Job controller marks the Job complete, a moment later.
  if (pod && (pod.phase === 'Running' || pod.phase === 'Succeeded') && !pod.terminating) return lifecycle('Running', holds);
  if (pod && isLivePod(pod)) return lifecycle('Pending', holds, podReason(pod));
  if (pod?.phase === 'Failed')
    return lifecycle('Pending', holds, { reason: 'BackOff', message: `pod ${pod.name} failed; the Job controller is starting another` });
  return lifecycle('Pending', holds);
}

function podLifecycle(pod: ObservedPod, liveHolds: Resources): Lifecycle {
  const phase = podPhase(pod);
  // A running pod has a reason only while its container waits to restart (CrashLoopBackOff).
  const why = phase !== 'Running' || pod.container?.waiting ? podReason(pod) : {};
  const finishedAt = FINISHED.has(pod.phase) ? (pod.container?.terminated?.finishedAt ?? pod.notReadySince) : undefined;
  return lifecycle(phase, liveHolds, { ...why, finishedAt });
}

/** Finished for good: nothing will run any more (a stuck instance included). */
export function isFinished(s: InstanceStatus): boolean {
  return s.phase === 'Succeeded' || s.phase === 'Failed';
}
