/**
 * provider.Service, the control plane's contract: thin handlers that decode,
 * call the core and encode.
 */
import type * as grpc from '@grpc/grpc-js';
import { PROVIDER_TYPE, type Provider } from '../../core/provider.js';
import { capacityToWire, deployFromWire, endpointToWire, infoToWire, storageToWire, tagsToWire, usageToWire } from './codec.js';
import { PROVIDER_PROTO, serviceDefinition } from './proto.js';
import { quotaGuardToWire } from './scheduling-codec.js';
import { inBandUnavailable, type LeaderRouter } from './forward.js';
import { RpcKit, type RpcContext } from './rpc.js';
import type { GrpcService } from './services.js';
import type { ServiceHandlers } from './generated/provider/Service.js';
import type { ConnectResponse } from './generated/provider/ConnectResponse.js';
import type { DeployRequest__Output } from './generated/provider/DeployRequest.js';
import type { DeployResponse__Output } from './generated/provider/DeployResponse.js';

export const PROVIDER_SERVICE = 'provider.Service';

export interface ProviderServiceContext extends RpcContext {
  readonly provider: Provider;
  /** With two replicas: Deploys run on the active one. */
  readonly router?: LeaderRouter | undefined;
}

export function providerService(ctx: ProviderServiceContext): GrpcService {
  return { protoFile: PROVIDER_PROTO, name: PROVIDER_SERVICE, handlers: providerHandlers(ctx) };
}

export function providerHandlers(ctx: ProviderServiceContext): ServiceHandlers {
  const { provider } = ctx;
  const rpc = new RpcKit(PROVIDER_SERVICE, ctx);
  const deployMethod = serviceDefinition(PROVIDER_PROTO, PROVIDER_SERVICE).Deploy as grpc.MethodDefinition<DeployRequest__Output, DeployResponse__Output>;
  return {
    Connect: rpc.unary(
      'Connect',
      async (req): Promise<ConnectResponse> => ({ success: true, error: '', providerType: { name: (await provider.connect(req.providerId)).providerType } }),
      (error): ConnectResponse => ({ success: false, error, providerType: { name: PROVIDER_TYPE } }),
    ),
    Disconnect: rpc.unary('Disconnect', async (req) => {
      await provider.disconnect(req.providerId);
      return {};
    }),
    GetCapacity: rpc.unary('GetCapacity', (req) => ({
      capacity: capacityToWire(provider.capacity(req.providerId)),
      storage: storageToWire(provider.storage()),
      quotaGuard: quotaGuardToWire(provider.quotaGuard()),
    })),
    GetAvailable: rpc.unary('GetAvailable', (req) => ({
      available: infoToWire(provider.available(req.providerId)),
      storage: storageToWire(provider.storage()),
    })),
    HealthCheck: rpc.unary('HealthCheck', (req) => {
      const report = provider.health(req.providerId);
      return { capacity: capacityToWire(report.capacity), resourceTags: tagsToWire(report.tags) };
    }),
    GetRealTimeUsage: rpc.unary('GetRealTimeUsage', (req) => usageToWire(provider.usage(req.providerId), req.includeInstances)),
    Deploy: rpc.unary(
      'Deploy',
      async (req, call) => {
        const here = async (): Promise<DeployResponse__Output> => {
          // env var values may hold secrets: only the keys ever reach the log.
          // The answer must reach the caller before its deadline: the core bounds the Deploy by it.
          const deadline = call.getDeadline();
          const result = await provider.deploy(deployFromWire(req), deadline instanceof Date ? deadline.getTime() : deadline);
          ctx.observer?.deployAccepted?.(result.created);
          return {
            error: '',
            workloadName: result.workloadName,
            workloadKind: result.kind === 'Job' ? 'JOB' : result.kind === 'Deployment' ? 'DEPLOYMENT' : 'POD',
            created: result.created,
            endpoint: result.endpoint ? endpointToWire(result.endpoint) : null,
            networkPolicy: result.networkPolicy ?? '',
            volumeClaims: [...result.volumeClaims],
            replicas: result.replicas,
          };
        };
        return ctx.router ? ctx.router.route(deployMethod, call, req, here, inBandUnavailable) : here();
      },
      (error, cause) => {
        ctx.observer?.deployRejected?.(cause.kind);
        return { error };
      },
    ),
  } as ServiceHandlers;
}
