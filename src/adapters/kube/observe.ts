/** Pure conversion of Kubernetes objects into what the core observes. */
import type { V1Job, V1Node, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import type { ObservedJob, ObservedPod, PodPhase } from '../../core/instances.js';
import { toMilli, toUnits } from '../../core/quantity.js';
import { ZERO, add, type Resources } from '../../core/resources.js';
import { ANNOTATION_INSTANCE_ID, ANNOTATION_SPEC_HASH, GPU_RESOURCE, LABEL_INSTANCE_ID } from '../../shared/labels.js';

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

export function observePod(pod: V1Pod): ObservedPod {
  const phase = pod.status?.phase;
  const jobName = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Job' && o.apiVersion.startsWith('batch/'))?.name;
  const specHash = pod.metadata?.annotations?.[ANNOTATION_SPEC_HASH];
  return {
    name: pod.metadata?.name ?? '',
    instanceId: instanceIdOf(pod.metadata),
    phase: phase && PHASES.has(phase) ? (phase as PodPhase) : 'Unknown',
    requests: podRequests(pod),
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
    ...(jobName !== undefined ? { jobName } : {}),
    ...(specHash !== undefined ? { specHash } : {}),
  };
}

export function jobOutcome(job: V1Job): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete' || c.type === 'SuccessCriteriaMet') return 'Complete';
    if (c.type === 'Failed' || c.type === 'FailureTarget') return 'Failed';
  }
  return undefined;
}

export function observeJob(job: V1Job): ObservedJob {
  const specHash = job.metadata?.annotations?.[ANNOTATION_SPEC_HASH];
  return {
    name: job.metadata?.name ?? '',
    instanceId: instanceIdOf(job.metadata),
    finished: jobOutcome(job),
    podRequests: podRequests({ spec: job.spec?.template.spec }),
    ...(specHash !== undefined ? { specHash } : {}),
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
