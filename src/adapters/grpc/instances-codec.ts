/** Wire <-> domain conversion for k8sprovider.v1.Instances. */
import { invalidArgument } from '../../core/errors.js';
import { INSTANCE_PHASES, type InstancePhase } from '../../core/instance-status.js';
import type { InstanceView, ListQuery, LogsInput, UndeployInput } from '../../core/instance-service.js';
import type { WatchItem } from '../../core/instance-watch.js';
import type { WorkloadKind } from '../../core/instances.js';
import type { Propagation } from '../../core/ports.js';
import { infoToWire, int64ToNumber } from './codec.js';
import { instanceEndpointToWire } from './instance-request.js';
import type { Instance } from './generated/k8sprovider/v1/Instance.js';
import type { ListInstancesRequest__Output } from './generated/k8sprovider/v1/ListInstancesRequest.js';
import type { GetLogsRequest__Output } from './generated/k8sprovider/v1/GetLogsRequest.js';
import type { UndeployRequest__Output } from './generated/k8sprovider/v1/UndeployRequest.js';
import type { WatchInstancesResponse } from './generated/k8sprovider/v1/WatchInstancesResponse.js';

const PHASE_PREFIX = 'INSTANCE_PHASE_';
const phaseToWire = (p: InstancePhase): string => `${PHASE_PREFIX}${p.toUpperCase()}`;
export const kindToWire = (
  k: WorkloadKind | undefined,
): 'WORKLOAD_KIND_POD' | 'WORKLOAD_KIND_JOB' | 'WORKLOAD_KIND_DEPLOYMENT' | 'WORKLOAD_KIND_UNSPECIFIED' =>
  k === 'Job' ? 'WORKLOAD_KIND_JOB' : k === 'Deployment' ? 'WORKLOAD_KIND_DEPLOYMENT' : k === 'Pod' ? 'WORKLOAD_KIND_POD' : 'WORKLOAD_KIND_UNSPECIFIED';
const CLEANUP_TO_WIRE = { Always: 'ALWAYS', OnSuccess: 'ON_SUCCESS', OnFailure: 'ON_FAILURE' } as const;

const ms = (t: number | undefined): string => String(t ?? 0);

export function instanceToWire(s: InstanceView): Instance {
  return {
    instanceId: s.id,
    kind: kindToWire(s.kind),
    workloadName: s.workloadName,
    phase: phaseToWire(s.phase) as Instance['phase'],
    ready: s.ready,
    reason: s.reason,
    message: s.message,
    stuck: s.stuck,
    node: s.node,
    podIp: s.podIp,
    podName: s.podName ?? '',
    createdAtUnixMs: ms(s.createdAt),
    startedAtUnixMs: ms(s.startedAt),
    finishedAtUnixMs: ms(s.finishedAt),
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    restartCount: s.restartCount,
    requested: infoToWire(s.requests),
    holds: infoToWire(s.holds),
    usage: s.usage ? { usage: infoToWire(s.usage.resources), sampledAtUnixMs: String(s.usage.sampledAt), source: s.usage.source, stale: s.usage.stale } : null,
    providerId: s.providerId,
    image: s.image,
    cleanupPolicy: s.cleanupPolicy ? CLEANUP_TO_WIRE[s.cleanupPolicy] : '',
    endpoint: s.endpoint ? instanceEndpointToWire(s.endpoint) : null,
    networkPolicy: s.networkPolicy ?? '',
    replicas: s.replicas,
    readyReplicas: s.readyReplicas,
    volumes: s.volumes.map((v) => ({ ...v })),
    priorityClassName: s.placement?.priorityClassName ?? '',
    placement: [...(s.placement?.rules ?? [])],
    labels: { ...s.labels },
    ingressFrom: [...(s.ingressFrom ?? [])],
    peerGroup: s.peerGroup ?? '',
  };
}

function phaseFromWire(value: string | number): InstancePhase {
  const name = typeof value === 'string' && value.startsWith(PHASE_PREFIX) ? value.slice(PHASE_PREFIX.length) : '';
  const phase = INSTANCE_PHASES.find((p) => p.toUpperCase() === name);
  if (!phase) throw invalidArgument(`phases: ${String(value)} is not a phase to filter on`);
  return phase;
}

function kindFromWire(value: string | number): WorkloadKind | undefined {
  if (value === 'WORKLOAD_KIND_UNSPECIFIED') return undefined;
  if (value === 'WORKLOAD_KIND_POD') return 'Pod';
  if (value === 'WORKLOAD_KIND_JOB') return 'Job';
  if (value === 'WORKLOAD_KIND_DEPLOYMENT') return 'Deployment';
  throw invalidArgument(`kind: unknown value ${String(value)}`);
}

export function listQueryFromWire(req: ListInstancesRequest__Output): ListQuery {
  return {
    providerId: req.providerId,
    phases: req.phases.map(phaseFromWire),
    kind: kindFromWire(req.kind),
    pageSize: req.pageSize,
    pageToken: req.pageToken,
  };
}

function optionalInt(value: string | number | null | undefined, field: string): number | undefined {
  return value === undefined || value === null ? undefined : int64ToNumber(value, field);
}

export function undeployFromWire(req: UndeployRequest__Output): UndeployInput {
  let propagation: Propagation | undefined;
  if (req.propagation === 'PROPAGATION_FOREGROUND') propagation = 'Foreground';
  else if (req.propagation === 'PROPAGATION_BACKGROUND') propagation = 'Background';
  else if (req.propagation !== 'PROPAGATION_UNSPECIFIED') throw invalidArgument(`propagation: unknown value ${String(req.propagation)}`);
  return { providerId: req.providerId, instanceId: req.instanceId, graceSeconds: optionalInt(req.graceSeconds, 'grace_seconds'), propagation };
}

export function logsFromWire(req: GetLogsRequest__Output): LogsInput {
  return {
    providerId: req.providerId,
    instanceId: req.instanceId,
    container: req.container,
    tailLines: optionalInt(req.tailLines, 'tail_lines'),
    sinceSeconds: optionalInt(req.sinceSeconds, 'since_seconds'),
    follow: req.follow,
    timestamps: req.timestamps,
  };
}

const EVENT_TYPES = {
  added: 'WATCH_EVENT_TYPE_ADDED',
  modified: 'WATCH_EVENT_TYPE_MODIFIED',
  deleted: 'WATCH_EVENT_TYPE_DELETED',
  synced: 'WATCH_EVENT_TYPE_SYNCED',
  resync: 'WATCH_EVENT_TYPE_RESYNC',
} as const;

export function watchItemToWire(item: WatchItem, toView: (i: Extract<WatchItem, { instance: unknown }>['instance']) => InstanceView): WatchInstancesResponse {
  if (item.type === 'synced' || item.type === 'resync') return { type: EVENT_TYPES[item.type], instance: null };
  return { type: EVENT_TYPES[item.type], instance: instanceToWire(toView(item.instance)) };
}
