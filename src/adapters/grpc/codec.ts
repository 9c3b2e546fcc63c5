/**
 * Wire <-> domain conversion. int64 fields arrive as decimal strings (the
 * loader runs with longs: String) so nothing is rounded on the way in; values
 * beyond 2^53 are refused instead of silently wrapped.
 */
import { invalidArgument } from '../../core/errors.js';
import type { CapacityReport } from '../../core/capacity.js';
import type { DeployInput, WorkloadInput, CleanupPolicy } from '../../core/deploy-spec.js';
import type { Resources } from '../../core/resources.js';
import { RESOURCE_TAGS, type ResourceTag } from '../../core/provider.js';
import type { UsageSnapshot } from '../../core/ports.js';
import type { Info, Info__Output } from './generated/resource/Info.js';
import type { Capacity } from './generated/resource/Capacity.js';
import type { DeployRequest__Output } from './generated/provider/DeployRequest.js';
import type { ResourceTags } from './generated/provider/ResourceTags.js';
import type { GetRealTimeUsageResponse } from './generated/provider/GetRealTimeUsageResponse.js';
import type { Workload__Output } from './generated/provider/Workload.js';
import type { Endpoint__Output } from './generated/provider/Endpoint.js';
import type { Expose, InstanceEndpoint } from '../../core/workload-network.js';
import type { Volume__Output } from './generated/provider/Volume.js';
import type { StorageCapacity } from './generated/provider/StorageCapacity.js';
import type { StorageReport, VolumeInput } from '../../core/storage.js';
import { schedulingFromWire } from './scheduling-codec.js';

type Int64 = string | number | { toString(): string };

export function int64ToNumber(value: Int64 | null | undefined, field: string): number {
  if (value === null || value === undefined || value === '') return 0;
  let n: bigint;
  try {
    n = BigInt(String(value));
  } catch {
    throw invalidArgument(`${field} is not an integer`);
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${n} is out of range (at most ${Number.MAX_SAFE_INTEGER})`);
  }
  return Number(n);
}

export function infoFromWire(info: Info__Output | null | undefined, field: string): Resources {
  return {
    cpu: int64ToNumber(info?.cpu, `${field}.cpu`),
    memory: int64ToNumber(info?.memory, `${field}.memory`),
    gpu: int64ToNumber(info?.gpu, `${field}.gpu`),
  };
}

/** int64 goes out as a number (the books hold safe integers): protobufjs encodes that directly, a string it parses first. */
export function infoToWire(r: Resources, tags: readonly string[] = []): Info {
  return { cpu: r.cpu, memory: r.memory, gpu: r.gpu, tags: [...tags] };
}

export function capacityToWire(c: CapacityReport): Capacity {
  return { total: infoToWire(c.total), used: infoToWire(c.used), available: infoToWire(c.available) };
}

/** The wire form of each tag set seen (the core answers with one set for the config's tags): built once, not per HealthCheck. */
const TAGS_ON_WIRE = new WeakMap<ReadonlySet<ResourceTag>, ResourceTags>();

export function tagsToWire(tags: ReadonlySet<ResourceTag>): ResourceTags {
  let wire = TAGS_ON_WIRE.get(tags);
  if (!wire) {
    wire = Object.fromEntries(RESOURCE_TAGS.map((tag) => [tag, tags.has(tag)])) as Record<ResourceTag, boolean> satisfies ResourceTags;
    TAGS_ON_WIRE.set(tags, wire);
  }
  return wire;
}

const CLEANUP: Record<string, CleanupPolicy | undefined> = {
  ALWAYS: 'Always',
  ON_SUCCESS: 'OnSuccess',
  ON_FAILURE: 'OnFailure',
  CLEANUP_POLICY_UNSPECIFIED: undefined,
};

function workloadFromWire(w: Workload__Output): WorkloadInput {
  const expose = exposeFromWire(w.expose);
  const kind =
    w.kind === 'JOB'
      ? 'Job'
      : w.kind === 'POD'
        ? 'Pod'
        : w.kind === 'DEPLOYMENT'
          ? 'Deployment'
          : w.kind === 'WORKLOAD_KIND_UNSPECIFIED'
            ? undefined
            : badEnum('workload.kind', w.kind);
  if (!(w.cleanupPolicy in CLEANUP)) badEnum('workload.cleanup_policy', w.cleanupPolicy);
  return {
    kind,
    command: w.command,
    args: w.args,
    ports: w.ports.map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol })),
    timeoutSeconds: w.timeoutSeconds === undefined || w.timeoutSeconds === null ? undefined : int64ToNumber(w.timeoutSeconds, 'workload.timeout_seconds'),
    cleanupPolicy: CLEANUP[w.cleanupPolicy],
    backoffLimit: w.backoffLimit ?? undefined,
    labels: w.labels,
    annotations: w.annotations,
    nodeSelector: w.nodeSelector,
    tolerations: w.tolerations.map((t) => ({
      key: t.key,
      operator: t.operator,
      value: t.value,
      effect: t.effect,
      tolerationSeconds:
        t.tolerationSeconds === undefined || t.tolerationSeconds === null
          ? undefined
          : int64ToNumber(t.tolerationSeconds, 'workload.tolerations.toleration_seconds'),
    })),
    ...(expose ? { expose } : {}),
    ...(w.network ? { network: { isolate: w.network.isolate ?? undefined, peerLabel: w.network.peerLabel } } : {}),
    replicas: w.replicas ?? undefined,
    volumes: w.volumes.map(volumeFromWire),
    ...schedulingFromWire(w),
  };
}

const EXPOSE: Record<string, Expose | undefined> = { EXPOSE_UNSPECIFIED: undefined, CLUSTER_IP: 'ClusterIP', NODE_PORT: 'NodePort', NOT_EXPOSED: 'None' };
const EXPOSE_TO_WIRE = { ClusterIP: 'CLUSTER_IP', NodePort: 'NODE_PORT' } as const;

function exposeFromWire(value: string | number | undefined): Expose | undefined {
  if (value === undefined) return undefined;
  if (!(String(value) in EXPOSE)) badEnum('workload.expose', value);
  return EXPOSE[String(value)];
}

export function endpointToWire(e: InstanceEndpoint): Endpoint__Output {
  return {
    serviceName: e.serviceName,
    dnsName: e.dnsName,
    clusterIp: e.clusterIp,
    podIp: e.podIp,
    ports: e.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })),
    expose: EXPOSE_TO_WIRE[e.expose],
  };
}

function volumeFromWire(v: Volume__Output, i: number): VolumeInput {
  const field = `workload.volumes[${i}]`;
  return {
    name: v.name,
    mountPath: v.mountPath,
    readOnly: v.readOnly,
    emptyDir: v.emptyDir ? { sizeLimitBytes: int64ToNumber(v.emptyDir.sizeLimitBytes, `${field}.empty_dir.size_limit_bytes`) } : undefined,
    claim: v.claim
      ? {
          storageClass: v.claim.storageClass,
          sizeBytes: int64ToNumber(v.claim.sizeBytes, `${field}.claim.size_bytes`),
          accessMode: v.claim.accessMode,
          retain: v.claim.retain,
        }
      : undefined,
  };
}

export function storageToWire(r: StorageReport): StorageCapacity {
  return {
    total: r.total,
    used: r.used,
    available: r.available,
    ephemeralUsed: r.ephemeralUsed,
    claimedUsed: r.claimedUsed,
    limited: r.limited,
  };
}

function badEnum(field: string, value: unknown): never {
  throw invalidArgument(`${field}: unknown value ${String(value)}`);
}

export function deployFromWire(req: DeployRequest__Output): DeployInput {
  return {
    instanceId: req.instanceId,
    providerId: req.providerId,
    image: req.image,
    resources: infoFromWire(req.resourceRequest, 'resource_request'),
    env: req.envVars,
    workload: req.workload ? workloadFromWire(req.workload) : undefined,
  };
}

export function usageToWire(u: UsageSnapshot, includeInstances: boolean): GetRealTimeUsageResponse {
  return {
    usage: infoToWire(u.total),
    source: u.source === 'metrics' ? 'METRICS' : 'REQUESTS',
    sampledAtUnixMs: u.sampledAt,
    stale: u.stale,
    instances: includeInstances ? [...u.perInstance].map(([instanceId, usage]) => ({ instanceId, usage: infoToWire(usage) })) : [],
  };
}
