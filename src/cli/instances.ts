/**
 * The instance commands: instances, describe, watch, logs, undeploy, request. The
 * rendering functions are pure (wire message in, text out) so they are
 * unit-tested without a daemon.
 */
import type {
  GetInstanceResponse__Output,
  GetLogsResponse__Output,
  Instance__Output,
  ListInstancesResponse__Output,
  UndeployResponse__Output,
  ScaleInstanceResponse__Output,
  WatchInstancesResponse__Output,
} from '../adapters/grpc/contract.js';
import type { Command } from './args.js';
import { age, amounts, cell, table, type Amounts } from './format.js';
import { endpointData, isolationRows, labelsLine, networkRows, type EndpointData } from './network-text.js';
import { printAnswer } from './request.js';
import type { SendHttpRequestResponse__Output } from '../adapters/grpc/contract.js';

export type InstanceCommand = Extract<Command, { name: 'instances' | 'describe' | 'watch' | 'logs' | 'undeploy' | 'request' | 'scale' }>;

/** An instance as scripts get it with --json: plain names and numbers. */
export interface InstanceData {
  readonly instanceId: string;
  readonly kind: string;
  readonly workloadName: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly reason: string;
  readonly message: string;
  readonly stuck: boolean;
  readonly node: string;
  readonly podName: string;
  readonly podIp: string;
  readonly createdAtUnixMs: number;
  readonly startedAtUnixMs: number;
  readonly finishedAtUnixMs: number;
  readonly exitCode: number | null;
  readonly restartCount: number;
  readonly requested: Amounts;
  readonly holds: Amounts;
  readonly usage: (Amounts & { sampledAtUnixMs: number; source: string; stale: boolean }) | null;
  readonly image: string;
  readonly providerId: string;
  readonly cleanupPolicy: string;
  readonly endpoint: EndpointData | null;
  readonly networkPolicy: string;
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly volumes: readonly VolumeData[];
  readonly priorityClassName: string;
  /** Scheduling rules, one line each (node selector, tolerations, affinity, spread). */
  readonly placement: readonly string[];
  /** The workload's labels but the daemon's own. */
  readonly labels: Readonly<Record<string, string>>;
  /** What its NetworkPolicy lets in, one source each. */
  readonly ingressFrom: readonly string[];
  /** "<label>=<value>" of its peers; '' without. */
  readonly peerGroup: string;
}

export interface VolumeData {
  readonly name: string;
  readonly mountPath: string;
  readonly type: string;
  readonly sizeBytes: number;
  readonly claimName: string;
  readonly storageClass: string;
  readonly claimPhase: string;
  readonly retain: boolean;
}

const strip = (value: string, prefix: string): string => (value.startsWith(prefix) ? value.slice(prefix.length) : value);
const titleCase = (s: string): string => s.charAt(0) + s.slice(1).toLowerCase();

export function instanceData(i: Instance__Output): InstanceData {
  return {
    instanceId: i.instanceId,
    kind: titleCase(strip(String(i.kind), 'WORKLOAD_KIND_')),
    workloadName: i.workloadName,
    phase: titleCase(strip(String(i.phase), 'INSTANCE_PHASE_')),
    ready: i.ready,
    reason: i.reason,
    message: i.message,
    stuck: i.stuck,
    node: i.node,
    podName: i.podName,
    podIp: i.podIp,
    createdAtUnixMs: Number(i.createdAtUnixMs),
    startedAtUnixMs: Number(i.startedAtUnixMs),
    finishedAtUnixMs: Number(i.finishedAtUnixMs),
    exitCode: i.exitCode ?? null,
    restartCount: i.restartCount,
    requested: amounts(i.requested),
    holds: amounts(i.holds),
    usage: i.usage ? { ...amounts(i.usage.usage), sampledAtUnixMs: Number(i.usage.sampledAtUnixMs), source: i.usage.source, stale: i.usage.stale } : null,
    image: i.image,
    providerId: i.providerId,
    cleanupPolicy: i.cleanupPolicy,
    endpoint: endpointData(i),
    networkPolicy: i.networkPolicy ?? '',
    replicas: i.replicas ?? 0,
    readyReplicas: i.readyReplicas ?? 0,
    volumes: (i.volumes ?? []).map((v) => ({ ...v, sizeBytes: Number(v.sizeBytes) })),
    priorityClassName: i.priorityClassName ?? '',
    placement: i.placement ?? [],
    labels: { ...i.labels },
    ingressFrom: i.ingressFrom ?? [],
    peerGroup: i.peerGroup ?? '',
  };
}

/** "/data  claim db-data (fast, 2Gi, Bound, retained)" or "/scratch  emptyDir (1Gi)". */
function volumeLine(v: VolumeData): string {
  const size = cell.memory(v.sizeBytes);
  if (v.type !== 'claim') return `${v.mountPath}  emptyDir (${size})`;
  const details = [v.storageClass || 'default class', size, v.claimPhase, ...(v.retain ? ['retained'] : [])];
  return `${v.mountPath}  claim ${v.claimName || '-'} (${details.join(', ')})`;
}

/** id, kind, phase, reason, node, age, cpu/mem: what `kubectl get` would show. */
export function instancesTable(list: readonly InstanceData[], now: number): string {
  if (list.length === 0) return 'no instances\n';
  return table(
    ['INSTANCE', 'KIND', 'PHASE', 'REASON', 'NODE', 'AGE', 'CPU', 'MEMORY'],
    list.map((i) => [
      i.instanceId,
      i.kind,
      i.phase,
      i.reason || '-',
      i.node || '<none>',
      i.createdAtUnixMs ? age(i.createdAtUnixMs, now) : '',
      cell.cpu(i.requested.cpu),
      cell.memory(i.requested.memory),
    ]),
  );
}

const when = (ms: number, now: number): string => (ms ? `${new Date(ms).toISOString()} (${age(ms, now)} ago)` : '-');
const resources = (a: Amounts): string => `cpu ${cell.cpu(a.cpu)}, memory ${cell.memory(a.memory)}, gpu ${a.gpu}`;

export function describeText(i: InstanceData, now: number): string {
  const rows: Array<[string, string]> = [
    ['Instance', i.instanceId],
    ['Kind', `${i.kind} ${i.workloadName}`],
    ['Phase', `${i.phase}${i.ready ? ' (ready)' : ''}${i.stuck ? ' (stuck)' : ''}`],
    ['Reason', i.reason || '-'],
    ['Message', i.message || '-'],
    ['Image', i.image],
    ['Pod', i.podName ? `${i.podName}${i.podIp ? ` (${i.podIp})` : ''}` : '-'],
    ['Node', i.node || '-'],
    ['Labels', labelsLine(i.labels)],
    ...networkRows(i.endpoint, i.networkPolicy),
    ...isolationRows(i.networkPolicy, i.ingressFrom, i.peerGroup),
    ['Created', when(i.createdAtUnixMs, now)],
    ['Started', when(i.startedAtUnixMs, now)],
    ['Finished', when(i.finishedAtUnixMs, now)],
    ['Exit code', i.exitCode === null ? '-' : String(i.exitCode)],
    ['Restarts', String(i.restartCount)],
    ['Requested', resources(i.requested)],
    ['Holds', resources(i.holds)],
    ['Usage', i.usage ? `${resources(i.usage)} (${i.usage.source}${i.usage.stale ? ', stale' : ''}, ${age(i.usage.sampledAtUnixMs, now)} ago)` : '-'],
  ];
  if (i.cleanupPolicy) rows.push(['Cleanup', i.cleanupPolicy]);
  if (i.kind === 'Deployment') rows.splice(3, 0, ['Replicas', `${i.readyReplicas}/${i.replicas} ready`]);
  for (const v of i.volumes) rows.push([`Volume ${v.name}`, volumeLine(v)]);
  if (i.priorityClassName) rows.push(['Priority', i.priorityClassName]);
  // One row per rule, the label on the first only, as kubectl describe lists tolerations.
  rows.push(...i.placement.map((rule, n): [string, string] => [n === 0 ? 'Placement' : '', rule]));
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return `${rows.map(([k, v]) => `${(k ? `${k}:` : '').padEnd(width)} ${v}`).join('\n')}\n`;
}

/** One line per watch event: time, event, instance, phase, reason. */
export function watchLine(e: WatchInstancesResponse__Output, now: number): string {
  const type = strip(String(e.type), 'WATCH_EVENT_TYPE_');
  const stamp = new Date(now).toISOString().slice(11, 23);
  if (!e.instance)
    return type === 'SYNCED' ? `${stamp}  -- snapshot complete, watching --\n` : `${stamp}  -- ${type}: changes were dropped, a fresh snapshot follows --\n`;
  const i = instanceData(e.instance);
  return `${stamp}  ${type.padEnd(8)}  ${i.instanceId}  ${i.kind}  ${i.phase}${i.reason ? `  ${i.reason}` : ''}${i.node ? `  on ${i.node}` : ''}\n`;
}

export interface InstanceIo {
  out(text: string): void;
  err(text: string): void;
  now(): number;
  readonly signal?: AbortSignal | undefined;
}

export async function runInstanceCommand(command: InstanceCommand, io: InstanceIo): Promise<number> {
  const { instancesClient, unary, readStream } = await import('./client.js');
  const { common } = command;
  const client = instancesClient(common);
  const json = common.json;
  const call = <Res>(method: string, request: object): Promise<Res> => unary<Res>(client, method, request, common.deadlineSeconds);
  const providerId = common.providerId;
  try {
    switch (command.name) {
      case 'instances': {
        const all: InstanceData[] = [];
        let pageToken = '';
        do {
          const res = await call<ListInstancesResponse__Output>('ListInstances', {
            providerId,
            phases: command.phases,
            kind: command.kind,
            pageSize: 1000,
            pageToken,
          });
          all.push(...res.instances.map(instanceData));
          pageToken = res.nextPageToken;
        } while (pageToken);
        io.out(json ? `${JSON.stringify({ instances: all }, null, 2)}\n` : instancesTable(all, io.now()));
        return 0;
      }
      case 'describe': {
        const res = await call<GetInstanceResponse__Output>('GetInstance', { providerId, instanceId: command.instanceId });
        if (!res.instance) throw new Error('GetInstance answered without an instance');
        const data = instanceData(res.instance);
        io.out(json ? `${JSON.stringify(data, null, 2)}\n` : describeText(data, io.now()));
        return 0;
      }
      case 'undeploy': {
        const res = await call<UndeployResponse__Output>('Undeploy', command.request);
        const kind = titleCase(strip(String(res.kind), 'WORKLOAD_KIND_'));
        const data = {
          instanceId: command.request.instanceId,
          deleted: res.deleted,
          kind: res.deleted ? kind : null,
          workloadName: res.workloadName,
          instance: res.instance ? instanceData(res.instance) : null,
        };
        const human = res.deleted
          ? `undeployed: instance "${data.instanceId}" (${kind} ${res.workloadName}); its resources return once its pods are gone\n`
          : `already gone: instance "${data.instanceId}" (nothing to delete)\n`;
        io.out(json ? `${JSON.stringify(data, null, 2)}\n` : human);
        return 0;
      }
      case 'request':
        return printAnswer(await call<SendHttpRequestResponse__Output>('SendHttpRequest', command.request), command.include, json, io);
      case 'scale': {
        const res = await call<ScaleInstanceResponse__Output>('ScaleInstance', command.request);
        const data = { instanceId: command.request.instanceId, previousReplicas: res.previousReplicas, replicas: res.replicas };
        io.out(
          json ? `${JSON.stringify(data, null, 2)}\n` : `scaled: instance "${data.instanceId}" from ${res.previousReplicas} to ${res.replicas} replicas\n`,
        );
        return 0;
      }
      case 'watch': {
        // No deadline: a watch runs until interrupted; --json prints one object per line.
        const stream = client.WatchInstances({ providerId });
        await readStream<WatchInstancesResponse__Output>(
          stream,
          (e) =>
            io.out(
              json
                ? `${JSON.stringify({ type: strip(String(e.type), 'WATCH_EVENT_TYPE_'), instance: e.instance ? instanceData(e.instance) : null })}\n`
                : watchLine(e, io.now()),
            ),
          io.signal,
        );
        return 0;
      }
      case 'logs': {
        const stream = client.GetLogs(command.request);
        await readStream<GetLogsResponse__Output>(
          stream,
          (m) => {
            if (m.lines.length > 0) io.out(json ? m.lines.map((line) => `${JSON.stringify({ pod: m.podName, line })}\n`).join('') : `${m.lines.join('\n')}\n`);
          },
          io.signal,
        );
        return 0;
      }
    }
  } finally {
    client.close();
  }
}
