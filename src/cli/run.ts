/**
 * Runs one CLI command and returns its exit code: 0 success, 1 the call
 * failed or the daemon said no, 2 usage error.
 */
import type * as grpc from '@grpc/grpc-js';
import { DomainError } from '../core/errors.js';
import type { ConnectResponse__Output } from '../adapters/grpc/generated/provider/ConnectResponse.js';
import type { DeployResponse__Output } from '../adapters/grpc/generated/provider/DeployResponse.js';
import type { GetAvailableResponse__Output } from '../adapters/grpc/generated/provider/GetAvailableResponse.js';
import type { GetCapacityResponse__Output } from '../adapters/grpc/generated/provider/GetCapacityResponse.js';
import type { GetRealTimeUsageResponse__Output } from '../adapters/grpc/generated/provider/GetRealTimeUsageResponse.js';
import type { HealthCheckResponse__Output } from '../adapters/grpc/generated/provider/HealthCheckResponse.js';
import { USAGE, UsageError, parseCommandLine, type Command, type CommonFlags } from './args.js';
import { age, amounts, capacityAmounts, cell, resourceTable, table } from './format.js';

// gRPC and the Kubernetes client are loaded only by the commands that use
// them: --help and usage errors answer at once, and `pods` needs no gRPC.
const grpcSide = (): Promise<typeof import('./client.js')> => import('./client.js');
const kubeSide = (): Promise<typeof import('./pods.js')> => import('./pods.js');

export interface Io {
  out(text: string): void;
  err(text: string): void;
  now(): number;
}

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

async function rpc(
  command: Exclude<Extract<Command, { common: CommonFlags }>, { name: 'probe' }>,
  io: Io,
  emit: Emit,
  refused: (message: string, data: unknown) => number,
): Promise<number> {
  const { common } = command;
  const { providerClient, unary } = await grpcSide();
  const client = providerClient(common);
  // Which replica answered, and which one is active (the daemon says so in response headers).
  const replica = { answered: '', active: '' };
  const headers = (md: { get(key: string): unknown[] }): void => {
    replica.answered = String(md.get('k8s-provider-replica')[0] ?? '');
    replica.active = String(md.get('k8s-provider-active')[0] ?? '');
  };
  const call = <Res>(method: string, request: object): Promise<Res> => unary<Res>(client, method, request, common.deadlineSeconds, headers);
  const providerId = common.providerId;
  try {
    switch (command.name) {
      case 'connect': {
        const res = await call<ConnectResponse__Output>('Connect', { providerId });
        const data = { success: res.success, error: res.error, providerType: res.providerType?.name ?? '' };
        if (!res.success) return refused(res.error, data);
        emit(`connected as "${providerId}" (provider type ${data.providerType})\n`, data);
        return EXIT_OK;
      }
      case 'disconnect':
        await call('Disconnect', { providerId });
        emit(`disconnected "${providerId}"\n`, {});
        return EXIT_OK;
      case 'capacity': {
        const res = await call<GetCapacityResponse__Output>('GetCapacity', { providerId });
        const c = capacityAmounts(res.capacity);
        emit(resourceTable(c), c);
        return EXIT_OK;
      }
      case 'available': {
        const res = await call<GetAvailableResponse__Output>('GetAvailable', { providerId });
        const a = amounts(res.available);
        emit(resourceTable({ available: a }), a);
        return EXIT_OK;
      }
      case 'health': {
        const res = await call<HealthCheckResponse__Output>('HealthCheck', { providerId });
        const c = capacityAmounts(res.capacity);
        const t = res.resourceTags;
        const tags = (['cpu', 'memory', 'gpu', 'camera'] as const).filter((k) => t?.[k]);
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
      case 'usage': {
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
      case 'deploy': {
        const res = await call<DeployResponse__Output>('Deploy', command.request);
        const data = { instanceId: command.request.instanceId, error: res.error, workloadName: res.workloadName, workloadKind: res.workloadKind, created: res.created };
        if (res.error) return refused(res.error, data);
        const kind = res.workloadKind === 'JOB' ? 'Job' : 'Pod';
        emit(`${res.created ? 'created' : 'already running (same spec)'}: instance "${data.instanceId}" as ${kind} ${res.workloadName}\n`, data);
        return EXIT_OK;
      }
    }
  } finally {
    client.close();
  }
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
          `${r.kind === 'Job' ? 'job' : 'pod'}/${r.name}`,
          r.instanceId,
          r.phase,
          cell.cpu(r.requests.cpu),
          cell.memory(r.requests.memory),
          cell.gpu(r.requests.gpu),
          r.node ?? (r.kind === 'Job' ? '' : '<none>'),
          r.createdAt === undefined ? '' : age(r.createdAt, now),
        ]),
      )
    : `no managed workloads${namespace ? ` in namespace "${namespace}"` : ''}\n`;
  emit(human, { namespace: namespace ?? null, workloads: rows });
  return EXIT_OK;
}
