/**
 * Thin RPC handlers: decode, call the core, encode. Each call is logged once
 * and reported to the observer; errors become statuses in status.ts only.
 */
import type * as grpc from '@grpc/grpc-js';
import { Metadata, status } from '@grpc/grpc-js';
import type { Logger } from '../../core/ports.js';
import type { Provider } from '../../core/provider.js';
import { toDomainError } from '../../core/errors.js';
import { capacityToWire, deployFromWire, infoToWire, tagsToWire, usageToWire } from './codec.js';
import { codeOf, inBandError, toServiceError } from './status.js';
import type { ServiceHandlers } from './generated/provider/Service.js';
import type { ConnectResponse } from './generated/provider/ConnectResponse.js';
import type { DeployResponse__Output } from './generated/provider/DeployResponse.js';
import { ACTIVE_HEADER, REPLICA_HEADER, inBandUnavailable, type LeaderRouter, type ReplicaRole } from './forward.js';
import { loadProto } from './proto.js';

/** Receives one report per finished RPC (Prometheus hooks in here). */
export interface RpcObserver {
  rpcFinished(method: string, code: string, seconds: number): void;
  /** A Deploy that succeeded: whether it created a workload or found an identical one (an idempotent retry). */
  deployAccepted?(created: boolean): void;
}

interface HandlerContext {
  readonly provider: Provider;
  readonly log: Logger;
  readonly observer?: RpcObserver | undefined;
  /** With two replicas: Deploys go to the active one, and answers say which replica spoke. */
  readonly router?: LeaderRouter | undefined;
  readonly role?: ReplicaRole | undefined;
}

type Outcome<Res> = { response: Res; code: status; error?: string };

/**
 * Wraps a core call. `inBand` turns a failure into a successful response that
 * carries the error (Connect and Deploy, as the existing client expects);
 * without it the failure is a gRPC status.
 */
function unary<Req extends { providerId: string }, Res>(
  ctx: HandlerContext,
  method: string,
  run: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  inBand?: (message: string) => Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const req = call.request;
    void (async (): Promise<Outcome<Res> | { failure: ReturnType<typeof toServiceError> }> => {
      try {
        return { response: await run(req, call), code: status.OK };
      } catch (err) {
        const domain = toDomainError(err);
        if (inBand) return { response: inBand(inBandError(domain)), code: codeOf(domain), error: domain.message };
        return { failure: toServiceError(domain) };
      }
    })().then((outcome) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const code = 'failure' in outcome ? outcome.failure.code : outcome.code;
      const fields = {
        method,
        providerId: req.providerId,
        durationMs: Math.round(seconds * 1e6) / 1e3,
        code: status[code],
        ...('failure' in outcome ? { error: outcome.failure.details } : outcome.error ? { error: outcome.error } : {}),
      };
      if (code === status.OK) ctx.log.info(fields, 'rpc');
      else if (code === status.INTERNAL) ctx.log.error(fields, 'rpc');
      else ctx.log.warn(fields, 'rpc');
      ctx.observer?.rpcFinished(method, status[code], seconds);
      if (ctx.role) call.sendMetadata(replicaMetadata(ctx.role));
      if ('failure' in outcome) {
        callback(outcome.failure);
        return;
      }
      callback(null, outcome.response);
    });
  };
}

/** Which replica answered and which one is active, for the CLI's `health` and for operators. */
function replicaMetadata(role: ReplicaRole): Metadata {
  const md = new Metadata();
  md.set(REPLICA_HEADER, role.identity);
  const active = role.isLeading() ? role.identity : role.info().leader?.identity;
  if (active) md.set(ACTIVE_HEADER, active);
  return md;
}

export function serviceHandlers(ctx: HandlerContext): ServiceHandlers {
  const { provider } = ctx;
  const deployMethod = loadProto().grpcObject.provider.Service.service.Deploy;
  return {
    Connect: unary(
      ctx,
      'Connect',
      async (req): Promise<ConnectResponse> => ({ success: true, error: '', providerType: { name: (await provider.connect(req.providerId)).providerType } }),
      (error): ConnectResponse => ({ success: false, error, providerType: { name: 'kubernetes' } }),
    ),
    Disconnect: unary(ctx, 'Disconnect', async (req) => {
      await provider.disconnect(req.providerId);
      return {};
    }),
    GetCapacity: unary(ctx, 'GetCapacity', (req) => ({ capacity: capacityToWire(provider.capacity(req.providerId)) })),
    GetAvailable: unary(ctx, 'GetAvailable', (req) => ({ available: infoToWire(provider.available(req.providerId)) })),
    HealthCheck: unary(ctx, 'HealthCheck', (req) => {
      const report = provider.health(req.providerId);
      return { capacity: capacityToWire(report.capacity), resourceTags: tagsToWire(report.tags) };
    }),
    GetRealTimeUsage: unary(ctx, 'GetRealTimeUsage', (req) => usageToWire(provider.usage(req.providerId), req.includeInstances)),
    Deploy: unary(
      ctx,
      'Deploy',
      async (req, call) => {
        const here = async (): Promise<DeployResponse__Output> => {
          // env var values may hold secrets: only the keys ever reach the log.
          const result = await provider.deploy(deployFromWire(req));
          ctx.observer?.deployAccepted?.(result.created);
          return {
            error: '',
            workloadName: result.workloadName,
            workloadKind: result.kind === 'Job' ? 'JOB' : 'POD',
            created: result.created,
          };
        };
        return ctx.router ? ctx.router.route(deployMethod, call, req, here, inBandUnavailable) : here();
      },
      (error) => ({ error }),
    ),
  } as ServiceHandlers;
}
