/**
 * Runs one CLI command and returns its exit code: 0 success, 1 the call
 * failed or the daemon said no, 2 usage error.
 */
import type * as grpc from '@grpc/grpc-js';
import { DomainError } from '../core/errors.js';
import { RESOURCE_TAGS } from '../core/provider.js';
import type { ConnectResponse__Output } from '../adapters/grpc/contract.js';
import type { DeployResponse__Output } from '../adapters/grpc/contract.js';
import type { GetAvailableResponse__Output } from '../adapters/grpc/contract.js';
import type { GetCapacityResponse__Output } from '../adapters/grpc/contract.js';
import type { GetRealTimeUsageResponse__Output } from '../adapters/grpc/contract.js';
import type { HealthCheckResponse__Output } from '../adapters/grpc/contract.js';
import { USAGE, UsageError, parseCommandLine, type Command, type CommonFlags } from './args.js';
import { buildInfo, versionLine } from '../shared/version.js';
import { age, amounts, capacityAmounts, cell, resourceTable, storageSummary, table } from './format.js';
import type { InstanceCommand } from './instances.js';
import { deployNetworkLine } from './network-text.js';

// gRPC and the Kubernetes client are loaded only by the commands that use
// them: --help and usage errors answer at once, and `pods` needs no gRPC.
const grpcSide = (): Promise<typeof import('./client.js')> => import('./client.js');
const kubeSide = (): Promise<typeof import('./pods.js')> => import('./pods.js');

export interface Io {
  out(text: string): void;
  err(text: string): void;
  now(): number;
  /** Aborted on Ctrl-C: ends `watch` and `logs -f` cleanly. */
  readonly signal?: AbortSignal | undefined;
}

const INSTANCE_COMMANDS = new Set(['instances', 'describe', 'watch', 'logs', 'undeploy', 'request', 'scale']);
const isInstanceCommand = (c: Command): c is InstanceCommand => INSTANCE_COMMANDS.has(c.name);

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`k8s-provider-cli: ${err.message}\nRun "k8s-provider-cli --help" for usage.\n`);
    return EXIT_USAGE;
  }
  if (command.name === 'help') {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (command.name === 'version') {
    io.out(`${versionLine('k8s-provider-cli', buildInfo())}\n`);
    return EXIT_OK;
  }
  const json = command.name === 'pods' ? command.json : command.common.json;
  const emit = (human: string, data: unknown): void => io.out(json ? `${JSON.stringify(data, null, 2)}\n` : human);
  /** A refusal the daemon answered in-band (Connect success=false, Deploy error). */
  const refused = (message: string, data: unknown): number => {
    if (json) io.out(`${JSON.stringify(data, null, 2)}\n`);
    io.err(`k8s-provider-cli: ${command.name}: ${message}\n`);
    return EXIT_FAILED;
  };

  try {
    switch (command.name) {
      case 'pods':
        return await pods(command, io, emit);
      case 'probe':
        return await probe(command.common, command.service, emit);
      default:
        if (isInstanceCommand(command)) return await (await import('./instances.js')).runInstanceCommand(command, io);
        return await rpc(command, io, emit, refused);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`k8s-provider-cli: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const { code, message } = await describeFailure(err);
    if (json) io.out(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
    io.err(`k8s-provider-cli: ${command.name}: ${code}: ${message}\n`);
    return EXIT_FAILED;
  }
}

async function describeFailure(err: unknown): Promise<{ code: string; message: string }> {
  const { codeName, isServiceError } = await grpcSide();
  if (isServiceError(err)) return { code: codeName(err.code), message: err.details || err.message };
  const { ApiException } = await import('@kubernetes/client-node');
  if (err instanceof ApiException) return { code: `HTTP_${err.code}`, message: kubeMessage(err.body) };
  if (err instanceof DomainError) return { code: err.kind, message: err.message };
  return { code: 'ERROR', message: err instanceof Error ? err.message : String(err) };
}

function kubeMessage(body: unknown): string {
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    return parsed?.message ?? String(body);
  } catch {
    return String(body);
  }
}

type Emit = (human: string, data: unknown) => void;

type RpcCommand = Exclude<Extract<Command, { common: CommonFlags }>, { name: 'probe' } | InstanceCommand>;

/** What every RPC command needs: the call, who is calling, and how to answer. */
interface RpcContext {
  call<Res>(method: string, request: object): Promise<Res>;
  readonly providerId: string;
  readonly io: Io;
  readonly emit: Emit;
  readonly refused: (message: string, data: unknown) => number;
  /** Which replica answered the last call, and which one is active (the daemon says so in response headers). */
  readonly replica: { answered: string; active: string };
}

async function rpc(command: RpcCommand, io: Io, emit: Emit, refused: (message: string, data: unknown) => number): Promise<number> {
  const { common } = command;
  const { providerClient, unary } = await grpcSide();
  const client = providerClient(common);
  const replica = { answered: '', active: '' };
  const headers = (md: { get(key: string): unknown[] }): void => {
    replica.answered = String(md.get('k8s-provider-replica')[0] ?? '');
    replica.active = String(md.get('k8s-provider-active')[0] ?? '');
  };
  const ctx: RpcContext = {
    call: <Res>(method: string, request: object): Promise<Res> => unary<Res>(client, method, request, common.deadlineSeconds, headers),
    replica,
    providerId: common.providerId,
    io,
    emit,
    refused,
  };
  try {
    const run = RPC_COMMANDS[command.name] as (ctx: RpcContext, command: RpcCommand) => Promise<number>;
    return await run(ctx, command);
  } finally {
    client.close();
  }
}

/** One function per RPC command, named after it. */
const RPC_COMMANDS: { [N in RpcCommand['name']]: (ctx: RpcContext, command: Extract<RpcCommand, { name: N }>) => Promise<number> } = {
  connect: connectCommand,
  disconnect: disconnectCommand,
  capacity: capacityCommand,
  available: availableCommand,
  health: healthCommand,
  usage: usageCommand,
  deploy: deployCommand,
};

async function connectCommand({ call, providerId, emit, refused }: RpcContext): Promise<number> {
  const res = await call<ConnectResponse__Output>('Connect', { providerId });
  const data = { success: res.success, error: res.error, providerType: res.providerType?.name ?? '' };
  if (!res.success) return refused(res.error, data);
  emit(`connected as "${providerId}" (provider type ${data.providerType})\n`, data);
  return EXIT_OK;
}

async function disconnectCommand({ call, providerId, emit }: RpcContext): Promise<number> {
  await call('Disconnect', { providerId });
  emit(`disconnected "${providerId}"\n`, {});
  return EXIT_OK;
}

async function capacityCommand({ call, providerId, emit }: RpcContext): Promise<number> {
  const res = await call<GetCapacityResponse__Output>('GetCapacity', { providerId });
  const c = capacityAmounts(res.capacity);
  const storage = storageSummary(res.storage);
  const q = res.quotaGuard;
  if (!q) {
    emit(resourceTable(c) + (storage?.text ?? ''), storage ? { ...c, storage: storage.data } : c);
    return EXIT_OK;
  }
  // resource.enforce_with_resourcequota: the namespace quota beside the books.
  const quota = {
    name: q.name,
    inForce: q.inForce,
    hard: amounts(q.hard),
    used: amounts(q.used),
    others: amounts(q.others),
    hardPods: Number(q.hardPods),
    usedPods: Number(q.usedPods),
  };
  const state = q.inForce ? 'in force' : 'being put back';
  emit(
    `${resourceTable(c)}${storage?.text ?? ''}\nResourceQuota ${q.name} (${state}), pods ${quota.usedPods}/${quota.hardPods}:\n${resourceTable({ hard: quota.hard, used: quota.used, others: quota.others })}`,
    { ...c, ...(storage ? { storage: storage.data } : {}), quotaGuard: quota },
  );
  return EXIT_OK;
}

async function availableCommand({ call, providerId, emit }: RpcContext): Promise<number> {
  const res = await call<GetAvailableResponse__Output>('GetAvailable', { providerId });
  const a = amounts(res.available);
  const storage = storageSummary(res.storage);
  emit(resourceTable({ available: a }) + (storage?.text ?? ''), storage ? { ...a, storage: storage.data } : a);
  return EXIT_OK;
}

async function healthCommand({ call, providerId, emit, replica }: RpcContext): Promise<number> {
  const res = await call<HealthCheckResponse__Output>('HealthCheck', { providerId });
  const c = capacityAmounts(res.capacity);
  const t = res.resourceTags;
  const tags = RESOURCE_TAGS.filter((k) => t?.[k]);
  const role = !replica.answered
    ? ''
    : replica.answered === replica.active
      ? `replica: ${replica.answered} (active)\n`
      : `replica: ${replica.answered} (standby; active: ${replica.active || 'none right now'})\n`;
  emit(`${resourceTable(c)}\ntags: ${tags.join(', ') || '(none)'}\n${role}`, {
    capacity: c,
    resourceTags: tags,
    replica: replica.answered || null,
    activeReplica: replica.active || null,
  });
  return EXIT_OK;
}

async function usageCommand({ call, providerId, io, emit }: RpcContext): Promise<number> {
  const res = await call<GetRealTimeUsageResponse__Output>('GetRealTimeUsage', { providerId });
  const sampledAt = Number(res.sampledAtUnixMs);
  const data = {
    usage: amounts(res.usage),
    source: res.source,
    sampledAtUnixMs: sampledAt,
    stale: res.stale,
    instances: res.instances.map((i) => ({ instanceId: i.instanceId, usage: amounts(i.usage) })),
  };
  const perInstance = table(
    ['INSTANCE', 'CPU', 'MEMORY', 'GPU'],
    data.instances.map((i) => [i.instanceId, cell.cpu(i.usage.cpu), cell.memory(i.usage.memory), cell.gpu(i.usage.gpu)]),
  );
  const when = sampledAt > 0 ? `${new Date(sampledAt).toISOString()} (${age(sampledAt, io.now())} ago)` : 'never';
  emit(
    `${resourceTable({ usage: data.usage })}\nsource: ${res.source}  sampled: ${when}${res.stale ? '  STALE' : ''}\n\n${data.instances.length ? perInstance : 'no instances in use\n'}`,
    data,
  );
  return EXIT_OK;
}

async function deployCommand({ call, emit, refused }: RpcContext, command: Extract<RpcCommand, { name: 'deploy' }>): Promise<number> {
  const res = await call<DeployResponse__Output>('Deploy', command.request);
  const data = {
    instanceId: command.request.instanceId,
    error: res.error,
    workloadName: res.workloadName,
    workloadKind: res.workloadKind,
    created: res.created,
    endpoint: res.endpoint ?? null,
    networkPolicy: res.networkPolicy ?? '',
    // Only when there is something to say, so a plain deploy prints what it always did.
    ...(res.workloadKind === 'DEPLOYMENT' ? { replicas: res.replicas } : {}),
    ...(res.volumeClaims?.length ? { volumeClaims: res.volumeClaims } : {}),
  };
  if (res.error) return refused(res.error, data);
  const kind = res.workloadKind === 'JOB' ? 'Job' : res.workloadKind === 'DEPLOYMENT' ? 'Deployment' : 'Pod';
  const replicas = res.workloadKind === 'DEPLOYMENT' ? ` (${res.replicas} replicas)` : '';
  const claims = res.volumeClaims?.length ? `; claims ${res.volumeClaims.join(', ')}` : '';
  emit(
    `${res.created ? 'created' : 'already running (same spec)'}: instance "${data.instanceId}" as ${kind} ${res.workloadName}${replicas}${claims}\n${deployNetworkLine(res)}`,
    data,
  );
  return EXIT_OK;
}

async function probe(common: CommonFlags, service: string, emit: Emit): Promise<number> {
  const { healthClient, unary } = await grpcSide();
  const client = healthClient(common);
  try {
    const res = await unary<{ status: string }>(client as grpc.Client, 'Check', { service }, common.deadlineSeconds);
    emit(`${res.status}\n`, { service, status: res.status });
    return res.status === 'SERVING' ? EXIT_OK : EXIT_FAILED;
  } finally {
    client.close();
  }
}

async function pods(command: Extract<Command, { name: 'pods' }>, io: Io, emit: Emit): Promise<number> {
  const { kubeConfigFor, listWorkloads } = await kubeSide();
  const kc = kubeConfigFor(command);
  const { namespace, rows } = await listWorkloads(kc, command);
  const now = io.now();
  const header = [...(namespace ? [] : ['NAMESPACE']), 'WORKLOAD', 'INSTANCE', 'PHASE', 'CPU', 'MEMORY', 'GPU', 'NODE', 'AGE'];
  const human = rows.length
    ? table(
        header,
        rows.map((r) => [
          ...(namespace ? [] : [r.namespace]),
          `${r.kind.toLowerCase()}/${r.name}`,
          r.instanceId,
          r.phase,
          cell.cpu(r.requests.cpu),
          cell.memory(r.requests.memory),
          cell.gpu(r.requests.gpu),
          r.node ?? (r.kind === 'Pod' ? '<none>' : ''),
          r.createdAt === undefined ? '' : age(r.createdAt, now),
        ]),
      )
    : `no managed workloads${namespace ? ` in namespace "${namespace}"` : ''}\n`;
  emit(human, { namespace: namespace ?? null, workloads: rows });
  return EXIT_OK;
}
