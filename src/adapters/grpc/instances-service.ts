/**
 * k8sprovider.v1.Instances: thin handlers over the core's InstanceService.
 * The streams wait while the client's flow-control window is full, and a
 * cancelled call aborts what feeds it (the watch subscription, the log
 * request underneath).
 */
import type * as grpc from '@grpc/grpc-js';
import type { InstanceService } from '../../core/instance-service.js';
import type { InstanceRequests } from '../../core/instance-request.js';
import { sendHttpRequestHandler } from './instance-request.js';
import type { WatchItem } from '../../core/instance-watch.js';
import type { UsageSource } from '../../core/ports.js';
import { instanceToWire, kindToWire, listQueryFromWire, logsFromWire, undeployFromWire, watchItemToWire } from './instances-codec.js';
import { INSTANCES_PROTO, serviceDefinition } from './proto.js';
import type { LeaderRouter } from './forward.js';
import { RpcKit, type RpcContext } from './rpc.js';
import type { GrpcService } from './services.js';
import type { InstancesHandlers } from './generated/k8sprovider/v1/Instances.js';
import type { WatchInstancesResponse } from './generated/k8sprovider/v1/WatchInstancesResponse.js';
import type { UndeployRequest__Output } from './generated/k8sprovider/v1/UndeployRequest.js';
import type { UndeployResponse__Output } from './generated/k8sprovider/v1/UndeployResponse.js';
import type { ScaleInstanceRequest__Output } from './generated/k8sprovider/v1/ScaleInstanceRequest.js';
import type { ScaleInstanceResponse__Output } from './generated/k8sprovider/v1/ScaleInstanceResponse.js';

export const INSTANCES_SERVICE = 'k8sprovider.v1.Instances';

export interface InstancesServiceContext extends RpcContext {
  readonly instances: InstanceService;
  /** SendHttpRequest; absent: the method answers UNIMPLEMENTED. */
  readonly requests?: InstanceRequests | undefined;
  readonly usage: UsageSource;
  /** With two replicas: Undeploy runs on the active one, where Deploy is admitted (it waits for a Deploy of the same instance in flight there). */
  readonly router?: LeaderRouter | undefined;
}

export function instancesService(ctx: InstancesServiceContext): GrpcService {
  return { protoFile: INSTANCES_PROTO, name: INSTANCES_SERVICE, handlers: instancesHandlers(ctx) };
}

export function instancesHandlers(ctx: InstancesServiceContext): InstancesHandlers {
  const { instances, usage } = ctx;
  const rpc = new RpcKit(INSTANCES_SERVICE, ctx);
  const undeployMethod = serviceDefinition(INSTANCES_PROTO, INSTANCES_SERVICE).Undeploy as grpc.MethodDefinition<
    UndeployRequest__Output,
    UndeployResponse__Output
  >;
  const scaleMethod = serviceDefinition(INSTANCES_PROTO, INSTANCES_SERVICE).ScaleInstance as grpc.MethodDefinition<
    ScaleInstanceRequest__Output,
    ScaleInstanceResponse__Output
  >;
  // A live change is one object shared by every watcher: it is converted once for all of them.
  const converted = new WeakMap<WatchItem, WatchInstancesResponse>();
  const toWire = (item: WatchItem): WatchInstancesResponse => {
    let wire = converted.get(item);
    if (!wire) {
      wire = watchItemToWire(item, (s) => instances.withUsage(s, usage.current()));
      converted.set(item, wire);
    }
    return wire;
  };
  return {
    GetInstance: rpc.unary('GetInstance', (req) => ({ instance: instanceToWire(instances.get(req.providerId, req.instanceId)) })),
    ListInstances: rpc.unary('ListInstances', (req) => {
      const page = instances.list(listQueryFromWire(req));
      return { instances: page.instances.map(instanceToWire), nextPageToken: page.nextPageToken, totalSize: page.totalSize };
    }),
    Undeploy: rpc.unary('Undeploy', async (req, call) => {
      const here = async (): Promise<UndeployResponse__Output> => {
        const result = await instances.undeploy(undeployFromWire(req));
        return {
          deleted: result.deleted,
          kind: kindToWire(result.kind),
          workloadName: result.workloadName,
          instance: result.instance ? instanceToWire(result.instance) : null,
        } as UndeployResponse__Output;
      };
      return ctx.router ? ctx.router.route(undeployMethod, call, req, here) : here();
    }),
    ScaleInstance: rpc.unary('ScaleInstance', async (req, call) => {
      // Admission runs on the active replica, like Deploy.
      const here = async (): Promise<ScaleInstanceResponse__Output> => {
        const result = await instances.scale({ providerId: req.providerId, instanceId: req.instanceId, replicas: req.replicas });
        return {
          previousReplicas: result.previousReplicas,
          replicas: result.replicas,
          instance: result.instance ? instanceToWire(result.instance) : null,
        } as ScaleInstanceResponse__Output;
      };
      return ctx.router ? ctx.router.route(scaleMethod, call, req, here) : here();
    }),
    WatchInstances: rpc.serverStream('WatchInstances', async (req, stream) => {
      const subscription = instances.watch(req.providerId);
      // Ends the iteration below even while it waits for the next change.
      stream.signal.addEventListener('abort', () => subscription.close(), { once: true });
      try {
        for await (const item of subscription) await stream.send(toWire(item));
      } finally {
        subscription.close();
      }
    }),
    ...(ctx.requests ? { SendHttpRequest: sendHttpRequestHandler(rpc, ctx.requests) } : {}),
    GetLogs: rpc.serverStream('GetLogs', async (req, stream) => {
      for await (const batch of instances.logs(logsFromWire(req), stream.signal)) {
        await stream.send({ lines: [...batch.lines], podName: batch.podName });
      }
    }),
  } as InstancesHandlers;
}
