/**
 * What the cluster really holds, computed from the API server alone (never
 * from the daemon), and a control-plane client that retries the way iarnet
 * does after a failed call: same request, same instance id, until an answer.
 * Crash and load tests compare the daemon's books with the first and drive it
 * with the second.
 */
import * as grpc from '@grpc/grpc-js';
import { BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { ServiceClient } from '../../src/adapters/grpc/generated/provider/Service.js';
import type { InstancesClient } from '../../src/adapters/grpc/generated/k8sprovider/v1/Instances.js';
import { makeKubeConfig } from './cluster.js';
import { observeCall } from './fault-figures.js';

/** cpu in millicores, memory in bytes. */
export interface Held {
  readonly cpu: number;
  readonly memory: number;
}

export interface ClusterState {
  readonly pods: V1Pod[];
  readonly jobs: V1Job[];
  /** What managed workloads hold: live pods' requests, plus one pod's for an unfinished Job with no live pod. */
  readonly held: Held;
  /** Instance id -> the workload objects carrying it (a Pod, or a Job), as `Kind/name uid`. */
  readonly workloads: Map<string, string[]>;
}

const INSTANCE_ANNOTATION = 'iarnet.instance_id';
const MANAGED = 'iarnet.managed=true';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** A Kubernetes quantity as millicores (cpu) or bytes (memory), for the plain forms the daemon writes. */
export function millicores(q: string | number | undefined): number {
  const s = String(q ?? '0');
  return s.endsWith('m') ? Number(s.slice(0, -1)) : Math.round(Number(s) * 1000);
}

export function bytes(q: string | number | undefined): number {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(String(q ?? '0'));
  if (!m) throw new Error(`unexpected memory quantity ${String(q)}`);
  const unit = m[2] ?? '';
  const factor = BINARY[unit] ?? DECIMAL[unit];
  if (factor === undefined) throw new Error(`unexpected memory unit in ${String(q)}`);
  return Math.round(Number(m[1]) * factor);
}

function requestsOf(spec: { containers: Array<{ resources?: { requests?: Record<string, string | number> } }> } | undefined): Held {
  let cpu = 0;
  let memory = 0;
  for (const c of spec?.containers ?? []) {
    cpu += millicores(c.resources?.requests?.cpu);
    memory += bytes(c.resources?.requests?.memory);
  }
  return { cpu, memory };
}

const finishedPod = (p: V1Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
export const jobFinished = (j: V1Job): boolean =>
  (j.status?.conditions ?? []).some((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'));
export const instanceOf = (o: V1Pod | V1Job): string => o.metadata?.annotations?.[INSTANCE_ANNOTATION] ?? '';
export const ownerJob = (p: V1Pod): string | undefined => p.metadata?.ownerReferences?.find((o) => o.kind === 'Job')?.name;

/** Lists the managed pods and jobs of a namespace and adds up what they hold. */
export async function clusterState(namespace: string): Promise<ClusterState> {
  const kc = makeKubeConfig();
  const [pods, jobs] = await Promise.all([
    kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: MANAGED }),
    kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace, labelSelector: MANAGED }),
  ]);
  let cpu = 0;
  let memory = 0;
  const livePodsOfJob = new Map<string, number>();
  for (const p of pods.items) {
    if (finishedPod(p)) continue;
    const r = requestsOf(p.spec);
    cpu += r.cpu;
    memory += r.memory;
    const job = ownerJob(p);
    if (job) livePodsOfJob.set(job, (livePodsOfJob.get(job) ?? 0) + 1);
  }
  for (const j of jobs.items) {
    if (jobFinished(j) || j.metadata?.deletionTimestamp || livePodsOfJob.get(j.metadata?.name ?? '')) continue;
    // The Job controller is about to create its pod: the room is taken already.
    const r = requestsOf(j.spec?.template.spec);
    cpu += r.cpu;
    memory += r.memory;
  }
  const workloads = new Map<string, string[]>();
  const add = (id: string, what: string): void => {
    workloads.set(id, [...(workloads.get(id) ?? []), what]);
  };
  for (const j of jobs.items) add(instanceOf(j), `Job/${j.metadata?.name} ${j.metadata?.uid}`);
  for (const p of pods.items) if (!ownerJob(p)) add(instanceOf(p), `Pod/${p.metadata?.name} ${p.metadata?.uid}`);
  return { pods: pods.items, jobs: jobs.items, held: { cpu, memory }, workloads };
}

/** Instance ids that have more than one workload object (a Pod and a Job, two Jobs, ...). */
export function duplicates(state: ClusterState): Array<[string, string[]]> {
  return [...state.workloads].filter(([, objects]) => objects.length > 1);
}

/** Pods of a Job that no longer exists, and pods with no instance id: what nobody will ever clean up. */
export function orphans(state: ClusterState): string[] {
  const jobs = new Set(state.jobs.map((j) => j.metadata?.name));
  return state.pods
    .filter((p) => (ownerJob(p) !== undefined && !jobs.has(ownerJob(p))) || !instanceOf(p))
    .map((p) => `${p.metadata?.name} (${p.status?.phase})`);
}

export interface Answer {
  /** OK, or the gRPC code name with its details, or the in-band error. */
  readonly outcome: string;
  readonly response?: Record<string, unknown>;
}

type Unary = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void) => void;

/** One unary call with a deadline, never rejecting: an in-band `error` counts as the outcome. */
export function once(client: ServiceClient | InstancesClient, method: string, request: object, deadlineMs = 10_000): Promise<Answer> {
  const fn = (client as unknown as Record<string, Unary>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) => {
      const answer: Answer = err
        ? { outcome: `${grpc.status[err.code]}: ${err.details}` }
        : { outcome: typeof res?.error === 'string' && res.error ? res.error : 'OK', ...(res ? { response: res } : {}) };
      observeCall(method, request, answer.outcome);
      resolve(answer);
    });
  });
}

/**
 * Calls until the answer is final: retries while the daemon is unreachable
 * or answers UNAVAILABLE (down, restarting, watches not synced yet), as
 * iarnet retries a Deploy with the same instance id. Any other outcome is
 * returned as it is, with the number of attempts.
 */
export async function untilAnswered(
  client: ServiceClient | InstancesClient,
  method: string,
  request: object,
  { timeoutMs = 90_000, pauseMs = 200 } = {},
): Promise<Answer & { attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const answer = await once(client, method, request);
    const retryable = /^(UNAVAILABLE|DEADLINE_EXCEEDED|CANCELLED)\b/.test(answer.outcome);
    if (!retryable || Date.now() > deadline) return { ...answer, attempts };
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}
