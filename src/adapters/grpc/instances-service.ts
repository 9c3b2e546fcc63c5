/**
 * k8sprovider.v1.Instances: thin handlers over the core's InstanceService.
 * The streams wait while the client's flow-control window is full, and a
 * cancelled call aborts what feeds it (the watch subscription, the log
 * request underneath).
 */
import type { InstanceService } from '../../core/instance-service.js';
import type { WatchItem } from '../../core/instance-watch.js';
import type { UsageSource } from '../../core/ports.js';
import { instanceToWire, listQueryFromWire, logsFromWire, undeployFromWire, watchItemToWire } from './instances-codec.js';
import { INSTANCES_PROTO } from './proto.js';
import { RpcKit, type RpcContext } from './rpc.js';
import type { GrpcService } from './services.js';
import type { InstancesHandlers } from './generated/k8sprovider/v1/Instances.js';
import type { WatchInstancesResponse } from './generated/k8sprovider/v1/WatchInstancesResponse.js';

export const INSTANCES_SERVICE = 'k8sprovider.v1.Instances';

export interface InstancesServiceContext extends RpcContext {
  readonly instances: InstanceService;
  readonly usage: UsageSource;
}

export function instancesService(ctx: InstancesServiceContext): GrpcService {
  return { protoFile: INSTANCES_PROTO, name: INSTANCES_SERVICE, handlers: instancesHandlers(ctx) };
}

export function instancesHandlers(ctx: InstancesServiceContext): InstancesHandlers {
  const { instances, usage } = ctx;
  const rpc = new RpcKit(INSTANCES_SERVICE, ctx);
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
    Undeploy: rpc.unary('Undeploy', async (req) => {
      const result = await instances.undeploy(undeployFromWire(req));
      return {
        deleted: result.deleted,
        kind: result.kind === 'Job' ? 'WORKLOAD_KIND_JOB' : result.kind === 'Pod' ? 'WORKLOAD_KIND_POD' : 'WORKLOAD_KIND_UNSPECIFIED',
        workloadName: result.workloadName,
        instance: result.instance ? instanceToWire(result.instance) : null,
      };
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
    GetLogs: rpc.serverStream('GetLogs', async (req, stream) => {
      for await (const batch of instances.logs(logsFromWire(req), stream.signal)) {
        await stream.send({ lines: [...batch.lines], podName: batch.podName });
      }
    }),
  } as InstancesHandlers;
}
